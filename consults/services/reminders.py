"""Reminders before a consult.

`reminders_send_due` runs from Celery beat and may run twice at once or twice in a row: it
claims its rows with SKIP LOCKED and marks them sent in the same transaction that creates the
notifications, so nothing is sent twice and a crash before commit leaves them to be claimed again.
"""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy, ngettext_lazy

from consults.calendars import user_zone
from consults.models import Participant, Reminder, Status
from consults.services.notify import SCHEDULER, lazy_format, notify
from telemed.accounts.models import Specialty
from telemed.audit.services import audit_record



# --- Reminders ------------------------------------------------------------------------------------

def reminders_send_due(*, now: datetime | None = None, batch: int = 200) -> int:
    """Send every reminder that is due, once; returns how many were sent.

    1. Claim a batch: lock due, unsent reminders and their consults with SKIP LOCKED, so two
       workers take different rows, and a consult being rescheduled or cancelled right now is
       left for the next run (by then its old reminders are gone).
    2. Drop the stale: a reminder whose consult is no longer scheduled, has moved since (an
       older sequence), has already begun, or whose person no longer takes part, is deleted.
    3. Notify and set `sent_at` in the same transaction; notify() sends e-mail and live pushes
       only after commit. A crash before commit leaves the reminder unsent, to be claimed again.
    Batches repeat, each in its own short transaction, until one comes back short.
    """
    now = now or timezone.now()
    sent = 0
    while True:
        claimed, delivered = _send_batch(now, batch)
        sent += delivered
        if claimed < batch:
            return sent


@transaction.atomic
def _send_batch(now: datetime, batch: int) -> tuple[int, int]:
    claimed = list(
        Reminder.objects.select_for_update(skip_locked=True, of=("self", "consult"))
        .filter(sent_at__isnull=True, due_at__lte=now)
        .select_related("consult", "user")
        .order_by("due_at")[:batch]
    )
    taking_part = set(
        Participant.objects.filter(consult_id__in={r.consult_id for r in claimed}, removed_at__isnull=True).values_list("consult_id", "user_id")
    )
    stale = {r.pk for r in claimed if _is_stale(r, now, taking_part)}
    Reminder.objects.filter(pk__in=stale).delete()
    fresh = [r for r in claimed if r.pk not in stale]
    for reminder in fresh:
        _deliver(reminder, now)
    Reminder.objects.filter(pk__in=[r.pk for r in fresh]).update(sent_at=timezone.now())
    return len(claimed), len(fresh)


def _is_stale(reminder: Reminder, now: datetime, taking_part: set[tuple]) -> bool:
    consult = reminder.consult
    return (
        consult.status != Status.SCHEDULED
        or reminder.sequence != consult.sequence
        or consult.starts_at is None
        or consult.starts_at <= now
        or (consult.pk, reminder.user_id) not in taking_part
    )


def _deliver(reminder: Reminder, now: datetime) -> None:
    consult = reminder.consult
    notify([reminder.user], consult=consult, title=reminder_title(reminder, now), body=_reminder_body(reminder))
    audit_record(
        actor=None, username=SCHEDULER, action="consult.remind", obj=consult, patient_id=consult.patient_id,
        detail={"user": str(reminder.user_id), "minutes_before": reminder.minutes_before, "sequence": reminder.sequence},
    )


def reminder_title(reminder: Reminder, now: datetime) -> Promise:
    """"Consult in 15 minutes", or "Consult tomorrow at 09:00" in the recipient's own time zone."""
    starts_at = reminder.consult.starts_at
    minutes = max(1, round((starts_at - now).total_seconds() / 60))
    if minutes < 60:
        return lazy_format(ngettext_lazy("Consult in %(minutes)d minute", "Consult in %(minutes)d minutes", minutes), minutes=minutes)
    zone = user_zone(reminder.user)
    local = starts_at.astimezone(zone)
    days = (local.date() - now.astimezone(zone).date()).days
    clock = local.strftime("%H:%M")
    if days == 0:
        return lazy_format(gettext_lazy("Consult today at %(time)s"), time=clock)
    if days == 1:
        return lazy_format(gettext_lazy("Consult tomorrow at %(time)s"), time=clock)
    return lazy_format(gettext_lazy("Consult on %(date)s at %(time)s"), date=local.strftime("%Y-%m-%d"), time=clock)


def _reminder_body(reminder: Reminder) -> Promise:
    # No patient name: the body also goes out by e-mail and SMS; the consult page has the rest.
    consult = reminder.consult
    zone = user_zone(reminder.user)
    return lazy_format(
        gettext_lazy("%(specialty)s consultation, %(start)s–%(end)s (%(zone)s)."),
        specialty=Specialty(consult.specialty).label,
        start=consult.starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        end=consult.ends_at.astimezone(zone).strftime("%H:%M"),
        zone=zone.key,
    )
