"""A stored deflated instance is retrieved in bounded memory: a frame (WADO-RS frames, rendered,
the viewer's region values) is read by inflating up to it, from near the frame read before, the instance in Explicit VR Little
Endian and the Pixel Data bulk data stream a block at a time, the teaching export copies its pixel
data through; what cannot be read so is refused with why. Ordinary deflated files come out as
before (the same bytes, the same images).

Who asks: the north clinic doctor who stored the files."""
from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian, generate_uid

from imaging.models import Study
from imaging.services.exports import export_request, export_run
from telemed.accounts.models import Role
from tests.imaging.corpus import CountingReader, changed, ct_series, deflated_bomb, encoded_as, written
from tests.imaging.stored import stored_by_north, instance_url

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
BOMB_MB = 64
STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
AS_EXPLICIT = f'multipart/related; type="application/dicom"; transfer-syntax={ExplicitVRLittleEndian}'
OCTET = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _only_part(response) -> bytes:
    boundary = response["Content-Type"].split("boundary=")[1].strip('"').encode()
    [part] = _body(response).split(b"--" + boundary)[1:-1]
    return part.split(b"\r\n\r\n", 1)[1][:-2]


def _peak_and_size(client, url: str, **headers) -> tuple[int, int, int]:
    """The most memory the request and reading its answer took, its status and the body's size
    (read a chunk at a time, as a server sends it)."""
    tracemalloc.start()
    try:
        response = client.get(url, **headers)
        size = sum(len(chunk) for chunk in response.streaming_content) if response.streaming else len(response.content)
        return tracemalloc.get_traced_memory()[1], response.status_code, size
    finally:
        tracemalloc.stop()


def test_a_deflated_bombs_frames_instance_and_pixel_data_are_retrieved_without_inflating_it_in_memory(cast, client_for):
    """64 MB of zero pixels in 70 kB: each request inflated all of it in memory, some more than once."""
    bomb = stored_by_north(cast, deflated_bomb(BOMB_MB))
    [slice_] = ct_series(slices=1, patient_id=cast.north.patient.mrn)
    ordinary = stored_by_north(cast, encoded_as(slice_, DeflatedExplicitVRLittleEndian))
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    inflated = BOMB_MB * MB
    for tail, accept, expected in [
        ("/frames/1/rendered", "image/png", None),
        ("/frames/2/rendered", "image/png", None),
        ("/thumbnail", "image/jpeg", None),
        ("/frames/1,2", OCTET, None),
        ("", AS_EXPLICIT, (inflated, inflated + 4096)),
        ("", STORED, None),
        ("/bulkdata/7FE00010", OCTET, (inflated, inflated + 1024)),
    ]:
        client.get(instance_url(ordinary, tail.replace(",2", "")), HTTP_ACCEPT=accept)  # the code a first request loads is not counted
        peak, status, size = _peak_and_size(client, instance_url(bomb, tail), HTTP_ACCEPT=accept)
        assert status == 200, tail
        assert peak < 16 * MB, f"{tail or accept}: {peak / MB:.0f} MB"
        if expected:
            assert expected[0] < size < expected[1], (tail, size)


def test_the_viewers_region_values_of_a_deflated_bomb_are_read_without_inflating_it_in_memory(cast, client_for):
    bomb = stored_by_north(cast, deflated_bomb(BOMB_MB))
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    client.get(f"/imaging/studies/{bomb.series.study.pk}/view/{bomb.series.series_instance_uid}/{bomb.sop_instance_uid}/1/region/?box=0,0,8,8")
    url = f"/imaging/studies/{bomb.series.study.pk}/view/{bomb.series.series_instance_uid}/{bomb.sop_instance_uid}/2/region/"
    peak, status, _size = _peak_and_size(client, url + "?box=0,0,32,32&shape=rectangle")
    assert status == 200 and peak < 16 * MB, f"{status}, {peak / MB:.0f} MB"


def test_an_ordinary_deflated_file_is_transcoded_to_explicit_little_endian_as_pydicom_writes_it(cast, client_for):
    """pydicom's bundled deflated image: as Explicit VR Little Endian it is the bytes pydicom's
    dcmread and dcmwrite give (what the transcoding was), as stored the bytes stored."""
    path = pydicom.data.get_testdata_file("image_dfl.dcm")
    original = pydicom.dcmread(path)
    instance = stored_by_north(cast, changed(open(path, "rb").read(), PatientID=cast.north.patient.mrn, SeriesInstanceUID=generate_uid()))
    dataset = pydicom.dcmread(default_storage.open(instance.file.name))
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    expected = io.BytesIO()
    pydicom.dcmwrite(expected, dataset, enforce_file_format=True)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert _only_part(client.get(instance_url(instance), HTTP_ACCEPT=AS_EXPLICIT)) == expected.getvalue()
    assert _only_part(client.get(instance_url(instance), HTTP_ACCEPT=STORED)) == default_storage.open(instance.file.name).read()
    frame = _only_part(client.get(instance_url(instance, "/frames/1"), HTTP_ACCEPT=OCTET))
    assert frame == original.pixel_array.tobytes()


