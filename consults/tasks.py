"""Background work for consults: thin tasks that call one service each.

Both run from Celery beat. They are idempotent (the services claim rows with SKIP LOCKED and
mark them in the same transaction), so `acks_late` is safe: a worker lost mid-run makes the
broker hand the task out again, and the redelivery only finds what is still due. They do not
retry themselves: the next beat, seconds later, is the retry.
"""
from __future__ import annotations

from celery import shared_task

from consults.services.reminders import reminders_send_due
from consults.services.urgent import urgent_escalate_due
from telemed.audit.models import Channel
from telemed.audit.origin import Origin, origin_scope


@shared_task(acks_late=True)
def send_due_reminders() -> int:
    with origin_scope(Origin(channel=Channel.SYSTEM)):
        return reminders_send_due()


@shared_task(acks_late=True)
def escalate_unaccepted_urgent() -> int:
    with origin_scope(Origin(channel=Channel.SYSTEM)):
        return urgent_escalate_due()
