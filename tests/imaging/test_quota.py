"""Storage usage per institution and its quota, on every ingest path: the service, the browser
upload, STOW-RS and C-STORE; the usage page and quota setting."""
from __future__ import annotations

import io
import threading

import pydicom
import pytest
from django.core.files.storage import default_storage
from django.db import connection

from imaging.models import Instance, RejectedInstance, StorageUsage, Study
from imaging.services.ingest import Status, instance_ingest
from imaging.services.nodes import node_create
from imaging.services.storage import storage_usage_recount
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import ct_series, written

SLICE = len(ct_series(slices=1)[0])  # a generated 64×64 slice, give or take a few bytes of UIDs
ROOM_FOR_ONE = SLICE + 100  # room for one slice, never for two


def _ingest(cast, data: bytes, *, clinic=None):
    clinic = clinic or cast.north.clinic
    return instance_ingest(stream=io.BytesIO(data), institution=clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")


def _files_under(cast) -> list[str]:
    folder = f"dicom/{cast.north.clinic.pk}"
    return default_storage.listdir(folder)[1] if default_storage.exists(folder) else []


def _usage(cast) -> tuple[int, int]:
    row = StorageUsage.objects.filter(institution=cast.north.clinic).first()
    return (row.bytes, row.instances) if row else (0, 0)


@pytest.mark.django_db
def test_usage_counts_instances_and_kept_conflicts_but_not_duplicates(cast):
    files = ct_series(slices=3)
    for data in files:
        _ingest(cast, data)
    _ingest(cast, files[0])  # the same bytes again
    changed = pydicom.dcmread(io.BytesIO(files[1]))
    changed.PatientName = "Someone^Else"
    assert _ingest(cast, written(changed)).status == Status.CONFLICT
    used = _usage(cast)
    assert used == (sum(i.size for i in Instance.objects.all()) + RejectedInstance.objects.get().size, 3)
    StorageUsage.objects.all().delete()
    assert (storage_usage_recount(institution=cast.north.clinic).bytes, _usage(cast)[1]) == used


@pytest.mark.django_db
def test_an_instance_over_the_quota_is_refused_and_leaves_nothing(cast):
    files = ct_series(slices=3)
    cast.north.clinic.dicom_quota_bytes = len(files[0]) + len(files[1])
    cast.north.clinic.save()
    assert [_ingest(cast, d).status for d in files[:2]] == [Status.STORED] * 2
    result = _ingest(cast, files[2])
    assert result.status == Status.OVER_QUOTA and not result.ok
    assert result.reason.startswith("storage quota full: ") and "needs" in result.reason and len(result.reason) <= 64
    assert Instance.objects.count() == 2 and len(_files_under(cast)) == 2
    assert _usage(cast) == (len(files[0]) + len(files[1]), 2)
    # An instance of a new study leaves no empty study behind either.
    assert _ingest(cast, ct_series(slices=1)[0]).status == Status.OVER_QUOTA
    assert Study.objects.count() == 1


@pytest.mark.django_db
def test_a_copy_of_a_stored_instance_is_acknowledged_even_when_the_quota_is_full(cast):
    data = ct_series(slices=1)[0]
    _ingest(cast, data)
    cast.north.clinic.dicom_quota_bytes = 1
    cast.north.clinic.save()
    assert _ingest(cast, data).status == Status.DUPLICATE


@pytest.mark.django_db
def test_the_default_quota_comes_from_the_settings_and_zero_means_no_limit(cast, settings):
    files = ct_series(slices=2)
    settings.DICOM_DEFAULT_QUOTA_BYTES = len(files[0])
    assert [_ingest(cast, d).status for d in files] == [Status.STORED, Status.OVER_QUOTA]
    cast.north.clinic.dicom_quota_bytes = 0
    cast.north.clinic.save()
    assert _ingest(cast, files[1]).status == Status.STORED
    settings.DICOM_DEFAULT_QUOTA_BYTES = 0
    assert _ingest(cast, ct_series(slices=1)[0], clinic=cast.north.clinic2).status == Status.STORED


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_cannot_both_take_the_last_room(cast):
    """Two threads, two connections, one slice of room left: exactly one instance is stored."""
    cast.north.clinic.dicom_quota_bytes = ROOM_FOR_ONE
    cast.north.clinic.save()
    files = ct_series(slices=2)
    results, start = [], threading.Barrier(2)

    def send(data):
        start.wait()
        try:
            results.append(_ingest(cast, data).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(d,)) for d in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == sorted([Status.STORED, Status.OVER_QUOTA])
    assert Instance.objects.count() == 1 and len(_files_under(cast)) == 1 and _usage(cast) == (Instance.objects.get().size, 1)


@pytest.mark.django_db
def test_browser_upload_over_the_quota_answers_507_with_a_message_in_the_users_language(cast, client_for):
    cast.north.clinic.dicom_quota_bytes = ROOM_FOR_ONE
    cast.north.clinic.save()
    files = ct_series(slices=2)
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR], language="zh-hans")
    assert doctor.post("/imaging/upload/instance/", files[0], content_type="application/dicom").status_code == 200
    response = doctor.post("/imaging/upload/instance/", files[1], content_type="application/dicom")
    assert response.status_code == 507
    body = response.json()
    assert body["status"] == "over_quota" and cast.north.clinic.name in body["reason"] and "存储配额" in body["reason"]
    assert Instance.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_stow_over_the_quota_names_out_of_resources_in_the_failed_sequence(live_server, cast):
    from tests.imaging.test_dicomweb import Archive, _token

    cast.north.clinic.dicom_quota_bytes = ROOM_FOR_ONE
    cast.north.clinic.save()
    archive = Archive(live_server.url + "/dicomweb", _token(cast.north[Role.CLINIC_DOCTOR]))
    partly = archive.stow(ct_series(slices=2))
    assert partly.status_code == 202
    failed = partly.json()["00081198"]["Value"]
    assert len(failed) == 1 and failed[0]["00081197"]["Value"] == [0xA700]
    assert failed[0]["00000902"]["Value"][0].startswith("storage quota full")
    refused = archive.stow(ct_series(slices=1))
    assert refused.status_code == 409 and refused.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xA700]
    assert Instance.objects.count() == 1 and len(_files_under(cast)) == 1


