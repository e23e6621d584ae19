"""Every file bundled with pydicom through each way a study arrives: STOW-RS, browser upload and
C-STORE (pynetdicom as the modality). Each is stored as sent or refused with a reason, and
nothing is left behind by a refusal.

Some bundled files share a SOP Instance UID with other content (MR_small in several transfer
syntaxes): after the first, they are conflicts, kept for review.
"""
from __future__ import annotations

import io

import pydicom
import pytest
from django.core.files.storage import default_storage
from pydicom.errors import InvalidDicomError
from pynetdicom import AE
from pynetdicom.dsutils import encode

from imaging.models import Instance, RejectedInstance
from telemed.accounts.models import Role
from tests.imaging.corpus import BUNDLED, zeroed_preamble
from tests.imaging.test_cstore import ct_node, scp  # noqa: F401  (fixtures)
from tests.imaging.test_dicomweb import Archive, _token

pytestmark = pytest.mark.django_db(transaction=True)


def _stored_bytes(sop_uid: str) -> bytes:
    with default_storage.open(Instance.objects.get(sop_instance_uid=sop_uid).file.name) as handle:
        return handle.read()


def _nothing_left_behind(clinic) -> None:
    """The clinic's storage folder holds exactly the files of its instances and of the instances
    kept for review (files of other tests' clinics may be on disk too)."""
    kept = {i.file.name for i in Instance.objects.all()} | {r.file.name for r in RejectedInstance.objects.all()}
    assert {f"dicom/{clinic.pk}/{name}" for name in default_storage.listdir(f"dicom/{clinic.pk}")[1]} == kept


def test_every_bundled_file_through_stow_rs_is_stored_as_sent_or_refused_with_a_reason(live_server, cast):
    archive = Archive(live_server.url + "/dicomweb", _token(cast.north[Role.CLINIC_DOCTOR]))
    stored_before: set[str] = set()
    for path in BUNDLED:
        data = path.read_bytes()
        response = archive.stow([data])
        assert response.status_code in (200, 409), (path.name, response.status_code, response.text)
        answer = response.json()
        if response.status_code == 200:
            [referenced] = answer["00081199"]["Value"]
            sop_uid = referenced["00081155"]["Value"][0]
            if sop_uid not in stored_before:
                assert _stored_bytes(sop_uid) == zeroed_preamble(data), path.name
            stored_before.add(sop_uid)
        else:
            [failed] = answer["00081198"]["Value"]
            assert failed["00081197"]["Value"][0] and failed["00000902"]["Value"][0], path.name
    _nothing_left_behind(cast.north.clinic)


def test_every_bundled_file_through_browser_upload_is_stored_as_sent_or_refused_with_a_reason(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for path in BUNDLED:
        data = path.read_bytes()
        response = client.post("/imaging/upload/instance/", data=data, content_type="application/dicom")
        body = response.json()
        if body["status"] == "stored":
            assert response.status_code == 200 and _stored_bytes(body["sop_instance_uid"]) == zeroed_preamble(data), path.name
        elif body["status"] == "duplicate":
            assert response.status_code == 200
        else:
            assert response.status_code in (400, 409) and body["reason"], path.name
    _nothing_left_behind(cast.north.clinic)


def _sendable(path) -> pydicom.Dataset | None:
    """The bundled file as a modality would send it: a data set with its SOP class and transfer
    syntax, that pynetdicom can encode (83 of the 95: the others cannot be put in a C-STORE
    request at all)."""
    try:
        dataset = pydicom.dcmread(path)
    except (InvalidDicomError, EOFError, OSError):
        return None
    meta = getattr(dataset, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta or "SOPClassUID" not in dataset or "SOPInstanceUID" not in dataset:
        return None
    syntax = meta.TransferSyntaxUID
    try:
        encoded = encode(dataset, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated)
    except Exception:  # noqa: BLE001  (pynetdicom logs and gives None for most, raises for some)
        return None
    return dataset if encoded is not None else None


def _without_group_lengths(dataset: pydicom.Dataset) -> pydicom.Dataset:
    return pydicom.Dataset({tag: element for tag, element in dataset.items() if tag.element != 0})


def test_every_bundled_file_through_c_store_is_accepted_in_its_own_transfer_syntax(scp, ct_node):  # noqa: F811
    ae, port = scp
    ae.require_calling_aet = ["QS_CT"]
    datasets = [(path, ds) for path in BUNDLED if (ds := _sendable(path)) is not None]
    modality = AE(ae_title="QS_CT")
    for syntax_pair in sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for _p, ds in datasets}):
        modality.add_requested_context(syntax_pair[0], [syntax_pair[1]])
    assoc = modality.associate("127.0.0.1", port, ae_title="TELEMED")
    assert assoc.is_established
    refused_contexts = list(assoc.rejected_contexts)
    try:
        sent = [(path.name, ds, assoc.send_c_store(ds)) for path, ds in datasets]
    finally:
        assoc.release()
    assert refused_contexts == []
    stored_before: set[str] = set()
    for name, dataset, status in sent:
        if status.Status == 0x0000:
            uid = str(dataset.SOPInstanceUID)
            if uid not in stored_before:
                stored = pydicom.dcmread(io.BytesIO(_stored_bytes(uid)))
                # C-STORE carries the data set, not the file: its elements arrive unchanged (but for
                # group lengths, retired in data sets, which pynetdicom does not send).
                assert _without_group_lengths(stored) == _without_group_lengths(dataset), name
                assert stored.file_meta.TransferSyntaxUID == dataset.file_meta.TransferSyntaxUID, name
            stored_before.add(uid)
        else:
            assert status.Status in (0xA900, 0xC000) and status.ErrorComment, name
    _nothing_left_behind(ct_node[0].north.clinic)


def test_an_association_meant_for_another_ae_title_is_refused(scp, ct_node):  # noqa: F811
    ae, port = scp
    ae.require_calling_aet = ["QS_CT"]
    modality = AE(ae_title="QS_CT")
    modality.add_requested_context("1.2.840.10008.1.1")
    assoc = modality.associate("127.0.0.1", port, ae_title="NOT-THE-ARCHIVE")
    assert not assoc.is_established
