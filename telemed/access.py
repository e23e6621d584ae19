"""Who may see what: the one place that scopes querysets to a user.

Deny by default: an anonymous or inactive user sees nothing, and every function starts from an
empty set and adds only what a membership or an explicit grant allows. Views, API views and
consumers take their querysets from here and never filter by institution themselves.

The rules:
- members of an alliance see its institutions, pairings and people (a directory, no patient data);
- administrators manage their alliance's institutions, pairings, people and devices;
- clinic doctors see and register the patients of the institutions they belong to;
- anyone else sees a patient only through an active grant (a consult, read or round assigned to them);
- a read request is seen by the requesting clinic's doctors and by the coordinators and
  radiologists of the hospital asked (who also see its study); its report once signed, a draft
  only by its author, one awaiting verification also by the hospital's radiologists;
- administrators and auditors see the audit events of their alliance;
- everyone sees their own access tokens; administrators also those of their alliance's devices;
- administrators register their alliance's DICOM nodes and set its storage quotas; a clinic's
  doctors see their clinic's storage usage;
- a study is exported for teaching by its clinic's doctors and by radiologists who can see it;
  the export belongs to whoever asked for it.
"""
from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from telemed.accounts.models import AccessToken, Institution, Membership, Pairing, Role, User
from telemed.audit.models import AuditEvent
from telemed.patients.models import Patient, PatientGrant


