"""Compressed pixel data is never decoded into more memory than its header allows: a codestream
that declares a larger image than the header gives its frame, and a frame or instance that
decodes beyond DICOM_MAX_DECODED_MB, are refused (406, with why, in the reader's language)
before any decoder allocates. A JPEG of a few hundred bytes declaring 30,000 × 30,000 pixels
made a decoder hold 4.3 GB for 22 s before.

Who asks: the north clinic doctor who stored the files."""
from __future__ import annotations

import tracemalloc

import pydicom
import pytest
from pydicom.encaps import generate_frames

from imaging.dicom import codestreams
from imaging.services import pixels
from telemed.accounts.models import Role
from tests.imaging.corpus import BUNDLED, jpeg_declaring
from tests.imaging.stored import stored_by_north, instance_url

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
OCTET = f'multipart/related; type="application/octet-stream"; transfer-syntax={pydicom.uid.ExplicitVRLittleEndian}'
AS_EXPLICIT = f'multipart/related; type="application/dicom"; transfer-syntax={pydicom.uid.ExplicitVRLittleEndian}'
STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _viewer(instance, tail: str) -> str:
    return f"/imaging/studies/{instance.series.study.pk}/view/{instance.series.series_instance_uid}/{instance.sop_instance_uid}/1/{tail}"


def _peak_and_response(client, url: str, **headers):
    tracemalloc.start()
    try:
        response = client.get(url, **headers)
        return tracemalloc.get_traced_memory()[1], response
    finally:
        tracemalloc.stop()


def test_a_frame_whose_codestream_declares_more_pixels_than_its_header_is_refused_before_decoding(cast, client_for):
    """12,000 × 12,000 declared under a 64 × 64 header: 137 MB a decoder would allocate."""
    bomb = stored_by_north(cast, jpeg_declaring(rows=12000, columns=12000))
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    pixels.frames.clear()
    for url, accept in [
        (instance_url(bomb, "/frames/1/rendered"), "image/png"),
        (instance_url(bomb, "/thumbnail"), "image/jpeg"),
        (instance_url(bomb, "/frames/1"), OCTET),
        (instance_url(bomb, "/bulkdata/7FE00010"), OCTET),
        (instance_url(bomb), AS_EXPLICIT),
        (_viewer(bomb, "window/"), "application/json"),
    ]:
        client.get(url, HTTP_ACCEPT=accept)  # the code a first request loads is not counted
        peak, response = _peak_and_response(client, url, HTTP_ACCEPT=accept)
        assert response.status_code == 406, url
        assert "declares 12000 × 12000 pixels of 1 components, more than the 64 × 64 of 1 the header gives it" in response.json()["detail"], url
        assert peak < 16 * MB, f"{url}: {peak / MB:.0f} MB"
    assert client.get(instance_url(bomb), HTTP_ACCEPT=STORED).status_code == 200  # as stored it is only bytes


def test_the_refusal_is_in_the_readers_language(cast, client_for):
    bomb = stored_by_north(cast, jpeg_declaring(rows=12000, columns=12000))
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(instance_url(bomb, "/frames/1/rendered"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 406
    assert "第 1 帧的压缩数据声明了 12000 × 12000 像素、1 个分量，超出文件头给出的 64 × 64、1 个分量" in response.json()["detail"]


def test_a_frame_that_decodes_beyond_the_limit_is_refused_before_decoding(cast, client_for, settings):
    settings.DICOM_MAX_DECODED_BYTES = 4 * MB
    large = stored_by_north(cast, jpeg_declaring(rows=16, columns=16, header_rows=4096, header_columns=4096))  # 16 MB of 8-bit grey
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for url, accept in [(instance_url(large, "/frames/1/rendered"), "image/png"), (instance_url(large, "/frames/1"), OCTET)]:
        response = client.get(url, HTTP_ACCEPT=accept)
        assert response.status_code == 406
        assert "a frame of this instance decodes to 16 MB, more than the 4 MB this server decodes at once" in response.json()["detail"]


def test_an_instance_transcoded_whole_is_refused_when_all_its_frames_decode_beyond_the_limit(cast, client_for, settings):
    """Transcoding holds every frame decoded at once: 8 frames of 1 MB each pass one at a time."""
    settings.DICOM_MAX_DECODED_BYTES = 4 * MB
    cine = stored_by_north(cast, jpeg_declaring(rows=16, columns=16, header_rows=1024, header_columns=1024, frames=8))
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.get(instance_url(cine), HTTP_ACCEPT=AS_EXPLICIT)
    assert response.status_code == 406
    assert "this instance decodes to 8 MB, more than the 4 MB this server decodes at once" in response.json()["detail"]
    assert "It can still be sent as stored (transfer-syntax=*)" in response.json()["detail"]


COMPRESSED_FAMILIES = ["SC_rgb_jpeg_gdcm.dcm", "JPGExtended.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm", "MR_small_jp2klossless.dcm", "GDCMJ2K_TextGBR.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm"]


@pytest.mark.parametrize("name", COMPRESSED_FAMILIES)
def test_the_size_a_real_codestream_declares_is_its_headers(name):
    dataset = pydicom.dcmread(next(p for p in BUNDLED if p.name == name))
    codestream = next(generate_frames(dataset.PixelData, number_of_frames=int(dataset.get("NumberOfFrames", 1) or 1)))
    assert codestreams.declared_size(codestream) == codestreams.Declared(dataset.Rows, dataset.Columns, dataset.SamplesPerPixel)


def test_a_jp2_file_around_the_codestream_is_looked_into():
    dataset = pydicom.dcmread(next(p for p in BUNDLED if p.name == "MR_small_jp2klossless.dcm"))
    codestream = next(generate_frames(dataset.PixelData, number_of_frames=1))
    boxed = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x14ftypjp2 \x00\x00\x00\x00jp2 " + (len(codestream) + 8).to_bytes(4, "big") + b"jp2c" + codestream
    assert codestreams.declared_size(boxed) == codestreams.Declared(dataset.Rows, dataset.Columns, 1)


def test_rle_and_unparsable_data_declare_nothing():
    dataset = pydicom.dcmread(next(p for p in BUNDLED if p.name == "MR_small_RLE.dcm"))
    assert codestreams.declared_size(next(generate_frames(dataset.PixelData, number_of_frames=1))) is None
    assert codestreams.declared_size(b"\xff\xd8\xff") is None and codestreams.declared_size(b"\xff\x4f\xff\x51") is None
