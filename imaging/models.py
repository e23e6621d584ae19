"""The DICOM archive's index: studies, series and instances of the institution that sent them.

The original bytes live in Django's storage under a server-generated key; the rows hold what
queries need (QIDO-RS matching keys) and the header as DICOM JSON (WADO-RS metadata without
touching the file). A study is matched to a registered patient by Patient ID; until then it
waits for reconciliation.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy

from consults.models import Urgency
from telemed.accounts.models import Institution
from telemed.patients.models import Patient


class HeaderField(models.JSONField):
    """A DICOM header as JSON, inserted as one VALUES row per instance. Django 5.2 bulk-inserts
    on PostgreSQL through UNNEST of one array per column, and psycopg quotes each header's JSON
    text into an array literal in Python: 50 instances took 15.5 ms to insert that way and 7.9
    ms this way. A field with its own placeholder keeps Django off UNNEST for the table."""

    def get_placeholder(self, value, compiler, connection) -> str:
        return "%s"


class Study(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="studies", verbose_name=_("sent by"))
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="studies", verbose_name=_("patient"))
    study_instance_uid = models.CharField(max_length=64, unique=True)
    dicom_patient_id = models.CharField(_("Patient ID"), max_length=64, blank=True, db_index=True)
    dicom_patient_name = models.CharField(_("patient name in the study"), max_length=200, blank=True)
    # Its component groups as a name search compares them (imaging.dicom.header.name_groups), each
    # indexed: a search by name matches any group without reading every study of the archive.
    patient_name_alphabetic = models.CharField(max_length=200, blank=True, db_index=True)
    patient_name_ideographic = models.CharField(max_length=200, blank=True, db_index=True)
    patient_name_phonetic = models.CharField(max_length=200, blank=True, db_index=True)
    patient_birth_date = models.CharField(max_length=8, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    study_date = models.CharField(max_length=8, blank=True, db_index=True)
    study_time = models.CharField(max_length=16, blank=True)
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    study_id = models.CharField(max_length=16, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    referring_physician = models.CharField(max_length=200, blank=True)
    # Kept by the ingest service as instances arrive (none is ever deleted): a study list or a
    # QIDO-RS search reads them from the row instead of counting every instance of every study.
    series_count = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)
    modalities = models.JSONField(default=list)  # of its series, sorted
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("study")
        verbose_name_plural = _("studies")
        ordering = ["-study_date", "-created_at"]

    def __str__(self) -> str:
        return f"{self.description or self.study_instance_uid} ({self.study_date})"


class Series(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    modality = models.CharField(max_length=16, blank=True, db_index=True)
    series_number = models.IntegerField(null=True)
    description = models.CharField(max_length=200, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    instance_count = models.PositiveIntegerField(default=0)  # kept by the ingest service, like the study's

    class Meta:
        ordering = ["series_number", "series_instance_uid"]


class Instance(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True)
    transfer_syntax_uid = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(null=True)
    columns = models.PositiveIntegerField(null=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    file = models.FileField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    metadata = HeaderField(help_text="The header in the DICOM JSON model, without bulk data.")
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instance_number", "sop_instance_uid"]


class RejectedInstance(models.Model):
    """An instance whose SOP Instance UID is already stored with other content: kept for review."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    sop_instance_uid = models.CharField(max_length=64, db_index=True)
    reason = models.CharField(max_length=300)
    file = models.FileField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class DicomNode(models.Model):
    """A clinic's modality or PACS allowed to send by DIMSE C-STORE, known by AE title and address."""

    class Kind(models.TextChoices):
        MODALITY = "modality", _("Modality (CT, DR, ultrasound…)")
        PACS = "pacs", _("PACS")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="dicom_nodes", verbose_name=_("institution"))
    device = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dicom_nodes", verbose_name=_("device account"),
        help_text=_("The device account the node's instances are recorded as received by."),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.MODALITY)
    ae_title = models.CharField(_("AE title"), max_length=16, unique=True)
    host = models.GenericIPAddressField(_("IP address"), help_text=_("Associations from any other address are refused."))
    port = models.PositiveIntegerField(
        _("port"), null=True, blank=True,
        help_text=_("The port the node itself listens on, for the C-ECHO check; empty for a modality that only sends."),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("DICOM node")
        verbose_name_plural = _("DICOM nodes")
        ordering = ["institution__name", "ae_title"]

    def __str__(self) -> str:
        return f"{self.ae_title} ({self.host})"


class StorageUsage(models.Model):
    """What one institution keeps in the archive: the sizes of its instances and of the rejected
    copies kept for review.

    The ingest service adds to it in the transaction that writes the instance row, under this
    row's lock, so the quota check is exact however many senders there are, and costs the same
    for the thousandth study as for the first. `storage_usage_recount` recomputes it from the
    rows.
    """

    institution = models.OneToOneField(Institution, on_delete=models.CASCADE, primary_key=True, related_name="dicom_usage")
    bytes = models.PositiveBigIntegerField(default=0)
    instances = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class StudyExport(models.Model):
    """A de-identified copy of one study for teaching (DICOM PS3.15 Annex E basic profile), built by
    a Celery task into a ZIP in storage that only the person who asked for it can download."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Being prepared")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    pseudonym = models.CharField(_("pseudonym"), max_length=16)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    file = models.FileField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Touched with every instance written: a "running" export that stops moving was lost with its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def percent(self) -> int:
        return 100 if self.status == self.Status.DONE else (self.done * 100 // self.total if self.total else 0)


# --- Remote reading (远程影像诊断) -------------------------------------------------------------------
#
# A clinic asks one of its paired hospitals to read a study (ReadRequest); a coordinator or the
# hospital's rule (ReadingPolicy) assigns a radiologist, who writes the Report; where the hospital
# requires two-level sign-off another radiologist verifies it. A signed report never changes (the
# database refuses it, migration 0004): anything later is a ReportAddendum. A critical finding
# (危急值) is a CriticalAlert the clinic must acknowledge.

class ReadStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("Being read")
    AWAITING_VERIFICATION = "awaiting_verification", _("Awaiting verification")
    SIGNED = "signed", _("Report signed")
    DECLINED = "declined", _("Declined")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_READ_STATUSES = (ReadStatus.REQUESTED, ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS, ReadStatus.AWAITING_VERIFICATION)
# A radiologist's load: reads assigned to them and not yet handed in.
READING_STATUSES = (ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS)


class ReadingPolicy(models.Model):
    """How one hospital runs its reads: who assigns them, whether a second radiologist verifies."""

    class Assignment(models.TextChoices):
        MANUAL = "manual", _("A coordinator assigns each read")
        ROUND_ROBIN = "round_robin", _("Automatic: radiologists in turn")
        LEAST_LOADED = "least_loaded", _("Automatic: the radiologist with the fewest open reads")

    hospital = models.OneToOneField(Institution, on_delete=models.CASCADE, primary_key=True, related_name="reading_policy")
    assignment = models.CharField(_("assignment"), max_length=16, choices=Assignment.choices, default=Assignment.MANUAL)
    requires_verification = models.BooleanField(
        _("two-level sign-off"), default=False,
        help_text=_("A second radiologist verifies every report (书写 → 审核) before the clinic sees it."),
    )
    critical_ack_minutes = models.PositiveSmallIntegerField(
        _("minutes to acknowledge a critical finding"), null=True, blank=True,
        help_text=_("After this long without an acknowledgement the clinic's other doctors and the coordinators are alerted. Empty: the server's default."),
    )
    last_assigned = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)


class ReaderProfile(models.Model):
    """What a radiologist reads for one hospital, for its automatic assignment; without a profile
    there: everything. Per hospital, since one radiologist may read CT for one and MR for another."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reader_profiles")
    hospital = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="reader_profiles")
    modalities = models.JSONField(_("modalities"), default=list, blank=True, help_text=_("DICOM modality codes such as CT, MR, DX; empty: every modality."))
    accepts_automatic = models.BooleanField(_("receives automatic assignments"), default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "hospital"], name="one_reader_profile_per_hospital")]

    def reads(self, modality: str) -> bool:
        return not self.modalities or not modality or modality in self.modalities


class ReadRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="read_requests", verbose_name=_("study"))
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="read_requests", verbose_name=_("patient"))
    clinic = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="reads_requested", verbose_name=_("clinic"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by"))
    hospital = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="reads_given", verbose_name=_("hospital"))
    modality = models.CharField(_("modality"), max_length=16, blank=True, db_index=True)
    body_part = models.CharField(_("body part"), max_length=64, blank=True)
    question = models.TextField(_("clinical question"))
    history = models.TextField(_("clinical history"), blank=True)
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE)
    status = models.CharField(_("status"), max_length=24, choices=ReadStatus.choices, default=ReadStatus.REQUESTED, db_index=True)
    status_reason = models.CharField(_("reason"), max_length=500, blank=True)
    radiologist = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("radiologist"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Turnaround: the first assignment and the final signature; reassignments keep the first.
    assigned_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text=_("When it was declined or cancelled."))

    class Meta:
        verbose_name = _("read request")
        verbose_name_plural = _("read requests")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study"], condition=Q(status__in=OPEN_READ_STATUSES), name="one_open_read_per_study",
                violation_error_message=_("This study already has a read in progress."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.modality or '—'} {self.body_part} · {self.patient.name}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_READ_STATUSES


class ReadAction(models.TextChoices):
    """What happened to a read, as its timeline says it (the state alone hides a critical finding
    raised while it is being read, or an addendum to a signed report)."""

    REQUEST = "request", _("Read requested")
    ASSIGN = "assign", _("Radiologist assigned")
    REASSIGN = "reassign", _("Given to another radiologist")
    AUTO_ASSIGN = "auto_assign", _("Assigned automatically")
    AUTO_ASSIGN_NONE = "auto_assign_none", _("Nobody available for automatic assignment")
    CLAIM = "claim", _("Taken by a radiologist")
    RELEASE = "release", _("Handed back")
    START = "start", _("Reading started")
    SUBMIT = "submit", _("Report written, sent for verification")
    SIGN = "sign", _("Report signed")
    VERIFY = "verify", _("Report verified")
    RETURN = "return", _("Report returned to its author")
    DECLINE = "decline", _("Declined")
    CANCEL = "cancel", _("Request cancelled")
    CRITICAL = "critical", _("Critical finding raised")
    CRITICAL_ACKNOWLEDGE = "critical_acknowledge", _("Critical finding acknowledged")
    CRITICAL_ESCALATE = "critical_escalate", _("Critical finding escalated")
    ADDENDUM = "addendum", _("Addendum added")


