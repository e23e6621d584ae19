"""De-identified teaching exports: the PS3.15 Annex E basic profile checked by opening the exported
files with pydicom, who may export, the Celery task, progress, download and audit."""
from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta

import pydicom
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from imaging.dicom.deidentify import action_for
from imaging.models import Instance, Study, StudyExport
from imaging.services.exports import export_request, export_run
from imaging.services.ingest import instance_ingest
from imaging.tasks import study_export_run
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from telemed.patients.models import PatientGrant
from tests.imaging.corpus import BUNDLED, ct_series

pytestmark = pytest.mark.django_db


def _with_identity_traps(data: bytes, *, references: str | None = None, burned_in: str | None = "NO") -> bytes:
    """A slice that also carries what the profile must take out: private tags, people, places,
    a reference to another slice (whose UID must be replaced consistently), an overlay."""
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.InstitutionName, ds.ReferringPhysicianName, ds.OperatorsName = "青山镇卫生院", "Li^Jianhua", "Zhao^Operator"
    ds.AccessionNumber, ds.StudyID, ds.DeviceSerialNumber = "ACC-778", "S-12", "CT-SN-4411"
    ds.PatientAddress, ds.OtherPatientIDs = "青山镇1号", "110105195603140021"
    block = ds.private_block(0x0029, "SCANNER SECRET", create=True)
    block.add_new(0x01, "LO", "patient: 王秀英")
    if references:
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ds.SOPClassUID, references
        ds.ReferencedImageSequence = Sequence([ref])
    if burned_in is None:
        del ds.BurnedInAnnotation
    else:
        ds.BurnedInAnnotation = burned_in
    ds.add_new(0x60000010, "US", ds.Rows)  # Overlay Rows
    ds.add_new(0x60000011, "US", ds.Columns)  # Overlay Columns
    ds.add_new(0x60003000, "OW", b"\0" * (ds.Rows * ds.Columns // 8))  # Overlay Data
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture
def study(cast):
    """A 4-slice CT of the north clinic's patient: slice 2 refers to slice 1, slice 4 has text burned in."""
    files = ct_series(slices=4, patient_id=cast.north.patient.mrn)
    first_uid = pydicom.dcmread(io.BytesIO(files[0])).SOPInstanceUID
    prepared = [
        _with_identity_traps(files[0]),
        _with_identity_traps(files[1], references=first_uid),
        _with_identity_traps(files[2]),
        _with_identity_traps(files[3], burned_in="YES"),
    ]
    for data in prepared:
        instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    return Study.objects.get()


def _exported(export: StudyExport) -> tuple[list[pydicom.Dataset], str]:
    with default_storage.open(export.file.name, "rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as archive:
        names = sorted(archive.namelist())
        datasets = [pydicom.dcmread(io.BytesIO(archive.read(n))) for n in names if n.endswith(".dcm")]
        readme = archive.read(f"{export.pseudonym}/README.txt").decode()
    return datasets, readme


def _run(cast, study, user=None) -> StudyExport:
    export = export_request(by=user or cast.north[Role.CLINIC_DOCTOR], study=study)
    return export_run(export_id=export.pk)


def test_exported_files_follow_the_basic_profile(cast, study):
    originals = {i.sop_instance_uid: pydicom.dcmread(default_storage.open(i.file.name)) for i in Instance.objects.all()}
    export = _run(cast, study)
    assert export.status == StudyExport.Status.DONE and export.size > 0
    datasets, readme = _exported(export)
    assert len(datasets) == 3  # the slice with burned-in text is left out
    by_number = {int(ds.InstanceNumber): ds for ds in datasets}
    for ds in datasets:
        assert ds.PatientName == export.pseudonym and ds.PatientID == export.pseudonym
        assert not ds.get("PatientBirthDate") and not ds.get("PatientSex") and "PatientAddress" not in ds and "OtherPatientIDs" not in ds
        assert ds.InstitutionName == "ANONYMIZED" and ds.DeviceSerialNumber == "ANONYMIZED"  # X/Z/D: a dummy keeps any IOD valid
        assert not ds.get("ReferringPhysicianName") and not ds.get("AccessionNumber") and not ds.get("StudyID")
        assert not ds.get("StudyDate") and "StudyDescription" not in ds
        text = str(ds)
        for trap in ("青山镇卫生院", "Li^Jianhua", "Zhao^Operator", "ACC-778", "CT-SN-4411", "青山镇1号", "110105195603140021", "SCANNER SECRET"):
            assert trap not in text
        assert not [e for e in ds.iterall() if e.tag.is_private], "private tags must be gone"
        assert (0x6000, 0x3000) not in ds, "overlay data may carry burned-in text"
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "王秀英" not in str(ds) and cast.north.patient.mrn not in str(ds)
    old = {int(ds.InstanceNumber): ds for ds in originals.values()}
    for number, ds in by_number.items():
        assert ds.PixelData == old[number].PixelData
        assert ds.SOPInstanceUID != old[number].SOPInstanceUID and ds.SOPClassUID == old[number].SOPClassUID
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1 and datasets[0].StudyInstanceUID != study.study_instance_uid
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1 and len({ds.FrameOfReferenceUID for ds in datasets}) == 1
    reference = by_number[2].ReferencedImageSequence[0]
    assert reference.ReferencedSOPInstanceUID == by_number[1].SOPInstanceUID  # the same new UID everywhere
    assert reference.ReferencedSOPClassUID == old[1].SOPClassUID
    assert "Left out: 1 images with text burned into the pixels" in readme and export.pseudonym in readme
    assert export.warnings == [{"code": "burned_in", "count": 1}]


def test_two_exports_of_one_study_share_no_uid(cast, study):
    first, _readme = _exported(_run(cast, study))
    second, _readme = _exported(_run(cast, study))
    assert {ds.StudyInstanceUID for ds in first}.isdisjoint({ds.StudyInstanceUID for ds in second})
    assert {ds.SOPInstanceUID for ds in first}.isdisjoint({ds.SOPInstanceUID for ds in second})


def test_every_bundled_image_that_is_stored_can_be_exported(cast):
    """pydicom's own files: other modalities, compressed syntaxes, sequences, character sets."""
    stored = 0
    for path in [p for p in BUNDLED if p.name in ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "US1_UNCR.dcm", "SC_rgb.dcm", "rtplan.dcm", "chrH31.dcm")]:
        result = instance_ingest(stream=io.BytesIO(path.read_bytes()), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
        stored += result.ok
    for study in Study.objects.all():
        export = _run(cast, study)
        assert export.status == StudyExport.Status.DONE, (study.description, export.error)
        for ds in _exported(export)[0]:
            assert ds.PatientIdentityRemoved == "YES" and not [e for e in ds.iterall() if e.tag.is_private]
    assert stored >= 3


def test_a_study_whose_every_image_has_burned_in_text_is_not_exported(cast, client_for):
    data = _with_identity_traps(ct_series(slices=1)[0], burned_in="YES")
    instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    export = _run(cast, Study.objects.get())
    assert export.status == StudyExport.Status.FAILED and export.error == "all_burned_in" and not export.file
    assert AuditEvent.objects.filter(action="imaging.export_create", outcome="failed").exists()
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/exports/{export.pk}/").content.decode()
    assert "burned into its pixels" in page


def test_an_image_that_does_not_say_whether_text_is_burned_in_is_exported_with_a_warning(cast):
    data = ct_series(slices=1)[0]
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.Modality = "US"
    del ds.BurnedInAnnotation
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    instance_ingest(stream=io.BytesIO(buffer.getvalue()), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    export = _run(cast, Study.objects.get())
    assert export.status == StudyExport.Status.DONE and export.warnings == [{"code": "burned_in_unknown", "count": 1}]


def test_the_request_queues_a_task_after_commit_and_the_task_builds_the_zip_once(cast, study, django_capture_on_commit_callbacks, client_for):
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    with django_capture_on_commit_callbacks() as callbacks:
        response = doctor.post(f"/imaging/studies/{study.pk}/export/")
    assert response.status_code == 302 and len(callbacks) == 1
    export = StudyExport.objects.get()
    assert response["Location"] == f"/imaging/exports/{export.pk}/"
    progress = doctor.get(f"/imaging/exports/{export.pk}/progress/").json()
    assert (progress["status"], progress["total"], progress["download"]) == ("queued", 4, None)
    assert study_export_run(str(export.pk)) == "done"
    first = StudyExport.objects.get().file.name
    assert study_export_run(str(export.pk)) == "done" and StudyExport.objects.get().file.name == first  # run again: untouched
    progress = doctor.get(f"/imaging/exports/{export.pk}/progress/").json()
    assert progress["finished"] and progress["percent"] == 100 and progress["download"] == f"/imaging/exports/{export.pk}/download/"
    assert "1 image was left out" in progress["warnings"][0]
    page = doctor.get(f"/imaging/exports/{export.pk}/").content.decode()
    assert "<progress" in page and export.pseudonym in page


def test_an_export_lost_with_its_worker_is_taken_up_again_but_a_live_one_is_not(cast, study):
    export = export_request(by=cast.north[Role.CLINIC_DOCTOR], study=study)
    StudyExport.objects.filter(pk=export.pk).update(status="running", heartbeat_at=timezone.now())
    assert export_run(export_id=export.pk).status == "running"
    StudyExport.objects.filter(pk=export.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    assert export_run(export_id=export.pk).status == "done"


def test_the_requester_downloads_the_zip_and_nobody_else_can(cast, study, client_for):
    export = _run(cast, study)
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = doctor.get(f"/imaging/exports/{export.pk}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f'filename="{export.pseudonym}.zip"' in response["Content-Disposition"]
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).testzip() is None
    colleague = cast.north.clinic.memberships.model.objects.create(user=cast.doc_n2, institution=cast.north.clinic, role=Role.CLINIC_DOCTOR).user
    for other in (colleague, cast.north[Role.ADMINISTRATOR], cast.north[Role.RADIOLOGIST]):
        client = client_for(other)
        for tail in ("", "progress/", "download/"):
            assert client.get(f"/imaging/exports/{export.pk}/{tail}").status_code == 404
    actions = list(AuditEvent.objects.filter(action__startswith="imaging.export").order_by("seq").values_list("action", "patient_id"))
    assert actions == [(a, cast.north.patient.pk) for a in ("imaging.export_request", "imaging.export_create", "imaging.export_download")]


def _grant(cast, user, patient):
    return PatientGrant.objects.create(patient=patient, user=user, reason="read", source_id=uuid.uuid4(), granted_by=cast.north[Role.CLINIC_DOCTOR])


def test_who_may_export(cast, study, client_for):
    """The clinic's doctors and radiologists who can see the study; not a specialist with a grant,
    not the sibling clinic, not an administrator."""
    _grant(cast, cast.north[Role.RADIOLOGIST], cast.north.patient)
    _grant(cast, cast.north[Role.SPECIALIST], cast.north.patient)
    assert client_for(cast.north[Role.RADIOLOGIST]).post(f"/imaging/studies/{study.pk}/export/").status_code == 302
    for user in (cast.north[Role.SPECIALIST], cast.doc_n2, cast.north[Role.ADMINISTRATOR], cast.south[Role.RADIOLOGIST]):
        assert client_for(user).post(f"/imaging/studies/{study.pk}/export/").status_code == 404
    assert StudyExport.objects.count() == 1
    detail = client_for(cast.north[Role.SPECIALIST]).get(f"/imaging/studies/{study.pk}/").content.decode()
    assert "Export a de-identified copy" not in detail
    assert "Export a de-identified copy" in client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{study.pk}/").content.decode()


def test_a_radiologist_loses_the_export_with_the_grant(cast, study, client_for):
    grant = _grant(cast, cast.north[Role.RADIOLOGIST], cast.north.patient)
    export = _run(cast, study, user=cast.north[Role.RADIOLOGIST])
    radiologist = client_for(cast.north[Role.RADIOLOGIST])
    assert radiologist.get(f"/imaging/exports/{export.pk}/download/").status_code == 200
    grant.revoked_at = timezone.now()
    grant.save()
    assert radiologist.get(f"/imaging/exports/{export.pk}/download/").status_code == 404


def test_the_profile_table_is_the_standards(cast):
    """Spot checks against PS3.15 Table E.1-1."""
    assert action_for(0x00100010) == "Z"  # Patient's Name
    assert action_for(0x00100030) == "Z"  # Patient's Birth Date
    assert action_for(0x0020000D) == "U" and action_for(0x00081155) == "U"  # Study Instance UID, Referenced SOP Instance UID
    assert action_for(0x00080080) == "D"  # Institution Name: X/Z/D, kept valid with a dummy
    assert action_for(0x00081140) == "U"  # Referenced Image Sequence: X/Z/U*, its UIDs replaced
    assert action_for(0x60023000) == "X" and action_for(0x50000010) == "X"  # overlays and curves in any group
    assert action_for(0x00080016) is None and action_for(0x7FE00010) is None  # SOP Class UID and pixel data are kept
