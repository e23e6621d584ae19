"""A clinic asks a paired hospital to read a study; it may cancel; the hospital may decline."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from consults.models import Notification
from imaging.models import ReadRequest, ReadStatus
from imaging.services.reading.requests import read_cancel, read_decline, read_request, study_examination
from telemed.accounts.models import Pairing, Role
from telemed.audit.models import AuditEvent
from tests.accounts.factories import HospitalFactory
from tests.imaging.reading_factories import QUESTION, assigned_read, ct_study, requested_read
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _ask(cast, study, **overrides):
    fields = {"by": cast.north[Role.CLINIC_DOCTOR], "study": study, "hospital": cast.north.hospital, "question": QUESTION, "urgency": "routine"}
    return read_request(**(fields | overrides))


def test_clinic_doctor_asks_the_paired_hospital_and_its_coordinators_are_told(cast):
    study = ct_study(cast.north)
    read = _ask(cast, study, urgency="urgent", history="Smoker.")
    assert read.status == ReadStatus.REQUESTED
    assert (read.patient, read.clinic, read.hospital, read.modality, read.body_part) == (cast.north.patient, cast.north.clinic, cast.north.hospital, "CT", "CHEST")
    note = Notification.objects.get(user=cast.north[Role.COORDINATOR])
    assert note.title == "Urgent read request: CT Chest" and note.link == f"/imaging/reads/{read.pk}/"
    assert cast.north.patient.name not in note.title + note.body
    assert list(read.timeline.values_list("action", flat=True)) == ["request"]
    assert AuditEvent.objects.filter(action="read.request", patient_id=cast.north.patient.pk).exists()


def test_study_examination_is_the_modality_of_most_images_leaving_out_reports(cast):
    study = ct_study(cast.north, slices=3)
    study.series.create(series_instance_uid="1.2.3.4.5", modality="SR")
    assert study_examination(study) == ("CT", "CHEST")


def test_only_a_doctor_of_the_sending_clinic_may_ask(cast):
    study = ct_study(cast.north)
    for outsider in (cast.doc_n2, cast.north[Role.COORDINATOR], cast.south[Role.CLINIC_DOCTOR]):
        with pytest.raises(PermissionDenied, match="Only doctors of the clinic that sent the study"):
            _ask(cast, study, by=outsider)
    assert not ReadRequest.objects.exists()


def test_a_hospital_not_paired_with_the_clinic_is_refused(cast):
    study = ct_study(cast.north)
    unpaired = HospitalFactory(alliance=cast.north.hospital.alliance)
    for hospital in (unpaired, cast.south.hospital, None):
        with pytest.raises(ValidationError) as refused:
            _ask(cast, study, hospital=hospital)
        assert refused.value.message_dict["hospital"] == ["Choose one of the hospitals your clinic is paired with."]
    Pairing.objects.filter(hospital=cast.north.hospital, clinic=cast.north.clinic).update(ended_on="2020-01-01")
    with pytest.raises(ValidationError, match="paired with"):
        _ask(cast, study)


def test_question_and_urgency_are_required_in_words_a_doctor_can_act_on(cast):
    with pytest.raises(ValidationError) as refused:
        _ask(cast, ct_study(cast.north), question="  ", urgency="whenever")
    assert refused.value.message_dict == {
        "question": ["Write the clinical question the radiologist should answer."],
        "urgency": ["Choose routine, urgent or emergency."],
    }


def test_a_study_not_matched_to_a_patient_cannot_be_read(cast):
    stray = PatientFactory.build(mrn="NOBODY-1")
    study = ct_study(cast.north, patient=stray)
    assert study.patient is None
    with pytest.raises(ValidationError, match="Match the study to a registered patient first"):
        _ask(cast, study)


def test_one_open_read_per_study_then_a_new_one_after_it_ends(cast):
    read = requested_read(cast.north)
    with pytest.raises(ValidationError, match="already has a read in progress"):
        _ask(cast, read.study)
    read_cancel(by=cast.north[Role.CLINIC_DOCTOR], read=read, reason="Sent to the county hospital instead.")
    assert _ask(cast, read.study).status == ReadStatus.REQUESTED


def test_clinic_cancels_with_a_reason_and_the_radiologist_loses_the_patient(cast):
    read = assigned_read(cast.north)
    radiologist = cast.north[Role.RADIOLOGIST]
    assert radiologist.patient_grants.filter(revoked_at__isnull=True, source_id=read.pk).exists()
    with pytest.raises(ValidationError) as refused:
        read_cancel(by=cast.north[Role.CLINIC_DOCTOR], read=read, reason="")
    assert refused.value.message_dict == {"reason": ["Give a reason; the others are told it."]}
    with pytest.raises(PermissionDenied):
        read_cancel(by=cast.doc_n2, read=read, reason="Not mine.")
    read_cancel(by=cast.north[Role.CLINIC_DOCTOR], read=read, reason="Patient transferred.")
    read.refresh_from_db()
    assert read.status == ReadStatus.CANCELLED and read.ended_at is not None and read.status_reason == "Patient transferred."
    assert not radiologist.patient_grants.filter(revoked_at__isnull=True, source_id=read.pk).exists()
    assert Notification.objects.filter(user=radiologist, title__startswith="Read request cancelled").exists()
    with pytest.raises(ValidationError, match="Only an open read can be cancelled; this one is cancelled"):
        read_cancel(by=cast.north[Role.CLINIC_DOCTOR], read=read, reason="Again.")


def test_hospital_declines_and_the_clinic_is_told_why(cast):
    read = requested_read(cast.north)
    with pytest.raises(PermissionDenied):
        read_decline(by=cast.north[Role.CLINIC_DOCTOR], read=read, reason="No.")
    read_decline(by=cast.north[Role.COORDINATOR], read=read, reason="Images are not diagnostic: motion artefact. Please repeat.")
    read.refresh_from_db()
    assert read.status == ReadStatus.DECLINED
    note = Notification.objects.get(user=cast.north[Role.CLINIC_DOCTOR])
    assert note.title == "Read request declined: CT Chest" and "motion artefact" in note.body


def test_the_radiologist_assigned_may_decline_too(cast):
    read = assigned_read(cast.north)
    read_decline(by=cast.north[Role.RADIOLOGIST], read=read, reason="Wrong body part sent.")
    assert ReadRequest.objects.get(pk=read.pk).status == ReadStatus.DECLINED
