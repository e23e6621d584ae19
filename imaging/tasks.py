"""Background work for imaging: thin tasks that call one service each."""
from __future__ import annotations

from celery import shared_task

from imaging.services.exports import export_run
from telemed.audit.models import Channel
from telemed.audit.origin import Origin, origin_scope


@shared_task(acks_late=True)
def study_export_run(export_id: str) -> str:
    """Idempotent: a second delivery finds the export claimed or finished and leaves it."""
    with origin_scope(Origin(channel=Channel.SYSTEM)):
        return export_run(export_id=export_id).status