@pytest.mark.django_db(transaction=True)
def test_c_store_over_the_quota_answers_a700_with_an_error_comment(cast):
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    from imaging.scp.server import build_ae, handlers
    from tests.conftest import free_port

    node_create(by=cast.north[Role.ADMINISTRATOR], institution=cast.north.clinic, ae_title="QS_CT", host="127.0.0.1")
    cast.north.clinic.dicom_quota_bytes = ROOM_FOR_ONE
    cast.north.clinic.save()
    port = free_port()
    server = build_ae("TELEMED").start_server(("127.0.0.1", port), block=False, evt_handlers=handlers())
    modality = AE(ae_title="QS_CT")
    modality.add_requested_context(CTImageStorage)
    try:
        assoc = modality.associate("127.0.0.1", port, ae_title="TELEMED")
        assert assoc.is_established
        statuses = [assoc.send_c_store(pydicom.dcmread(io.BytesIO(d))) for d in ct_series(slices=2)]
        assoc.release()
    finally:
        server.shutdown()
    assert [s.Status for s in statuses] == [0x0000, 0xA700]
    assert statuses[1].ErrorComment.startswith("storage quota full")
    assert Instance.objects.count() == 1 and len(_files_under(cast)) == 1


@pytest.mark.django_db
def test_administrator_sees_every_institution_and_sets_a_quota(cast, client_for):
    _ingest(cast, ct_series(slices=2)[0])
    admin = client_for(cast.north[Role.ADMINISTRATOR])
    page = admin.get("/imaging/storage/").content.decode()
    for institution in (cast.north.hospital, cast.north.clinic, cast.north.clinic2):
        assert institution.name in page
    assert "<meter" in page and cast.south.clinic.name not in page
    response = admin.post(f"/imaging/storage/{cast.north.clinic.pk}/quota/", {f"{cast.north.clinic.pk}-quota_gb": "0.5"})
    assert response.status_code == 302
    cast.north.clinic.refresh_from_db()
    assert cast.north.clinic.dicom_quota_bytes == 512 * 1024**2
    event = AuditEvent.objects.get(action="institution.dicom_quota")
    assert event.detail == {"before": None, "after": 512 * 1024**2}
    admin.post(f"/imaging/storage/{cast.north.clinic.pk}/quota/", {f"{cast.north.clinic.pk}-quota_gb": ""})
    cast.north.clinic.refresh_from_db()
    assert cast.north.clinic.dicom_quota_bytes is None


@pytest.mark.django_db
def test_a_negative_quota_is_refused(cast, client_for):
    admin = client_for(cast.north[Role.ADMINISTRATOR])
    response = admin.post(f"/imaging/storage/{cast.north.clinic.pk}/quota/", {f"{cast.north.clinic.pk}-quota_gb": "-1"}, follow=True)
    assert "greater than or equal to 0" in response.content.decode()
    cast.north.clinic.refresh_from_db()
    assert cast.north.clinic.dicom_quota_bytes is None


@pytest.mark.django_db
def test_clinic_doctor_sees_only_their_clinic_and_cannot_set_quotas(cast, client_for):
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    page = doctor.get("/imaging/storage/").content.decode()
    assert cast.north.clinic.name in page and cast.north.clinic2.name not in page and "quota_gb" not in page
    assert doctor.post(f"/imaging/storage/{cast.north.clinic.pk}/quota/", {f"{cast.north.clinic.pk}-quota_gb": "100"}).status_code == 404
    studies = doctor.get("/imaging/").content.decode()
    assert "<meter" in studies or "no limit" in studies
    assert client_for(cast.north[Role.COORDINATOR]).get("/imaging/storage/").status_code == 403


@pytest.mark.django_db
def test_a_nearly_full_clinic_is_warned_on_its_studies_page(cast, client_for):
    cast.north.clinic.dicom_quota_bytes = ROOM_FOR_ONE
    cast.north.clinic.save()
    _ingest(cast, ct_series(slices=1)[0])
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get("/imaging/").content.decode()
    assert "Storage almost full" in page
