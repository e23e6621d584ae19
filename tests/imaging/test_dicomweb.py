"""DICOMweb end to end: dicomweb-client (and plain requests for byte checks) against live_server.

Who asks: the north clinic doctor with a dicom:read + dicom:write token stores and reads; the
south clinic doctor (another alliance) must see nothing of it; an api:read-only token is refused.
"""
from __future__ import annotations

import io
import uuid
from datetime import date, timedelta

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.core.files.storage import default_storage
from django.utils import timezone

from imaging.models import Instance, RejectedInstance, Study
from imaging.services.ingest import UID_TAKEN_REASON
from telemed.accounts.models import Role
from telemed.accounts.services.tokens import token_create
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import BUNDLED, UNSUPPORTED_SYNTAX, changed, comment_holds, ct_series, malformed, zeroed_preamble

pytestmark = pytest.mark.django_db(transaction=True)

BUNDLED_NAMES = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm")


def _token(user, scopes=("dicom:read", "dicom:write")) -> str:
    return token_create(owner=user, by=user, name="pacs script", scopes=list(scopes), expires_at=timezone.now() + timedelta(days=30))[1]


def _multipart(parts: list[bytes], boundary: str = "b0undary") -> tuple[bytes, str]:
    body = b"".join(b"--%s\r\nContent-Type: application/dicom\r\n\r\n%s\r\n" % (boundary.encode(), part) for part in parts)
    return body + b"--%s--\r\n" % boundary.encode(), f'multipart/related; type="application/dicom"; boundary={boundary}'


def _parts(response: requests.Response) -> list[bytes]:
    boundary = response.headers["Content-Type"].split("boundary=")[1].strip('"').encode()
    chunks = response.content.split(b"--" + boundary)[1:-1]
    return [chunk.split(b"\r\n\r\n", 1)[1][:-2] for chunk in chunks]


