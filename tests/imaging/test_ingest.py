"""The ingest service: every bundled file, a CT series, duplicates, conflicts, broken files."""
from __future__ import annotations

import io
import tracemalloc

import pydicom
import pytest
from django.core.files.storage import default_storage
from pydicom.uid import generate_uid

from imaging.models import Instance, RejectedInstance, Series, Study
from imaging.dicom.transfer import bulk_value
from imaging.services.ingest import UID_TAKEN_REASON, Status, instance_ingest
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import BUNDLED, MALFORMED_REASONS, UNSUPPORTED_SYNTAX, changed, ct_series, deflated_bomb, malformed, written, zeroed_preamble
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _ingest(cast, data: bytes, *, side="north"):
    clinic_side = getattr(cast, side)
    return instance_ingest(stream=io.BytesIO(data), institution=clinic_side.clinic, by=clinic_side[Role.CLINIC_DOCTOR], source="test")


def _stored_files() -> set[str]:
    return {i.file.name for i in Instance.objects.all()} | {r.file.name for r in RejectedInstance.objects.all()}


def test_ct_series_is_stored_byte_for_byte_and_indexed_with_its_chinese_name(cast):
    PatientFactory(institution=cast.north.clinic, mrn="MRN-CT-1", registered_by=cast.north[Role.CLINIC_DOCTOR])
    files = ct_series(slices=5)
    results = [_ingest(cast, data) for data in files]
    assert [r.status for r in results] == [Status.STORED] * 5
    study = Study.objects.get()
    assert study.dicom_patient_name == "王^秀英" and study.description == "胸部CT平扫"
    assert study.patient.mrn == "MRN-CT-1"
    assert Series.objects.get().instances.count() == 5
    for data, result in zip(files, results):
        with default_storage.open(result.instance.file.name) as handle:
            assert handle.read() == zeroed_preamble(data)
    assert AuditEvent.objects.filter(action="imaging.store", patient_id=study.patient_id).count() == 5


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_every_bundled_pydicom_file_is_stored_or_refused_with_a_reason(cast, path):
    data = path.read_bytes()
    result = _ingest(cast, data)
    if result.status == Status.STORED:
        with default_storage.open(result.instance.file.name) as handle:
            assert handle.read() == zeroed_preamble(data)
    else:
        assert result.status == Status.INVALID and result.reason
        assert not Instance.objects.exists()
    assert len(_stored_files()) == Instance.objects.count() + RejectedInstance.objects.count()


def test_sending_the_same_instance_again_is_acknowledged_as_already_stored(cast):
    data = ct_series(slices=1)[0]
    first, again = _ingest(cast, data), _ingest(cast, data)
    assert (first.status, again.status) == (Status.STORED, Status.DUPLICATE)
    assert Instance.objects.count() == 1
    assert len(default_storage.listdir(f"dicom/{cast.north.clinic.pk}")[1]) == 1


def test_same_uid_with_other_content_is_refused_and_kept_for_review(cast):
    data = ct_series(slices=1)[0]
    _ingest(cast, data)
    changed = pydicom.dcmread(io.BytesIO(data))
    changed.PatientName = "Someone^Else"
    result = _ingest(cast, written(changed))
    assert result.status == Status.CONFLICT and "different content" in result.reason
    rejected = RejectedInstance.objects.get()
    assert default_storage.exists(rejected.file.name)
    assert Instance.objects.count() == 1


@pytest.mark.parametrize(("name", "reason"), MALFORMED_REASONS.items(), ids=list(MALFORMED_REASONS))
def test_malformed_file_gets_a_precise_reason_and_leaves_nothing_behind(cast, name, reason):
    result = _ingest(cast, malformed()[name])
    assert result.status == (Status.UNSUPPORTED if name in UNSUPPORTED_SYNTAX else Status.INVALID)
    assert reason in result.reason and result.reason
    assert not Instance.objects.exists() and not Study.objects.exists()
    assert not default_storage.exists(f"dicom/{cast.north.clinic.pk}") or not default_storage.listdir(f"dicom/{cast.north.clinic.pk}")[1]


def test_study_of_another_institution_is_not_extended(cast):
    files = ct_series(slices=2)
    assert _ingest(cast, files[0]).status == Status.STORED
    result = _ingest(cast, files[1], side="south")
    assert result.status == Status.INVALID and result.reason == UID_TAKEN_REASON
    assert Instance.objects.count() == 1


def test_a_taken_uid_gets_the_same_answer_whoever_holds_it_and_whichever_uid_it_is(cast):
    """Another alliance's clinic or a sibling clinic of the sender's own alliance; the study's,
    a series' or an instance's UID: the sender learns that its UIDs are taken, never whose."""
    south_file, sibling_file = ct_series(slices=1)[0], ct_series(slices=1)[0]
    assert _ingest(cast, south_file, side="south").status == Status.STORED
    sibling = instance_ingest(stream=io.BytesIO(sibling_file), institution=cast.north.clinic2, by=cast.doc_n2, source="test")
    assert sibling.status == Status.STORED
    answers = []
    for taken in (south_file, sibling_file):
        answers += [
            _ingest(cast, taken),  # the instance's own UID, same bytes
            _ingest(cast, changed(taken, SOPInstanceUID=generate_uid())),  # the study's
            _ingest(cast, changed(taken, SOPInstanceUID=generate_uid(), StudyInstanceUID=generate_uid())),  # the series'
        ]
    assert {(a.status, a.reason, a.instance) for a in answers} == {(Status.INVALID, UID_TAKEN_REASON, None)}
    assert UID_TAKEN_REASON == "its UIDs are used by a study you cannot add to: send new UIDs"
    assert not Instance.objects.filter(series__study__institution=cast.north.clinic).exists() and not RejectedInstance.objects.exists()
    assert not default_storage.exists(f"dicom/{cast.north.clinic.pk}") or not default_storage.listdir(f"dicom/{cast.north.clinic.pk}")[1]


