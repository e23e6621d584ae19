"""Urgent and emergency requests: page the expert on duty, escalate to the coordinators.

`urgent_escalate_due` runs from Celery beat and may run twice at once: it claims overdue offers
with SKIP LOCKED and marks them escalated in the transaction that notifies, so a coordinator is
alerted once.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.models import OPEN_STATUSES, Consult, OnDuty, Status, TimelineEntry, Urgency
from consults.services.experts import expert_refusal
from consults.services.lifecycle import transition
from consults.services.notify import SCHEDULER, lazy_format, notify
from consults.services.requests import _locked, coordinators_of
from telemed import access
from telemed.accounts.models import Pairing, Specialty, User
from telemed.audit.services import audit_record

URGENT_LEVELS = (Urgency.URGENT, Urgency.EMERGENCY)


def on_duty_expert(consult: Consult, *, at: datetime) -> User | None:
    """The qualified expert on duty for the consult's specialty at a hospital paired with its clinic.

    Of several, the one whose shift runs longest from now, so the offer does not land at the
    end of someone's shift.
    """
    hospitals = Pairing.objects.filter(clinic_id=consult.clinic_id, ended_on__isnull=True).values("hospital_id")
    shifts = (
        OnDuty.objects.filter(hospital_id__in=hospitals, specialty=consult.specialty, starts_at__lte=at, ends_at__gt=at)
        .select_related("expert")
        .order_by("-ends_at")
    )
    for shift in shifts:
        if not expert_refusal(shift.expert, consult.specialty):
            return shift.expert
    return None


def _require_may_offer(by: User, consult: Consult) -> None:
    clinic = access.patient_registration_institutions(by).filter(pk=consult.clinic_id).exists()
    if not (clinic or access.can_coordinate(by, consult)):
        raise PermissionDenied(_("Only the requesting clinic or a coordinator of a paired hospital can page the expert on duty."))


def _clean_offer(consult: Consult) -> None:
    if consult.urgency not in URGENT_LEVELS:
        raise ValidationError(_("Only urgent and emergency requests go to the expert on duty; routine ones are booked by a coordinator."))
    if consult.status not in (Status.REQUESTED, Status.TRIAGED):
        raise ValidationError(_("Only a request not yet booked can be offered; this one is %(status)s.") % {"status": Status(consult.status).label.lower()})
    if consult.offered_to_id and consult.escalated_at is None:
        raise ValidationError(_("This request was already offered to %(expert)s; the coordinators are alerted if nobody accepts it in time.") % {"expert": consult.offered_to})


def _record(consult: Consult, *, by: User | None, action: str, fields: tuple[str, ...], note: str = "", detail: dict | None = None) -> None:
    """A change that keeps the consult's state: saved with a timeline entry and an audit event."""
    consult.save(update_fields=list(fields))
    TimelineEntry.objects.create(consult=consult, by=by, action=action, status=consult.status, note=note[:500])
    audit_record(actor=by, username="" if by else SCHEDULER, action=f"consult.{action}", obj=consult, patient_id=consult.patient_id, detail=detail)


@transaction.atomic
def urgent_offer(*, consult: Consult, by: User) -> Consult:
    """Page the expert on duty with an urgent or emergency request.

    1. Lock the consult, so a doctor and a coordinator offering at once page one expert, once.
    2. Check the urgency, the state, that no offer is pending, and who is asking.
    3. Record the offer (timeline, audit) and notify the expert; if nobody accepts within
       URGENT_ESCALATION_MINUTES, `urgent_escalate_due` alerts the coordinators. After an
       escalation the request may be offered again.
    """
    consult = _locked(consult)
    _require_may_offer(by, consult)
    _clean_offer(consult)
    now = timezone.now()
    expert = on_duty_expert(consult, at=now)
    if expert is None:
        raise ValidationError(
            _("No qualified %(specialty)s expert is on duty at a paired hospital now; ask a coordinator to book one.") % {"specialty": consult.get_specialty_display()}
        )
    consult.offered_to, consult.offered_at, consult.escalated_at = expert, now, None
    _record(consult, by=by, action="offer", fields=("offered_to", "offered_at", "escalated_at"), note=str(expert), detail={"expert": str(expert.pk)})
    notify(
        [expert], consult=consult,
        title=lazy_format(gettext_lazy("%(urgency)s %(specialty)s consult request for you"), urgency=Urgency(consult.urgency).label, specialty=Specialty(consult.specialty).label),
        body=lazy_format(
            gettext_lazy("From %(clinic)s. Please accept it within %(minutes)d minutes; after that the coordinators are alerted."),
            clinic=consult.clinic, minutes=settings.URGENT_ESCALATION_MINUTES,
        ),
    )
    return consult


