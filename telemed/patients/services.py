"""Registering, finding, reading and changing patients; every access is audited here."""
from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed import access
from telemed.accounts.models import Institution, User
from telemed.audit.services import audit_record, audited_get
from telemed.patients import identity
from telemed.patients.models import Patient, PatientGrant

EDITABLE_FIELDS = ("mrn", "name", "sex", "birth_date", "phone")


def _apply_national_id(patient: Patient, raw: str) -> None:
    value = identity.normalise_national_id(raw)
    if not value:
        patient.national_id_ciphertext = patient.national_id_digest = patient.national_id_last4 = ""
        return
    try:
        identity.validate_national_id(value)
    except ValidationError as exc:
        raise ValidationError({"national_id": exc.messages}) from None
    patient.national_id_ciphertext = identity.encrypt(value)
    patient.national_id_digest = identity.digest(value)
    patient.national_id_last4 = value[-4:]


def _check_birth_date(birth_date: date) -> None:
    if birth_date > timezone.localdate():
        raise ValidationError({"birth_date": _("The date of birth cannot be in the future.")})
    if birth_date.year < 1880:
        raise ValidationError({"birth_date": _("This date of birth is too far in the past.")})


def _save_checked(patient: Patient) -> None:
    """Save, turning the two per-institution uniqueness rules into messages a person can act on."""
    patient.full_clean(exclude=["registered_by", "institution"], validate_unique=False, validate_constraints=False)
    clashes = Patient.objects.filter(institution=patient.institution).exclude(pk=patient.pk)
    if clashes.filter(mrn=patient.mrn).exists():
        raise ValidationError({"mrn": _("Another patient of this institution already has medical record number %(mrn)s.") % {"mrn": patient.mrn}})
    if patient.national_id_digest and clashes.filter(national_id_digest=patient.national_id_digest).exists():
        raise ValidationError({"national_id": _("A patient with this ID number is already registered here; search for them instead.")})
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError:  # a concurrent registration took the number between check and save
        raise ValidationError(_("Another patient was registered with the same number at the same moment; search and try again.")) from None


@transaction.atomic
def patient_register(
    *, by: User, institution: Institution, mrn: str, name: str, sex: str, birth_date: date, national_id: str = "", phone: str = ""
) -> Patient:
    if not access.patient_registration_institutions(by).filter(pk=institution.pk).exists():
        raise PermissionDenied(_("Only doctors of %(institution)s can register its patients.") % {"institution": institution.name})
    _check_birth_date(birth_date)
    patient = Patient(institution=institution, mrn=mrn.strip(), name=name.strip(), sex=sex, birth_date=birth_date, phone=phone.strip(), registered_by=by)
    _apply_national_id(patient, national_id)
    _save_checked(patient)
    audit_record(actor=by, action="patient.create", obj=patient, patient_id=patient.pk, institution=institution)
    return patient


@transaction.atomic
def patient_update(*, by: User, patient: Patient, national_id: str | None = None, **changes) -> Patient:
    """Change demographic fields; `national_id=None` leaves the stored number untouched."""
    if not access.patient_registration_institutions(by).filter(pk=patient.institution_id).exists():
        raise PermissionDenied(_("Only doctors of the registering clinic can change a patient's record."))
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(_("These fields cannot be changed: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    for field, value in changes.items():
        setattr(patient, field, value.strip() if isinstance(value, str) else value)
    if "birth_date" in changes:
        _check_birth_date(patient.birth_date)
    if national_id is not None:
        _apply_national_id(patient, national_id)
    _save_checked(patient)
    fields = sorted(changes) + (["national_id"] if national_id is not None else [])
    audit_record(actor=by, action="patient.update", obj=patient, patient_id=patient.pk, detail={"fields": fields})
    return patient


def _get_audited(*, by: User, patient_id: UUID, action: str, scope: QuerySet[Patient]) -> Patient:
    return audited_get(scope.select_related("institution"), patient_id, by=by, action=action, patient_path="pk", not_found=_("No patient found."))


def patient_get(*, by: User, patient_id: UUID) -> Patient:
    """One patient the user may see; anything else is a 404 (and a denied event if it exists)."""
    return _get_audited(by=by, patient_id=patient_id, action="patient.view", scope=access.visible_patients(by))


def patient_search(*, by: User, query: str = "") -> QuerySet[Patient]:
    """The visible patients matching a name, record number or exact ID number, unaudited.

    The caller pages the result and passes the page to `patient_list_record`, so the trail
    names exactly the patients that were shown.
    """
    patients = access.visible_patients(by).select_related("institution")
    query = query.strip()
    if query:
        match = Q(name__icontains=query) | Q(mrn__iexact=query)
        national_id = identity.normalise_national_id(query)
        if len(national_id) == 18:
            match |= Q(national_id_digest=identity.digest(national_id))
        patients = patients.filter(match)
    return patients.order_by("name", "mrn")


def patient_list_record(*, by: User, shown: list[Patient], query: str = "") -> None:
    audit_record(
        actor=by,
        action="patient.list",
        detail={"query": query[:100], "shown": [str(p.pk) for p in shown]},
    )


def patient_reveal_national_id(*, by: User, patient_id: UUID) -> tuple[Patient, str]:
    """The patient with the full ID number, for the registering clinic only (e.g. an insurance form)."""
    own = access.visible_patients(by).filter(institution__in=access.patient_registration_institutions(by))
    patient = _get_audited(by=by, patient_id=patient_id, action="patient.reveal_national_id", scope=own)
    if not patient.national_id_ciphertext:
        return patient, ""
    return patient, identity.decrypt(patient.national_id_ciphertext)


@transaction.atomic
def patient_grant_access(
    *, patient: Patient, user: User, reason: str, source_id: UUID, by: User | None, expires_at: datetime | None = None
) -> PatientGrant:
    """Let a person of another institution see a patient; called by consults, reads and rounds."""
    grant, _created = PatientGrant.objects.update_or_create(
        patient=patient,
        user=user,
        reason=reason,
        source_id=source_id,
        defaults={"granted_by": by, "expires_at": expires_at, "revoked_at": None},
    )
    audit_record(actor=by, action="patient.grant", obj=grant, patient_id=patient.pk, detail={"grantee": str(user.pk), "reason": reason})
    return grant


@transaction.atomic
def patient_revoke_access(*, patient: Patient, user: User, reason: str, source_id: UUID, by: User | None) -> int:
    revoked = PatientGrant.objects.filter(
        patient=patient, user=user, reason=reason, source_id=source_id, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if revoked:
        audit_record(actor=by, action="patient.revoke", patient_id=patient.pk, detail={"grantee": str(user.pk), "reason": reason})
    return revoked
