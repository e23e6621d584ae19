"""The header reader's check that a file's declared lengths fit in it (imaging/dicom/structure.py),
over pydicom's bundled files in every encoding and files cut or bent on purpose; no database."""
from __future__ import annotations

import io
import struct

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from imaging.dicom.header import HeaderError, read_header
from imaging.dicom.header import _read as _read_deflated
from imaging.dicom.structure import MAX_DEPTH, check_structure
from tests.imaging.corpus import BUNDLED, CountingReader, ct_series, deflated_bomb, written


def _bundled(name: str) -> bytes:
    return next(p for p in BUNDLED if p.name == name).read_bytes()


def _read(tmp_path, data: bytes):
    path = tmp_path / "instance.dcm"
    path.write_bytes(data)
    return read_header(path, inflated_limit=1024 * 1024 * 1024, header_limit=64 * 1024 * 1024)


def _refusal(tmp_path, data: bytes) -> str:
    with pytest.raises(HeaderError) as refused:
        _read(tmp_path, data)
    return str(refused.value)


@pytest.mark.parametrize("name", [
    "CT_small.dcm",  # explicit VR little endian, trailing padding after the pixel data
    "rtplan.dcm",  # implicit VR, sequences of defined length
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",  # deflated: the inflated data set is what is checked
    "JPEG2000.dcm", "SC_rgb_rle_2frame.dcm",  # encapsulated: fragments walked by their item headers
    "UN_sequence.dcm",  # items in implicit VR in an explicit VR data set (PS3.5 6.2.2)
    "SC_ybr_full_422_uncompressed.dcm",  # two samples a pixel though it says three
    "nested_priv_SQ.dcm",
])
def test_whole_files_in_every_encoding_pass(tmp_path, name):
    assert _read(tmp_path, _bundled(name)) is not None


def test_a_data_set_in_another_vr_encoding_than_its_transfer_syntax_says_is_refused(tmp_path):
    """pydicom reads it in the encoding it finds; a reader that trusts the syntax could not."""
    assert _refusal(tmp_path, _bundled("SC_rgb_jpeg.dcm")) == "the data set is in implicit VR, not explicit VR as its transfer syntax 1.2.840.10008.1.2.4.50 says"


def test_encapsulated_pixel_data_under_a_native_transfer_syntax_is_refused(tmp_path):
    """Well-formed fragments, but the syntax says the pixel data is native, read by its length."""
    data = io.BytesIO(_bundled("JPEG2000.dcm"))
    pydicom.filereader.read_preamble(data, False)
    meta = pydicom.filereader._read_file_meta_info(data)
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    relabelled = io.BytesIO()
    pydicom.filewriter.write_file_meta_info(relabelled, meta, enforce_standard=True)
    refusal = _refusal(tmp_path, b"\0" * 128 + b"DICM" + relabelled.getvalue() + data.read())
    assert refusal == "(7FE0,0010) has an undefined length, which only encapsulated (compressed) pixel data may have"


def test_the_pixel_data_is_not_read_only_the_headers_around_it(tmp_path):
    data = ct_series(slices=1, size=512)[0]  # a 0.5 MB slice
    stream = CountingReader(data)
    dataset = pydicom.dcmread(stream, stop_before_pixels=True, defer_size=4096)
    before = stream.read_bytes
    assert check_structure(dataset, stream) == (0x7FE00010, 512 * 512 * 2)
    assert stream.read_bytes - before <= 12  # the Pixel Data element's header


def test_encapsulated_pixel_data_cut_inside_a_fragment_is_refused(tmp_path):
    data = _bundled("JPEG2000.dcm")
    assert _refusal(tmp_path, data[:-100]).startswith("the file is truncated: (FFFE,E000) declares")


def test_encapsulated_pixel_data_without_its_delimiter_is_refused(tmp_path):
    data = _bundled("JPEG2000.dcm")
    assert data.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")  # the sequence delimiter ends the file
    assert _refusal(tmp_path, data[:-8]) == "the file is truncated: it ends inside (7FE0,0010)"


def test_an_element_after_the_pixel_data_that_runs_past_the_end_is_refused(tmp_path):
    data = _bundled("CT_small.dcm")
    assert "(FFFC,FFFC) declares 126 bytes but 26 remain" in _refusal(tmp_path, data[:-100])


