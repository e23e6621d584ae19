"""Files sent together (one STOW-RS request) go through the ingest service in one transaction:
each is judged by the same rules, in the order sent, as if it had come alone.

Who sends: the north clinic doctor, for the north clinic; the south clinic (another alliance)
owns a study whose UID the north tries to reuse.
"""
from __future__ import annotations

import io

import pydicom
import pytest
from django.core.files.storage import default_storage

from imaging.models import Instance, RejectedInstance, StorageUsage, Study
from imaging.services.ingest import UID_TAKEN_REASON, Status, instance_ingest, instances_ingest
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import changed, ct_series, malformed
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _together(cast, files: list[bytes], *, study_uid: str | None = None):
    return instances_ingest(
        streams=[io.BytesIO(f) for f in files], institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test", study_uid=study_uid
    )


def _uid(data: bytes, keyword: str = "SOPInstanceUID") -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).get(keyword))


def _written(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _files_kept(cast) -> set[str]:
    folder = f"dicom/{cast.north.clinic.pk}"
    return set(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else set()


def test_good_and_bad_files_mixed_land_exactly_the_good_ones_with_one_audit_event_per_study(cast):
    PatientFactory(institution=cast.north.clinic, mrn="MRN-CT-1", registered_by=cast.north[Role.CLINIC_DOCTOR])
    first, second = ct_series(slices=3), ct_series(slices=2, patient_id="MRN-OTHER")
    broken = malformed()
    sent = [first[0], broken["not dicom"], second[0], first[1], broken["bad uid"], first[2], second[1]]
    results = _together(cast, sent)
    assert [r.status for r in results] == [Status.STORED, Status.INVALID, Status.STORED, Status.STORED, Status.INVALID, Status.STORED, Status.STORED]
    assert "no DICOM file header" in results[1].reason and "is not a valid UID" in results[4].reason
    good = first + second
    assert sorted(Instance.objects.values_list("sop_instance_uid", flat=True)) == sorted(map(_uid, good))
    assert {i.file.name.rsplit("/", 1)[1] for i in Instance.objects.all()} == _files_kept(cast)
    events = {e.detail["study"]: e for e in AuditEvent.objects.filter(action="imaging.store")}
    assert set(events) == {_uid(first[0], "StudyInstanceUID"), _uid(second[0], "StudyInstanceUID")}
    assert events[_uid(first[0], "StudyInstanceUID")].detail["instances"] == [_uid(f) for f in first]
    matched = Study.objects.get(study_instance_uid=_uid(first[0], "StudyInstanceUID"))
    assert matched.patient is not None and events[matched.study_instance_uid].patient_id == matched.patient_id
    assert events[_uid(second[0], "StudyInstanceUID")].patient_id is None  # unmatched: waits for reconciliation
    assert StorageUsage.objects.get(institution=cast.north.clinic).instances == 5


def test_the_same_file_twice_in_one_request_is_stored_once_and_the_copy_acknowledged(cast):
    data = ct_series(slices=1)[0]
    stored, again = _together(cast, [data, data])
    assert (stored.status, again.status) == (Status.STORED, Status.DUPLICATE)
    assert again.instance == stored.instance and again.ok
    assert Instance.objects.count() == 1 and len(_files_kept(cast)) == 1
    assert StorageUsage.objects.get(institution=cast.north.clinic).instances == 1


def test_the_same_uid_with_other_content_in_one_request_is_kept_for_review(cast):
    data = ct_series(slices=1)[0]
    stored, conflict = _together(cast, [data, changed(data, PatientName="Someone^Else")])
    assert (stored.status, conflict.status) == (Status.STORED, Status.CONFLICT) and "different content" in conflict.reason
    rejected = RejectedInstance.objects.get()
    assert rejected.sop_instance_uid == _uid(data) and default_storage.exists(rejected.file.name)
    assert Instance.objects.count() == 1 and len(_files_kept(cast)) == 2


def test_the_same_conflicting_file_sent_twice_is_kept_for_review_once(cast):
    data = ct_series(slices=1)[0]
    other = changed(data, PatientName="Someone^Else")
    results = _together(cast, [data, other, other])
    assert [r.status for r in results] == [Status.STORED, Status.CONFLICT, Status.CONFLICT]
    assert results[2].reason == results[1].reason
    assert [r.status for r in _together(cast, [other])] == [Status.CONFLICT]  # and in a later request
    assert RejectedInstance.objects.count() == 1 and len(_files_kept(cast)) == 2


def test_a_request_after_an_earlier_one_finds_its_study_series_and_instances(cast):
    files = ct_series(slices=3)
    instance_ingest(stream=io.BytesIO(files[0]), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    results = _together(cast, files)
    assert [r.status for r in results] == [Status.DUPLICATE, Status.STORED, Status.STORED]
    assert Study.objects.count() == 1 and Instance.objects.count() == 3
    assert results[0].instance.series.study.study_instance_uid == _uid(files[0], "StudyInstanceUID")


def test_a_series_reused_under_another_study_in_the_same_request_is_refused_alone(cast):
    first = ct_series(slices=2)
    stray = changed(ct_series(slices=1)[0], SeriesInstanceUID=_uid(first[0], "SeriesInstanceUID"))
    results = _together(cast, [first[0], stray, first[1]])
    assert [r.status for r in results] == [Status.STORED, Status.INVALID, Status.STORED]
    assert results[1].reason == "this Series Instance UID belongs to another study"
    assert Instance.objects.count() == 2 and len(_files_kept(cast)) == 2


def test_a_study_uid_of_another_institution_is_refused_and_the_rest_lands(cast):
    theirs = ct_series(slices=1)[0]
    instance_ingest(stream=io.BytesIO(theirs), institution=cast.south.clinic, by=cast.south[Role.CLINIC_DOCTOR], source="test")
    borrowed = changed(ct_series(slices=1)[0], StudyInstanceUID=_uid(theirs, "StudyInstanceUID"))
    ours = ct_series(slices=1)[0]
    results = _together(cast, [borrowed, ours])
    assert [r.status for r in results] == [Status.INVALID, Status.STORED]
    assert results[0].reason == UID_TAKEN_REASON
    assert Instance.objects.filter(series__study__institution=cast.north.clinic).count() == 1


def test_files_of_another_study_than_the_one_named_are_refused(cast):
    files, other = ct_series(slices=2), ct_series(slices=1)[0]
    results = _together(cast, [files[0], other, files[1]], study_uid=_uid(files[0], "StudyInstanceUID"))
    assert [r.status for r in results] == [Status.STORED, Status.WRONG_STUDY, Status.STORED]
    assert results[1].sop_instance_uid == _uid(other) and len(_files_kept(cast)) == 2


def test_the_quota_takes_the_files_in_the_order_sent_until_it_is_full(cast):
    files = ct_series(slices=3)
    cast.north.clinic.dicom_quota_bytes = len(files[0]) + len(files[1]) + 100  # room for two
    cast.north.clinic.save()
    results = _together(cast, files)
    assert [r.status for r in results] == [Status.STORED, Status.STORED, Status.OVER_QUOTA]
    assert "storage quota full" in results[2].reason
    assert Instance.objects.count() == 2 and len(_files_kept(cast)) == 2
    assert StorageUsage.objects.get(institution=cast.north.clinic).instances == 2
    assert [r.status for r in _together(cast, files)] == [Status.DUPLICATE, Status.DUPLICATE, Status.OVER_QUOTA]


def test_a_value_the_database_cannot_hold_refuses_that_file_alone(cast):
    good = ct_series(slices=2)
    bad = changed(ct_series(slices=1)[0], StudyDescription="CT\x00chest")
    results = _together(cast, [good[0], bad, good[1]])
    assert [r.status for r in results] == [Status.STORED, Status.INVALID, Status.STORED]
    assert results[1].reason.startswith("a value cannot be indexed") and "NUL" in results[1].reason
    assert Instance.objects.count() == 2 and len(_files_kept(cast)) == 2
    assert AuditEvent.objects.filter(action="imaging.store").count() == 2  # one a file, as each was indexed alone


@pytest.mark.parametrize(("keyword", "vr", "value", "reason"), [
    ("NumberOfFrames", "IS", -3, "NumberOfFrames -3 is out of range (1 to 2147483647)"),
    ("NumberOfFrames", "IS", 0, "NumberOfFrames 0 is out of range"),
    ("SeriesNumber", "IS", 99999999999, "SeriesNumber 99999999999 is out of range (-2147483648 to 2147483647)"),
    ("InstanceNumber", "IS", -(2**31) - 1, "InstanceNumber -2147483649 is out of range"),
    ("Rows", "UL", 2**31, "Rows 2147483648 is out of range (0 to 2147483647)"),  # a US cannot say it: a wrong VR can
    ("Columns", "SS", -1, "Columns -1 is out of range"),
])
def test_a_number_the_index_cannot_hold_is_refused_before_indexing_and_the_rest_land_together(cast, keyword, vr, value, reason):
    good = ct_series(slices=2)
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    dataset.add_new(keyword, vr, value)
    bad = _written(dataset)
    results = _together(cast, [good[0], bad, good[1]])
    assert [r.status for r in results] == [Status.STORED, Status.INVALID, Status.STORED]
    assert results[1].reason == reason or results[1].reason.startswith(reason)
    assert Instance.objects.count() == 2 and len(_files_kept(cast)) == 2
    assert AuditEvent.objects.filter(action="imaging.store").count() == 1  # indexed together: no database error


def test_the_stored_instances_name_their_study_without_a_query_per_file(cast, django_assert_num_queries):
    """STOW-RS answers with each instance's study: the rows already hold it."""
    files = ct_series(slices=4)
    _together(cast, files[:1])
    results = _together(cast, files[1:])
    with django_assert_num_queries(0):
        assert {r.instance.series.study.study_instance_uid for r in results} == {_uid(files[0], "StudyInstanceUID")}
