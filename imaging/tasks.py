"""Background work for imaging: thin tasks that call one service each.

The critical-finding escalation runs from Celery beat every minute; it is idempotent (the
service claims alerts with SKIP LOCKED and marks them in the same transaction), so `acks_late`
is safe, and it does not retry itself: the next beat is the retry.
"""
from __future__ import annotations

from celery import shared_task

from imaging.services.exports import export_run
from imaging.services.reading.critical import critical_escalate_due
from telemed.audit.models import Channel
from telemed.audit.origin import Origin, origin_scope


@shared_task(acks_late=True)
def study_export_run(export_id: str) -> str:
    """Idempotent: a second delivery finds the export claimed or finished and leaves it."""
    with origin_scope(Origin(channel=Channel.SYSTEM)):
        return export_run(export_id=export_id).status


@shared_task(acks_late=True)
def escalate_unacknowledged_critical() -> int:
    with origin_scope(Origin(channel=Channel.SYSTEM)):
        return critical_escalate_due()
