"""Two-way referral (双向转诊) made from a signed opinion: up to the consult's hospital, or back down.

States: requested → accepted → patient transferred → returned with the hospital's discharge
summary; a requested or accepted referral may be declined, with the reason.

Who does what:
- the sending side creates it: for "up", a doctor of the consult's clinic; for "down", one of the
  consult's experts or a coordinator of its hospital (the hospital is the sender then);
- the receiving institution's people accept, decline and record the transfer;
- the hospital's people close it as returned, with the discharge summary the clinic continues from;
- the contact is a named person at the receiving institution; they are told, and may see the patient.

`Referral` has no field for a decline reason: the reason goes in the consult's timeline (where the
referral's history is shown), the notification and the audit event.
"""
from __future__ import annotations

from uuid import UUID

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.models import Consult, Referral, TimelineEntry
from consults.services.notify import notify
from consults.services.opinions import is_expert_participant
from consults.services.requests import _locked
from telemed import access
from telemed.accounts.models import Institution, Membership, Role, User
from telemed.audit.services import audit_record, audited_get
from telemed.patients.models import PatientGrant
from telemed.patients.services import patient_grant_access, patient_revoke_access

Direction = Referral.Direction
State = Referral.State

NEXT_STATES = {
    State.REQUESTED: (State.ACCEPTED, State.DECLINED),
    State.ACCEPTED: (State.TRANSFERRED, State.DECLINED),
    State.TRANSFERRED: (State.RETURNED,),
    State.RETURNED: (),
    State.DECLINED: (),
}
OPEN_STATES = (State.REQUESTED, State.ACCEPTED, State.TRANSFERRED)

NOTICES = {
    State.REQUESTED: gettext_lazy("A patient is referred to you"),
    State.ACCEPTED: gettext_lazy("A referral was accepted"),
    State.TRANSFERRED: gettext_lazy("A referred patient was transferred"),
    State.RETURNED: gettext_lazy("A referred patient returned with a discharge summary"),
    State.DECLINED: gettext_lazy("A referral was declined"),
}


# --- Who may do what -------------------------------------------------------------------------------

def _sides(consult: Consult, direction: str) -> tuple[int, int]:
    """(sending, receiving) institution ids."""
    if direction == Direction.UP:
        return consult.clinic_id, consult.hospital_id
    return consult.hospital_id, consult.clinic_id


def _works_at(user, institution_id) -> bool:
    return access.active_memberships(user).filter(institution_id=institution_id).exists()


def may_refer(user, consult: Consult, direction: str) -> bool:
    if direction == Direction.UP:
        return access.institutions_with_role(user, Role.CLINIC_DOCTOR).filter(pk=consult.clinic_id).exists()
    return _works_at(user, consult.hospital_id) and (is_expert_participant(user, consult) or access.can_coordinate(user, consult))


def referral_directions(user, consult: Consult) -> list[str]:
    """The directions this person may refer the consult's patient in (empty: they may not refer)."""
    if consult.hospital_id is None or not consult.opinions.filter(signed_at__isnull=False).exists():
        return []
    return [direction for direction in Direction.values if may_refer(user, consult, direction)]


def may_move(user, referral: Referral, state: str) -> bool:
    """The receiving side accepts, declines and transfers; the hospital side closes it as returned."""
    if not access.visible_referrals(user).filter(pk=referral.pk).exists():
        return False
    if state == State.RETURNED:
        hospital = referral.to_institution_id if referral.direction == Direction.UP else referral.from_institution_id
        return _works_at(user, hospital)
    return _works_at(user, referral.to_institution_id)


def next_states(user, referral: Referral) -> list[str]:
    return [state for state in NEXT_STATES[referral.state] if may_move(user, referral, state)]


def contacts_for(consult: Consult) -> QuerySet[User]:
    """The people a referral of this consult may name: active people of its clinic and hospital."""
    return User.objects.filter(
        is_active=True, is_device=False, memberships__is_active=True, memberships__institution_id__in=[consult.clinic_id, consult.hospital_id]
    ).distinct()


