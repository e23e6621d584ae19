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
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import Institution
from telemed.patients.models import Patient


class Study(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="studies", verbose_name=_("sent by"))
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="studies", verbose_name=_("patient"))
    study_instance_uid = models.CharField(max_length=64, unique=True)
    dicom_patient_id = models.CharField(_("Patient ID"), max_length=64, blank=True, db_index=True)
    dicom_patient_name = models.CharField(_("patient name in the study"), max_length=200, blank=True)
    patient_birth_date = models.CharField(max_length=8, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    study_date = models.CharField(max_length=8, blank=True, db_index=True)
    study_time = models.CharField(max_length=16, blank=True)
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    study_id = models.CharField(max_length=16, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    referring_physician = models.CharField(max_length=200, blank=True)
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
    metadata = models.JSONField(help_text="The header in the DICOM JSON model, without bulk data.")
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
