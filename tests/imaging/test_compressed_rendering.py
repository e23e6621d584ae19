"""Every compressed file pydicom ships is rendered when pydicom can decode it, and answers 406
with the decoder's reason when it cannot; decoded frames are cached within a byte budget."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
import pytest
from PIL import Image

from imaging.dicom import render
from imaging.dicom.cache import FrameCache
from imaging.services import pixels
from telemed.accounts.models import Role
from tests.imaging.corpus import BUNDLED, archivable, ct_series
from tests.imaging.stored import stored_by_north

pytestmark = pytest.mark.django_db


# A JPEG Baseline file whose data set is in implicit VR, against its transfer syntax: refused at
# ingest (tests/imaging/test_header_structure.py), so never rendered.
REFUSED_AT_INGEST = {"SC_rgb_jpeg.dcm"}


def _compressed():
    found = []
    for path in (p for p in BUNDLED if p.name not in REFUSED_AT_INGEST):
        try:
            dataset = pydicom.dcmread(path, defer_size=256)
        except Exception:  # noqa: BLE001 - files without a meta header are not ingested at all
            continue
        syntax = dataset.file_meta.get("TransferSyntaxUID")
        if syntax is not None and syntax.is_compressed and "PixelData" in dataset:
            found.append(path)
    return found


COMPRESSED = _compressed()


def _pydicom_decodes(path) -> bool:
    """The oracle: pydicom itself, reading the whole file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pydicom.dcmread(path).pixel_array
        except Exception:  # noqa: BLE001
            return False
    return True


def _url(instance, tail: str) -> str:
    series = instance.series
    return f"/dicomweb/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}/instances/{instance.sop_instance_uid}/{tail}"


def test_the_bundled_files_cover_every_compressed_family():
    syntaxes = {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID) for p in COMPRESSED}
    assert {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5"} <= syntaxes


@pytest.mark.parametrize("path", COMPRESSED, ids=[p.name for p in COMPRESSED])
def test_compressed_file_is_rendered_or_refused_with_the_decoders_reason(cast, client_for, path):
    instance = stored_by_north(cast, archivable(path))
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    last = _url(instance, f"frames/{instance.number_of_frames}/rendered")
    rendered, thumbnail = client.get(last), client.get(_url(instance, "thumbnail"))
    if _pydicom_decodes(path):
        assert rendered.status_code == 200, rendered.content
        assert Image.open(io.BytesIO(rendered.content)).size == (instance.columns, instance.rows)
        assert thumbnail.status_code == 200 and max(Image.open(io.BytesIO(thumbnail.content)).size) <= render.THUMBNAIL_SIZE
    else:
        for response in (rendered, thumbnail):
            assert response.status_code == 406
            assert "cannot be decoded" in response.json()["detail"] and instance.transfer_syntax_uid in response.json()["detail"]


def test_only_the_two_broken_bundled_files_are_undecodable():
    assert sorted(p.name for p in COMPRESSED if not _pydicom_decodes(p)) == ["JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"]


def test_a_colour_multiframe_jpeg_frame_is_rendered_in_colour(cast, client_for):
    path = next(p for p in BUNDLED if p.name == "examples_ybr_color.dcm")
    instance = stored_by_north(cast, path.read_bytes())
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "frames/17/rendered"), HTTP_ACCEPT="image/png")
    image = np.asarray(Image.open(io.BytesIO(response.content)))
    expected = pydicom.pixels.pixel_array(str(path), index=16)
    assert image.shape == expected.shape and np.abs(image.astype(int) - expected).max() == 0
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "frames/31/rendered")).status_code == 404


def test_a_window_drag_renders_from_the_cached_frame_without_decoding_again(cast, client_for):
    instance = stored_by_north(cast, next(p for p in BUNDLED if p.name == "MR_small_jp2klossless.dcm").read_bytes())
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    pixels.frames.clear()
    misses = pixels.frames.misses
    bodies = {client.get(_url(instance, "rendered"), {"window": f"{600 + step * 50},{1200}"}).content for step in range(5)}
    low = client.get(_url(instance, "rendered"), {"viewport": "32,32", "quality": "30"})
    assert len(bodies) == 5 and Image.open(io.BytesIO(low.content)).size == (32, 32)
    assert pixels.frames.misses == misses + 1


def test_the_frame_cache_stays_within_its_budget_and_drops_the_least_recently_used():
    cache = FrameCache(max_bytes=3 * 64 * 64 * 4)
    frame = lambda: render.Frame(values=np.zeros((64, 64), np.float32), window=(0, 1))  # noqa: E731
    for key in "abc":
        cache.get(key, frame)
    cache.get("a", frame)  # a is used again: b is now the oldest
    cache.get("d", frame)
    assert cache.size <= cache.max_bytes
    made = []
    cache.get("a", lambda: made.append("a") or frame())
    cache.get("b", lambda: made.append("b") or frame())
    assert made == ["b"]
    cache.get("huge", lambda: render.Frame(values=np.zeros((512, 512), np.float32), window=(0, 1)))
    assert cache.size <= cache.max_bytes


def test_monochrome1_is_shown_inverted(cast, client_for):
    data = ct_series(slices=1, size=32)[0]
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.PhotometricInterpretation = "MONOCHROME1"
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    shown = [
        np.asarray(Image.open(io.BytesIO(client.get(_url(stored_by_north(cast, raw), "rendered"), {"window": "0,2000"}, HTTP_ACCEPT="image/png").content)), dtype=int)
        for raw in (data, buffer.getvalue())
    ]
    assert shown[0].std() > 0 and (shown[1] == 255 - shown[0]).all()
