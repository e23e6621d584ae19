"""Who reads for a hospital, and how a read reaches one of them.

The rules, in one place:
- a radiologist reads for a hospital while they hold an active radiologist role there and a
  verified qualification with at least three years of independent practice (the rule the 2018
  remote-medical-service regulations set for every remote service; see consults' experts);
- a coordinator of the hospital assigns and reassigns; with the hospital's automatic rule the read
  is assigned the moment it is requested, in turn (round robin) or to whoever has the fewest open
  reads, among the radiologists who take automatic assignments and read that modality;
- a radiologist of the hospital may take an unassigned read themselves, and may hand an
  assigned one back with a reason;
- the radiologist assigned sees the patient (a grant) until the read is handed to someone else.
"""
from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.models import Urgency
from consults.services.experts import practice_refusal
from consults.services.notify import lazy_format, notify
from imaging.models import READING_STATUSES, ReaderProfile, ReadingPolicy, ReadRequest, ReadStatus
from imaging.services.reading.lifecycle import coordinators_of, locked, radiologists_of, read_label, read_link, record, status_label, transition
from telemed import access
from telemed.accounts.models import Institution, Membership, Role, User
from telemed.audit.services import audit_record
from telemed.patients.models import PatientGrant
from telemed.patients.services import patient_grant_access, patient_revoke_access

MODALITY_CODE = re.compile(r"[A-Z0-9]{1,16}")


# --- Who may read ----------------------------------------------------------------------------------

def _not_a_radiologist(person: User, hospital: Institution) -> str:
    return _("%(name)s is not a radiologist of %(hospital)s.") % {"name": person, "hospital": hospital}


def reader_refusal(person: User, hospital: Institution) -> str:
    """Why this person cannot read for the hospital, or "" if they can."""
    if not (person.is_active and Membership.objects.filter(user=person, institution=hospital, role=Role.RADIOLOGIST, is_active=True, institution__is_active=True).exists()):
        return _not_a_radiologist(person, hospital)
    return practice_refusal(person, service="reads")


def radiologists_of_hospital(hospital: Institution):
    """Everyone holding the radiologist role there, qualified or not, by name."""
    return radiologists_of(hospital.pk).prefetch_related("qualifications").order_by("full_name", "username")


def radiologists_and_refusals(hospital: Institution) -> list[tuple[User, str]]:
    """Everyone holding the radiologist role there, by name, each with `reader_refusal`'s answer.

    Two queries however many there are: the list itself proves the role, the qualifications come
    prefetched.
    """
    people = radiologists_of_hospital(hospital)
    if not hospital.is_active:
        return [(person, _not_a_radiologist(person, hospital)) for person in people]
    return [(person, practice_refusal(person, service="reads")) for person in people]


def readers_of(hospital: Institution) -> list[User]:
    """The hospital's radiologists who may read now, by name."""
    return [person for person, refusal in radiologists_and_refusals(hospital) if not refusal]


def profiles_of(hospital: Institution, people: list[User]) -> dict:
    """Their reader profiles for this hospital, by user id."""
    return {p.user_id: p for p in ReaderProfile.objects.filter(hospital=hospital, user__in=people)}


def automatic_candidates(read: ReadRequest, *, exclude: set = frozenset()) -> list[User]:
    """Who the automatic rule may give this read to: readers who take automatic assignments and
    read its modality at the read's hospital (without a profile there: everything), ordered by user
    name for a stable turn."""
    readers = [r for r in readers_of(read.hospital) if r.pk not in exclude]
    profiles = profiles_of(read.hospital, readers)
    keep = [r for r in readers if r.pk not in profiles or (profiles[r.pk].accepts_automatic and profiles[r.pk].reads(read.modality))]
    return sorted(keep, key=lambda person: person.username)


def open_loads(people: list[User]) -> dict:
    """Reads assigned and not yet handed in, per radiologist."""
    rows = ReadRequest.objects.filter(radiologist__in=people, status__in=READING_STATUSES).values("radiologist").annotate(n=Count("pk"))
    return {row["radiologist"]: row["n"] for row in rows}


# --- The hospital's policy ---------------------------------------------------------------------------

def policy_for(hospital: Institution) -> ReadingPolicy:
    """The hospital's policy, or the default (manual, no second reader) when none is saved."""
    return ReadingPolicy.objects.filter(hospital=hospital).first() or ReadingPolicy(hospital=hospital)


