"""Who sees a read, its report and its study: both sides of every rule."""
from __future__ import annotations

import pytest

from imaging.services.reading.requests import read_cancel
from telemed import access
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent, Outcome
from tests.imaging.reading_factories import assigned_read, ct_study, requested_read, signed_read

pytestmark = pytest.mark.django_db

INSIDERS = ("north clinic doctor", "north coordinator", "north radiologist")


def _people(cast) -> dict:
    north, south = cast.north, cast.south
    return {
        "north clinic doctor": north[Role.CLINIC_DOCTOR],
        "north coordinator": north[Role.COORDINATOR],
        "north radiologist": north[Role.RADIOLOGIST],
        "north sibling clinic doctor": cast.doc_n2,
        "north specialist": north[Role.SPECIALIST],
        "north administrator": north[Role.ADMINISTRATOR],
        "north auditor": north[Role.AUDITOR],
        **{f"south {role}": south[role] for role in south.people},
    }


def test_the_requesting_clinic_and_the_hospitals_coordinators_and_radiologists_see_a_read_nobody_else(cast, client_for):
    read = signed_read(cast.north)
    for label, person in _people(cast).items():
        sees = label in INSIDERS
        assert access.visible_reads(person).filter(pk=read.pk).exists() == sees, label
        assert (client_for(person).get(f"/imaging/reads/{read.pk}/").status_code == 200) == sees, label
        assert (access.visible_reports(person).filter(read=read).exists()) == sees, label
        page = client_for(person).get("/imaging/reads/?view=all")
        assert (read.patient.name in page.content.decode()) == (sees and page.status_code == 200), label


def test_a_refused_look_at_a_read_is_recorded_under_its_patient(cast, client_for):
    read = requested_read(cast.north)
    assert client_for(cast.south[Role.RADIOLOGIST]).get(f"/imaging/reads/{read.pk}/").status_code == 404
    event = AuditEvent.objects.get(action="read.view", outcome=Outcome.DENIED)
    assert event.patient_id == read.patient_id and event.actor_username == cast.south[Role.RADIOLOGIST].username


def test_the_hospitals_radiologists_see_the_study_sent_to_them_but_not_the_clinics_other_studies(cast):
    read = requested_read(cast.north)
    other = ct_study(cast.north, patient=cast.patient_n1b)
    radiologist = cast.north[Role.RADIOLOGIST]
    assert access.visible_studies(radiologist).filter(pk=read.study_id).exists()
    assert not access.visible_studies(radiologist).filter(pk=other.pk).exists()
    assert not access.visible_patients(radiologist).filter(pk=read.patient_id).exists()  # no grant before assignment
    for outsider in (cast.north[Role.COORDINATOR], cast.north[Role.SPECIALIST], cast.south[Role.RADIOLOGIST], cast.doc_n2):
        assert not access.visible_studies(outsider).filter(pk=read.study_id).exists()
    read_cancel(by=cast.north[Role.CLINIC_DOCTOR], read=read, reason="Not needed.")
    assert not access.visible_studies(radiologist).filter(pk=read.study_id).exists()


def test_the_radiologist_assigned_sees_the_patient_and_earlier_studies_to_compare(cast):
    earlier = ct_study(cast.north)
    read = assigned_read(cast.north)
    radiologist = cast.north[Role.RADIOLOGIST]
    assert access.visible_patients(radiologist).filter(pk=read.patient_id).exists()
    assert access.visible_studies(radiologist).filter(pk=earlier.pk).exists()
    assert not access.visible_patients(cast.north[Role.COORDINATOR]).filter(pk=read.patient_id).exists()


def test_another_clinic_of_the_same_hospital_sees_neither_the_read_nor_its_banner(cast, client_for):
    from imaging.services.reading.critical import critical_raise

    read = assigned_read(cast.north)
    critical_raise(by=cast.north[Role.RADIOLOGIST], read=read, finding="Pneumothorax.")
    sibling = client_for(cast.doc_n2)
    assert 'class="critical-banner"' not in sibling.get("/imaging/reads/critical-banner/").content.decode()
    assert sibling.post(f"/imaging/reads/{read.pk}/acknowledge/", {"note": "x"}).status_code == 404
    assert read.patient.name not in sibling.get("/imaging/reads/?view=all").content.decode()


def test_study_visible_answers_as_visible_studies_does_for_every_person_and_study(cast, django_assert_num_queries):
    read = requested_read(cast.north)
    studies = {
        "sent for reading": read.study,
        "north clinic's own": ct_study(cast.north, patient=cast.patient_n1b),
        "south clinic's": ct_study(cast.south),
    }
    answers = set()
    for label, person in _people(cast).items():
        for name, study in studies.items():
            expected = access.visible_studies(person).filter(pk=study.pk).exists()
            assert access.study_visible(person, study) == expected, (label, name)
            answers.add(expected)
    assert answers == {True, False}
    doctor = cast.north[Role.CLINIC_DOCTOR]
    access.roles(doctor)  # read once a request
    with django_assert_num_queries(0):  # the clinic's own study needs no query
        assert access.study_visible(doctor, studies["north clinic's own"])