@transaction.atomic
def consult_accept_offer(*, by: User, consult: Consult) -> Consult:
    """The expert on duty takes the urgent request offered to them; the escalation stops.

    Of the two possible designs this is the simpler one: the expert becomes the named expert,
    the request is triaged, and the coordinators are told to book it (consult_book) at once.
    Booking stays with the coordinators because it needs a slot in the expert's hours and
    adds the clinic and the coordinator as participants; an automatic booking would have to
    guess both.
    """
    consult = _locked(consult)
    if consult.offered_to_id != by.pk:
        raise PermissionDenied(_("This request was not offered to you, or it has already been accepted."))
    if consult.status not in OPEN_STATUSES:
        raise ValidationError(_("This request is %(status)s; there is nothing to accept.") % {"status": Status(consult.status).label.lower()})
    refusal = expert_refusal(by, consult.specialty)
    if refusal:
        raise ValidationError(refusal)
    # offered_to empty means "no offer pending": that is what stops the escalation.
    consult.named_expert, consult.offered_to = by, None
    fields = ("named_expert", "offered_to")
    if consult.status == Status.REQUESTED:
        transition(consult, to=Status.TRIAGED, by=by, action="accept_offer", note=str(by), fields=fields)
    else:
        _record(consult, by=by, action="accept_offer", fields=fields, note=str(by))
    notify(
        coordinators_of(consult), consult=consult,
        title=lazy_format(gettext_lazy("%(expert)s accepted an urgent consult: book it now"), expert=by),
        body=lazy_format(gettext_lazy("%(specialty)s, from %(clinic)s."), specialty=Specialty(consult.specialty).label, clinic=consult.clinic),
    )
    return consult


def urgent_escalate_due(*, now: datetime | None = None, batch: int = 100) -> int:
    """Alert the coordinators about urgent offers not accepted in time; returns how many.

    1. Claim the overdue offers (pending, not escalated, still open) with SKIP LOCKED, so two
       workers never escalate one twice, and an expert accepting right now (holding the lock)
       wins: that consult is skipped, and no longer overdue by the next run.
    2. Set `escalated_at` (timeline, audit) and notify the coordinators, in one transaction.
    At most `batch` per run; any others are escalated by the next run, a minute later.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.URGENT_ESCALATION_MINUTES)
    with transaction.atomic():
        overdue = list(
            Consult.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(offered_to__isnull=False, escalated_at__isnull=True, offered_at__lte=cutoff, status__in=OPEN_STATUSES)
            .select_related("offered_to", "clinic")
            .order_by("offered_at")[:batch]
        )
        for consult in overdue:
            _escalate(consult, now)
    return len(overdue)


def _escalate(consult: Consult, now: datetime) -> None:
    consult.escalated_at = now
    _record(consult, by=None, action="escalate", fields=("escalated_at",), note=str(consult.offered_to), detail={"expert": str(consult.offered_to_id)})
    notify(
        coordinators_of(consult), consult=consult,
        title=lazy_format(
            gettext_lazy("Urgent consult not accepted within %(minutes)d minutes"), minutes=settings.URGENT_ESCALATION_MINUTES
        ),
        body=lazy_format(
            gettext_lazy("%(expert)s, on duty, has not accepted the %(specialty)s request from %(clinic)s. Please find an expert."),
            expert=consult.offered_to, specialty=Specialty(consult.specialty).label, clinic=consult.clinic,
        ),
    )


def urgent_offer_on_request(*, consult: Consult, by: User) -> Consult:
    """A new urgent or emergency request goes straight to the expert on duty, if there is one."""
    if consult.urgency not in URGENT_LEVELS or on_duty_expert(consult, at=timezone.now()) is None:
        return consult
    return urgent_offer(consult=consult, by=by)