def critical_ack_minutes(hospital: Institution) -> int:
    return policy_for(hospital).critical_ack_minutes or settings.READ_CRITICAL_ACK_MINUTES


@transaction.atomic
def policy_update(*, by: User, hospital: Institution, assignment: str, requires_verification: bool, critical_ack_minutes: int | None) -> ReadingPolicy:
    if not access.reading_hospitals(by).filter(pk=hospital.pk).exists():
        raise PermissionDenied(_("Only a coordinator or an administrator of the hospital can change how it reads."))
    errors = {}
    if assignment not in ReadingPolicy.Assignment.values:
        errors["assignment"] = _("Choose how reads are assigned.")
    if critical_ack_minutes is not None and not 1 <= critical_ack_minutes <= 1440:
        errors["critical_ack_minutes"] = _("Give between 1 and 1440 minutes, or leave it empty for the default.")
    if errors:
        raise ValidationError(errors)
    policy, _created = ReadingPolicy.objects.update_or_create(
        hospital=hospital,
        defaults={"assignment": assignment, "requires_verification": requires_verification, "critical_ack_minutes": critical_ack_minutes, "updated_by": by},
    )
    audit_record(actor=by, action="reading.policy", obj=hospital, detail={"assignment": assignment, "requires_verification": requires_verification, "critical_ack_minutes": critical_ack_minutes})
    return policy


def clean_modalities(raw: list[str]) -> list[str]:
    codes = sorted({code.strip().upper() for code in raw if code.strip()})
    wrong = [code for code in codes if not MODALITY_CODE.fullmatch(code)]
    if wrong:
        raise ValidationError({"modalities": _("These are not DICOM modality codes (letters and digits, such as CT, MR, DX): %(codes)s") % {"codes": ", ".join(wrong)}})
    return codes


@transaction.atomic
def reader_profile_update(*, by: User, hospital: Institution, radiologist: User, modalities: list[str], accepts_automatic: bool) -> ReaderProfile:
    """A coordinator sets what a radiologist reads for their hospital and whether its rule assigns to them."""
    if not access.reading_hospitals(by).filter(pk=hospital.pk).exists():
        raise PermissionDenied(_("Only a coordinator or an administrator of the radiologist's hospital can change what they read."))
    if not radiologists_of(hospital.pk).filter(pk=radiologist.pk).exists():
        raise PermissionDenied(_not_a_radiologist(radiologist, hospital))
    profile, _created = ReaderProfile.objects.update_or_create(
        user=radiologist, hospital=hospital, defaults={"modalities": clean_modalities(modalities), "accepts_automatic": accepts_automatic}
    )
    audit_record(
        actor=by, action="reading.reader_profile", obj=radiologist,
        detail={"hospital": str(hospital.pk), "modalities": profile.modalities, "accepts_automatic": accepts_automatic},
    )
    return profile


# --- Assigning -----------------------------------------------------------------------------------------

def revoke_reader(read: ReadRequest, by: User | None) -> None:
    if read.radiologist_id:
        patient_revoke_access(patient=read.patient, user=read.radiologist, reason=PatientGrant.Reason.READ, source_id=read.pk, by=by)


def _give(read: ReadRequest, radiologist: User, *, by: User | None, action: str) -> ReadRequest:
    """With the read locked: hand it to `radiologist` (state kept when it is already being read)."""
    previous = read.radiologist
    revoke_reader(read, by)
    read.radiologist = radiologist
    read.assigned_at = read.assigned_at or timezone.now()
    to = ReadStatus.ASSIGNED if read.status == ReadStatus.REQUESTED else read.status
    transition(read, to=to, by=by, action=action, note=str(radiologist), fields=("radiologist", "assigned_at"), detail={"radiologist": str(radiologist.pk)})
    patient_grant_access(patient=read.patient, user=radiologist, reason=PatientGrant.Reason.READ, source_id=read.pk, by=by)
    notify(
        [radiologist], consult=None, link=read_link(read),
        title=lazy_format(gettext_lazy("%(urgency)s read for you: %(exam)s"), urgency=Urgency(read.urgency).label, exam=read_label(read)),
        body=lazy_format(gettext_lazy("From %(clinic)s, for %(hospital)s."), clinic=read.clinic, hospital=read.hospital),
    )
    if previous is not None and previous != radiologist:
        notify(
            [previous], consult=None, link=read_link(read),
            title=lazy_format(gettext_lazy("A read was given to %(name)s: %(exam)s"), name=radiologist, exam=read_label(read)),
        )
    return read


