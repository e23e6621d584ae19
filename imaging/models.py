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

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="dicom_nodes")
    device = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dicom_nodes",
        help_text="The device account the node's instances are recorded as received by.",
    )
    ae_title = models.CharField(_("AE title"), max_length=16, unique=True)
    host = models.GenericIPAddressField(_("address"), help_text="Associations from any other address are refused.")
    description = models.CharField(_("description"), max_length=200, blank=True)
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.ae_title} ({self.host})"