@pytest.mark.parametrize("size", [64, 512])
def test_a_deflated_slice_renders_and_gives_the_frames_and_region_values_of_the_same_slice_stored_explicit(cast, client_for, size):
    [explicit] = ct_series(slices=1, size=size, patient_id=cast.north.patient.mrn)
    deflated = encoded_as(changed(explicit, SOPInstanceUID=generate_uid()), DeflatedExplicitVRLittleEndian)
    plain, packed = stored_by_north(cast, explicit), stored_by_north(cast, deflated)
    assert packed.transfer_syntax_uid == DeflatedExplicitVRLittleEndian
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for tail, accept in [("/frames/1/rendered", "image/png"), ("/rendered?window=40,400", "image/jpeg"), ("/thumbnail", "image/png")]:
        assert _body(client.get(instance_url(packed, tail), HTTP_ACCEPT=accept)) == _body(client.get(instance_url(plain, tail), HTTP_ACCEPT=accept)), tail
    for tail in ("/frames/1", "/bulkdata/7FE00010"):
        assert _only_part(client.get(instance_url(packed, tail), HTTP_ACCEPT=OCTET)) == _only_part(client.get(instance_url(plain, tail), HTTP_ACCEPT=OCTET)), tail
    transcoded = pydicom.dcmread(io.BytesIO(_only_part(client.get(instance_url(packed), HTTP_ACCEPT=AS_EXPLICIT))))
    assert transcoded.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(transcoded.pixel_array, pydicom.dcmread(io.BytesIO(explicit)).pixel_array)
    region = "/imaging/studies/{}/view/{}/{}/1/region/?box=4,4,40,40&shape=ellipse"
    assert client.get(region.format(packed.series.study.pk, packed.series.series_instance_uid, packed.sop_instance_uid)).json() == \
        client.get(region.format(plain.series.study.pk, plain.series.series_instance_uid, plain.sop_instance_uid)).json()


def test_a_deflated_frame_larger_than_may_be_held_in_memory_is_refused_with_why_and_the_instance_still_streams(cast, client_for, settings):
    [slice_] = ct_series(slices=1, size=1024, patient_id=cast.north.patient.mrn)  # a frame of 2 MB
    instance = stored_by_north(cast, encoded_as(slice_, DeflatedExplicitVRLittleEndian))
    settings.DICOM_MAX_INFLATED_HEADER_BYTES = 1 * MB
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for tail, accept in [("/frames/1/rendered", "image/png"), ("/frames/1", OCTET)]:
        response = client.get(instance_url(instance, tail), HTTP_ACCEPT=accept)
        assert response.status_code == 406, tail
        assert "inflates to 2 MB, more than the 1 MB a deflated data set may hold in memory at once" in response.json()["detail"], tail
    assert client.get(instance_url(instance), HTTP_ACCEPT=AS_EXPLICIT).status_code == 200


def test_a_deflated_bomb_is_exported_deflated_without_inflating_it_in_memory(cast):
    bomb = deflated_bomb(BOMB_MB)
    stored_by_north(cast, bomb)
    export = export_request(by=cast.north[Role.CLINIC_DOCTOR], study=Study.objects.get())
    tracemalloc.start()
    try:
        export = export_run(export_id=export.pk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert export.status == export.Status.DONE, export.error
    assert peak < 16 * MB, f"{peak / MB:.0f} MB"
    with default_storage.open(export.file.name, "rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dcm")]
        exported = archive.read(name)
    assert len(exported) < len(bomb) * 2
    dataset = pydicom.dcmread(io.BytesIO(exported))
    assert dataset.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    assert dataset.PatientIdentityRemoved == "YES" and dataset.PatientID == export.pseudonym
    assert len(dataset.PixelData) == BOMB_MB * MB and not any(dataset.PixelData[:MB])


def test_an_ordinary_deflated_file_is_exported_as_pydicom_would_write_it(cast):
    [slice_] = ct_series(slices=1, patient_id=cast.north.patient.mrn)
    stored_by_north(cast, encoded_as(slice_, DeflatedExplicitVRLittleEndian))
    export = export_run(export_id=export_request(by=cast.north[Role.CLINIC_DOCTOR], study=Study.objects.get()).pk)
    with default_storage.open(export.file.name, "rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dcm")]
        exported = pydicom.dcmread(io.BytesIO(archive.read(name)))
    original = pydicom.dcmread(io.BytesIO(slice_))
    assert exported.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    assert exported.PixelData == original.PixelData and exported.Rows == original.Rows
    assert exported.StudyInstanceUID != original.StudyInstanceUID and exported.PatientIdentityRemoved == "YES"


