"""Browser upload endpoints, the studies pages and reconciliation."""
from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.storage import default_storage
from django.template.defaultfilters import filesizeformat

from imaging.models import Instance, Study
from imaging.upload import storing_institution
from telemed.access import roles
from telemed.accounts.models import Role
from tests.imaging.corpus import MALFORMED_REASONS, ct_series, malformed, zeroed_preamble
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _send(client, data: bytes):
    return client.post("/imaging/upload/instance/", data=data, content_type="application/dicom")


def _known(client, files) -> set[str]:
    hashes = [hashlib.sha256(zeroed_preamble(f)).hexdigest() for f in files]
    return set(client.post("/imaging/upload/known/", json.dumps({"hashes": hashes}), content_type="application/json").json()["known"])


def test_clinic_doctor_uploads_a_series_and_sees_the_study(cast, client_for):
    PatientFactory(institution=cast.north.clinic, mrn="MRN-CT-1", name="王秀英", registered_by=cast.north[Role.CLINIC_DOCTOR])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    results = [_send(client, f).json() for f in ct_series(slices=3)]
    assert [r["status"] for r in results] == ["stored"] * 3
    assert results[0]["patient"] == "王秀英" and results[0]["description"] == "胸部CT平扫"
    assert results[0]["patient_id"] == "MRN-CT-1"  # the page's label when the name is empty
    study = Study.objects.get()
    page = client.get("/imaging/").content.decode()
    assert "胸部CT平扫" in page
    assert "王秀英" in client.get(f"/imaging/studies/{study.pk}/").content.decode()