class Archive:
    """A DICOMweb endpoint seen by one token: the real client and raw HTTP."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {token}"}
        self.client = DICOMwebClient(url=base, headers=self.headers)

    def stow(self, parts: list[bytes], path: str = "/studies", **kwargs) -> requests.Response:
        body, content_type = _multipart(parts)
        return requests.post(self.base + path, data=body, headers={**self.headers, "Content-Type": content_type}, timeout=30, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers, timeout=30, **kwargs)


@pytest.fixture
def north(live_server, cast):
    return Archive(live_server.url + "/dicomweb", _token(cast.north[Role.CLINIC_DOCTOR]))


@pytest.fixture
def south(live_server, cast):
    return Archive(live_server.url + "/dicomweb", _token(cast.south[Role.CLINIC_DOCTOR]))


def _uids(data: bytes) -> tuple[str, str, str]:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def test_stored_ct_series_is_found_and_retrieved_byte_for_byte(north, cast):
    files = ct_series(slices=5)
    response = north.stow(files)
    assert response.status_code == 200, response.text
    stored = response.json()
    assert len(stored["00081199"]["Value"]) == 5 and "00081198" not in stored
    study_uid, series_uid, _sop = _uids(files[0])
    assert stored["00081190"]["Value"] == [f"{north.base}/studies/{study_uid}"]

    found = north.client.search_for_studies(search_filters={"PatientID": "MRN-CT-1"})
    assert [s["0020000D"]["Value"][0] for s in found] == [study_uid]
    assert found[0]["00201208"]["Value"] == [5] and found[0]["00080061"]["Value"] == ["CT"]
    today = date.today().strftime("%Y%m%d")
    assert len(north.client.search_for_studies(search_filters={"StudyDate": f"{today}-{today}"})) == 1
    assert len(north.client.search_for_studies(search_filters={"StudyDate": "-19991231"})) == 0
    assert len(north.client.search_for_studies(search_filters={"PatientName": "王*"})) == 1
    assert len(north.client.search_for_series(study_instance_uid=study_uid)) == 1
    assert len(north.client.search_for_instances(study_instance_uid=study_uid, series_instance_uid=series_uid)) == 5
    assert len(north.client.search_for_instances(search_filters={"Modality": "CT"}, limit=2)) == 2

    retrieved = north.get(f"/studies/{study_uid}")
    assert retrieved.status_code == 200 and 'type="application/dicom"' in retrieved.headers["Content-Type"]
    assert sorted(_parts(retrieved)) == sorted(zeroed_preamble(f) for f in files)
    metadata = north.client.retrieve_study_metadata(study_uid)
    assert len(metadata) == 5 and metadata[0]["00100010"]["Value"][0]["Alphabetic"] == "王^秀英"
    stored_event = AuditEvent.objects.get(action="imaging.store")  # one for the study, not one an instance
    assert sorted(stored_event.detail["instances"]) == sorted(_uids(f)[2] for f in files)
    assert not AuditEvent.objects.filter(action="imaging.stow").exists()  # nothing was refused
    assert AuditEvent.objects.filter(action="imaging.wado").count() == 2


def test_one_instance_and_its_frame_are_retrieved(north):
    data = ct_series(slices=1)[0]
    assert north.stow([data]).status_code == 200
    study_uid, series_uid, sop_uid = _uids(data)
    retrieved = north.get(f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}")
    assert _parts(retrieved) == [zeroed_preamble(data)]
    dataset = north.client.retrieve_instance(study_uid, series_uid, sop_uid)
    assert dataset.SOPInstanceUID == sop_uid
    frames = north.client.retrieve_instance_frames(study_uid, series_uid, sop_uid, frame_numbers=[1])
    assert frames == [pydicom.dcmread(io.BytesIO(data)).PixelData]
    assert north.get(f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/2").status_code == 404


def test_bundled_files_are_stored_with_the_client_and_found_by_patient_id(north):
    paths = [p for p in BUNDLED if p.name in BUNDLED_NAMES]
    datasets = [pydicom.dcmread(p) for p in paths]
    result = north.client.store_instances(datasets)
    assert len(result.ReferencedSOPSequence) == len(paths)
    for dataset in datasets:
        found = north.client.search_for_studies(search_filters={"PatientID": dataset.PatientID, "StudyInstanceUID": dataset.StudyInstanceUID})
        assert len(found) == 1
    compressed = next(d for d in datasets if d.file_meta.TransferSyntaxUID.is_compressed)
    path = f"/studies/{compressed.StudyInstanceUID}/series/{compressed.SeriesInstanceUID}/instances/{compressed.SOPInstanceUID}/frames/1"
    assert _parts(north.get(path)) == [compressed.pixel_array.astype("<i2").tobytes()]  # decoded by default


def test_raw_bundled_file_comes_back_byte_for_byte(north):
    data = next(p for p in BUNDLED if p.name == "CT_small.dcm").read_bytes()
    assert north.stow([data]).status_code == 200
    study_uid, series_uid, _sop_uid = _uids(data)
    assert _parts(north.get(f"/studies/{study_uid}/series/{series_uid}")) == [zeroed_preamble(data)]


def test_malformed_parts_are_refused_with_reasons_and_leave_nothing(north, cast):
    corpus = malformed()
    broken = list(corpus.values())
    response = north.stow(broken)
    assert response.status_code == 409
    failed = response.json()["00081198"]["Value"]
    assert len(failed) == len(broken)
    for name, item in zip(corpus, failed):
        assert item["00081197"]["Value"] == [0xC122 if name in UNSUPPORTED_SYNTAX else 0xC000], name
        comment = item["00000902"]["Value"][0]
        assert len(comment) <= 64 and comment_holds(comment, name), (name, comment)
    assert not Instance.objects.exists() and not Study.objects.exists() and not RejectedInstance.objects.exists()
    folder = f"dicom/{cast.north.clinic.pk}"
    assert not default_storage.exists(folder) or not default_storage.listdir(folder)[1]

    refused = AuditEvent.objects.get(action="imaging.stow")
    assert refused.outcome == "failed" and len(refused.detail["failed"]) == len(broken) and not refused.detail["stored"]

    good = ct_series(slices=2)
    mixed = north.stow([good[0], broken[0], good[1], broken[3], corpus["negative number of frames"]])
    assert mixed.status_code == 202
    assert len(mixed.json()["00081199"]["Value"]) == 2 and len(mixed.json()["00081198"]["Value"]) == 3
    assert sorted(Instance.objects.values_list("sop_instance_uid", flat=True)) == sorted(_uids(f)[2] for f in good)
    assert sorted(AuditEvent.objects.get(action="imaging.store").detail["instances"]) == sorted(_uids(f)[2] for f in good)
    assert len(default_storage.listdir(folder)[1]) == 2


def test_duplicate_is_success_and_same_uid_with_other_content_is_refused(north):
    data = ct_series(slices=1)[0]
    assert north.stow([data]).status_code == 200
    assert north.stow([data]).status_code == 200
    changed = pydicom.dcmread(io.BytesIO(data))
    changed.PatientName = "Someone^Else"
    buffer = io.BytesIO()
    changed.save_as(buffer, enforce_file_format=True)
    response = north.stow([buffer.getvalue()])
    assert response.status_code == 409 and response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0x0111]


def test_another_institutions_instance_is_refused_without_pointing_to_its_study(north, south):
    data = ct_series(slices=1)[0]
    assert north.stow([data]).status_code == 200
    response = south.stow([data])
    assert response.status_code == 409
    body = response.json()
    assert "00081190" not in body and "00081199" not in body
    failed = body["00081198"]["Value"][0]
    assert failed["00081197"]["Value"] == [0xC000] and failed["00000902"]["Value"] == [UID_TAKEN_REASON]
    assert Instance.objects.count() == 1 and not RejectedInstance.objects.exists()
    assert north.stow([data]).status_code == 200


def test_instance_of_another_study_is_refused_on_the_study_url(north):
    data = ct_series(slices=1)[0]
    other = pydicom.uid.generate_uid()
    response = north.stow([data], path=f"/studies/{other}")
    assert response.status_code == 409
    assert response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xA900]
    assert not Instance.objects.exists()


def test_wrong_content_type_and_broken_body_are_refused(north):
    headers = {**north.headers, "Content-Type": "application/dicom"}
    assert requests.post(north.base + "/studies", data=b"x", headers=headers, timeout=30).status_code == 415
    headers["Content-Type"] = 'multipart/related; type="application/dicom"; boundary=zz'
    assert requests.post(north.base + "/studies", data=b"--zz\r\n\r\nno end", headers=headers, timeout=30).status_code == 400
    # PS3.18 8.3: a query parameter the archive does not support is ignored and named in a Warning.
    ignored = requests.get(north.base + "/studies?Flavour=x", headers=north.headers, timeout=30)
    assert ignored.status_code == 200 and "Flavour" in ignored.headers["Warning"]
    assert requests.get(north.base + "/studies?StudyDate=2026", headers=north.headers, timeout=30).status_code == 400


def test_another_alliance_sees_nothing_and_gets_404(north, south):
    data = ct_series(slices=1)[0]
    assert north.stow([data]).status_code == 200
    study_uid, series_uid, sop_uid = _uids(data)
    assert south.client.search_for_studies() == []
    assert south.client.search_for_instances() == []
    for path in (f"/studies/{study_uid}", f"/studies/{study_uid}/metadata", f"/studies/{study_uid}/series",
                 f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"):
        assert south.get(path).status_code == 404, path


def test_a_study_url_of_a_study_the_sender_cannot_see_is_answered_as_for_a_study_not_in_the_archive(north, south, cast):
    """Storing into it, the sender learns that its UID is taken only by sending an instance of it,
    as it would at /studies, not from the URL alone."""
    data = ct_series(slices=1)[0]
    assert north.stow([data]).status_code == 200
    study_uid = _uids(data)[0]
    unknown = pydicom.uid.generate_uid()
    elsewhere = ct_series(slices=1)[0]  # of another study than the URL's
    theirs, not_there = south.stow([elsewhere], path=f"/studies/{study_uid}"), south.stow([elsewhere], path=f"/studies/{unknown}")
    assert (theirs.status_code, theirs.json()) == (not_there.status_code, not_there.json())
    assert theirs.status_code == 409 and theirs.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xA900]

    borrowed = changed(ct_series(slices=1)[0], StudyInstanceUID=study_uid)
    into_url, at_studies = south.stow([borrowed], path=f"/studies/{study_uid}"), south.stow([borrowed])
    assert (into_url.status_code, into_url.json()) == (at_studies.status_code, at_studies.json())
    failed = into_url.json()["00081198"]["Value"][0]
    assert into_url.status_code == 409 and failed["00081197"]["Value"] == [0xC000] and failed["00000902"]["Value"] == [UID_TAKEN_REASON]
    assert not Instance.objects.filter(series__study__institution=cast.south.clinic).exists()

    # The owner's answers are what they were: a duplicate is acknowledged, other content is a conflict.
    assert north.stow([data], path=f"/studies/{study_uid}").status_code == 200
    conflict = north.stow([changed(data, PatientName="Other^Content")], path=f"/studies/{study_uid}")
    assert conflict.status_code == 409 and conflict.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0x0111]
    assert north.stow([borrowed], path=f"/studies/{study_uid}").status_code == 200  # a new instance of its own study


def test_token_without_dicom_scopes_is_refused(live_server, cast):
    reader = Archive(live_server.url + "/dicomweb", _token(cast.north[Role.CLINIC_DOCTOR], scopes=("api:read",)))
    assert reader.get("/studies").status_code == 403
    assert reader.stow([ct_series(slices=1)[0]]).status_code == 403
    read_only = Archive(live_server.url + "/dicomweb", _token(cast.north[Role.CLINIC_DOCTOR], scopes=("dicom:read",)))
    assert read_only.stow([ct_series(slices=1)[0]]).status_code == 403
    assert not Instance.objects.exists()


def test_user_without_a_storing_institution_cannot_store(live_server, cast):
    specialist = Archive(live_server.url + "/dicomweb", _token(cast.north[Role.SPECIALIST]))
    assert specialist.stow([ct_series(slices=1)[0]]).status_code == 403
    assert specialist.client.search_for_studies() == []
    doctor = Archive(live_server.url + "/dicomweb", _token(cast.north[Role.CLINIC_DOCTOR]))
    assert doctor.stow([ct_series(slices=1)[0]], params={"institution": str(cast.south.clinic.pk)}).status_code == 403
    assert doctor.stow([ct_series(slices=1)[0]], params={"institution": str(uuid.uuid4())}).status_code == 403
    assert doctor.stow([ct_series(slices=1)[0]], params={"institution": str(cast.north.clinic.pk)}).status_code == 200


def test_a_stow_that_only_resends_stored_instances_is_audited_too(north):
    files = ct_series(slices=2)
    assert north.stow(files).status_code == 200
    assert north.stow(files).status_code == 200
    resent = AuditEvent.objects.get(action="imaging.stow")
    assert resent.outcome == "success" and sorted(resent.detail["stored"]) == sorted(_uids(f)[2] for f in files)


def test_a_long_reason_is_cut_at_a_word_and_nothing_stored_names_no_study(north):
    data = ct_series(slices=1)[0]
    study_uid, _series, _sop = _uids(data)
    assert north.stow([data]).status_code == 200
    changed = pydicom.dcmread(io.BytesIO(data))
    changed.PatientName = "Other^Content"
    buffer = io.BytesIO()
    changed.save_as(buffer)
    response = north.stow([buffer.getvalue()], path=f"/studies/{study_uid}")
    assert response.status_code == 409
    comment = response.json()["00081198"]["Value"][0]["00000902"]["Value"][0]
    assert comment == "this SOP Instance UID is stored already, with other content"  # cut, its point was lost
    missing = north.stow([malformed()["bad uid"]], path="/studies/1.2.3.4")
    assert missing.status_code == 409 and "00081190" not in missing.json()
