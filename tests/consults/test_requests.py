"""Consult requests from the clinic, triage on the board, and who sees which consult."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from consults.models import Attachment, Consult, Notification, Status
from consults.services.availability import slot_minutes
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent, Outcome
from tests.consults.factories import ConsultFactory, booked_consult, next_slot_start, weekday_hours

pytestmark = pytest.mark.django_db


def _request_form(cast, **changes):
    data = {
        "patient": cast.north.patient.pk,
        "specialty": "respiratory",
        "urgency": "urgent",
        "question": "Pneumonia or TB?",
        "history": "Cough for three weeks.",
        "consent_signed_by": "Patient himself",
        "consent_relation": "self",
        "consent_signed_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    return data | changes


def test_clinic_doctor_requests_a_consult_with_an_attachment(cast, client_for):
    report = SimpleUploadedFile("lab.pdf", b"%PDF-1.4 lab results", content_type="application/pdf")
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post("/consults/new/", _request_form(cast, attachments=report))
    consult = Consult.objects.get()
    assert response["Location"] == f"/consults/{consult.pk}/"
    assert (consult.status, consult.urgency, consult.clinic) == (Status.REQUESTED, "urgent", cast.north.clinic)
    attachment = Attachment.objects.get()
    assert attachment.file.read() == b"%PDF-1.4 lab results"
    assert AuditEvent.objects.filter(action="consult.request", patient_id=cast.north.patient.pk).exists()


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"question": ""}, "This field is required"),
        ({"consent_signed_by": ""}, "This field is required"),
        ({"consent_signed_at": "2999-01-01T10:00"}, "not in the future"),
        ({"specialty": "astrology"}, "Select a valid choice"),
    ],
)
def test_incomplete_request_names_the_problem_and_saves_nothing(cast, client_for, changes, field_message):
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post("/consults/new/", _request_form(cast, **changes))
    assert response.status_code == 200
    assert field_message in response.content.decode()
    assert not Consult.objects.exists()


def test_attachment_of_a_wrong_type_is_refused_and_no_file_is_kept(cast, client_for):
    exe = SimpleUploadedFile("virus.exe", b"MZ...", content_type="application/x-msdownload")
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post("/consults/new/", _request_form(cast, attachments=exe))
    assert "is not a PDF, JPEG, PNG or text file" in response.content.decode()
    assert not Consult.objects.exists() and not Attachment.objects.exists()


def test_unqualified_named_expert_is_refused_with_the_reason(cast, client_for):
    from tests.accounts.factories import MembershipFactory, UserFactory

    junior = UserFactory(full_name="Junior Doctor")
    MembershipFactory(user=junior, institution=cast.north.hospital, role=Role.SPECIALIST)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post("/consults/new/", _request_form(cast, named_expert=junior.pk))
    assert "has no verified qualification yet" in response.content.decode()


def test_doctor_of_another_clinic_cannot_request_for_the_patient(cast, client_for):
    response = client_for(cast.doc_n2).post("/consults/new/", _request_form(cast))
    assert response.status_code == 200  # the patient is not among their choices
    assert not Consult.objects.exists()


def test_clinic_sees_only_its_own_requests(cast, client_for):
    ConsultFactory(patient=cast.north.patient)
    assert cast.north.patient.name in client_for(cast.north[Role.CLINIC_DOCTOR]).get("/consults/").content.decode()
    assert cast.north.patient.name not in client_for(cast.doc_n2).get("/consults/").content.decode()


def test_expert_sees_only_the_consults_they_are_in(cast, client_for):
    consult = booked_consult(cast.north)
    other = ConsultFactory(patient=cast.patient_n1b)
    client = client_for(cast.north[Role.SPECIALIST])
    assert client.get(f"/consults/{consult.pk}/").status_code == 200
    assert client.get(f"/consults/{other.pk}/").status_code == 404
    denied = AuditEvent.objects.get(action="consult.view", outcome=Outcome.DENIED)
    assert denied.patient_id == cast.patient_n1b.pk


def test_coordinator_of_the_paired_hospital_triages_and_asks_for_information(cast, client_for):
    consult = ConsultFactory(patient=cast.north.patient)
    client = client_for(cast.north[Role.COORDINATOR])
    assert consult.patient.name in client.get("/consults/board/").content.decode()
    client.post(f"/consults/{consult.pk}/ask-info/", {"question": "Please attach the CT report."})
    consult.refresh_from_db()
    assert consult.status == Status.NEEDS_INFO
    assert Notification.objects.filter(user=cast.north[Role.CLINIC_DOCTOR], consult=consult).exists()
    client_for(cast.north[Role.CLINIC_DOCTOR]).post(f"/consults/{consult.pk}/add-info/", {"answer": "CT: right lower lobe consolidation."})
    consult.refresh_from_db()
    assert consult.status == Status.REQUESTED and "consolidation" in consult.history
    client.post(f"/consults/{consult.pk}/triage/")
    consult.refresh_from_db()
    assert consult.status == Status.TRIAGED
    assert list(consult.timeline.values_list("action", flat=True)) == ["ask_info", "add_info", "triage"]


def test_decline_needs_a_reason(cast, client_for):
    consult = ConsultFactory(patient=cast.north.patient)
    client = client_for(cast.north[Role.COORDINATOR])
    client.post(f"/consults/{consult.pk}/decline/", {"reason": ""})
    consult.refresh_from_db()
    assert consult.status == Status.REQUESTED
    client.post(f"/consults/{consult.pk}/decline/", {"reason": "Please refer to TB dispensary"})
    consult.refresh_from_db()
    assert consult.status == Status.DECLINED and consult.status_reason == "Please refer to TB dispensary"


def test_coordinator_of_another_alliance_sees_no_board_entry(cast, client_for):
    ConsultFactory(patient=cast.north.patient)
    assert cast.north.patient.name not in client_for(cast.south[Role.COORDINATOR]).get("/consults/board/").content.decode()


def test_board_lists_emergencies_first(cast, client_for):
    ConsultFactory(patient=cast.north.patient, urgency="routine")
    ConsultFactory(patient=cast.patient_n1b, urgency="emergency")
    page = client_for(cast.north[Role.COORDINATOR]).get("/consults/board/rows/").content.decode()
    assert page.index(cast.patient_n1b.name) < page.index(cast.north.patient.name)


def test_booking_page_offers_the_earliest_free_times_and_books(cast, client_for):
    weekday_hours(cast.north[Role.SPECIALIST])
    consult = ConsultFactory(patient=cast.north.patient)
    client = client_for(cast.north[Role.COORDINATOR])
    # The first slot of the expert's 9-12 hours (Shanghai) not yet begun: during those hours a
    # later one of today's, after them tomorrow's 9:00.
    length = timedelta(minutes=slot_minutes(cast.north[Role.SPECIALIST]))
    starts = (day + k * length for day in (next_slot_start(days_ahead=0), next_slot_start()) for k in range(int(timedelta(hours=3) / length)))
    start = next(s for s in starts if s >= timezone.now())
    page = client.get(f"/consults/{consult.pk}/book/").content.decode()
    assert f'data-start="{timezone.localtime(start).strftime("%Y-%m-%dT%H:%M")}"' in page
    expert = cast.north[Role.SPECIALIST]
    response = client.post(
        f"/consults/{consult.pk}/book/",
        {"experts": [expert.pk], "lead": expert.pk, "starts_at": timezone.localtime(start).strftime("%Y-%m-%d %H:%M"), "minutes": 30},
    )
    assert response.status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.SCHEDULED and consult.starts_at == start


def test_booking_page_shows_a_conflict_as_a_form_error(cast, client_for):
    first = booked_consult(cast.north)
    second = ConsultFactory(patient=cast.patient_n1b)
    expert = cast.north[Role.SPECIALIST]
    response = client_for(cast.north[Role.COORDINATOR]).post(
        f"/consults/{second.pk}/book/",
        {"experts": [expert.pk], "lead": expert.pk, "starts_at": timezone.localtime(first.starts_at).strftime("%Y-%m-%d %H:%M"), "minutes": 30},
    )
    assert response.status_code == 200
    assert "is already booked" in response.content.decode()


def test_directory_puts_paired_hospitals_experts_first_and_says_who_cannot_be_booked(cast, client_for):
    from tests.accounts.factories import MembershipFactory, UserFactory

    junior = UserFactory(full_name="Aaron Junior")
    MembershipFactory(user=junior, institution=cast.north.hospital, role=Role.SPECIALIST)
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get("/consults/experts/").content.decode()
    assert cast.north[Role.SPECIALIST].full_name in page and "Aaron Junior" in page
    assert "has no verified qualification yet" in page
    assert cast.south[Role.SPECIALIST].full_name not in page


def test_expert_calendar_shows_free_booked_and_blocked_time(cast, client_for):
    consult = booked_consult(cast.north, days_ahead=1)
    week = timezone.localdate(consult.starts_at) - timedelta(days=timezone.localdate(consult.starts_at).weekday())
    page = client_for(cast.north[Role.COORDINATOR]).get(f"/consults/experts/{cast.north[Role.SPECIALIST].pk}/?week={week}").content.decode()
    assert 'class="cell booked"' in page and 'class="cell free"' in page


def test_expert_adds_hours_and_overlapping_hours_are_refused(cast, client_for):
    expert = cast.north[Role.SPECIALIST]
    client = client_for(expert)
    data = {"weekday": 2, "starts": "14:00", "ends": "17:00", "valid_from": timezone.localdate().isoformat()}
    client.post(f"/consults/experts/{expert.pk}/hours/", data)
    assert expert.availability_rules.count() == 1
    response = client.post(f"/consults/experts/{expert.pk}/hours/", data | {"starts": "16:00", "ends": "18:00"}, follow=True)
    assert "overlap" in response.content.decode()
    response = client.post(f"/consults/experts/{expert.pk}/hours/", data | {"starts": "18:00", "ends": "17:00"}, follow=True)
    assert "must end after they start" in response.content.decode()
    assert expert.availability_rules.count() == 1


def test_another_expert_cannot_change_someones_hours(cast, client_for):
    response = client_for(cast.south[Role.SPECIALIST]).post(
        f"/consults/experts/{cast.north[Role.SPECIALIST].pk}/hours/", {"weekday": 1, "starts": "09:00", "ends": "10:00", "valid_from": "2026-01-01"}
    )
    assert response.status_code == 404


def test_expert_calendar_has_a_day_view(cast, client_for):
    consult = booked_consult(cast.north, days_ahead=1)
    day = timezone.localdate(consult.starts_at)
    page = client_for(cast.north[Role.COORDINATOR]).get(f"/consults/experts/{cast.north[Role.SPECIALIST].pk}/?day={day}").content.decode()
    assert page.count('<section class="day">') == 1
    assert timezone.localtime(consult.starts_at).strftime("%H:%M") in page


def test_directory_filters_by_hospital_and_specialty(cast, client_for):
    from tests.accounts.factories import HospitalFactory, MembershipFactory, QualificationFactory, UserFactory

    other = HospitalFactory(alliance=cast.north.hospital.alliance, name="North Second Hospital")
    tcm = UserFactory(full_name="Other Hospital Expert")
    MembershipFactory(user=tcm, institution=other, role=Role.SPECIALIST)
    QualificationFactory(user=tcm, specialties=["tcm"], verified_by=cast.north[Role.ADMINISTRATOR])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    page = client.get("/consults/experts/", {"hospital": other.pk}).content.decode()
    assert "Other Hospital Expert" in page and cast.north[Role.SPECIALIST].full_name not in page
    page = client.get("/consults/experts/", {"specialty": "respiratory"}).content.decode()
    assert "Other Hospital Expert" not in page and cast.north[Role.SPECIALIST].full_name in page
