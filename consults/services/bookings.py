"""Booking experts for a consult: one expert or several (MDT), never twice at once.

The rule "an expert is never booked for overlapping time" is kept by the database: each booked
expert gets an `Engagement`, and PostgreSQL's exclusion constraint refuses a second overlapping
one even when two coordinators pass the Python check at the same instant. The loser gets
`BookingConflict`, which names the next free slots.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.models import Consult, Engagement, Participant, Reminder, Status
from consults.services.availability import Span, covers, iter_free_slots, slot_minutes
from consults.services.experts import expert_refusal
from consults.services.lifecycle import transition
from consults.services.notify import lazy_format, local_minute, local_time, notify
from consults.services.requests import _locked, _require_coordinator
from telemed.accounts.models import Membership, Role, Specialty, User
from telemed.patients.models import PatientGrant
from telemed.patients.services import patient_grant_access, patient_revoke_access

SUGGESTION_HORIZON = timedelta(days=28)


class BookingConflict(ValidationError):
    """The expert is already engaged then; `suggestions` are the next free slots."""

    def __init__(self, message: str, suggestions: list[Span]):
        super().__init__(message, code="conflict")
        self.suggestions = suggestions


def earliest_slots(*, experts: list[User], after: datetime | None = None, limit: int = 5, minutes: int | None = None) -> list[Span]:
    """The first slots at which every one of the experts is free (one expert: their own slots)."""
    after = after or timezone.now()
    if not experts:
        return []
    length = minutes or max(slot_minutes(e) for e in experts)
    candidates = iter_free_slots(experts[0], after, after + SUGGESTION_HORIZON, minutes=length)
    found = []
    for slot in candidates:
        if all(_is_free(other, slot) for other in experts[1:]):
            found.append(slot)
            if len(found) == limit:
                break
    return found


def _is_free(expert: User, span: Span) -> bool:
    return covers(expert, span) and not Engagement.objects.filter(
        expert=expert, released_at__isnull=True, starts_at__lt=span.ends_at, ends_at__gt=span.starts_at
    ).exists()


def _clean_booking(consult: Consult, experts: list[User], span: Span) -> None:
    if consult.status not in (Status.REQUESTED, Status.TRIAGED):
        raise ValidationError(_("Only a requested or triaged consult can be booked; this one is %(status)s.") % {"status": Status(consult.status).label.lower()})
    if consult.consent_signed_at is None or not consult.consent_signed_by:
        raise ValidationError(_("The patient's consent is not recorded; no consult goes ahead without it."))
    if not experts:
        raise ValidationError({"experts": _("Choose at least one expert.")})
    if len({e.pk for e in experts}) != len(experts):
        raise ValidationError({"experts": _("An expert is listed twice.")})
    _clean_experts_and_time(consult, experts, span)


def _clean_experts_and_time(consult: Consult, experts: list[User], span: Span) -> None:
    if span.starts_at <= timezone.now():
        raise ValidationError({"starts_at": _("This time is in the past; choose a future time.")})
    lead_refusal = expert_refusal(experts[0], consult.specialty)
    if lead_refusal:
        raise ValidationError({"experts": lead_refusal})
    for expert in experts[1:]:
        refusal = expert_refusal(expert)
        if refusal:
            raise ValidationError({"experts": refusal})
    for expert in experts:
        if not covers(expert, span):
            raise ValidationError(
                {"starts_at": _("%(name)s does not hold consult hours from %(start)s to %(end)s.") % {"name": expert, "start": local_minute(span.starts_at), "end": local_minute(span.ends_at)}}
            )


def _engage(consult: Consult, experts: list[User], span: Span) -> None:
    """Write the engagements; an overlap (checked here, guaranteed by the database) is a conflict."""
    for expert in experts:
        clash = Engagement.objects.filter(expert=expert, released_at__isnull=True, starts_at__lt=span.ends_at, ends_at__gt=span.starts_at)
        if clash.exclude(consult=consult).exists():
            raise _conflict(expert, experts, span)
    try:
        with transaction.atomic():
            Engagement.objects.bulk_create(
                [Engagement(expert=e, consult=consult, starts_at=span.starts_at, ends_at=span.ends_at) for e in experts]
            )
    except IntegrityError:
        raise _conflict(None, experts, span) from None


def _conflict(expert: User | None, experts: list[User], span: Span) -> BookingConflict:
    suggestions = earliest_slots(experts=experts, after=span.starts_at, minutes=int((span.ends_at - span.starts_at).total_seconds() // 60))
    who = str(expert) if expert else ", ".join(str(e) for e in experts)
    listed = "; ".join(local_minute(s.starts_at) for s in suggestions) or _("none in the next four weeks")
    return BookingConflict(
        _("%(who)s is already booked at %(start)s. Next free times: %(slots)s.") % {"who": who, "start": local_minute(span.starts_at), "slots": listed},
        suggestions,
    )


def _hospital_of(expert: User):
    membership = Membership.objects.filter(user=expert, role=Role.SPECIALIST, is_active=True).select_related("institution").first()
    return membership.institution


def _schedule_reminders(consult: Consult, users: list[User]) -> None:
    """One reminder per person and offset for this version of the booking; a repeat adds nothing."""
    now = timezone.now()
    Reminder.objects.bulk_create(
        [
            Reminder(consult=consult, user=user, minutes_before=minutes, sequence=consult.sequence, due_at=consult.starts_at - timedelta(minutes=minutes))
            for minutes in settings.CONSULT_REMINDER_MINUTES
            if consult.starts_at - timedelta(minutes=minutes) > now
            for user in users
        ],
        ignore_conflicts=True,
    )


def _about(consult: Consult):
    return lazy_format(gettext_lazy("%(specialty)s consultation for a patient of %(clinic)s."), specialty=Specialty(consult.specialty).label, clinic=consult.clinic.name)


def participants_of(consult: Consult) -> list[User]:
    return [p.user for p in consult.participants.filter(removed_at__isnull=True).select_related("user")]


@transaction.atomic
def consult_book(*, by: User, consult: Consult, experts: list[User], starts_at: datetime, minutes: int | None = None) -> Consult:
    """Book one expert (the first is the lead) or several for an MDT consult.

    1. Lock the consult, so two coordinators booking the same request queue up.
    2. Check the state, the consent, each expert's qualification and consult hours.
    3. Engage every expert (the database refuses overlaps) and add the participants.
    4. Grant the experts access to the patient, schedule reminders, tell everyone.
    """
    consult = _locked(consult)
    _require_coordinator(by, consult)
    span = Span(starts_at, starts_at + timedelta(minutes=minutes or max([slot_minutes(e) for e in experts] or [30])))
    _clean_booking(consult, experts, span)
    _engage(consult, experts, span)
    Participant.objects.bulk_create(
        [Participant(consult=consult, user=e, role=Participant.Role.LEAD_EXPERT if i == 0 else Participant.Role.EXPERT) for i, e in enumerate(experts)]
        + [Participant(consult=consult, user=consult.requested_by, role=Participant.Role.CLINIC_DOCTOR), Participant(consult=consult, user=by, role=Participant.Role.COORDINATOR)],
        ignore_conflicts=True,
    )
    consult.hospital = _hospital_of(experts[0])
    consult.starts_at, consult.ends_at, consult.scheduled_at = span.starts_at, span.ends_at, timezone.now()
    kind = gettext_lazy("MDT consult") if len(experts) > 1 else gettext_lazy("Consult")
    transition(consult, to=Status.SCHEDULED, by=by, action="book", note=", ".join(str(e) for e in experts), fields=("hospital", "starts_at", "ends_at", "scheduled_at"))
    for expert in experts:
        patient_grant_access(patient=consult.patient, user=expert, reason=PatientGrant.Reason.CONSULT, source_id=consult.pk, by=by)
    people = participants_of(consult)
    _schedule_reminders(consult, people)
    notify(
        people, consult=consult, title=lazy_format(gettext_lazy("%(kind)s booked for %(start)s"), kind=kind, start=local_time(span.starts_at)), body=_about(consult)
    )
    return consult


@transaction.atomic
def consult_reschedule(*, by: User, consult: Consult, starts_at: datetime, reason: str) -> Consult:
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the consult moves; everyone involved is told.")})
    consult = _locked(consult)
    _require_coordinator(by, consult)
    if consult.status != Status.SCHEDULED:
        raise ValidationError(_("Only a scheduled consult can be rescheduled; this one is %(status)s.") % {"status": Status(consult.status).label.lower()})
    experts = [p.user for p in consult.participants.filter(role__in=Participant.EXPERT_ROLES, removed_at__isnull=True).select_related("user").order_by("role")]
    span = Span(starts_at, starts_at + (consult.ends_at - consult.starts_at))
    consult.engagements.filter(released_at__isnull=True).update(released_at=timezone.now())
    _clean_experts_and_time(consult, experts, span)
    _engage(consult, experts, span)
    consult.reminders.filter(sent_at__isnull=True).delete()
    consult.starts_at, consult.ends_at = span.starts_at, span.ends_at
    consult.sequence += 1
    consult.status_reason = reason.strip()[:500]
    transition(consult, to=Status.SCHEDULED, by=by, action="reschedule", note=reason, fields=("starts_at", "ends_at", "sequence"))
    people = participants_of(consult)
    _schedule_reminders(consult, people)
    notify(people, consult=consult, title=lazy_format(gettext_lazy("Consult moved to %(start)s"), start=local_time(span.starts_at)), body=reason.strip())
    return consult


@transaction.atomic
def consult_cancel(*, by: User, consult: Consult, reason: str) -> Consult:
    """Cancel a request or a booking: the experts' time is freed and their access to the patient ends."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the consult is cancelled; everyone involved is told.")})
    consult = _locked(consult)
    is_clinic = consult.requested_by_id == by.pk or Membership.objects.filter(user=by, institution=consult.clinic, role=Role.CLINIC_DOCTOR, is_active=True).exists()
    if not is_clinic:
        _require_coordinator(by, consult)
    people = participants_of(consult)
    consult.engagements.filter(released_at__isnull=True).update(released_at=timezone.now())
    consult.reminders.filter(sent_at__isnull=True).delete()
    consult.sequence += 1
    consult.status_reason = reason.strip()[:500]
    transition(consult, to=Status.CANCELLED, by=by, action="cancel", note=reason, fields=("sequence",))
    for participant in consult.participants.filter(role__in=Participant.EXPERT_ROLES):
        patient_revoke_access(patient=consult.patient, user=participant.user, reason=PatientGrant.Reason.CONSULT, source_id=consult.pk, by=by)
    notify(people or [consult.requested_by], consult=consult, title=gettext_lazy("Consult cancelled"), body=reason.strip())
    return consult
