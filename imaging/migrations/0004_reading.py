"""Remote reading: read requests, reading policies, report templates, reports, addenda and
critical-finding alerts.

Besides the tables:
- a signed report is refused any UPDATE or DELETE by the database itself, and addenda are
  append-only, so a stray ORM call or SQL statement cannot change what the clinic was told
  (row triggers do not fire on TRUNCATE, which test databases use to reset);
- the shared report templates (no hospital) are seeded in Simplified Chinese and English for the
  studies grassroots clinics send most: CT of the chest, head and abdomen, chest radiographs
  (CR and DX), MR of the brain and lumbar spine, abdominal ultrasound.
"""

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


POSTGRES_UP = """
CREATE OR REPLACE FUNCTION imaging_report_refuse_change() RETURNS trigger AS $$
BEGIN
    IF OLD.signed_at IS NOT NULL THEN
        RAISE EXCEPTION 'a signed report is final (% refused on report %): add an addendum', TG_OP, OLD.id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER imaging_report_signed_is_final BEFORE UPDATE OR DELETE ON imaging_report
    FOR EACH ROW EXECUTE FUNCTION imaging_report_refuse_change();
CREATE OR REPLACE FUNCTION imaging_addendum_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'report addenda are append-only (% refused on addendum %)', TG_OP, OLD.id;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER imaging_reportaddendum_append_only BEFORE UPDATE OR DELETE ON imaging_reportaddendum
    FOR EACH ROW EXECUTE FUNCTION imaging_addendum_refuse_change();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS imaging_report_signed_is_final ON imaging_report;
DROP FUNCTION IF EXISTS imaging_report_refuse_change();
DROP TRIGGER IF EXISTS imaging_reportaddendum_append_only ON imaging_reportaddendum;
DROP FUNCTION IF EXISTS imaging_addendum_refuse_change();
"""
SQLITE_UP = [
    """CREATE TRIGGER imaging_report_signed_no_update BEFORE UPDATE ON imaging_report WHEN OLD.signed_at IS NOT NULL
       BEGIN SELECT RAISE(ABORT, 'a signed report is final: add an addendum'); END;""",
    """CREATE TRIGGER imaging_report_signed_no_delete BEFORE DELETE ON imaging_report WHEN OLD.signed_at IS NOT NULL
       BEGIN SELECT RAISE(ABORT, 'a signed report is final: add an addendum'); END;""",
    """CREATE TRIGGER imaging_reportaddendum_no_update BEFORE UPDATE ON imaging_reportaddendum
       BEGIN SELECT RAISE(ABORT, 'report addenda are append-only'); END;""",
    """CREATE TRIGGER imaging_reportaddendum_no_delete BEFORE DELETE ON imaging_reportaddendum
       BEGIN SELECT RAISE(ABORT, 'report addenda are append-only'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS imaging_report_signed_no_update;",
    "DROP TRIGGER IF EXISTS imaging_report_signed_no_delete;",
    "DROP TRIGGER IF EXISTS imaging_reportaddendum_no_update;",
    "DROP TRIGGER IF EXISTS imaging_reportaddendum_no_delete;",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)

    return run


def seed_templates(apps, schema_editor):
    from imaging.report_templates import install_shared_templates

    install_shared_templates(apps.get_model("imaging", "ReportTemplate"))


def remove_templates(apps, schema_editor):
    from imaging.report_templates import SHARED_TEMPLATES

    apps.get_model("imaging", "ReportTemplate").objects.filter(hospital=None, name__in=[t[3] for t in SHARED_TEMPLATES]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('imaging', '0003_archive_admin'),
        ('patients', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ReaderProfile',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='reader_profile', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('modalities', models.JSONField(blank=True, default=list, help_text='DICOM modality codes such as CT, MR, DX; empty: every modality.', verbose_name='modalities')),
                ('accepts_automatic', models.BooleanField(default=True, verbose_name='receives automatic assignments')),
            ],
        ),
        migrations.CreateModel(
            name='ReadingPolicy',
            fields=[
                ('hospital', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='reading_policy', serialize=False, to='accounts.institution')),
                ('assignment', models.CharField(choices=[('manual', 'A coordinator assigns each read'), ('round_robin', 'Automatic: radiologists in turn'), ('least_loaded', 'Automatic: the radiologist with the fewest open reads')], default='manual', max_length=16, verbose_name='assignment')),
                ('requires_verification', models.BooleanField(default=False, help_text='A second radiologist verifies every report (书写 → 审核) before the clinic sees it.', verbose_name='two-level sign-off')),
                ('critical_ack_minutes', models.PositiveSmallIntegerField(blank=True, help_text="After this long without an acknowledgement the clinic's other doctors and the coordinators are alerted. Empty: the server's default.", null=True, verbose_name='minutes to acknowledge a critical finding')),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('last_assigned', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.CreateModel(
            name='ReadRequest',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('modality', models.CharField(blank=True, db_index=True, max_length=16, verbose_name='modality')),
                ('body_part', models.CharField(blank=True, max_length=64, verbose_name='body part')),
                ('question', models.TextField(verbose_name='clinical question')),
                ('history', models.TextField(blank=True, verbose_name='clinical history')),
                ('urgency', models.CharField(choices=[('routine', 'Routine'), ('urgent', 'Urgent'), ('emergency', 'Emergency')], default='routine', max_length=10, verbose_name='urgency')),
                ('status', models.CharField(choices=[('requested', 'Requested'), ('assigned', 'Assigned'), ('in_progress', 'Being read'), ('awaiting_verification', 'Awaiting verification'), ('signed', 'Report signed'), ('declined', 'Declined'), ('cancelled', 'Cancelled')], db_index=True, default='requested', max_length=24, verbose_name='status')),
                ('status_reason', models.CharField(blank=True, max_length=500, verbose_name='reason')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('assigned_at', models.DateTimeField(blank=True, null=True)),
                ('signed_at', models.DateTimeField(blank=True, null=True)),
                ('ended_at', models.DateTimeField(blank=True, help_text='When it was declined or cancelled.', null=True)),
                ('clinic', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reads_requested', to='accounts.institution', verbose_name='clinic')),
                ('hospital', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reads_given', to='accounts.institution', verbose_name='hospital')),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='read_requests', to='patients.patient', verbose_name='patient')),
                ('radiologist', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='radiologist')),
                ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='requested by')),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='read_requests', to='imaging.study', verbose_name='study')),
            ],
            options={
                'verbose_name': 'read request',
                'verbose_name_plural': 'read requests',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='ReadEvent',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('at', models.DateTimeField(auto_now_add=True)),
                ('action', models.CharField(max_length=32)),
                ('status', models.CharField(choices=[('requested', 'Requested'), ('assigned', 'Assigned'), ('in_progress', 'Being read'), ('awaiting_verification', 'Awaiting verification'), ('signed', 'Report signed'), ('declined', 'Declined'), ('cancelled', 'Cancelled')], max_length=24)),
                ('note', models.CharField(blank=True, max_length=500)),
                ('by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('read', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='timeline', to='imaging.readrequest')),
            ],
            options={
                'ordering': ['at'],
            },
        ),
        migrations.CreateModel(
            name='CriticalAlert',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('finding', models.TextField(verbose_name='critical finding')),
                ('raised_at', models.DateTimeField(auto_now_add=True)),
                ('escalate_at', models.DateTimeField(db_index=True)),
                ('escalated_at', models.DateTimeField(blank=True, null=True)),
                ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                ('acknowledgement_note', models.CharField(blank=True, max_length=500, verbose_name='note')),
                ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('raised_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('read', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='critical_alerts', to='imaging.readrequest')),
            ],
            options={
                'ordering': ['raised_at'],
            },
        ),
        migrations.CreateModel(
            name='Report',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('technique', models.TextField(blank=True, verbose_name='technique')),
                ('findings', models.TextField(verbose_name='findings')),
                ('impression', models.TextField(verbose_name='impression')),
                ('critical', models.BooleanField(default=False, verbose_name='critical finding')),
                ('submitted_at', models.DateTimeField(blank=True, null=True, verbose_name='written and signed at')),
                ('verified_at', models.DateTimeField(blank=True, null=True, verbose_name='verified at')),
                ('signed_at', models.DateTimeField(blank=True, null=True, verbose_name='signed at')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('author', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='written by')),
                ('read', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='report', to='imaging.readrequest')),
                ('verifier', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='verified by')),
            ],
        ),
        migrations.CreateModel(
            name='ReportAddendum',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('text', models.TextField(verbose_name='addendum')),
                ('signed_at', models.DateTimeField(auto_now_add=True)),
                ('author', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('report', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='addenda', to='imaging.report')),
            ],
            options={
                'ordering': ['signed_at'],
            },
        ),
        migrations.CreateModel(
            name='ReportTemplate',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('modality', models.CharField(max_length=16, verbose_name='modality')),
                ('body_part', models.CharField(max_length=64, verbose_name='body part')),
                ('language', models.CharField(choices=[('zh-hans', '简体中文'), ('en', 'English')], max_length=10, verbose_name='language')),
                ('name', models.CharField(max_length=120, verbose_name='name')),
                ('technique', models.TextField(blank=True, verbose_name='technique')),
                ('findings', models.TextField(verbose_name='findings')),
                ('impression', models.TextField(verbose_name='impression')),
                ('is_active', models.BooleanField(default=True, verbose_name='active')),
                ('hospital', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='report_templates', to='accounts.institution')),
            ],
            options={
                'verbose_name': 'report template',
                'verbose_name_plural': 'report templates',
                'ordering': ['modality', 'body_part', 'language', 'name'],
            },
        ),
        migrations.AddField(
            model_name='report',
            name='template',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='imaging.reporttemplate'),
        ),
        migrations.AddConstraint(
            model_name='readrequest',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ('requested', 'assigned', 'in_progress', 'awaiting_verification'))), fields=('study',), name='one_open_read_per_study', violation_error_message='This study already has a read in progress.'),
        ),
        migrations.AddConstraint(
            model_name='criticalalert',
            constraint=models.UniqueConstraint(condition=models.Q(('acknowledged_at__isnull', True)), fields=('read',), name='one_open_critical_alert_per_read'),
        ),
        migrations.AddConstraint(
            model_name='report',
            constraint=models.CheckConstraint(condition=models.Q(('verifier__isnull', True), models.Q(('verifier', models.F('author')), _negated=True), _connector='OR'), name='report_verifier_is_not_the_author'),
        ),
        migrations.AddConstraint(
            model_name='report',
            constraint=models.CheckConstraint(condition=models.Q(('signed_at__isnull', True), ('submitted_at__isnull', False), _connector='OR'), name='report_signed_only_once_written'),
        ),
        migrations.RunPython(
            _run({"postgresql": [POSTGRES_UP], "sqlite": SQLITE_UP}),
            _run({"postgresql": [POSTGRES_DOWN], "sqlite": SQLITE_DOWN}),
        ),
        migrations.RunPython(seed_templates, remove_templates),
    ]
