from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent, Outcome
from telemed.patients.models import Patient, PatientGrant
from telemed.patients.services import patient_grant_access, patient_register
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

VALID_ID = "11010519491231002X"


def _form(cast, **changes):
    data = {"institution": cast.north.clinic.pk, "mrn": "NEW-1", "name": "李四", "sex": "1", "birth_date": "1949-12-31", "national_id": VALID_ID}
    return data | changes


def test_clinic_doctor_registers_a_patient_and_the_id_number_is_stored_encrypted(cast, client_for):
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post("/patients/new/", _form(cast))
    patient = Patient.objects.get(mrn="NEW-1")
    assert response["Location"] == f"/patients/{patient.pk}/"
    row = Patient.objects.filter(pk=patient.pk).values().get()
    assert VALID_ID not in str(row)
    assert patient.national_id_masked == "**************002X"
    event = AuditEvent.objects.get(action="patient.create")
    assert event.patient_id == patient.pk


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"national_id": "110105194912310021"}, "check digit is wrong"),
        ({"national_id": "12345"}, "17 digits followed by a digit or X"),
        ({"birth_date": "2999-01-01"}, "cannot be in the future"),
        ({"name": ""}, "This field is required"),
        ({"sex": "7"}, "Select a valid choice"),
    ],
)
def test_bad_registration_names_the_problem_and_saves_nothing(cast, client_for, changes, message):
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post("/patients/new/", _form(cast, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Patient.objects.filter(mrn="NEW-1").exists()
    assert not AuditEvent.objects.filter(action="patient.create").exists()


def test_duplicate_record_number_is_refused_with_the_number(cast, client_for):
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post("/patients/new/", _form(cast, mrn=cast.north.patient.mrn))
    assert f"already has medical record number {cast.north.patient.mrn}" in response.content.decode()


def test_same_person_registered_twice_at_one_clinic_is_refused(cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    patient_register(by=doctor, institution=cast.north.clinic, mrn="A", name="A", sex="1", birth_date=timezone.localdate() - timedelta(days=9000), national_id=VALID_ID)
    with pytest.raises(ValidationError) as caught:
        patient_register(by=doctor, institution=cast.north.clinic, mrn="B", name="A", sex="1", birth_date=timezone.localdate() - timedelta(days=9000), national_id=VALID_ID)
    assert "national_id" in caught.value.message_dict


def test_doctor_cannot_register_patients_at_another_clinic(cast):
    with pytest.raises(PermissionDenied):
        patient_register(by=cast.doc_n2, institution=cast.north.clinic, mrn="X", name="X", sex="1", birth_date=timezone.localdate())


def test_national_id_is_masked_in_every_list_and_page(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    patient = cast.north.patient
    from telemed.patients.identity import decrypt

    number = decrypt(patient.national_id_ciphertext)
    for url in ("/patients/", f"/patients/{patient.pk}/", f"/patients/{patient.pk}/edit/", "/api/v1/patients/", f"/api/v1/patients/{patient.pk}/"):
        body = client.get(url).content.decode()
        assert number not in body, url
    assert patient.national_id_masked in client.get("/patients/").content.decode()


def test_full_id_number_is_shown_only_on_request_and_recorded(cast, client_for):
    from telemed.patients.identity import decrypt

    patient = cast.north.patient
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post(f"/patients/{patient.pk}/national-id/")
    assert decrypt(patient.national_id_ciphertext) in response.content.decode()
    assert AuditEvent.objects.filter(action="patient.reveal_national_id", patient_id=patient.pk, outcome=Outcome.SUCCESS).count() == 1


def test_granted_specialist_sees_the_patient_but_cannot_reveal_the_id(cast, client_for):
    specialist = cast.north[Role.SPECIALIST]
    patient = cast.north.patient
    patient_grant_access(patient=patient, user=specialist, reason=PatientGrant.Reason.CONSULT, source_id=patient.pk, by=None)
    client = client_for(specialist)
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    assert client.post(f"/patients/{patient.pk}/national-id/").status_code == 404
    assert AuditEvent.objects.filter(action="patient.reveal_national_id", outcome=Outcome.DENIED).count() == 1


def test_expired_or_revoked_grant_shows_nothing(cast, client_for):
    specialist = cast.north[Role.SPECIALIST]
    patient = cast.north.patient
    grant = patient_grant_access(patient=patient, user=specialist, reason=PatientGrant.Reason.CONSULT, source_id=patient.pk, by=None, expires_at=timezone.now() - timedelta(minutes=1))
    assert client_for(specialist).get(f"/patients/{patient.pk}/").status_code == 404
    grant.expires_at = None
    grant.revoked_at = timezone.now()
    grant.save()
    assert client_for(specialist).get(f"/patients/{patient.pk}/").status_code == 404


def test_specialist_without_a_grant_sees_no_patient(cast, client_for):
    client = client_for(cast.north[Role.SPECIALIST])
    assert client.get(f"/patients/{cast.north.patient.pk}/").status_code == 404
    assert cast.north.patient.name not in client.get("/patients/").content.decode()


def test_clinic_doctor_cannot_open_the_sibling_clinics_patient_and_the_attempt_is_recorded(cast, client_for):
    response = client_for(cast.doc_n2).get(f"/patients/{cast.north.patient.pk}/")
    assert response.status_code == 404
    event = AuditEvent.objects.get(action="patient.view")
    assert (event.outcome, event.patient_id, event.actor_id) == (Outcome.DENIED, cast.north.patient.pk, cast.doc_n2.pk)


def test_unknown_patient_is_a_plain_404(cast, client_for):
    import uuid

    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/patients/{uuid.uuid4()}/").status_code == 404


def test_each_patient_page_records_exactly_one_event(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    client.get(f"/patients/{cast.north.patient.pk}/")
    client.get("/patients/")
    client.get(f"/api/v1/patients/{cast.north.patient.pk}/")
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["patient.view", "patient.list", "patient.view"]


def test_list_event_names_the_patients_shown(cast, client_for):
    client_for(cast.north[Role.CLINIC_DOCTOR]).get("/patients/?q=Northpatient")
    event = AuditEvent.objects.get(action="patient.list")
    assert set(event.detail["shown"]) == {str(cast.north.patient.pk), str(cast.patient_n1b.pk)}
    assert event.detail["query"] == "Northpatient"


def test_search_finds_by_name_record_number_and_full_id_number(cast, client_for):
    from telemed.patients.identity import decrypt

    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    patient = cast.north.patient
    for query in ("secretname", patient.mrn, decrypt(patient.national_id_ciphertext)):
        body = client.get("/patients/", {"q": query}).content.decode()
        assert patient.name in body, query
        assert cast.patient_n1b.name not in body, query


def test_edit_keeps_the_id_number_unless_a_new_one_is_typed(cast, client_for):
    patient = cast.north.patient
    last4 = patient.national_id_last4
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.post(f"/patients/{patient.pk}/edit/", {"mrn": patient.mrn, "name": "Renamed", "sex": patient.sex, "birth_date": patient.birth_date.isoformat(), "national_id": ""})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.name, patient.national_id_last4) == ("Renamed", last4)
    assert AuditEvent.objects.get(action="patient.update").detail == {"fields": ["name"]}


def test_api_registration_with_bad_fields_returns_400_with_reasons(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.post("/api/v1/patients/", {"institution": str(cast.north.clinic.pk), "mrn": "API-1", "name": "X", "sex": "1", "birth_date": "1970-01-01", "national_id": "bad"}, content_type="application/json")
    assert response.status_code == 400
    assert "national_id" in response.json()
    response = client.post("/api/v1/patients/", {"mrn": "API-1"}, content_type="application/json")
    assert response.status_code == 400
    assert {"institution", "name", "sex", "birth_date"} <= set(response.json())
    assert not Patient.objects.filter(mrn="API-1").exists()


def test_api_registers_and_updates_a_patient(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.post("/api/v1/patients/", {"institution": str(cast.north.clinic.pk), "mrn": "API-2", "name": "王五", "sex": "2", "birth_date": "1980-02-29", "national_id": VALID_ID}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["national_id_masked"].endswith("002X") and "national_id" not in body
    response = client.patch(f"/api/v1/patients/{body['id']}/", {"phone": "13900000000"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["phone"] == "13900000000"


def test_patient_names_in_chinese_round_trip(cast, client_for):
    patient = PatientFactory(institution=cast.north.clinic, name="欧阳娜娜", registered_by=cast.north[Role.CLINIC_DOCTOR])
    assert "欧阳娜娜" in client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/patients/{patient.pk}/").content.decode()
