"""C-ECHO and C-STORE with pynetdicom as the modality, into the same ingest service."""
from __future__ import annotations

import io

import pydicom
import pytest
from django.core.files.storage import default_storage
from pynetdicom import AE, _config
from pynetdicom.sop_class import CTImageStorage, Verification

from imaging.models import DicomNode, Instance, Study
from imaging.scp.server import build_ae, handlers
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.accounts.factories import member
from tests.conftest import free_port
from tests.imaging.corpus import NOT_BY_DIMSE, comment_holds, ct_series, malformed, zeroed_preamble

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scp():
    ae = build_ae("TELEMED")
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers())
    yield ae, port
    server.shutdown()


@pytest.fixture
def ct_node():
    from tests.cast import build_cast

    cast = build_cast()
    device = member(cast.north.clinic, Role.DEVICE, username="qingshan-ct", is_device=True)
    node = DicomNode.objects.create(institution=cast.north.clinic, device=device, ae_title="QS_CT", host="127.0.0.1")
    return cast, node


def _send(port: int, datasets, *, calling="QS_CT"):
    modality = AE(ae_title=calling)
    modality.add_requested_context(CTImageStorage)
    modality.add_requested_context(Verification)
    assoc = modality.associate("127.0.0.1", port, ae_title="TELEMED")
    if not assoc.is_established:
        return None
    try:
        return [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()


def test_registered_modality_echoes_and_stores_a_ct_series(scp, ct_node):
    ae, port = scp
    ae.require_calling_aet = ["QS_CT"]
    files = ct_series(slices=4, patient_id="QS-0001")
    statuses = _send(port, [pydicom.dcmread(io.BytesIO(data)) for data in files])
    assert statuses == [0x0000] * 4
    assert Instance.objects.count() == 4 and Study.objects.get().institution == ct_node[0].north.clinic
    event = AuditEvent.objects.filter(action="imaging.store").first()
    assert (event.channel, event.ip, event.actor_username) == ("dicom", "127.0.0.1", "qingshan-ct")
    for data in files:
        uid = pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
        stored = Instance.objects.get(sop_instance_uid=uid)
        with default_storage.open(stored.file.name) as handle:
            # C-STORE carries the data set, not the file: compare the decoded content.
            assert pydicom.dcmread(handle).PixelData == pydicom.dcmread(io.BytesIO(zeroed_preamble(data))).PixelData


def test_unknown_calling_ae_is_refused_at_association(scp, ct_node):
    ae, port = scp
    ae.require_calling_aet = ["QS_CT"]
    assert _send(port, [], calling="STRANGER") is None
    assert not Instance.objects.exists()


def test_known_title_from_another_address_is_refused_per_instance(scp, ct_node):
    ae, port = scp
    ae.require_calling_aet = ["QS_CT"]
    DicomNode.objects.update(host="10.9.9.9")
    statuses = _send(port, [pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))])
    assert statuses == [0x0124]
    assert not Instance.objects.exists()


def test_invalid_instance_is_refused_and_the_association_goes_on(scp, ct_node):
    ae, port = scp
    ae.require_calling_aet = ["QS_CT"]
    bad = pydicom.dcmread(io.BytesIO(malformed()["bad uid"]))
    good = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    assert _send(port, [bad, good]) == [0xC000, 0x0000]
    assert Instance.objects.count() == 1


def test_malformed_files_sent_as_they_are_get_a_reason_each_and_leave_nothing(scp, ct_node, tmp_path, monkeypatch):
    """The sender reads each file's meta information and sends the rest unparsed, as a modality
    forwarding what it holds would."""
    ae, port = scp
    ae.require_calling_aet = ["QS_CT"]
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    paths = {}
    for name, data in malformed().items():
        if name not in NOT_BY_DIMSE:
            paths[name] = tmp_path / f"{len(paths)}.dcm"
            paths[name].write_bytes(data)
    modality = AE(ae_title="QS_CT")
    for path in paths.values():
        meta = pydicom.filereader.read_file_meta_info(path)
        modality.add_requested_context(meta.MediaStorageSOPClassUID, [meta.TransferSyntaxUID])
    assoc = modality.associate("127.0.0.1", port, ae_title="TELEMED")
    try:
        answers = {name: assoc.send_c_store(path) for name, path in paths.items()}
        good = assoc.send_c_store(pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0])))
    finally:
        assoc.release()
    for name, answer in answers.items():
        assert answer.Status == 0xC000 and comment_holds(answer.ErrorComment, name), (name, answer.ErrorComment)
    assert good.Status == 0x0000
    assert Instance.objects.count() == 1
    assert len(default_storage.listdir(f"dicom/{ct_node[0].north.clinic.pk}")[1]) == 1
