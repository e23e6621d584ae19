"""Patients, registered by the clinic that treats them, and the grants that let others see them.

The national ID number is never stored in clear: a Fernet ciphertext for the rare lawful reveal,
a keyed hash for exact search and duplicate checks, and the last four characters for the masked
form that every list and page shows.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import Institution


class Sex(models.TextChoices):
    # Codes of GB/T 2261.1, the national standard for sex in health records.
    UNKNOWN = "0", _("Unknown")
    MALE = "1", _("Male")
    FEMALE = "2", _("Female")
    UNSPECIFIED = "9", _("Unspecified")


class Patient(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="patients", verbose_name=_("registered at"))
    mrn = models.CharField(_("medical record number"), max_length=40)
    name = models.CharField(_("name"), max_length=120)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("date of birth"))
    national_id_ciphertext = models.TextField(blank=True)
    national_id_digest = models.CharField(max_length=64, blank=True, db_index=True)
    national_id_last4 = models.CharField(max_length=4, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        ordering = ["name", "mrn"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "mrn"], name="mrn_unique_per_institution"),
            models.UniqueConstraint(
                fields=["institution", "national_id_digest"],
                condition=~Q(national_id_digest=""),
                name="national_id_unique_per_institution",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.mrn})"

    @property
    def age(self) -> int:
        today = timezone.localdate()
        born = self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def national_id_masked(self) -> str:
        if not self.national_id_last4:
            return ""
        return "*" * 14 + self.national_id_last4


class PatientGrant(models.Model):
    """Lets one person of another institution see a patient, because of a consult, read or round."""

    class Reason(models.TextChoices):
        CONSULT = "consult", _("Consultation")
        READ = "read", _("Imaging read")
        ROUND = "round", _("Ward round")
        REFERRAL = "referral", _("Referral")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patient_grants")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    source_id = models.UUIDField(help_text="The consult, read request or round that needs the access.")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    granted_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "user", "reason", "source_id"], name="one_grant_per_source"),
        ]
