"""A patient's studies, reached from the patient's page."""
from __future__ import annotations

import io

import pytest
from django.utils import translation

from imaging.models import Study
from imaging.services.ingest import instance_ingest
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import ct_series
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_patients_studies(cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    wang = PatientFactory(institution=cast.north.clinic, mrn="MRN-WANG", name="王秀英", registered_by=doctor)
    li = PatientFactory(institution=cast.north.clinic, mrn="MRN-LI", name="李建华", registered_by=doctor)
    for mrn, description in (("MRN-WANG", "胸部CT平扫"), ("MRN-LI", "头颅CT")):
        for data in ct_series(slices=1, patient_id=mrn, description=description):
            instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=doctor, source="test")
    return wang, li


def test_patient_page_links_to_the_patients_studies(cast, client_for, two_patients_studies):
    wang, _li = two_patients_studies
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    with translation.override("en"):
        page = client.get(f"/patients/{wang.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"/imaging/?patient={wang.pk}" in page


def test_studies_of_one_patient_list_only_theirs_and_are_audited_for_that_patient(cast, client_for, two_patients_studies):
    wang, _li = two_patients_studies
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/?patient={wang.pk}").content.decode()
    assert "胸部CT平扫" in page and "头颅CT" not in page
    event = AuditEvent.objects.filter(action="imaging.study_list").latest("seq")
    assert event.patient_id == wang.pk and event.detail["shown"] == [str(Study.objects.get(patient=wang).pk)]


def test_another_clinics_doctor_cannot_list_a_patients_studies(cast, client_for, two_patients_studies):
    wang, _li = two_patients_studies
    other = client_for(cast.doc_n2)
    assert other.get(f"/imaging/?patient={wang.pk}").status_code == 404
    assert other.get("/imaging/?patient=not-a-uuid").status_code == 404
