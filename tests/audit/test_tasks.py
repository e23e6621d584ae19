from __future__ import annotations

import pytest

from telemed.audit.models import AuditEvent, Outcome
from telemed.audit.tasks import verify_audit_chain
from telemed.audit.services import audit_record

pytestmark = pytest.mark.django_db


def test_scheduled_verification_records_its_outcome():
    audit_record(actor=None, action="test.event")
    assert verify_audit_chain() == {"ok": True, "checked": 1, "broken_seq": None}
    event = AuditEvent.objects.get(action="audit.verify")
    assert (event.outcome, event.channel, event.actor_username) == (Outcome.SUCCESS, "system", "scheduler")


def test_scheduled_verification_reports_a_broken_chain(caplog):
    from django.db import connection

    audit_record(actor=None, action="test.event")
    audit_record(actor=None, action="test.event")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET action = 'test.changed' WHERE seq = 2")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    assert verify_audit_chain()["broken_seq"] == 2
    assert AuditEvent.objects.get(action="audit.verify").outcome == Outcome.FAILED
    assert "Audit chain broken at event #2" in caplog.text
