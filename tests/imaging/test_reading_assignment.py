"""Who reads for a hospital, manual and automatic assignment, taking and handing back reads."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consults.models import Notification
from imaging.models import ReaderProfile, ReadingPolicy, ReadRequest, ReadStatus
from imaging.services.reading.assignment import (
    automatic_candidates,
    policy_update,
    read_assign,
    read_claim,
    read_release,
    reader_profile_update,
    reader_refusal,
    readers_of,
)
from imaging.services.reading.requests import read_request
from telemed.accounts.models import Pairing, Role
from telemed.audit.models import AuditEvent
from tests.accounts.factories import HospitalFactory, MembershipFactory, member
from tests.imaging.reading_factories import assigned_read, ct_study, requested_read, second_radiologist
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _granted(person, read) -> bool:
    return person.patient_grants.filter(source_id=read.pk, revoked_at__isnull=True).exists()


def _automatic(cast, mode: str) -> ReadingPolicy:
    return ReadingPolicy.objects.create(hospital=cast.north.hospital, assignment=mode)


def _studies(cast, count: int):
    patients = [cast.north.patient] + [PatientFactory(institution=cast.north.clinic, registered_by=cast.north[Role.CLINIC_DOCTOR]) for _ in range(count - 1)]
    return [ct_study(cast.north, patient=p) for p in patients]


# --- Manual ----------------------------------------------------------------------------------------

def test_coordinator_assigns_and_the_radiologist_sees_the_patient_and_is_told(cast):
    read = requested_read(cast.north)
    radiologist = cast.north[Role.RADIOLOGIST]
    read = read_assign(by=cast.north[Role.COORDINATOR], read=read, radiologist=radiologist)
    assert (read.status, read.radiologist) == (ReadStatus.ASSIGNED, radiologist)
    assert read.assigned_at is not None and _granted(radiologist, read)
    note = Notification.objects.get(user=radiologist)
    assert note.title == "Routine read for you: CT Chest" and note.link == f"/imaging/reads/{read.pk}/"


def test_only_a_coordinator_of_the_hospital_assigns(cast):
    read = requested_read(cast.north)
    for person in (cast.north[Role.CLINIC_DOCTOR], cast.north[Role.RADIOLOGIST], cast.south[Role.COORDINATOR]):
        with pytest.raises(PermissionDenied):
            read_assign(by=person, read=read, radiologist=cast.north[Role.RADIOLOGIST])


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("specialist", "is not a radiologist of North Hospital"),
        ("south radiologist", "is not a radiologist of North Hospital"),
        ("unverified", "has no verified qualification yet"),
        ("junior", "remote reads need at least 3"),
    ],
)
def test_only_a_qualified_radiologist_of_the_hospital_can_be_assigned(cast, who, reason):
    read = requested_read(cast.north)
    person = {"specialist": cast.north[Role.SPECIALIST], "south radiologist": cast.south[Role.RADIOLOGIST]}.get(who)
    if person is None:
        person = second_radiologist(cast.north)
        qualification = person.qualifications.get()
        if who == "unverified":
            qualification.verified_at = None
        else:
            qualification.independent_practice_since = timezone.localdate() - timedelta(days=365)
        qualification.save()
    with pytest.raises(ValidationError) as refused:
        read_assign(by=cast.north[Role.COORDINATOR], read=read, radiologist=person)
    assert reason in refused.value.message_dict["radiologist"][0]
    assert ReadRequest.objects.get(pk=read.pk).status == ReadStatus.REQUESTED


def test_reassigning_moves_the_grant_and_keeps_the_first_assignment_time(cast):
    read = assigned_read(cast.north)
    first, second = cast.north[Role.RADIOLOGIST], second_radiologist(cast.north)
    assigned_at = read.assigned_at
    read = read_assign(by=cast.north[Role.COORDINATOR], read=read, radiologist=second)
    assert (read.radiologist, read.assigned_at) == (second, assigned_at)
    assert _granted(second, read) and not _granted(first, read)
    assert Notification.objects.filter(user=first, title__startswith="A read was given to").exists()
    with pytest.raises(ValidationError, match="already has this read"):
        read_assign(by=cast.north[Role.COORDINATOR], read=read, radiologist=second)
    assert list(read.timeline.values_list("action", flat=True)) == ["request", "assign", "reassign"]


def test_radiologist_takes_an_unassigned_read_but_not_an_assigned_one(cast):
    read = requested_read(cast.north)
    second = second_radiologist(cast.north)
    read_claim(by=second, read=read)
    assert ReadRequest.objects.get(pk=read.pk).radiologist == second
    with pytest.raises(ValidationError, match="Only an unassigned read can be taken; this one is assigned"):
        read_claim(by=cast.north[Role.RADIOLOGIST], read=read)
    unassigned = requested_read(cast.north, study=_studies(cast, 2)[1])
    with pytest.raises(PermissionDenied, match="is not a radiologist of North Hospital"):
        read_claim(by=cast.south[Role.RADIOLOGIST], read=unassigned)


def test_radiologist_hands_a_read_back_with_a_reason_and_the_coordinators_are_told(cast):
    read = assigned_read(cast.north)
    radiologist = cast.north[Role.RADIOLOGIST]
    with pytest.raises(ValidationError) as refused:
        read_release(by=radiologist, read=read, reason=" ")
    assert refused.value.message_dict == {"reason": ["Give a reason; the coordinators are told it."]}
    with pytest.raises(PermissionDenied):
        read_release(by=second_radiologist(cast.north), read=read, reason="Not mine")
    read = read_release(by=radiologist, read=read, reason="On leave from tomorrow.")
    assert (read.status, read.radiologist) == (ReadStatus.REQUESTED, None)
    assert not _granted(radiologist, read)
    assert Notification.objects.filter(user=cast.north[Role.COORDINATOR], title="A read was handed back: CT Chest").exists()


# --- Automatic ---------------------------------------------------------------------------------------

def test_round_robin_gives_reads_to_the_radiologists_in_turn(cast):
    _automatic(cast, ReadingPolicy.Assignment.ROUND_ROBIN)
    second = second_radiologist(cast.north, username="zz_second")
    first = cast.north[Role.RADIOLOGIST]
    reads = [requested_read(cast.north, study=study) for study in _studies(cast, 3)]
    assert [r.radiologist for r in reads] == [first, second, first]
    assert all(r.status == ReadStatus.ASSIGNED for r in reads)
    assert reads[0].timeline.last().action == "auto_assign"
    assert AuditEvent.objects.filter(action="read.auto_assign", actor_username="scheduler").count() == 3


def test_least_loaded_gives_the_read_to_whoever_has_fewest_open_reads(cast):
    busy = cast.north[Role.RADIOLOGIST]
    for study in _studies(cast, 2):
        assigned_read(cast.north, study=study)
    _automatic(cast, ReadingPolicy.Assignment.LEAST_LOADED)
    idle = second_radiologist(cast.north)
    other = PatientFactory(institution=cast.north.clinic, registered_by=cast.north[Role.CLINIC_DOCTOR])
    read = requested_read(cast.north, study=ct_study(cast.north, patient=other))
    assert read.radiologist == idle != busy


def test_automatic_assignment_respects_modalities_and_opting_out(cast):
    _automatic(cast, ReadingPolicy.Assignment.LEAST_LOADED)
    ReaderProfile.objects.create(user=cast.north[Role.RADIOLOGIST], hospital=cast.north.hospital, modalities=["MR", "US"])
    ct_reader = second_radiologist(cast.north)
    assert requested_read(cast.north).radiologist == ct_reader
    ReaderProfile.objects.create(user=ct_reader, hospital=cast.north.hospital, accepts_automatic=False)
    other = PatientFactory(institution=cast.north.clinic, registered_by=cast.north[Role.CLINIC_DOCTOR])
    read = requested_read(cast.north, study=ct_study(cast.north, patient=other))
    assert read.status == ReadStatus.REQUESTED and read.radiologist is None
    assert read.timeline.last().action == "auto_assign_none"
    assert Notification.objects.filter(user=cast.north[Role.COORDINATOR], title="Routine read request: CT Chest").exists()


def test_a_read_handed_back_goes_to_another_radiologist_by_the_rule(cast):
    _automatic(cast, ReadingPolicy.Assignment.LEAST_LOADED)
    first = cast.north[Role.RADIOLOGIST]
    second = second_radiologist(cast.north, username="zz_second")
    read = requested_read(cast.north)
    assert read.radiologist == first
    read = read_release(by=first, read=read, reason="Conflict of interest.")
    assert (read.status, read.radiologist) == (ReadStatus.ASSIGNED, second)


def _queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def test_choosing_among_the_radiologists_takes_as_many_queries_for_six_as_for_two(cast):
    read = requested_read(cast.north)
    hospital = cast.north.hospital
    counts = {}
    for total in (2, 6):
        while len(readers_of(hospital)) < total:
            second_radiologist(cast.north)
        counts[total] = (_queries(lambda: readers_of(hospital)), _queries(lambda: automatic_candidates(read)))
    assert counts[2] == counts[6]


# --- Policy and reader profiles ------------------------------------------------------------------------

def test_coordinator_or_administrator_sets_the_policy_others_cannot(cast):
    hospital = cast.north.hospital
    policy = policy_update(by=cast.north[Role.COORDINATOR], hospital=hospital, assignment="round_robin", requires_verification=True, critical_ack_minutes=5)
    assert (policy.assignment, policy.requires_verification, policy.critical_ack_minutes) == ("round_robin", True, 5)
    policy_update(by=cast.north[Role.ADMINISTRATOR], hospital=hospital, assignment="manual", requires_verification=False, critical_ack_minutes=None)
    for person in (cast.north[Role.RADIOLOGIST], cast.south[Role.COORDINATOR], cast.north[Role.CLINIC_DOCTOR]):
        with pytest.raises(PermissionDenied):
            policy_update(by=person, hospital=hospital, assignment="manual", requires_verification=False, critical_ack_minutes=None)
    with pytest.raises(ValidationError) as refused:
        policy_update(by=cast.north[Role.COORDINATOR], hospital=hospital, assignment="lottery", requires_verification=False, critical_ack_minutes=0)
    assert set(refused.value.message_dict) == {"assignment", "critical_ack_minutes"}
    assert AuditEvent.objects.filter(action="reading.policy").count() == 2


def test_coordinator_sets_what_a_radiologist_reads(cast):
    radiologist = cast.north[Role.RADIOLOGIST]
    hospital = cast.north.hospital
    profile = reader_profile_update(by=cast.north[Role.COORDINATOR], hospital=hospital, radiologist=radiologist, modalities=["ct", " MR ", "ct"], accepts_automatic=False)
    assert (profile.modalities, profile.accepts_automatic) == (["CT", "MR"], False)
    with pytest.raises(ValidationError, match="not DICOM modality codes"):
        reader_profile_update(by=cast.north[Role.COORDINATOR], hospital=hospital, radiologist=radiologist, modalities=["C/T"], accepts_automatic=True)
    with pytest.raises(PermissionDenied):
        reader_profile_update(by=cast.south[Role.COORDINATOR], hospital=hospital, radiologist=radiologist, modalities=[], accepts_automatic=True)
    with pytest.raises(PermissionDenied, match="South radiologist is not a radiologist of North Hospital"):
        reader_profile_update(by=cast.north[Role.COORDINATOR], hospital=hospital, radiologist=cast.south[Role.RADIOLOGIST], modalities=[], accepts_automatic=True)


# A radiologist of two hospitals: North Hospital and a second hospital of the same alliance, each
# with its own coordinator and its own idea of what they read.

def _second_hospital(cast):
    hospital = HospitalFactory(alliance=cast.north.hospital.alliance, name="North Second Hospital")
    Pairing.objects.create(hospital=hospital, clinic=cast.north.clinic)
    MembershipFactory(user=cast.north[Role.RADIOLOGIST], institution=hospital, role=Role.RADIOLOGIST)
    coordinator = member(hospital, Role.COORDINATOR, full_name="Second coordinator")
    return hospital, coordinator


def _ct_read_for(cast, hospital):
    other = PatientFactory(institution=cast.north.clinic, registered_by=cast.north[Role.CLINIC_DOCTOR])
    return read_request(by=cast.north[Role.CLINIC_DOCTOR], study=ct_study(cast.north, patient=other), hospital=hospital, question="Pneumonia?")


def test_a_radiologist_of_two_hospitals_gets_automatic_reads_by_each_hospitals_profile(cast):
    second, coordinator = _second_hospital(cast)
    radiologist = cast.north[Role.RADIOLOGIST]
    for hospital, by, modalities in ((cast.north.hospital, cast.north[Role.COORDINATOR], ["MR"]), (second, coordinator, ["CT"])):
        ReadingPolicy.objects.create(hospital=hospital, assignment=ReadingPolicy.Assignment.LEAST_LOADED)
        reader_profile_update(by=by, hospital=hospital, radiologist=radiologist, modalities=modalities, accepts_automatic=True)
    assert _ct_read_for(cast, second).radiologist == radiologist
    north_read = _ct_read_for(cast, cast.north.hospital)
    assert north_read.radiologist is None and north_read.timeline.last().action == "auto_assign_none"


def test_each_hospitals_coordinator_sets_what_the_radiologist_reads_there_only(cast):
    second, coordinator = _second_hospital(cast)
    radiologist = cast.north[Role.RADIOLOGIST]
    reader_profile_update(by=cast.north[Role.COORDINATOR], hospital=cast.north.hospital, radiologist=radiologist, modalities=["MR"], accepts_automatic=True)
    reader_profile_update(by=coordinator, hospital=second, radiologist=radiologist, modalities=["CT", "DX"], accepts_automatic=False)
    profiles = {p.hospital: (p.modalities, p.accepts_automatic) for p in radiologist.reader_profiles.all()}
    assert profiles == {cast.north.hospital: (["MR"], True), second: (["CT", "DX"], False)}
    for by, hospital in ((coordinator, cast.north.hospital), (cast.north[Role.COORDINATOR], second)):
        with pytest.raises(PermissionDenied):
            reader_profile_update(by=by, hospital=hospital, radiologist=radiologist, modalities=[], accepts_automatic=True)
    assert AuditEvent.objects.get(action="reading.reader_profile", actor=coordinator).detail["hospital"] == str(second.pk)


def test_reader_refusal_names_the_reason(cast):
    assert reader_refusal(cast.north[Role.RADIOLOGIST], cast.north.hospital) == ""
    nobody = member(cast.north.hospital, Role.RADIOLOGIST, full_name="New Radiologist")
    assert reader_refusal(nobody, cast.north.hospital) == "New Radiologist has no verified qualification yet; an administrator must verify their licence first."
    assert reader_refusal(cast.north[Role.RADIOLOGIST], cast.south.hospital) == "North radiologist is not a radiologist of South Hospital."
