from __future__ import annotations

import csv
import io
import json

import pytest

from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _touch_patients(cast, client_for):
    client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/patients/{cast.north.patient.pk}/")
    client_for(cast.south[Role.CLINIC_DOCTOR]).get(f"/patients/{cast.south.patient.pk}/")


def test_auditor_sees_their_alliances_events_only(cast, client_for):
    _touch_patients(cast, client_for)
    page = client_for(cast.north[Role.AUDITOR]).get("/audit/").content.decode()
    assert cast.north[Role.CLINIC_DOCTOR].username in page
    assert cast.south[Role.CLINIC_DOCTOR].username not in page


def test_auditor_filters_by_patient_and_outcome(cast, client_for):
    _touch_patients(cast, client_for)
    client_for(cast.doc_n2).get(f"/patients/{cast.north.patient.pk}/")  # denied
    client = client_for(cast.north[Role.AUDITOR])
    page = client.get("/audit/", {"patient": str(cast.north.patient.pk), "outcome": "denied"}).content.decode()
    assert f"<td>{cast.doc_n2.username} <small" in page
    assert f"<td>{cast.north[Role.CLINIC_DOCTOR].username} <small" not in page


def test_bad_filter_values_get_a_message_not_an_error(cast, client_for):
    response = client_for(cast.north[Role.AUDITOR]).get("/audit/", {"patient": "not-a-uuid", "since": "2026-02-30"})
    assert response.status_code == 200
    assert "Enter a valid UUID" in response.content.decode()


def test_csv_export_has_every_field_and_is_recorded(cast, client_for):
    _touch_patients(cast, client_for)
    response = client_for(cast.north[Role.ADMINISTRATOR]).get("/audit/export.csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"seq", "occurred_at", "actor_username", "actor_role", "institution_name", "action", "patient_id", "ip", "user_agent", "outcome", "hash", "prev_hash"} <= set(rows[0])
    views = [row for row in rows if row["action"] == "patient.view"]
    assert len(views) == 1 and views[0]["patient_id"] == str(cast.north.patient.pk)
    assert AuditEvent.objects.filter(action="audit.export").exists()


def test_json_export_is_valid_json_in_order(cast, client_for):
    _touch_patients(cast, client_for)
    response = client_for(cast.north[Role.AUDITOR]).get("/audit/export.json", {"action": "patient."})
    events = json.loads(b"".join(response.streaming_content))
    assert [e["action"] for e in events] == ["patient.view"]
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')


def test_clinic_doctor_and_coordinator_cannot_read_the_audit_trail(cast, client_for):
    for role in (Role.CLINIC_DOCTOR, Role.COORDINATOR, Role.SPECIALIST):
        client = client_for(cast.north[role])
        assert client.get("/audit/").status_code == 403
        assert client.get("/audit/export.csv").status_code == 403
        assert client.get("/api/v1/audit-events/").status_code == 403


def test_refusals_are_recorded_as_denied_events(cast, client_for):
    client_for(cast.north[Role.CLINIC_DOCTOR]).get("/audit/")
    event = AuditEvent.objects.get(action="request.denied")
    assert event.detail == {"method": "GET", "path": "/audit/"}
    assert event.actor_id == cast.north[Role.CLINIC_DOCTOR].pk


def test_verify_button_reports_an_intact_chain(cast, client_for):
    _touch_patients(cast, client_for)
    response = client_for(cast.north[Role.AUDITOR]).post("/audit/verify/")
    assert "The chain is intact" in response.content.decode()


def test_audit_page_draws_events_per_day(cast, client_for):
    _touch_patients(cast, client_for)
    page = client_for(cast.north[Role.AUDITOR]).get("/audit/").content.decode()
    assert '<rect class="success"' in page


def test_api_lists_events_with_filters(cast, client_for):
    _touch_patients(cast, client_for)
    response = client_for(cast.north[Role.AUDITOR]).get("/api/v1/audit-events/", {"action": "patient.view"})
    results = response.json()["results"]
    assert [r["patient_id"] for r in results] == [str(cast.north.patient.pk)]
