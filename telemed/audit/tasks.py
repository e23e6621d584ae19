from __future__ import annotations

import logging

from celery import shared_task

from telemed.audit.models import Channel, Outcome
from telemed.audit.origin import Origin, origin_scope
from telemed.audit.services import audit_record, audit_verify

logger = logging.getLogger(__name__)


@shared_task
def verify_audit_chain() -> dict:
    """Nightly walk of the whole chain; the outcome is itself an audit event (and an error log)."""
    with origin_scope(Origin(channel=Channel.SYSTEM)):
        result = audit_verify()
        audit_record(
            actor=None,
            action="audit.verify",
            outcome=Outcome.SUCCESS if result.ok else Outcome.FAILED,
            username="scheduler",
            detail={"checked": result.checked, "broken_seq": result.broken_seq, "reason": str(result.reason)},
        )
    if not result.ok:
        logger.error("Audit chain broken at event #%s: %s", result.broken_seq, result.reason)
    return {"ok": result.ok, "checked": result.checked, "broken_seq": result.broken_seq}