def test_the_upload_answer_names_the_study_date_as_the_pages_write_it(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    data = ct_series(slices=1, study_date="20260305")[0]
    chinese = client.post("/imaging/upload/instance/", data=data, content_type="application/dicom", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    english = client.post("/imaging/upload/instance/", data=data, content_type="application/dicom", HTTP_ACCEPT_LANGUAGE="en").json()
    assert (chinese["date"], english["date"]) == ("2026-03-05", "2026-03-05")


def test_the_storage_bars_are_drawn_alone_with_what_an_upload_took_for_the_page_to_refresh(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for data in ct_series(slices=2):
        _send(client, data)
    taken = filesizeformat(sum(Instance.objects.values_list("size", flat=True)))
    bars = client.get("/imaging/upload/usage/")
    assert bars.status_code == 200 and 'id="storage-usage"' in bars.content.decode()
    assert taken in bars.content.decode() and cast.north.clinic.name in bars.content.decode()
    assert bars.content.decode() in client.get("/imaging/upload/").content.decode()  # the same bars the page was drawn with
    assert client_for(cast.north[Role.COORDINATOR]).get("/imaging/upload/usage/").content.decode().count("usage-row") == 0


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.RADIOLOGIST])
def test_who_may_not_upload_is_refused_the_storage_bars_as_the_upload_page(cast, client_for, role):
    client = client_for(cast.north[role])
    assert client.get("/imaging/upload/").status_code == 403
    assert client.get("/imaging/upload/usage/").status_code == 403


def test_resumed_upload_sends_only_what_is_missing_and_stores_each_instance_once(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    files = ct_series(slices=6)
    for data in files[:4]:  # the link dropped after four files
        _send(client, data)
    known = _known(client, files)
    missing = [f for f in files if hashlib.sha256(zeroed_preamble(f)).hexdigest() not in known]
    assert len(missing) == 2
    for data in missing:
        assert _send(client, data).json()["status"] == "stored"
    assert _send(client, files[0]).json()["status"] == "duplicate"  # a re-sent file changes nothing
    assert Instance.objects.count() == 6


def test_malformed_upload_answers_400_with_the_reason(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for name, data in malformed().items():
        response = _send(client, data)
        assert response.status_code == 400 and response.json()["reason"] and MALFORMED_REASONS[name] in response.json()["reason"], name
    assert not Instance.objects.exists() and not Study.objects.exists()
    folder = f"dicom/{cast.north.clinic.pk}"
    assert not default_storage.exists(folder) or not default_storage.listdir(folder)[1]


def test_known_check_refuses_malformed_requests_with_a_reason_in_the_senders_language(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for body, reason in (("not json", "must be JSON"), ("[]", "must be JSON"), (json.dumps({"hashes": ["zz"]}), "SHA-256")):
        response = client.post("/imaging/upload/known/", body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400 and reason in response.json()["reason"], body
    chinese = client.post("/imaging/upload/known/", "not json", content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.status_code == 400 and "哈希" in chinese.json()["reason"]


def test_people_who_do_not_store_for_a_clinic_cannot_upload(cast, client_for):
    for role in (Role.COORDINATOR, Role.SPECIALIST):
        assert _send(client_for(cast.north[role]), ct_series(slices=1)[0]).status_code == 403
    assert not Instance.objects.exists()


def test_another_clinics_study_is_invisible(cast, client_for):
    _send(client_for(cast.north[Role.CLINIC_DOCTOR]), ct_series(slices=1)[0])
    study = Study.objects.get()
    other = client_for(cast.doc_n2)
    assert other.get(f"/imaging/studies/{study.pk}/").status_code == 404
    assert "胸部CT平扫" not in other.get("/imaging/").content.decode()
    assert _known(other, ct_series(slices=1)) == set()


def test_unmatched_study_is_matched_to_a_patient_of_the_clinic(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    _send(client, ct_series(slices=1, patient_id="NOBODY")[0])
    study = Study.objects.get()
    assert study.patient is None
    assert "Waiting to be matched" in client.get("/imaging/").content.decode()
    client.post(f"/imaging/studies/{study.pk}/reconcile/", {f"{study.pk}-patient": cast.north.patient.pk})
    study.refresh_from_db()
    assert study.patient == cast.north.patient
    assert client_for(cast.doc_n2).post(f"/imaging/studies/{study.pk}/reconcile/", {f"{study.pk}-patient": cast.north.patient.pk}).status_code == 404


def test_refusal_reasons_are_given_in_the_uploaders_language(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.post("/imaging/upload/instance/", data=malformed()["bad uid"], content_type="application/dicom", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400 and "不是有效的 UID" in response.json()["reason"]
    response = client.post("/imaging/upload/instance/", data=b"not dicom at all", content_type="application/dicom", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.json()["reason"] == "没有 DICOM 文件头（128 字节前导区之后没有“DICM”）：请在设备或 PACS 上将其导出为 DICOM Part 10 文件"


def test_the_page_says_of_a_file_without_the_dicom_header_what_the_server_says_in_the_doctors_language(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR], language="zh-hans")
    reason = client.post("/imaging/upload/instance/", data=b"scanner export notes", content_type="application/dicom").json()["reason"]
    assert reason.startswith("没有 DICOM 文件头") and "导出为 DICOM Part 10 文件" in reason
    assert f'data-text-skipped="未发送：{reason}"' in client.get("/imaging/upload/").content.decode()


def test_a_refused_upload_says_why_in_json_which_the_page_shows(cast, client_for):
    response = _send(client_for(cast.north[Role.COORDINATOR]), ct_series(slices=1)[0])
    assert response.status_code == 403 and response.json()["reason"] == "Choose the clinic you are sending for."
    known = client_for(cast.north[Role.CLINIC_DOCTOR]).post("/imaging/upload/known/?institution=not-a-clinic", "{}", content_type="application/json")
    assert known.status_code == 403 and known.json()["reason"]


def test_the_clinic_a_file_is_sent_for_is_found_with_one_query(cast, rf, django_assert_num_queries):
    """The page sends every file of a folder in a request of its own, each asking this first."""
    doctor = cast.north[Role.CLINIC_DOCTOR]
    roles(doctor)  # the request's roles, read once by the login check before any view
    for query, found in (("", cast.north.clinic), (f"?institution={cast.north.clinic.pk}", cast.north.clinic)):
        request = rf.post(f"/imaging/upload/instance/{query}")
        request.user = doctor
        with django_assert_num_queries(1):
            assert storing_institution(request) == found