def _require_assignable(read: ReadRequest) -> None:
    if read.status not in (ReadStatus.REQUESTED, ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS):
        raise ValidationError(_("Only a read not yet handed in can be assigned; this one is %(status)s.") % {"status": status_label(read)})


@transaction.atomic
def read_assign(*, by: User, read: ReadRequest, radiologist: User) -> ReadRequest:
    """A coordinator of the hospital assigns the read, or gives it to another radiologist."""
    read = locked(read)
    if not access.can_coordinate_read(by, read):
        raise PermissionDenied(_("Only a coordinator of %(hospital)s can assign its reads.") % {"hospital": read.hospital})
    _require_assignable(read)
    refusal = reader_refusal(radiologist, read.hospital)
    if refusal:
        raise ValidationError({"radiologist": refusal})
    if read.radiologist_id == radiologist.pk:
        raise ValidationError({"radiologist": _("%(name)s already has this read.") % {"name": radiologist}})
    return _give(read, radiologist, by=by, action="reassign" if read.radiologist_id else "assign")


@transaction.atomic
def read_claim(*, by: User, read: ReadRequest) -> ReadRequest:
    """A radiologist of the hospital takes an unassigned read from the pool."""
    read = locked(read)
    refusal = reader_refusal(by, read.hospital)
    if refusal:
        raise PermissionDenied(refusal)
    if read.status != ReadStatus.REQUESTED:
        raise ValidationError(_("Only an unassigned read can be taken; this one is %(status)s.") % {"status": status_label(read)})
    return _give(read, by, by=by, action="claim")


@transaction.atomic
def read_release(*, by: User, read: ReadRequest, reason: str) -> ReadRequest:
    """The radiologist hands the read back (leave, outside their field); the rule or a coordinator reassigns it."""
    read = locked(read)
    if read.radiologist_id != by.pk:
        raise PermissionDenied(_("Only the radiologist the read is assigned to can hand it back."))
    if read.status not in (ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS):
        raise ValidationError(_("Only a read not yet handed in can be handed back; this one is %(status)s.") % {"status": status_label(read)})
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason; the coordinators are told it.")})
    read.status_reason = reason.strip()[:500]
    revoke_reader(read, by)
    read.radiologist = None
    transition(read, to=ReadStatus.REQUESTED, by=by, action="release", note=read.status_reason, fields=("radiologist",))
    if assign_automatically(read, exclude={by.pk}) is None:
        notify(
            coordinators_of(read), consult=None, link=read_link(read),
            title=lazy_format(gettext_lazy("A read was handed back: %(exam)s"), exam=read_label(read)),
            body=lazy_format(gettext_lazy("%(name)s: %(reason)s\nAssign another radiologist."), name=by, reason=read.status_reason),
        )
    return read


def assign_automatically(read: ReadRequest, *, exclude: set = frozenset()) -> User | None:
    """With the read locked or new: apply the hospital's automatic rule; None if it is manual or nobody fits.

    The policy row is locked while choosing, so two reads requested at the same moment go to
    two radiologists in turn rather than both to the same one.
    """
    policy = ReadingPolicy.objects.select_for_update().filter(hospital_id=read.hospital_id).first()
    if policy is None or policy.assignment == ReadingPolicy.Assignment.MANUAL:
        return None
    candidates = automatic_candidates(read, exclude=exclude)
    if not candidates:
        record(read, by=None, action="auto_assign_none", note=_("No radiologist is available for automatic assignment."))
        return None
    if policy.assignment == ReadingPolicy.Assignment.ROUND_ROBIN:
        last = policy.last_assigned.username if policy.last_assigned_id else ""
        chosen = next((c for c in candidates if c.username > last), candidates[0])
    else:
        loads = open_loads(candidates)
        chosen = min(candidates, key=lambda c: (loads.get(c.pk, 0), c.username))
    policy.last_assigned = chosen
    policy.save(update_fields=["last_assigned"])
    _give(read, chosen, by=None, action="auto_assign")
    return chosen
