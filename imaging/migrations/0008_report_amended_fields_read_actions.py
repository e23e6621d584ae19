"""What the verifier changed in a report (`Report.amended_fields`), and the timeline's actions as choices.

SQLite adds a column with a default by copying the table into a new one, which drops the
triggers 0004 put on it; they are made again here, so a signed report stays final there too.
"""

from django.db import migrations, models

# 0004's two triggers on imaging_report, as written there (a frozen migration is copied, not
# imported: a reformatted or squashed 0004 must not leave signed reports changeable).
REPORT_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS imaging_report_signed_no_update BEFORE UPDATE ON imaging_report WHEN OLD.signed_at IS NOT NULL
       BEGIN SELECT RAISE(ABORT, 'a signed report is final: add an addendum'); END;""",
    """CREATE TRIGGER IF NOT EXISTS imaging_report_signed_no_delete BEFORE DELETE ON imaging_report WHEN OLD.signed_at IS NOT NULL
       BEGIN SELECT RAISE(ABORT, 'a signed report is final: add an addendum'); END;""",
]


def restore_report_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in REPORT_TRIGGERS:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('imaging', '0007_header_field_inserts_per_row'),
    ]

    operations = [
        migrations.AddField(
            model_name='report',
            name='amended_fields',
            field=models.JSONField(blank=True, default=list, verbose_name='changed by the verifier'),
        ),
        migrations.RunPython(restore_report_triggers, restore_report_triggers),
        migrations.AlterField(
            model_name='readevent',
            name='action',
            field=models.CharField(choices=[('request', 'Read requested'), ('assign', 'Radiologist assigned'), ('reassign', 'Given to another radiologist'), ('auto_assign', 'Assigned automatically'), ('auto_assign_none', 'Nobody available for automatic assignment'), ('claim', 'Taken by a radiologist'), ('release', 'Handed back'), ('start', 'Reading started'), ('submit', 'Report written, sent for verification'), ('sign', 'Report signed'), ('verify', 'Report verified'), ('return', 'Report returned to its author'), ('decline', 'Declined'), ('cancel', 'Request cancelled'), ('critical', 'Critical finding raised'), ('critical_acknowledge', 'Critical finding acknowledged'), ('critical_escalate', 'Critical finding escalated'), ('addendum', 'Addendum added')], max_length=32),
        ),
    ]
