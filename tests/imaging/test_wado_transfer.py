"""WADO-RS for compressed data (PS3.18 8.7.3) and bulk data, with dicomweb-client as the client.

Who asks: the north clinic doctor who stored the files (dicom:read + dicom:write token); the
doctor of the sibling north clinic and the south clinic doctor must get nothing.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
import pytest
import requests
from urllib.parse import urlparse
from pydicom.encaps import generate_frames

from imaging.models import Instance
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import BUNDLED, archivable, ct_series, written, zeroed_preamble
from tests.imaging.test_dicomweb import Archive, _parts, _token

pytestmark = pytest.mark.django_db(transaction=True)

EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _path(name: str):
    return next(p for p in BUNDLED if p.name == name)


def _decoded(name: str, index: int | None = None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.pixels.pixel_array(str(_path(name)), index=index)


def _stored_frames(name: str) -> list[bytes]:
    dataset = pydicom.dcmread(_path(name))
    return list(generate_frames(dataset.PixelData, number_of_frames=int(dataset.get("NumberOfFrames", 1) or 1)))


@pytest.fixture
def north(live_server, cast):
    return Archive(live_server.url + "/dicomweb", _token(cast.north[Role.CLINIC_DOCTOR]))


def _stow(archive: Archive, *names: str) -> list[tuple[str, str, str]]:
    files = [archivable(_path(n)) for n in names]
    response = archive.stow(files)
    assert response.status_code == 200, response.text
    uids = []
    for data in files:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        uids.append((str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)))
    return uids


def _asking(archive: Archive, path: str, accept: str) -> requests.Response:
    return requests.get(archive.base + path, headers={**archive.headers, "Accept": accept}, timeout=30)


def _here(archive: Archive, uri: str) -> str:
    """dicomweb-client sends its Host header without the port, so the server's absolute URIs name
    port 80; the live test server listens elsewhere."""
    return archive.base + urlparse(uri).path.removeprefix("/dicomweb")


def _instance_path(uids) -> str:
    return "/studies/{}/series/{}/instances/{}".format(*uids)


def test_jpeg2000_frames_come_as_stored_when_asked_and_decoded_by_default(north):
    (uids,) = _stow(north, "MR_small_jp2klossless.dcm")
    stored = "1.2.840.10008.1.2.4.90"
    as_stored = north.client.retrieve_instance_frames(*uids, frame_numbers=[1], media_types=(("image/jp2", stored),))
    assert as_stored == _stored_frames("MR_small_jp2klossless.dcm")
    any_syntax = north.client.retrieve_instance_frames(*uids, frame_numbers=[1], media_types=(("image/jp2", "*"),))
    assert any_syntax == as_stored
    decoded = north.client.retrieve_instance_frames(*uids, frame_numbers=[1], media_types=(("application/octet-stream", EXPLICIT_LE),))
    assert decoded == [_decoded("MR_small_jp2klossless.dcm").astype("<i2").tobytes()]
    by_default = north.client.retrieve_instance_frames(*uids, frame_numbers=[1])
    assert by_default == decoded
    # OHIF's way: octet-stream with any syntax gets the stored bytes, the syntax named in the part.
    ohif = _asking(north, _instance_path(uids) + "/frames/1", 'multipart/related; type="application/octet-stream"; transfer-syntax=*')
    assert _parts(ohif) == as_stored and f"Content-Type: application/octet-stream; transfer-syntax={stored}" in ohif.content.decode("latin-1")
    raw = _asking(north, _instance_path(uids) + "/frames/1", f'multipart/related; type="image/jp2"; transfer-syntax={stored}')
    assert f"Content-Type: image/jp2; transfer-syntax={stored}" in raw.content.decode("latin-1")


FAMILIES = {
    "SC_rgb_rle_2frame.dcm": ("image/x-dicom-rle", "1.2.840.10008.1.2.5"),
    "MR_small_jpeg_ls_lossless.dcm": ("image/jls", "1.2.840.10008.1.2.4.80"),
    "SC_rgb_jls_lossy_line.dcm": ("image/jls", "1.2.840.10008.1.2.4.81"),
    "JPGExtended.dcm": ("image/jpeg", "1.2.840.10008.1.2.4.51"),
    "SC_rgb_jpeg_gdcm.dcm": ("image/jpeg", "1.2.840.10008.1.2.4.70"),
    "examples_ybr_color.dcm": ("image/jpeg", "1.2.840.10008.1.2.4.50"),
    "GDCMJ2K_TextGBR.dcm": ("image/jp2", "1.2.840.10008.1.2.4.90"),
    "693_J2KI.dcm": ("image/jp2", "1.2.840.10008.1.2.4.91"),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_each_compressed_family_is_sent_in_its_own_media_type(north, name):
    media_type, syntax = FAMILIES[name]
    (uids,) = _stow(north, name)
    frames = _stored_frames(name)
    numbers = [len(frames), 1] if len(frames) > 1 else [1]
    got = north.client.retrieve_instance_frames(*uids, frame_numbers=numbers, media_types=((media_type, syntax),))
    assert got == [frames[n - 1] for n in numbers]
    response = _asking(north, _instance_path(uids) + f"/frames/{numbers[0]}", f'multipart/related; type="{media_type}"')
    assert f"Content-Type: {media_type}; transfer-syntax={syntax}" in response.content.decode("latin-1")


def test_a_colour_jpeg_frame_is_decoded_to_rgb_on_request(north):
    (uids,) = _stow(north, "examples_ybr_color.dcm")
    (frame,) = north.client.retrieve_instance_frames(*uids, frame_numbers=[5], media_types=(("application/octet-stream", EXPLICIT_LE),))
    assert frame == _decoded("examples_ybr_color.dcm", index=4).tobytes()


def test_what_cannot_be_given_is_a_406_with_the_reason(north):
    (jp2, broken) = _stow(north, "JPEG2000.dcm", "JPEG-lossy.dcm")
    as_jpeg = _asking(north, _instance_path(jp2) + "/frames/1", 'multipart/related; type="image/jpeg"')
    assert as_jpeg.status_code == 406 and "JPEG 2000" in as_jpeg.json()["detail"] and "transfer-syntax=*" in as_jpeg.json()["detail"]
    with pytest.raises(requests.HTTPError) as refused:
        north.client.retrieve_instance_frames(*jp2, frame_numbers=[1], media_types=(("image/jpeg", "1.2.840.10008.1.2.4.50"),))
    assert refused.value.response.status_code == 406
    undecodable = north.get(_instance_path(broken) + "/frames/1")
    assert undecodable.status_code == 406 and "cannot be decoded" in undecodable.json()["detail"]
    assert north.client.retrieve_instance_frames(*broken, frame_numbers=[1], media_types=(("image/jpeg", "*"),)) == _stored_frames("JPEG-lossy.dcm")
    wrong_instance_syntax = _asking(north, _instance_path(jp2), 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50')
    assert wrong_instance_syntax.status_code == 406 and "transfer-syntax=*" in wrong_instance_syntax.json()["detail"]
    not_transcodable = _asking(north, _instance_path(broken), f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT_LE}')
    assert not_transcodable.status_code == 406 and "cannot be decoded" in not_transcodable.json()["detail"]


def test_a_compressed_instance_is_transcoded_to_explicit_little_endian_unless_asked_as_stored(north):
    (uids,) = _stow(north, "MR_small_RLE.dcm")
    transcoded = north.client.retrieve_instance(*uids, media_types=(("application/dicom", EXPLICIT_LE),))
    assert transcoded.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert transcoded.SOPInstanceUID == uids[2]
    assert np.array_equal(transcoded.pixel_array, _decoded("MR_small_RLE.dcm"))
    as_stored = _asking(north, _instance_path(uids), 'multipart/related; type="application/dicom"; transfer-syntax=*')
    assert _parts(as_stored) == [zeroed_preamble(_path("MR_small_RLE.dcm").read_bytes())]
    assert "transfer-syntax=1.2.840.10008.1.2.5" in as_stored.content.decode("latin-1")
    same = north.client.retrieve_instance(*uids, media_types=(("application/dicom", "1.2.840.10008.1.2.5"),))
    assert same.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    assert north.client.retrieve_instance(*uids).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"  # the client asks for *
    no_syntax_named = _asking(north, _instance_path(uids), 'multipart/related; type="application/dicom"')
    assert f"transfer-syntax={EXPLICIT_LE}" in no_syntax_named.content.decode("latin-1")  # the standard's default


def test_a_series_of_mixed_syntaxes_is_retrieved_in_explicit_little_endian(north):
    data = ct_series(slices=2)
    assert north.stow(data).status_code == 200
    study_uid = pydicom.dcmread(io.BytesIO(data[0])).StudyInstanceUID
    compressed = pydicom.dcmread(_path("MR_small_jp2klossless.dcm"))
    compressed.StudyInstanceUID = study_uid
    assert north.stow([written(compressed)]).status_code == 200
    datasets = north.client.retrieve_study(study_uid)
    assert len(datasets) == 3 and {str(d.file_meta.TransferSyntaxUID) for d in datasets} == {EXPLICIT_LE}


def test_metadata_points_at_bulk_data_instead_of_inlining_it(north):
    (uids,) = _stow(north, "examples_overlay.dcm")
    (metadata,) = north.client.retrieve_series_metadata(uids[0], uids[1])
    base = north.base + _instance_path(uids)
    overlay, pixels = _here(north, metadata["60003000"]["BulkDataURI"]), _here(north, metadata["7FE00010"]["BulkDataURI"])
    icon = metadata["00880200"]["Value"][0]["7FE00010"]
    assert (overlay, pixels) == (f"{base}/bulkdata/60003000", f"{base}/bulkdata/7FE00010")
    assert _here(north, icon["BulkDataURI"]) == f"{base}/bulkdata/00880200/0/7FE00010" and "InlineBinary" not in icon
    original = pydicom.dcmread(_path("examples_overlay.dcm"))
    assert north.client.retrieve_bulkdata(overlay) == [original[0x60003000].value]
    assert north.client.retrieve_bulkdata(_here(north, icon["BulkDataURI"])) == [original.IconImageSequence[0].PixelData]
    assert north.client.retrieve_bulkdata(pixels) == [original.PixelData]
    assert north.get(_instance_path(uids) + "/bulkdata/00100010").status_code == 404
    assert _asking(north, _instance_path(uids) + "/bulkdata/60003000", 'multipart/related; type="image/jpeg"').status_code == 406
    assert north.get(_instance_path(uids) + "/bulkdata/00880200/5/7FE00010").status_code == 404
    assert AuditEvent.objects.filter(action="imaging.wado", detail__bulkdata="60003000").count() == 1


def test_compressed_pixel_data_as_bulk_data_is_decoded_or_sent_per_frame(north):
    (uids,) = _stow(north, "SC_rgb_rle_2frame.dcm")
    (metadata,) = north.client.retrieve_series_metadata(uids[0], uids[1])
    uri = _here(north, metadata["7FE00010"]["BulkDataURI"])
    assert metadata["7FE00010"]["vr"] == "OB"
    assert north.client.retrieve_bulkdata(uri) == [_decoded("SC_rgb_rle_2frame.dcm").tobytes()]
    assert north.client.retrieve_bulkdata(uri, media_types=(("image/dicom-rle", "*"),)) == _stored_frames("SC_rgb_rle_2frame.dcm")
    any_syntax = _asking(north, urlparse(uri).path.removeprefix("/dicomweb"), 'multipart/related; type="application/octet-stream"; transfer-syntax=*')
    assert _parts(any_syntax) == _stored_frames("SC_rgb_rle_2frame.dcm")  # one part per frame, as stored


def test_another_clinic_and_another_alliance_get_no_frames_and_no_bulk_data(north, live_server, cast):
    (uids,) = _stow(north, "examples_overlay.dcm")
    base = _instance_path(uids)
    for user in (cast.doc_n2, cast.south[Role.CLINIC_DOCTOR]):
        stranger = Archive(live_server.url + "/dicomweb", _token(user))
        for tail in ("/frames/1", "/bulkdata/60003000", "/bulkdata/7FE00010", "/metadata", ""):
            assert stranger.get(base + tail).status_code == 404, (user.username, tail)
        with pytest.raises(requests.HTTPError):
            stranger.client.retrieve_bulkdata(north.base + base + "/bulkdata/60003000")
    assert not AuditEvent.objects.filter(action="imaging.wado", actor=cast.doc_n2).exists()
    assert Instance.objects.count() == 1


def test_an_accept_header_that_refuses_every_type_it_names_is_answered_406(north):
    (uids,) = _stow(north, "CT_small.dcm")
    assert _asking(north, _instance_path(uids), 'multipart/related; type="application/dicom"; q=0').status_code == 406
    assert _asking(north, _instance_path(uids) + "/frames/1", "application/octet-stream;q=0").status_code == 406
    assert _asking(north, "/studies", "application/dicom+json;q=0").status_code == 406
    assert _asking(north, _instance_path(uids), 'image/png;q=0, multipart/related; type="application/dicom"').status_code == 200
