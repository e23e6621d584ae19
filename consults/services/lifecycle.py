"""The consult's states and the one function that moves a consult from one to another."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from consults import events
from consults.models import Consult, Status, TimelineEntry
from telemed.accounts.models import User
from telemed.audit.services import audit_record

# Which state may follow which; anything else is refused with the current state named.
ALLOWED = {
    Status.REQUESTED: {Status.TRIAGED, Status.NEEDS_INFO, Status.DECLINED, Status.SCHEDULED, Status.CANCELLED},
    Status.NEEDS_INFO: {Status.REQUESTED, Status.DECLINED, Status.CANCELLED},
    Status.TRIAGED: {Status.SCHEDULED, Status.NEEDS_INFO, Status.DECLINED, Status.CANCELLED},
    Status.SCHEDULED: {Status.SCHEDULED, Status.IN_SESSION, Status.CANCELLED},
    Status.IN_SESSION: {Status.OPINION_PENDING},
    Status.OPINION_PENDING: {Status.COMPLETED},
    Status.COMPLETED: set(),
    Status.DECLINED: set(),
    Status.CANCELLED: set(),
}


def board_groups(consult: Consult) -> set[str]:
    """The boards that show this consult: its hospital's, or before booking every paired hospital's."""
    from telemed.accounts.models import Pairing

    if consult.hospital_id:
        return {events.board_group(consult.hospital_id)}
    hospitals = Pairing.objects.filter(clinic_id=consult.clinic_id, ended_on__isnull=True).values_list("hospital_id", flat=True)
    return {events.board_group(h) for h in hospitals}


def transition(consult: Consult, *, to: str, by: User | None, action: str, note: str = "", fields: tuple[str, ...] = ()) -> Consult:
    """Move the consult (already locked by the caller) to `to`; timeline, audit and live boards follow."""
    if to not in ALLOWED[consult.status]:
        raise ValidationError(
            _("This consult is “%(current)s” and cannot move to “%(next)s”.")
            % {"current": Status(consult.status).label, "next": Status(to).label}
        )
    consult.status = to
    if to == Status.COMPLETED:
        consult.completed_at = timezone.now()
    consult.save(update_fields=["status", "status_reason", "completed_at", *fields])
    TimelineEntry.objects.create(consult=consult, by=by, action=action, status=to, note=note[:500])
    audit_record(actor=by, action=f"consult.{action}", obj=consult, patient_id=consult.patient_id, detail={"status": to})
    events.announce_after_commit(board_groups(consult), {"type": "live.board", "consult": str(consult.pk), "status": to})
    return consult