def test_another_institutions_instance_sent_again_is_refused_not_acknowledged(cast):
    data = ct_series(slices=1)[0]
    assert _ingest(cast, data).status == Status.STORED
    theirs = _ingest(cast, data, side="south")
    assert theirs.status == Status.INVALID and theirs.reason == UID_TAKEN_REASON
    assert theirs.instance is None
    assert not default_storage.exists(f"dicom/{cast.south.clinic.pk}") or not default_storage.listdir(f"dicom/{cast.south.clinic.pk}")[1]
    changed = pydicom.dcmread(io.BytesIO(data))
    changed.PatientName = "Someone^Else"
    assert _ingest(cast, written(changed), side="south").status == Status.INVALID  # nor kept for review
    assert not RejectedInstance.objects.exists()
    assert _ingest(cast, data).status == Status.DUPLICATE  # the sender's own copy still is
    assert Instance.objects.count() == 1


def test_dates_and_times_that_are_not_dicom_values_are_indexed_empty(cast):
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    dataset.StudyDate, dataset.StudyTime, dataset.PatientBirthDate = "notadate", "25", "20230231"
    study = _ingest(cast, written(dataset)).instance.series.study
    assert (study.study_date, study.study_time, study.patient_birth_date) == ("", "", "")
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    dataset.StudyDate, dataset.StudyTime, dataset.PatientBirthDate = "20240229", "093015.123456", "19560101"
    study = _ingest(cast, written(dataset)).instance.series.study
    assert (study.study_date, study.study_time, study.patient_birth_date) == ("20240229", "093015.123456", "19560101")


def test_unmatched_study_waits_for_reconciliation(cast):
    _ingest(cast, ct_series(slices=1, patient_id="UNKNOWN-9")[0])
    assert Study.objects.get().patient is None


def test_oversized_instance_is_refused(cast, settings):
    settings.DICOM_MAX_INSTANCE_BYTES = 1000
    result = _ingest(cast, ct_series(slices=1)[0])
    assert result.status == Status.INVALID and "larger than" in result.reason


def test_a_deflated_instance_larger_than_allowed_once_inflated_is_refused_and_leaves_nothing(cast, settings):
    from tests.imaging.test_header_structure import _deflated_with_zeros

    settings.DICOM_MAX_INSTANCE_BYTES = 2 * 1024 * 1024
    result = _ingest(cast, _deflated_with_zeros(8))
    assert result.status == Status.INVALID and "inflates to more than 2 MB" in result.reason
    assert not Instance.objects.exists() and not _stored_files()


def test_a_deflated_bomb_within_the_instance_limit_is_stored_without_holding_its_pixel_data_in_memory(cast):
    """128 MB of zero pixels in 130 kB: its header was read after inflating all of it in memory."""
    bomb = deflated_bomb(128)
    tracemalloc.start()
    try:
        result = _ingest(cast, bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == Status.STORED, result.reason
    assert result.instance.number_of_frames == 128 * 1024 * 1024 // (64 * 64 * 2)
    assert peak < 16 * 1024 * 1024, f"{peak / 1024 / 1024:.0f} MB"


def test_a_deflated_header_larger_than_may_be_held_in_memory_is_refused_and_leaves_nothing(cast, settings):
    from tests.imaging.test_header_structure import _deflated_with_zeros

    settings.DICOM_MAX_INFLATED_HEADER_BYTES = 4 * 1024 * 1024
    result = _ingest(cast, _deflated_with_zeros(8))  # 8 MB in a private element before the pixel data
    assert result.status == Status.INVALID and result.reason == "the deflated header (before the pixel data) exceeds 4 MB"
    assert not Instance.objects.exists() and not _stored_files()


def test_a_number_that_is_not_finite_is_stored_as_sent_and_indexed_as_an_empty_value(cast):
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    dataset.SliceLocation = "1e999"  # a DS an infinity
    dataset.add_new(0x00189087, "FD", float("nan"))  # Diffusion b-value
    sent = written(dataset)
    result = _ingest(cast, sent)
    assert result.status == Status.STORED, result.reason
    instance = Instance.objects.get()
    assert instance.metadata["00201041"] == {"vr": "DS", "Value": [None]} and instance.metadata["00189087"] == {"vr": "FD", "Value": [None]}
    assert default_storage.open(instance.file.name).read() == zeroed_preamble(sent)


def test_a_long_text_is_left_out_of_the_indexed_header_unread(cast):
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    dataset.add_new(0x00204000, "LT", "x" * 10_000)  # Image Comments
    dataset.add_new(0x00080119, "UT", "A" * 3_000_000)  # Long Code Value, longer than any header needs
    result = _ingest(cast, written(dataset))
    assert result.status == Status.STORED, result.reason
    metadata = Instance.objects.get().metadata
    assert metadata["00080119"] == {"vr": "UT", "BulkDataURI": ""} and len(metadata["00204000"]["Value"][0]) == 10_000
    with default_storage.open(Instance.objects.get().file.name, "rb") as stored:
        assert bulk_value(stored, "00080119") == b"A" * 3_000_000  # where the metadata's BulkDataURI leads
