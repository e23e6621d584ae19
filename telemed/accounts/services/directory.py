"""Changes to institutions, pairings, departments, people, roles and qualifications.

Only an administrator of the alliance concerned may make them (a superuser anywhere); each is
recorded in the audit trail so that who gave whom which role stays traceable.
"""
from __future__ import annotations

from datetime import date
from functools import partial

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed import access
from telemed.accounts.models import (
    Alliance,
    Department,
    Institution,
    Membership,
    Pairing,
    Qualification,
    Role,
    Specialty,
    User,
)
from telemed.accounts.services.tokens import tokens_forget
from telemed.audit.services import audit_record


def _require_admin_of(by: User, institution: Institution) -> None:
    if not access.manageable_institutions(by).filter(pk=institution.pk).exists():
        raise PermissionDenied(_("Only an administrator of this alliance can do that."))


def _require_admin_of_alliance(by: User, alliance: Alliance) -> None:
    if not (by.is_superuser or access.manageable_institutions(by).filter(alliance=alliance).exists()):
        raise PermissionDenied(_("Only an administrator of this alliance can do that."))


@transaction.atomic
def institution_create(*, by: User, alliance: Alliance, kind: str, name: str, code: str, **details) -> Institution:
    _require_admin_of_alliance(by, alliance)
    institution = Institution(alliance=alliance, kind=kind, name=name.strip(), code=code.strip(), **details)
    institution.full_clean()
    institution.save()
    audit_record(actor=by, action="institution.create", obj=institution)
    return institution


@transaction.atomic
def institution_update(*, by: User, institution: Institution, **changes) -> Institution:
    _require_admin_of(by, institution)
    for field, value in changes.items():
        setattr(institution, field, value)
    institution.full_clean()
    institution.save()
    audit_record(actor=by, action="institution.update", obj=institution, detail={"fields": sorted(changes)})
    return institution


@transaction.atomic
def department_create(*, by: User, institution: Institution, specialty: str, name: str) -> Department:
    _require_admin_of(by, institution)
    department = Department(institution=institution, specialty=specialty, name=name.strip())
    department.full_clean()
    department.save()
    audit_record(actor=by, action="department.create", obj=department)
    return department


@transaction.atomic
def pairing_create(*, by: User, hospital: Institution, clinic: Institution, started_on: date | None = None, note: str = "") -> Pairing:
    _require_admin_of(by, hospital)
    if hospital.kind != Institution.Kind.HOSPITAL:
        raise ValidationError({"hospital": _("%(name)s is not a designated hospital.") % {"name": hospital.name}})
    if clinic.kind != Institution.Kind.CLINIC:
        raise ValidationError({"clinic": _("%(name)s is not a grassroots clinic.") % {"name": clinic.name}})
    if hospital.alliance_id != clinic.alliance_id:
        raise ValidationError({"clinic": _("The hospital and the clinic must belong to the same alliance.")})
    if Pairing.objects.filter(hospital=hospital, clinic=clinic, ended_on__isnull=True).exists():
        raise ValidationError({"clinic": _("%(hospital)s is already paired with %(clinic)s.") % {"hospital": hospital.name, "clinic": clinic.name}})
    pairing = Pairing.objects.create(hospital=hospital, clinic=clinic, started_on=started_on or date.today(), note=note.strip())
    audit_record(actor=by, action="pairing.create", obj=pairing)
    return pairing


@transaction.atomic
def pairing_end(*, by: User, pairing: Pairing, ended_on: date | None = None) -> Pairing:
    _require_admin_of(by, pairing.hospital)
    if pairing.ended_on is not None:
        raise ValidationError(_("This pairing has already ended."))
    ended_on = ended_on or date.today()
    if ended_on < pairing.started_on:
        raise ValidationError({"ended_on": _("A pairing cannot end before it started.")})
    pairing.ended_on = ended_on
    pairing.save(update_fields=["ended_on"])
    audit_record(actor=by, action="pairing.end", obj=pairing)
    return pairing


def _clean_membership(institution: Institution, role: str, department: Department | None) -> None:
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    if department is not None and department.institution_id != institution.pk:
        raise ValidationError({"department": _("The department must belong to the same institution.")})
    if role == Role.CLINIC_DOCTOR and institution.kind != Institution.Kind.CLINIC:
        raise ValidationError({"role": _("The clinic doctor role can only be given at a grassroots clinic; choose a clinic or another role.")})
    if role in (Role.SPECIALIST, Role.RADIOLOGIST) and institution.kind != Institution.Kind.HOSPITAL:
        raise ValidationError({"role": _("The specialist and radiologist roles can only be given at a designated hospital; choose a hospital or another role.")})