@pytest.mark.parametrize("damage", ["limit lowered since it was stored", "file cut short in storage"])
def test_a_deflated_file_that_cannot_be_read_past_its_header_is_refused_with_why_not_a_500(cast, client_for, settings, damage):
    instance = stored_by_north(cast, deflated_bomb(BOMB_MB))
    if damage == "limit lowered since it was stored":
        settings.DICOM_MAX_INSTANCE_BYTES = BOMB_MB // 4 * MB
    else:
        path = default_storage.path(instance.file.name)
        data = open(path, "rb").read()
        open(path, "wb").write(data[:len(data) * 3 // 4])
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(instance_url(instance, "/bulkdata/FFFCFFFC"), HTTP_ACCEPT=OCTET)
    assert response.status_code == 406 and "cannot be read" in response.json()["detail"]


class CountingStorage(FileSystemStorage):
    """The archive's files, each read through a CountingReader (`opened`)."""

    opened: list[CountingReader] = []

    def _open(self, name, mode="rb"):
        reader = CountingReader(Path(self.path(name)).read_bytes())
        self.opened.append(reader)
        return File(reader, name)


def _deflated_multiframe(frames: int) -> bytes:
    """A deflated CT of `frames` 256 × 256 frames of noise: it deflates little, so each frame is
    some 100 kB of the file."""
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1, size=256)[0]))
    dataset.NumberOfFrames = frames
    dataset.PixelData = np.random.default_rng(7).integers(0, 4096, (frames, 256, 256), dtype=np.uint16).tobytes()
    return encoded_as(written(dataset), DeflatedExplicitVRLittleEndian)


@pytest.mark.parametrize("tail, accept", [("/rendered", "image/png"), ("", OCTET)])
def test_scrolling_a_deflated_multi_frame_inflates_each_frame_from_near_the_one_before_not_from_the_beginning(cast, client_for, settings, tail, accept):
    """Each frame is asked for by a request of its own; frame N inflated the N frames before it
    (64: 7 MB of the file read for the last one)."""
    frames = 64
    instance = stored_by_north(cast, _deflated_multiframe(frames))
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": f"{__name__}.CountingStorage", "OPTIONS": {"location": settings.MEDIA_ROOT}}}
    read = []
    for number in range(1, frames + 1):
        CountingStorage.opened.clear()
        assert client.get(instance_url(instance, f"/frames/{number}{tail}"), HTTP_ACCEPT=accept).status_code == 200
        read.append(sum(reader.read_bytes for reader in CountingStorage.opened))
    assert max(read) < 3 * MB, [round(n / MB, 1) for n in read]  # the header's block, and the block holding the frame


def test_a_deflated_element_larger_than_may_be_held_in_memory_is_refused_as_bulk_data_before_it_is_read(cast, client_for, settings):
    """Bulk data is sent whole: 32 MB of padding behind a file of 70 kB took 100 MB to send
    (200 MB took 625 MB)."""
    instance = stored_by_north(cast, deflated_bomb(1, padding=32 * MB))
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    settings.DICOM_MAX_INFLATED_HEADER_BYTES = 4 * MB
    client.get(instance_url(instance, "/bulkdata/7FE00010"), HTTP_ACCEPT=OCTET)  # the code a first request loads is not counted
    tracemalloc.start()
    try:
        response = client.get(instance_url(instance, "/bulkdata/FFFCFFFC"), HTTP_ACCEPT=OCTET)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 406
    assert "an element of this deflated instance inflates to 32 MB, more than the 4 MB a deflated data set may hold in memory at once" in response.json()["detail"]
    assert peak < 16 * MB, f"{peak / MB:.0f} MB"
    settings.DICOM_MAX_INFLATED_HEADER_BYTES = 64 * MB
    assert len(_only_part(client.get(instance_url(instance, "/bulkdata/FFFCFFFC"), HTTP_ACCEPT=OCTET))) == 32 * MB


def _without_meta_element(data: bytes, keyword: str) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(data))
    del dataset.file_meta[keyword]
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)  # as a sender that leaves it out writes it
    return buffer.getvalue()


@pytest.mark.parametrize("syntax", [DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian])
@pytest.mark.parametrize("keyword", ["MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID"])
def test_a_file_whose_meta_information_leaves_out_its_sop_uids_renders_and_is_transcoded_naming_the_data_sets(cast, client_for, syntax, keyword):
    """Deflated, it was stored and then never read again: pydicom refused to write its meta
    information as Explicit VR Little Endian. Big endian (any syntax that is transcoded) gets the
    data set's UIDs, as pydicom's dcmwrite gives them; a deflated file the same."""
    [slice_] = ct_series(slices=1, patient_id=cast.north.patient.mrn)
    instance = stored_by_north(cast, _without_meta_element(encoded_as(slice_, syntax), keyword))
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for tail, accept in [("/frames/1/rendered", "image/png"), ("/frames/1", OCTET), ("/bulkdata/7FE00010", OCTET)]:
        assert client.get(instance_url(instance, tail), HTTP_ACCEPT=accept).status_code == 200, tail
    response = client.get(instance_url(instance), HTTP_ACCEPT=AS_EXPLICIT)
    assert response.status_code == 200
    transcoded = pydicom.dcmread(io.BytesIO(_only_part(response)))
    assert transcoded.file_meta.MediaStorageSOPClassUID == transcoded.SOPClassUID
    assert transcoded.file_meta.MediaStorageSOPInstanceUID == transcoded.SOPInstanceUID == instance.sop_instance_uid
