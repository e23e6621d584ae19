from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consults.models import Consult, Status
from telemed.accounts.models import Role
from tests.consults.factories import ConsultFactory, booked_consult, next_slot_start, weekday_hours

pytestmark = pytest.mark.django_db


def test_clinic_files_a_request_through_the_api(cast, client_for):
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post(
        "/api/v1/consults/",
        {
            "patient": str(cast.north.patient.pk), "specialty": "respiratory", "urgency": "routine", "question": "?", "history": "h",
            "consent_signed_by": "self", "consent_relation": "self", "consent_signed_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "requested"


def test_api_request_without_consent_is_a_400_naming_the_fields(cast, client_for):
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post(
        "/api/v1/consults/", {"patient": str(cast.north.patient.pk), "specialty": "respiratory", "question": "?", "history": "h"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert {"consent_signed_by", "consent_relation", "consent_signed_at"} <= set(response.json())
    assert not Consult.objects.exists()


def test_api_booking_clash_is_a_409_with_suggestions(cast, client_for):
    first = booked_consult(cast.north)
    second = ConsultFactory(patient=cast.patient_n1b)
    response = client_for(cast.north[Role.COORDINATOR]).post(
        f"/api/v1/consults/{second.pk}/book/", {"experts": [str(cast.north[Role.SPECIALIST].pk)], "starts_at": first.starts_at.isoformat()}, content_type="application/json"
    )
    assert response.status_code == 409
    body = response.json()
    assert "already booked" in body["detail"] and body["suggestions"]


def test_api_books_an_expert_and_lists_free_slots(cast, client_for):
    weekday_hours(cast.north[Role.SPECIALIST])
    consult = ConsultFactory(patient=cast.north.patient)
    client = client_for(cast.north[Role.COORDINATOR])
    slots = client.get(f"/api/v1/experts/{cast.north[Role.SPECIALIST].pk}/slots/?days=3").json()
    assert slots and slots[0]["starts_at"]
    response = client.post(
        f"/api/v1/consults/{consult.pk}/book/", {"experts": [str(cast.north[Role.SPECIALIST].pk)], "starts_at": next_slot_start().isoformat()}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["status"] == Status.SCHEDULED


def test_api_refuses_to_book_another_hospitals_expert(cast, client_for):
    weekday_hours(cast.south[Role.SPECIALIST])
    consult = ConsultFactory(patient=cast.north.patient)
    response = client_for(cast.north[Role.COORDINATOR]).post(
        f"/api/v1/consults/{consult.pk}/book/", {"experts": [str(cast.south[Role.SPECIALIST].pk)], "starts_at": next_slot_start().isoformat()}, content_type="application/json"
    )
    assert response.status_code == 403


def test_api_consult_list_is_scoped(cast, client_for):
    ConsultFactory(patient=cast.north.patient)
    assert len(client_for(cast.north[Role.CLINIC_DOCTOR]).get("/api/v1/consults/").json()["results"]) == 1
    assert client_for(cast.doc_n2).get("/api/v1/consults/").json()["results"] == []


def test_expert_manages_their_hours_through_the_api(cast, client_for):
    expert = cast.north[Role.SPECIALIST]
    client = client_for(expert)
    response = client.post(
        "/api/v1/consult-hours/", {"expert": str(expert.pk), "weekday": 0, "starts": "09:00", "ends": "11:00", "time_zone": "Asia/Shanghai", "valid_from": "2026-01-01"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    rule_id = response.json()["id"]
    assert client.delete(f"/api/v1/consult-hours/{rule_id}/").status_code == 204
    response = client.post(
        "/api/v1/consult-hours/", {"expert": str(cast.south[Role.SPECIALIST].pk), "weekday": 0, "starts": "09:00", "ends": "11:00", "valid_from": "2026-01-01"}, content_type="application/json"
    )
    assert response.status_code == 403


def test_expert_writes_signs_and_adds_to_an_opinion_through_the_api(cast, client_for):
    from tests.consults.factories import consult_in_session, opinion_fields

    consult = consult_in_session(cast.north)
    expert = client_for(cast.north[Role.SPECIALIST])
    saved = expert.put(f"/api/v1/consults/{consult.pk}/opinions/", opinion_fields(), content_type="application/json")
    assert saved.status_code == 200, saved.content
    opinion_id = saved.json()["id"]
    signed = expert.post(f"/api/v1/opinions/{opinion_id}/sign/")
    assert signed.status_code == 200 and signed.json()["signed_at"]
    again = expert.put(f"/api/v1/consults/{consult.pk}/opinions/", opinion_fields(findings="changed"), content_type="application/json")
    assert again.status_code == 400 and "addendum" in str(again.json())
    added = expert.post(f"/api/v1/opinions/{opinion_id}/addenda/", {"text": "Sputum culture: negative."}, content_type="application/json")
    assert added.status_code == 201
    clinic = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/api/v1/consults/{consult.pk}/opinions/").json()
    assert [o["id"] for o in clinic] == [opinion_id] and clinic[0]["addenda"][0]["text"] == "Sputum culture: negative."


def test_referral_through_the_api_and_a_foreign_user_gets_404(cast, client_for):
    from tests.consults.factories import consult_in_session, signed_opinion

    consult = consult_in_session(cast.north)
    signed_opinion(consult, cast.north[Role.SPECIALIST], referral_advice="up")
    clinic = client_for(cast.north[Role.CLINIC_DOCTOR])
    created = clinic.post(
        "/api/v1/referrals/",
        {"consult": str(consult.pk), "direction": "up", "reason": "Bronchoscopy", "contact": str(cast.north[Role.COORDINATOR].pk)},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    referral_id = created.json()["id"]
    accepted = client_for(cast.north[Role.COORDINATOR]).patch(f"/api/v1/referrals/{referral_id}/", {"state": "accepted"}, content_type="application/json")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert client_for(cast.south[Role.COORDINATOR]).get(f"/api/v1/referrals/{referral_id}/").status_code == 404


def test_notifications_are_listed_and_marked_read_through_the_api(cast, client_for):
    booked_consult(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    notes = client.get("/api/v1/notifications/").json()["results"]
    assert notes and notes[0]["read_at"] is None
    assert client.post("/api/v1/notifications/read-all/").json()["unread"] == 0