# --- Creating --------------------------------------------------------------------------------------

def _contact_refusal(contact: User | None, institution: Institution) -> str:
    if contact is None:
        return _("Name the person at %(institution)s who will receive the patient.") % {"institution": institution.name}
    works_there = Membership.objects.filter(user=contact, institution=institution, is_active=True).exists()
    if not contact.is_active or contact.is_device or not works_there:
        return _("%(name)s does not work at %(institution)s; choose a contact person there.") % {"name": contact, "institution": institution.name}
    return ""


def _clean_referral(consult: Consult, direction: str, reason: str, contact: User | None) -> None:
    if not consult.opinions.filter(signed_at__isnull=False).exists():
        raise ValidationError(_("A referral is made from a signed opinion; no opinion on this consult is signed yet."))
    if consult.referrals.filter(direction=direction, state__in=OPEN_STATES).exists():
        raise ValidationError(_("This patient already has an open referral in this direction; follow that one up instead."))
    errors = {}
    if not reason.strip():
        errors["reason"] = _("Say why the patient is referred; the receiving doctor reads it first.")
    receiving = Institution.objects.get(pk=_sides(consult, direction)[1])
    refusal = _contact_refusal(contact, receiving)
    if refusal:
        errors["contact"] = refusal
    if errors:
        raise ValidationError(errors)


def _grant_contact(referral: Referral, by: User) -> None:
    """The contact must read the patient's record to receive them; most already can."""
    if not access.visible_patients(referral.contact).filter(pk=referral.patient_id).exists():
        patient_grant_access(patient=referral.patient, user=referral.contact, reason=PatientGrant.Reason.REFERRAL, source_id=referral.pk, by=by)


def _record(referral: Referral, *, by: User, state: str, note: str = "") -> None:
    """The referral's history: a line on the consult's timeline, an audit event, the people told."""
    consult = referral.consult
    action = f"referral_{referral.direction}_{state}"  # e.g. referral_up_accepted: whose history it is
    TimelineEntry.objects.create(consult=consult, by=by, action=action, status=consult.status, note=note[:500])
    audit_record(
        actor=by, action=f"referral.{state}", obj=referral, patient_id=referral.patient_id,
        detail={"consult": str(consult.pk), "direction": referral.direction, "state": state},
    )
    people = [referral.contact, referral.created_by, consult.requested_by]
    notify([p for p in people if p.pk != by.pk], consult=consult, title=NOTICES[state], body=note or str(consult))


@transaction.atomic
def referral_create(*, by: User, consult: Consult, direction: str, reason: str, contact: User | None) -> Referral:
    """Refer the consult's patient up to its hospital or back down to its clinic.

    1. Lock the consult, so a double click opens one referral, not two.
    2. Check the direction, the sender, the signed opinion, the reason and the contact.
    3. Create it, let the contact see the patient, record it, tell the contact and the clinic.
    """
    consult = _locked(consult)
    if direction not in Direction.values:
        raise ValidationError({"direction": _("Choose the direction: up to the hospital, or back to the clinic.")})
    if consult.hospital_id is None:
        raise ValidationError(_("A referral is made from a signed opinion; this consult has not been booked yet."))
    if not may_refer(by, consult, direction):
        raise PermissionDenied(_("Only the sending side can make this referral: the clinic's doctors refer up, the consult's experts or coordinator refer down."))
    _clean_referral(consult, direction, reason, contact)
    sending, receiving = _sides(consult, direction)
    referral = Referral.objects.create(
        consult=consult, patient_id=consult.patient_id, direction=direction, from_institution_id=sending, to_institution_id=receiving,
        reason=reason.strip(), contact=contact, created_by=by,
    )
    _grant_contact(referral, by)
    _record(referral, by=by, state=State.REQUESTED, note=referral.reason)
    return referral