def test_a_file_ending_inside_an_element_header_is_refused(tmp_path):
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    del dataset.PixelData
    assert "ends inside the header of the element" in _refusal(tmp_path, written(dataset) + b"\x10\x00\x20")


def test_a_deferred_value_past_the_end_is_refused(tmp_path):
    """A value longer than the deferral size is skipped by pydicom, not read: only its length tells."""
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    dataset.ImageComments = "x" * 5000  # LT, deferred
    data = written(dataset)
    start = data.index(b"x" * 5000)
    assert "declares 5000 bytes but 10 remain" in _refusal(tmp_path, data[: start + 10])


def test_sequences_nested_deeper_than_the_walk_allows_are_refused(tmp_path):
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    item = Dataset()
    item.CodeValue = "X"
    for _ in range(MAX_DEPTH + 1):
        outer = Dataset()
        outer.ContentSequence = Sequence([item])
        item = outer
    dataset.ContentSequence = item.ContentSequence  # written with defined lengths: read, it is not parsed yet
    assert _refusal(tmp_path, written(dataset)) == "sequences are nested too deeply to read"


def test_shallow_nesting_passes(tmp_path):
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    item = Dataset()
    item.CodeValue = "X"
    for _ in range(10):
        outer = Dataset()
        outer.ContentSequence = Sequence([item])
        item = outer
    dataset.ContentSequence = item.ContentSequence
    assert _read(tmp_path, written(dataset)) is not None


def test_an_item_holding_something_else_is_refused(tmp_path):
    data = _bundled("JPEG2000.dcm")
    first_item = data.index(b"\xfe\xff\x00\xe0", data.index(b"\xe0\x7f\x10\x00"))
    bent = data[:first_item] + struct.pack("<HH", 0x0008, 0x0010) + data[first_item + 4:]
    assert _refusal(tmp_path, bent) == "(7FE0,0010) holds (0008,0010) where an item belongs"


def _deflated_with_zeros(megabytes: int) -> bytes:
    """A deflated CT slice carrying `megabytes` MB of zeros in a private element: a few kB on
    disk, much more once inflated."""
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    dataset.add_new(0x00090010, "LO", "BOMB")
    dataset.add_new(0x00091000, "OB", b"\0" * (megabytes * 1024 * 1024))
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_a_deflated_data_set_that_would_inflate_beyond_the_limit_is_refused_before_it_does(tmp_path):
    data = _deflated_with_zeros(8)
    assert len(data) < 100 * 1024
    path = tmp_path / "bomb.dcm"
    path.write_bytes(data)
    with pytest.raises(HeaderError, match="inflates to more than 2 MB"):
        read_header(path, inflated_limit=2 * 1024 * 1024, header_limit=64 * 1024 * 1024)
    assert read_header(path, inflated_limit=16 * 1024 * 1024, header_limit=64 * 1024 * 1024).PatientID  # within the limit, read as usual
    path.write_bytes(data + b"\0\0")  # bytes after the deflated stream's end (a writer's padding) end the check too
    assert read_header(path, inflated_limit=16 * 1024 * 1024, header_limit=64 * 1024 * 1024).PatientID


def test_a_deflated_data_set_cut_short_is_refused_as_truncated(tmp_path):
    data = deflated_bomb(4)
    assert _refusal(tmp_path, data[:-20]) == "the file is truncated: it ends inside its deflated data set"


def test_a_deflated_data_set_is_checked_to_its_end_after_its_pixel_data(tmp_path):
    """Its pixel data is skipped by inflating and forgetting, then what follows is walked."""
    dataset = _read(tmp_path, deflated_bomb(4))
    assert dataset.NumberOfFrames == 4 * 1024 * 1024 // (64 * 64 * 2)
    assert "PixelData" not in dataset


def test_a_deflated_data_set_with_elements_after_its_pixel_data_is_inflated_once_while_checked(tmp_path):
    """Finding its size inflated it to the end; the walk after the pixel data then inflated it all
    again from the beginning. It resumes from the inflater as it stood near there."""
    data = deflated_bomb(16, padding=2 * 1024 * 1024)
    stream = CountingReader(data)
    dataset, inflated = _read_deflated(stream, 1024 * 1024 * 1024, 64 * 1024 * 1024)
    assert check_structure(dataset, inflated) == (0x7FE00010, 16 * 1024 * 1024)
    assert stream.read_bytes < 1.2 * len(data)