class ReadEvent(models.Model):
    """The read's timeline, shown on its page; the audit trail keeps the same facts tamper-evident."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    read = models.ForeignKey(ReadRequest, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    action = models.CharField(max_length=32, choices=ReadAction.choices)
    status = models.CharField(max_length=24, choices=ReadStatus.choices)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at"]


class ReportTemplate(models.Model):
    """A starting text for a report by modality and body part (DICOM Body Part Examined codes).

    Shared templates (no hospital) come with the software (migration 0004); a hospital adds its own."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hospital = models.ForeignKey(Institution, on_delete=models.CASCADE, null=True, blank=True, related_name="report_templates")
    modality = models.CharField(_("modality"), max_length=16)
    body_part = models.CharField(_("body part"), max_length=64)
    language = models.CharField(_("language"), max_length=10, choices=[("zh-hans", "简体中文"), ("en", "English")])
    name = models.CharField(_("name"), max_length=120)
    technique = models.TextField(_("technique"), blank=True)
    findings = models.TextField(pgettext_lazy("imaging report", "findings"))
    impression = models.TextField(pgettext_lazy("imaging report", "impression"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("report template")
        verbose_name_plural = _("report templates")
        ordering = ["modality", "body_part", "language", "name"]

    def __str__(self) -> str:
        return self.name


class Report(models.Model):
    """The radiologist's report on one read: a draft until signed, then never changed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    read = models.OneToOneField(ReadRequest, on_delete=models.PROTECT, related_name="report")
    template = models.ForeignKey(ReportTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    technique = models.TextField(_("technique"), blank=True)
    findings = models.TextField(pgettext_lazy("imaging report", "findings"))
    impression = models.TextField(pgettext_lazy("imaging report", "impression"))
    critical = models.BooleanField(_("critical finding"), default=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("written by"))
    submitted_at = models.DateTimeField(_("written and signed at"), null=True, blank=True)
    verifier = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("verified by"))
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    # The text fields the verifier changed as they verified (TEXT_FIELDS names): the final report
    # says so, since its author did not sign those words.
    amended_fields = models.JSONField(_("changed by the verifier"), default=list, blank=True)
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    @property
    def amended_labels(self) -> str:
        """The fields the verifier changed, by their names in the reader's language."""
        return pgettext("list separator", ", ").join(str(self._meta.get_field(name).verbose_name) for name in self.amended_fields)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(verifier__isnull=True) | ~Q(verifier=models.F("author")), name="report_verifier_is_not_the_author"),
            models.CheckConstraint(condition=Q(signed_at__isnull=True) | Q(submitted_at__isnull=False), name="report_signed_only_once_written"),
        ]


class ReportAddendum(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("addendum"))
    signed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["signed_at"]


class CriticalAlert(models.Model):
    """A critical finding (危急值) told to the clinic at once; it stays open until a clinic doctor acknowledges it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    read = models.ForeignKey(ReadRequest, on_delete=models.PROTECT, related_name="critical_alerts")
    finding = models.TextField(_("critical finding"))
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(auto_now_add=True)
    escalate_at = models.DateTimeField(db_index=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement_note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        ordering = ["raised_at"]
        constraints = [
            models.UniqueConstraint(fields=["read"], condition=Q(acknowledged_at__isnull=True), name="one_open_critical_alert_per_read"),
        ]
