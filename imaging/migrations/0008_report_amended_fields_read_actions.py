"""What the verifier changed in a report (`Report.amended_fields`), and the timeline's actions as choices.

SQLite adds a column with a default by copying the table into a new one, which drops the
triggers 0004 put on it; they are made again here, so a signed report stays final there too.
"""

import importlib

from django.db import migrations, models

READING = importlib.import_module("imaging.migrations.0004_reading")
REPORT_TRIGGERS = [
    statement.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS", 1)
    for statement in READING.SQLITE_UP if "ON imaging_report " in statement
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