@transaction.atomic
def user_create(
    *,
    by: User,
    username: str,
    full_name: str,
    institution: Institution,
    role: str,
    password: str = "",
    department: Department | None = None,
    email: str = "",
    phone: str = "",
    is_device: bool = False,
) -> User:
    """Create a person (with a first role) or a device account (tokens only, no password)."""
    _require_admin_of(by, institution)
    if is_device:
        role = Role.DEVICE
    _clean_membership(institution, role, department)
    user = User(username=username.strip(), full_name=full_name.strip(), email=email.strip(), phone=phone.strip(), is_device=is_device)
    user.full_clean(exclude=["password"])
    if is_device:
        user.set_unusable_password()
    else:
        validate_password(password, user)
        user.set_password(password)
    user.save()
    membership = Membership.objects.create(user=user, institution=institution, role=role, department=department)
    audit_record(actor=by, action="user.create", obj=user, detail={"role": role, "institution": str(institution.pk)})
    audit_record(actor=by, action="membership.create", obj=membership)
    return user


@transaction.atomic
def membership_add(*, by: User, user: User, institution: Institution, role: str, department: Department | None = None) -> Membership:
    _require_admin_of(by, institution)
    _clean_membership(institution, role, department)
    membership, created = Membership.objects.get_or_create(
        user=user, institution=institution, role=role, defaults={"department": department}
    )
    if not created and membership.is_active:
        raise ValidationError({"role": _("%(user)s already holds this role here.") % {"user": user}})
    membership.is_active = True
    membership.department = department
    membership.save()
    audit_record(actor=by, action="membership.create", obj=membership, detail={"role": role})
    transaction.on_commit(partial(tokens_forget, user=membership.user))  # not before: a request could re-remember the old rights
    return membership


@transaction.atomic
def membership_end(*, by: User, membership: Membership) -> Membership:
    _require_admin_of(by, membership.institution)
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    audit_record(actor=by, action="membership.end", obj=membership)
    transaction.on_commit(partial(tokens_forget, user=membership.user))  # not before: a request could re-remember the old rights
    return membership


@transaction.atomic
def user_set_active(*, by: User, user: User, active: bool) -> User:
    if not access.manageable_users(by).filter(pk=user.pk).exists():
        raise PermissionDenied(_("Only an administrator of this person's alliance can do that."))
    if user.pk == by.pk and not active:
        raise ValidationError(_("You cannot deactivate your own account."))
    user.is_active = active
    user.save(update_fields=["is_active"])
    transaction.on_commit(partial(tokens_forget, user=user))
    audit_record(actor=by, action="user.activate" if active else "user.deactivate", obj=user)
    return user


def _clean_specialties(specialties: list[str]) -> list[str]:
    unknown = sorted(set(specialties) - set(Specialty.values))
    if unknown:
        raise ValidationError({"specialties": _("Unknown specialty: %(codes)s.") % {"codes": ", ".join(unknown)}})
    if not specialties:
        raise ValidationError({"specialties": _("Choose at least one specialty.")})
    return sorted(set(specialties))


@transaction.atomic
def qualification_add(
    *, by: User, user: User, licence_number: str, title: str, specialties: list[str], independent_practice_since: date
) -> Qualification:
    """Record a licence, unverified; a person adds their own, an administrator anyone's in the alliance."""
    if by.pk != user.pk and not access.manageable_users(by).filter(pk=user.pk).exists():
        raise PermissionDenied(_("You can add qualifications only to your own profile."))
    if independent_practice_since > date.today():
        raise ValidationError({"independent_practice_since": _("This date is in the future.")})
    qualification = Qualification(
        user=user,
        licence_number=licence_number.strip(),
        title=title,
        specialties=_clean_specialties(specialties),
        independent_practice_since=independent_practice_since,
    )
    qualification.full_clean()
    qualification.save()
    audit_record(actor=by, action="qualification.create", obj=qualification)
    return qualification


@transaction.atomic
def qualification_verify(*, by: User, qualification: Qualification) -> Qualification:
    """An administrator confirms the licence against the register; never one's own."""
    if qualification.user_id == by.pk:
        raise PermissionDenied(_("Nobody can verify their own qualification."))
    if not access.manageable_users(by).filter(pk=qualification.user_id).exists():
        raise PermissionDenied(_("Only an administrator of this person's alliance can verify qualifications."))
    if qualification.is_verified:
        raise ValidationError(_("This qualification is already verified."))
    qualification.verified_by = by
    qualification.verified_at = timezone.now()
    qualification.save(update_fields=["verified_by", "verified_at"])
    audit_record(actor=by, action="qualification.verify", obj=qualification)
    return qualification


@transaction.atomic
def profile_update(*, user: User, full_name: str, email: str, phone: str, language: str, time_zone: str) -> User:
    user.full_name, user.email, user.phone = full_name.strip(), email.strip(), phone.strip()
    user.language, user.time_zone = language, time_zone
    user.full_clean(exclude=["password"])
    user.save(update_fields=["full_name", "email", "phone", "language", "time_zone"])
    audit_record(actor=user, action="profile.update", obj=user)
    return user
