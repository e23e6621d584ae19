"""Institutions grouped in alliances, pairings between them, and the people who work there.

A person's rights come from memberships: one row per (user, institution, role), so a specialist
who also coordinates at the same hospital holds two memberships. Professional qualifications are
kept apart from roles because the 2018 remote-medical-service rules tie who may be booked to a
verified licence and years of independent practice, not to a role.
"""
from __future__ import annotations

import uuid
from datetime import date

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Specialty(models.TextChoices):
    RESPIRATORY = "respiratory", _("Respiratory medicine")
    INFECTIOUS_DISEASE = "infectious_disease", _("Infectious diseases")
    EMERGENCY = "emergency", _("Emergency medicine")
    CRITICAL_CARE = "critical_care", _("Critical care")
    PSYCHIATRY = "psychiatry", _("Psychiatry and psychology")
    TCM = "tcm", _("Traditional Chinese medicine")
    RADIOLOGY = "radiology", _("Radiology")
    CARDIOLOGY = "cardiology", _("Cardiology")
    GENERAL_PRACTICE = "general_practice", _("General practice")
    INTERNAL_MEDICINE = "internal_medicine", _("Internal medicine")
    SURGERY = "surgery", _("Surgery")
    PAEDIATRICS = "paediatrics", _("Paediatrics")
    OTHER = "other", _("Other")


class Role(models.TextChoices):
    COORDINATOR = "coordinator", _("Coordinator")
    SPECIALIST = "specialist", _("Specialist")
    RADIOLOGIST = "radiologist", _("Radiologist")
    CLINIC_DOCTOR = "clinic_doctor", _("Clinic doctor")
    ADMINISTRATOR = "administrator", _("Administrator")
    AUDITOR = "auditor", _("Auditor")
    DEVICE = "device", _("Device (PACS or modality)")


class Title(models.TextChoices):
    RESIDENT = "resident", _("Resident physician")
    ATTENDING = "attending", _("Attending physician")
    ASSOCIATE_CHIEF = "associate_chief", _("Associate chief physician")
    CHIEF = "chief", _("Chief physician")


class Alliance(models.Model):
    """A medical alliance (医联体): the hospitals and clinics that work together."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("medical alliance")
        verbose_name_plural = _("medical alliances")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Institution(models.Model):
    class Kind(models.TextChoices):
        HOSPITAL = "hospital", _("Designated hospital")
        CLINIC = "clinic", _("Grassroots clinic")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    alliance = models.ForeignKey(Alliance, on_delete=models.PROTECT, related_name="institutions", verbose_name=_("alliance"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(
        _("organisation code"),
        max_length=32,
        unique=True,
        help_text=_("The registration code of the medical institution (医疗机构登记号)."),
    )
    region = models.CharField(_("region"), max_length=120, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    dicom_quota_bytes = models.PositiveBigIntegerField(
        _("DICOM storage quota"), null=True, blank=True,
        help_text=_("Empty: the deployment's default quota. 0: no limit."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["alliance", "name"], name="institution_name_unique_in_alliance"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_hospital(self) -> bool:
        return self.kind == self.Kind.HOSPITAL


class Pairing(models.Model):
    """Paired support (对口支援): a designated hospital supports a grassroots clinic."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hospital = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="clinic_pairings", verbose_name=_("hospital"))
    clinic = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="hospital_pairings", verbose_name=_("clinic"))
    started_on = models.DateField(_("started on"), default=date.today)
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("pairing")
        verbose_name_plural = _("pairings")
        ordering = ["hospital__name", "clinic__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["hospital", "clinic"],
                condition=Q(ended_on__isnull=True),
                name="one_active_pairing_per_hospital_and_clinic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hospital} → {self.clinic}"

    @property
    def is_active(self) -> bool:
        return self.ended_on is None


class Department(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="departments", verbose_name=_("institution"))
    specialty = models.CharField(_("specialty"), max_length=32, choices=Specialty.choices)
    name = models.CharField(_("name"), max_length=120)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "name"], name="department_name_unique_in_institution"),
        ]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person, or a machine (a clinic's PACS) that signs in with access tokens only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    full_name = models.CharField(_("full name"), max_length=120)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    language = models.CharField(_("language"), max_length=10, default="zh-hans", choices=[("zh-hans", "简体中文"), ("en", "English")])
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    is_device = models.BooleanField(
        _("device account"),
        default=False,
        help_text=_("A machine such as a PACS; it cannot sign in with a password, only with access tokens."),
    )

    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["full_name", "username"]

    def __str__(self) -> str:
        return self.full_name or self.username


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user"))
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("institution"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="memberships", verbose_name=_("department")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["institution__name", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "institution", "role"], name="one_membership_per_role_and_institution"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.institution}"


class Qualification(models.Model):
    """A practising licence (医师执业证书) and what it qualifies the holder for."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="qualifications", verbose_name=_("user"))
    licence_number = models.CharField(_("licence number"), max_length=40, unique=True)
    title = models.CharField(_("professional title"), max_length=20, choices=Title.choices)
    specialties = models.JSONField(_("specialties"), default=list)
    independent_practice_since = models.DateField(_("in independent practice since"))
    verified_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("verified by")
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("qualification")
        verbose_name_plural = _("qualifications")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.licence_number} ({self.get_title_display()})"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    def years_of_practice(self, on: date | None = None) -> int:
        on = on or date.today()
        since = self.independent_practice_since
        years = on.year - since.year
        if (on.month, on.day) < (since.month, since.day):
            years -= 1
        return max(years, 0)

    def specialty_labels(self) -> list[str]:
        return [str(Specialty(code).label) for code in self.specialties if code in Specialty.values]


class AccessToken(models.Model):
    """A personal access token for a machine client; only a hash of the secret is stored."""

    class Scope(models.TextChoices):
        API_READ = "api:read", _("Read through the API")
        API_WRITE = "api:write", _("Change through the API")
        DICOM_READ = "dicom:read", _("Retrieve DICOM studies (QIDO-RS, WADO-RS)")
        DICOM_WRITE = "dicom:write", _("Store DICOM studies (STOW-RS)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_tokens", verbose_name=_("owner"))
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("access token")
        verbose_name_plural = _("access tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def scope_labels(self) -> list[str]:
        return [str(self.Scope(code).label) for code in self.scopes if code in self.Scope.values]


class LoginFailure(models.Model):
    """One failed sign-in; counted per account and per IP address to throttle guessing."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, db_index=True)
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