# --- Moving it on ----------------------------------------------------------------------------------

def _clean_move(referral: Referral, state: str, discharge_summary: str, reason: str) -> None:
    if state not in NEXT_STATES[referral.state]:
        raise ValidationError(
            {"state": _("A referral that is %(current)s cannot become %(state)s.") % {"current": State(referral.state).label.lower(), "state": State(state).label.lower()}}
        )
    if state == State.RETURNED and not discharge_summary.strip():
        raise ValidationError({"discharge_summary": _("Write the discharge summary the clinic will continue care from.")})
    if state == State.DECLINED and not reason.strip():
        raise ValidationError({"reason": _("Give the reason for declining, so the sender can look elsewhere.")})


@transaction.atomic
def referral_update(*, by: User, referral: Referral, state: str, discharge_summary: str = "", reason: str = "") -> Referral:
    """Move a referral on: accepted, transferred, returned (with the discharge summary) or declined (with a reason).

    1. Lock the referral, so two people answering at once answer it once.
    2. Check the state asked for, the person and what that state needs.
    3. Save, record, tell the contact and the requesting doctors; a declined contact loses access.
    """
    referral = Referral.objects.select_for_update().select_related("consult", "consult__requested_by", "contact", "created_by").get(pk=referral.pk)
    if state not in State.values:
        raise ValidationError({"state": _("Choose what happened to the referral.")})
    if not may_move(by, referral, state):
        raise PermissionDenied(_("Only the receiving institution can accept, decline or record the transfer; only the hospital can record the return."))
    _clean_move(referral, state, discharge_summary, reason)
    referral.state = state
    if state == State.RETURNED:
        referral.discharge_summary = discharge_summary.strip()
    referral.save(update_fields=["state", "discharge_summary", "updated_at"])
    if state == State.DECLINED:
        patient_revoke_access(patient=referral.patient, user=referral.contact, reason=PatientGrant.Reason.REFERRAL, source_id=referral.pk, by=by)
    _record(referral, by=by, state=state, note=(reason if state == State.DECLINED else discharge_summary).strip())
    return referral


# --- Reading ---------------------------------------------------------------------------------------

def referral_search(*, by: User, state: str = "") -> QuerySet[Referral]:
    """The referrals the person may see, newest first, unaudited: the caller pages the result and
    passes the page to `referral_list_record`, so the trail names exactly what was shown."""
    referrals = access.visible_referrals(by).select_related("patient", "from_institution", "to_institution", "contact")
    if state in State.values:
        referrals = referrals.filter(state=state)
    return referrals.order_by("-created_at")


def referral_list_record(*, by: User, shown: list[Referral]) -> None:
    audit_record(actor=by, action="referral.list", detail={"shown": [str(r.pk) for r in shown]})


def referrals_of(*, by: User, consult: Consult) -> list[Referral]:
    """The consult's referrals this person may see, audited under its patient."""
    shown = list(referral_search(by=by).filter(consult=consult))
    audit_record(actor=by, action="referral.list", obj=consult, patient_id=consult.patient_id, detail={"shown": [str(r.pk) for r in shown]})
    return shown


def referral_get(*, by: User, referral_id: UUID) -> Referral:
    """One referral the person may see; anything else is a 404 (and a denied event if it exists)."""
    scope = referral_search(by=by).select_related("consult", "created_by")
    return audited_get(scope, referral_id, by=by, action="referral.view", patient_path="patient_id", not_found=_("No referral found."))


def referral_history(referral: Referral) -> list[TimelineEntry]:
    """The referral's lines of the consult's timeline (the decline reason lives there), each with
    `state_label` for the state it moved to."""
    prefix = f"referral_{referral.direction}_"
    lines = list(referral.consult.timeline.filter(action__startswith=prefix, at__gte=referral.created_at).select_related("by"))
    for line in lines:
        code = line.action.removeprefix(prefix)
        line.state_label = State(code).label if code in State.values else code
    return lines
