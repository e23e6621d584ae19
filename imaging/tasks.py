"""Background work for remote reading: one thin task, run by Celery beat every minute.

Idempotent (the service claims alerts with SKIP LOCKED and marks them in the same transaction),
so `acks_late` is safe; no retry of its own: the next beat is the retry.
"""
from __future__ import annotations

from celery import shared_task

from imaging.services.reading.critical import critical_escalate_due
from telemed.audit.models import Channel
from telemed.audit.origin import Origin, origin_scope


@shared_task(acks_late=True)
def escalate_unacknowledged_critical() -> int:
    with origin_scope(Origin(channel=Channel.SYSTEM)):
        return critical_escalate_due()