def _is_active(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def active_memberships(user) -> QuerySet[Membership]:
    if not _is_active(user):
        return Membership.objects.none()
    return Membership.objects.filter(user=user, is_active=True, institution__is_active=True)


def _roles_at(user) -> list[tuple]:
    """(institution id, role) of each active membership; cached on the user object for the
    length of a request (a token's owner: as long as the token is remembered, see
    `token_authenticate`)."""
    cached = getattr(user, "_roles_cache", None)
    if cached is None:
        cached = list(active_memberships(user).values_list("institution_id", "role"))
        user._roles_cache = cached
    return cached


def _ids_with_role(user, role: str) -> list:
    """The ids of the institutions where the user holds `role`, from the request's cache."""
    return [institution for institution, held in _roles_at(user) if held == role]


def roles(user) -> set[str]:
    """The user's roles anywhere."""
    if not _is_active(user):
        return set()
    return {role for _institution, role in _roles_at(user)}


def has_role(user, *wanted: str) -> bool:
    return bool(roles(user) & set(wanted))


def institutions_with_role(user, *wanted: str) -> QuerySet[Institution]:
    return Institution.objects.filter(
        pk__in=active_memberships(user).filter(role__in=wanted).values("institution_id")
    )


def _alliance_ids(user, *wanted: str):
    memberships = active_memberships(user)
    if wanted:
        memberships = memberships.filter(role__in=wanted)
    return memberships.values("institution__alliance_id")


def visible_institutions(user) -> QuerySet[Institution]:
    if not _is_active(user):
        return Institution.objects.none()
    if user.is_superuser:
        return Institution.objects.all()
    return Institution.objects.filter(alliance_id__in=_alliance_ids(user))


def manageable_institutions(user) -> QuerySet[Institution]:
    if not _is_active(user):
        return Institution.objects.none()
    if user.is_superuser:
        return Institution.objects.all()
    return Institution.objects.filter(alliance_id__in=_alliance_ids(user, Role.ADMINISTRATOR))


def visible_pairings(user) -> QuerySet[Pairing]:
    return Pairing.objects.filter(hospital__in=visible_institutions(user))


def manageable_pairings(user) -> QuerySet[Pairing]:
    return Pairing.objects.filter(hospital__in=manageable_institutions(user))


def visible_users(user) -> QuerySet[User]:
    if not _is_active(user):
        return User.objects.none()
    if user.is_superuser:
        return User.objects.all()
    return User.objects.filter(
        Q(pk=user.pk) | Q(memberships__institution__in=visible_institutions(user))
    ).distinct()


def manageable_users(user) -> QuerySet[User]:
    if not _is_active(user):
        return User.objects.none()
    if user.is_superuser:
        return User.objects.all()
    return User.objects.filter(memberships__institution__in=manageable_institutions(user)).distinct()


def visible_patients(user) -> QuerySet[Patient]:
    if not _is_active(user):
        return Patient.objects.none()
    return _patients_seen(user, institutions_with_role(user, Role.CLINIC_DOCTOR))


def _patients_seen(user, clinics) -> QuerySet[Patient]:
    """The patients of `clinics` (the user's, as a queryset or a list of ids) and those granted."""
    now = timezone.now()
    # From the model's manager, not user.patient_grants: a related manager is costly to make.
    granted = Q(
        pk__in=PatientGrant.objects.filter(user_id=user.pk, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values("patient_id")
    )
    return Patient.objects.filter(Q(institution__in=clinics) | granted)


def patient_registration_institutions(user) -> QuerySet[Institution]:
    return institutions_with_role(user, Role.CLINIC_DOCTOR)


def visible_audit_events(user) -> QuerySet[AuditEvent]:
    if not _is_active(user):
        return AuditEvent.objects.none()
    if user.is_superuser:
        return AuditEvent.objects.all()
    watched = Institution.objects.filter(alliance_id__in=_alliance_ids(user, Role.ADMINISTRATOR, Role.AUDITOR))
    return AuditEvent.objects.filter(institution_id__in=watched.values("pk"))


def can_audit(user) -> bool:
    return _is_active(user) and (user.is_superuser or has_role(user, Role.ADMINISTRATOR, Role.AUDITOR))


def can_administer(user) -> bool:
    return _is_active(user) and (user.is_superuser or has_role(user, Role.ADMINISTRATOR))


def visible_tokens(user) -> QuerySet[AccessToken]:
    if not _is_active(user):
        return AccessToken.objects.none()
    devices = manageable_users(user).filter(is_device=True)
    return AccessToken.objects.filter(Q(user=user) | Q(user__in=devices))


# --- Consultations ------------------------------------------------------------------------------

def coordinated_hospitals(user) -> QuerySet[Institution]:
    return institutions_with_role(user, Role.COORDINATOR)


def visible_consults(user):
    """Clinic doctors: their clinics' consults. Experts: consults they take part in. Coordinators:
    consults booked at their hospital, and requests from the clinics it is paired with (or naming
    one of its experts)."""
    from consults.models import Consult

    if not _is_active(user):
        return Consult.objects.none()
    hospitals = coordinated_hospitals(user)
    paired_clinics = Pairing.objects.filter(hospital__in=hospitals, ended_on__isnull=True).values("clinic_id")
    hospital_experts = Membership.objects.filter(institution__in=hospitals, is_active=True).values("user_id")
    return Consult.objects.filter(
        Q(clinic__in=institutions_with_role(user, Role.CLINIC_DOCTOR))
        | Q(participants__user=user, participants__removed_at__isnull=True)
        | Q(offered_to=user)
        | Q(hospital__in=hospitals)
        | Q(hospital__isnull=True, clinic_id__in=paired_clinics)
        | Q(hospital__isnull=True, named_expert__in=hospital_experts)
    ).distinct()


def can_coordinate(user, consult) -> bool:
    """A coordinator of the consult's hospital, or of a hospital paired with its clinic before booking."""
    return _is_active(user) and user.pk in coordinators_among([user], consult)


def coordinators_among(users, consult) -> set:
    """The ids of those of `users` who may coordinate the consult (`can_coordinate`), in one query:
    before booking, a hospital paired with its clinic or one its named expert works at."""
    coordinating = Membership.objects.filter(
        user__in=[u for u in users if _is_active(u)], role=Role.COORDINATOR, is_active=True, institution__is_active=True
    )
    if consult.hospital_id:
        coordinating = coordinating.filter(institution_id=consult.hospital_id)
    else:
        paired = Pairing.objects.filter(clinic_id=consult.clinic_id, ended_on__isnull=True).values("hospital_id")
        named_experts = Membership.objects.filter(user_id=consult.named_expert_id, is_active=True).values("institution_id")
        coordinating = coordinating.filter(Q(institution_id__in=paired) | Q(institution_id__in=named_experts))
    return set(coordinating.values_list("user_id", flat=True))


def bookable_experts_for(user) -> QuerySet[User]:
    """Specialists the user may book: those of the hospitals they coordinate."""
    return User.objects.filter(
        is_active=True,
        memberships__institution__in=coordinated_hospitals(user),
        memberships__role=Role.SPECIALIST,
        memberships__is_active=True,
    ).distinct()


# --- Statistics ---------------------------------------------------------------------------------

def can_view_statistics(user) -> bool:
    return _is_active(user) and (user.is_superuser or has_role(user, Role.COORDINATOR, Role.ADMINISTRATOR))


def statistics_hospitals(user) -> QuerySet[Institution]:
    """Hospitals whose consult statistics the user may read: those they coordinate, and every
    hospital of an alliance they administer (administrators answer for the whole alliance)."""
    if not can_view_statistics(user):
        return Institution.objects.none()
    administered = manageable_institutions(user).filter(kind=Institution.Kind.HOSPITAL)
    return Institution.objects.filter(Q(pk__in=coordinated_hospitals(user).values("pk")) | Q(pk__in=administered.values("pk")))


def statistics_consults(user):
    """Consults counted in the user's statistics: those booked at a hospital from
    `statistics_hospitals`. A request not yet booked belongs to no hospital and is not counted.

    Returned as `pk__in` a subquery, not a join: `visible_consults` joins participants, which
    would count a consult once per participant in an aggregate."""
    from consults.models import Consult

    if not can_view_statistics(user):
        return Consult.objects.none()
    coordinated = visible_consults(user).filter(hospital__in=coordinated_hospitals(user))
    administered = manageable_institutions(user).filter(kind=Institution.Kind.HOSPITAL)
    return Consult.objects.filter(Q(pk__in=coordinated.values("pk")) | Q(hospital__in=administered))


# --- Opinions and referrals ---------------------------------------------------------------------

def visible_opinions(user):
    """Signed opinions of the consults the user sees, and the user's own drafts; never another
    expert's draft (an unsigned opinion is still the author's working note)."""
    from consults.models import Opinion

    if not _is_active(user):
        return Opinion.objects.none()
    return Opinion.objects.filter(consult__in=visible_consults(user)).filter(Q(signed_at__isnull=False) | Q(author=user))


def visible_referrals(user):
    """The people of the two institutions who can see the patient: clinic doctors of the consult's
    clinic, the named contact, and the consult's participants (experts, coordinator, clinic doctor)."""
    from consults.models import Referral

    if not _is_active(user):
        return Referral.objects.none()
    return Referral.objects.filter(
        Q(consult__clinic__in=institutions_with_role(user, Role.CLINIC_DOCTOR))
        | Q(contact=user)
        | Q(consult__participants__user=user, consult__participants__removed_at__isnull=True)
    ).distinct()


def editable_experts(user) -> QuerySet[User]:
    """Whose consult hours the user may change: their own (as an expert) and those they coordinate."""
    if not _is_active(user):
        return User.objects.none()
    own = Q(pk=user.pk) if has_role(user, Role.SPECIALIST, Role.RADIOLOGIST) else Q(pk__in=[])
    return User.objects.filter(own | Q(pk__in=bookable_experts_for(user).values("pk")))


# --- Imaging --------------------------------------------------------------------------------------

def storing_institutions(user) -> QuerySet[Institution]:
    """Where the user may send DICOM studies: their clinic (doctors) or the device's institution.
    By the ids in the request's cache of roles: every STOW-RS request asks this first, and the
    memberships subquery made it cost 1 ms of CPU."""
    return Institution.objects.filter(pk__in=storing_institution_ids(user))


def storing_institution_ids(user) -> list:
    """The ids of `storing_institutions(user)`, each once, from the request's cache of roles."""
    return list(dict.fromkeys(i for i, role in _roles_at(user) if role in (Role.CLINIC_DOCTOR, Role.DEVICE)))


def visible_studies(user):
    """The studies of the user's clinics, of patients a consult, read or round grants them, and
    (for radiologists) those sent to their hospital for reading, so any of them can verify.

    The rules compare with the ids of the user's clinics and hospitals, read once a request
    (`_roles_at`): a query with one subquery fewer at each rule is cheaper to build and to plan,
    and DICOMweb builds this at every request."""
    from imaging.models import OPEN_READ_STATUSES, ReadRequest, ReadStatus, Study

    if not _is_active(user):
        return Study.objects.none()
    clinics, hospitals = _ids_with_role(user, Role.CLINIC_DOCTOR), _ids_with_role(user, Role.RADIOLOGIST)
    rule = Q(institution_id__in=clinics) | Q(patient__in=_patients_seen(user, clinics))
    if hospitals:
        sent_for_reading = ReadRequest.objects.filter(hospital_id__in=hospitals, status__in=(*OPEN_READ_STATUSES, ReadStatus.SIGNED))
        rule |= Q(pk__in=sent_for_reading.values("study_id"))
    return Study.objects.filter(rule)


def study_visible(user, study) -> bool:
    """Whether `visible_studies(user)` holds `study`. A study of one of the user's own clinics (a
    clinic's uploads and viewer, the common case) is settled without a query."""
    if not _is_active(user):
        return False
    if study.institution_id in _ids_with_role(user, Role.CLINIC_DOCTOR):
        return True
    return visible_studies(user).filter(pk=study.pk).exists()


def manageable_dicom_nodes(user):
    """The modalities and PACS an administrator registers: those of the alliance's institutions."""
    from imaging.models import DicomNode

    return DicomNode.objects.filter(institution__in=manageable_institutions(user))


def storage_institutions(user) -> QuerySet[Institution]:
    """Whose archive usage the user may see: the clinics they work at, and an administrator's
    whole alliance (administrators also set the quotas, see `manageable_institutions`)."""
    return Institution.objects.filter(
        Q(pk__in=manageable_institutions(user).values("pk")) | Q(pk__in=institutions_with_role(user, Role.CLINIC_DOCTOR).values("pk"))
    )


def exportable_studies(user):
    """Studies the user may export de-identified for teaching: those of the clinics where they are
    a doctor, and, for a radiologist, any study a read or consult lets them see."""
    visible = visible_studies(user)
    if has_role(user, Role.RADIOLOGIST):
        return visible
    return visible.filter(institution__in=institutions_with_role(user, Role.CLINIC_DOCTOR))


def visible_exports(user):
    """A teaching export is its requester's alone, and only while they may still export the study."""
    from imaging.models import StudyExport

    if not _is_active(user):
        return StudyExport.objects.none()
    return StudyExport.objects.filter(requested_by=user, study__in=exportable_studies(user))


# --- Remote reading -----------------------------------------------------------------------------

def visible_reads(user):
    """Clinic doctors: their clinics' read requests. Coordinators and radiologists: the reads asked
    of their hospital (radiologists all of them, not only their own, for verification and cover)."""
    from imaging.models import ReadRequest

    if not _is_active(user):
        return ReadRequest.objects.none()
    return ReadRequest.objects.filter(
        Q(clinic__in=institutions_with_role(user, Role.CLINIC_DOCTOR))
        | Q(hospital__in=institutions_with_role(user, Role.COORDINATOR, Role.RADIOLOGIST))
    )


def visible_reports(user):
    """Signed reports of the reads the user sees; a draft only to its author; a report awaiting
    verification also to the hospital's other radiologists, who may verify it."""
    from imaging.models import Report

    if not _is_active(user):
        return Report.objects.none()
    verifying = Q(submitted_at__isnull=False, read__hospital__in=institutions_with_role(user, Role.RADIOLOGIST))
    return Report.objects.filter(read__in=visible_reads(user)).filter(Q(signed_at__isnull=False) | Q(author=user) | verifying)


def is_read_clinic(user, read) -> bool:
    """A doctor of the clinic that asked for the read: cancels it, acknowledges critical findings."""
    return patient_registration_institutions(user).filter(pk=read.clinic_id).exists()


def can_coordinate_read(user, read) -> bool:
    return coordinated_hospitals(user).filter(pk=read.hospital_id).exists()


def reading_hospitals(user) -> QuerySet[Institution]:
    """Hospitals whose reading rules the user sets: those they coordinate or administer."""
    if not _is_active(user):
        return Institution.objects.none()
    administered = manageable_institutions(user).filter(kind=Institution.Kind.HOSPITAL)
    return Institution.objects.filter(Q(pk__in=coordinated_hospitals(user).values("pk")) | Q(pk__in=administered.values("pk")))
