"""DICOM test material: pydicom's bundled files, a generated CT series, and malformed files.

The CT generator lives in the app (imaging/dicom/synthetic.py), where the demo uses it too.
"""
from __future__ import annotations

import copy
import io
import struct
import zlib
from pathlib import Path

import pydicom
import pydicom.data
import pydicom.encaps
from PIL import Image
from pydicom.filewriter import dcmwrite, write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from imaging.dicom.synthetic import ct_series

__all__ = [
    "BUNDLED", "CountingReader", "MALFORMED_COMMENTS", "MALFORMED_REASONS", "NOT_BY_DIMSE", "UNSUPPORTED_SYNTAX", "archivable", "bundled_as", "changed", "comment_holds",
    "ct_series", "deflated_bomb", "encoded_as", "malformed", "restacked", "with_private_value", "written", "zeroed_preamble",
]

BUNDLED = sorted(
    list((Path(pydicom.data.__file__).parent / "test_files").glob("*.dcm")) + list((Path(pydicom.data.__file__).parent / "charset_files").glob("*.dcm"))
)


def restacked(files: list[bytes], *, study_uid: str, frame_of_reference: str, series_number: int, slice_gap: float) -> list[bytes]:
    """The series put into `study_uid` and `frame_of_reference` as series `series_number`, its
    slices `slice_gap` mm apart from z = `slice_gap` up: series side by side, for linked scrolling."""
    moved = []
    for n, data in enumerate(files, start=1):
        dataset = pydicom.dcmread(io.BytesIO(data))
        dataset.StudyInstanceUID, dataset.FrameOfReferenceUID, dataset.SeriesNumber = study_uid, frame_of_reference, series_number
        dataset.ImagePositionPatient = [*dataset.ImagePositionPatient[:2], slice_gap * n]
        dataset.SliceLocation, dataset.SliceThickness = slice_gap * n, slice_gap
        moved.append(written(dataset))
    return moved


def archivable(path: Path) -> bytes:
    """The file's bytes; a few test files lack the study or series UID an archive needs, and get
    one (the pixel data is written back untouched)."""
    dataset = pydicom.dcmread(path)
    missing = [k for k in ("StudyInstanceUID", "SeriesInstanceUID") if not dataset.get(k)]
    if not missing:
        return path.read_bytes()
    for keyword in missing:
        setattr(dataset, keyword, generate_uid())
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# What each malformed object must be refused with: a part of the reason, and of the Error Comment
# of STOW-RS and C-STORE (64 characters) unless MALFORMED_COMMENTS says otherwise, or as many of
# its words as fit there (comment_holds).
MALFORMED_REASONS = {
    "not dicom": "no DICOM file header",
    "empty": "no DICOM file header",
    "truncated header": "the file is truncated: it ends inside the file meta information",
    "bad uid": "SOPInstanceUID '1.2.abc' is not a valid UID",
    "missing study uid": "StudyInstanceUID is missing",
    "no preamble": "no DICOM file header",
    "cut inside the header": "the file is truncated: it ends inside the header of the element",
    "cut where the pixel data starts": "the file is truncated: it is an image but has no pixel data",
    "cut inside the pixel data": "truncated: (7FE0,0010) declares 8192 bytes but 8092 remain",
    "pixel data longer than the file": "truncated: (7FE0,0010) declares 2147483632 bytes but 100 remain",
    "text longer than the file": "truncated: (0040,A160) declares 2147483632 bytes but 5 remain",
    "private value longer than the file": "truncated: (0009,1010) declares 4294967280 bytes but 100 remain",
    "element header cut short": "the header cannot be read",
    "sequence item longer than its sequence": "truncated: (FFFE,E000) declares 968 bytes but 703 remain",
    "pixel data shorter than its rows and columns": "the pixel data holds 8092 bytes",
    "deflated in name only": "the data set is not deflated",
    "unknown transfer syntax": "transfer syntax 1.2.3.4.5.6 is not supported",
    "sop class as transfer syntax": "transfer syntax 1.2.840.10008.5.1.4.1.1.2 is not supported",
    "negative number of frames": "NumberOfFrames -3 is out of range",
    "series number beyond 32 bits": "SeriesNumber 99999999999 is out of range",
    "uid with a leading space": "SOPInstanceUID ' 1.2.826.0.1.3680043",
    "uid encoded as numbers": "SOPInstanceUID is encoded as FD, not as a UID (UI)",
    "uid encoded as an unknown vr": "SOPInstanceUID is encoded as U",
    "meta group length that lies": "Group Length says 100 bytes, the group holds",
    "implicit vr under an explicit syntax": "the data set is in implicit VR, not explicit VR",
    "explicit vr under the implicit syntax": "the data set is in explicit VR, not implicit VR",
    "native pixel data of undefined length": "(7FE0,0010) has an undefined length, which only encapsulated",
}
# Where the Error Comment words a reason briefly (its point first, within 64 characters:
# imaging/dicom/reasons.py, error_comment), what it must hold instead.
MALFORMED_COMMENTS = {
    "bad uid": "SOPInstanceUID is not a valid UID: '1.2.abc'",
    "uid with a leading space": "SOPInstanceUID is not a valid UID: ' 1.2.826.0.1.3680043",
    "cut inside the header": "truncated: it ends in an element's header, after byte",  # its offset differs by C-STORE
}


def comment_holds(comment: str, name: str) -> bool:
    """Whether an Error Comment says what the malformed object `name` must be refused with: all
    of it, or the words of it that fit before the comment's '...'."""
    expected = MALFORMED_COMMENTS.get(name, MALFORMED_REASONS[name])
    return expected in comment or (comment.endswith("...") and expected.startswith(comment.removesuffix("...")))
# Refused as of a transfer syntax the archive does not know (STOW-RS: 0xC122), the rest as invalid.
UNSUPPORTED_SYNTAX = {"unknown transfer syntax", "sop class as transfer syntax"}
# A C-STORE cannot carry these: a sender needs the file meta information, and the association
# agrees a transfer syntax both sides know.
# (A C-STORE's file meta information is the receiver's own: its group length cannot lie.)
NOT_BY_DIMSE = {"not dicom", "empty", "truncated header", "no preamble", "meta group length that lies", *UNSUPPORTED_SYNTAX}


def malformed() -> dict[str, bytes]:
    """Broken objects, each with the reason an archive must give (MALFORMED_REASONS)."""
    good = ct_series(slices=1)[0]
    bad_uid = pydicom.dcmread(io.BytesIO(good))
    bad_uid.SOPInstanceUID = "1.2.abc"
    missing = pydicom.dcmread(io.BytesIO(good))
    del missing.StudyInstanceUID
    return {
        "not dicom": b"%PDF-1.4 this is a report, not an image" * 10,
        "empty": b"",
        "truncated header": good[:200],
        "bad uid": written(bad_uid),
        "missing study uid": written(missing),
        "no preamble": good[128:],
        # A UID sent with another VR: read as numbers, it was a 500, or eight bytes long enough, a row of garbage.
        "uid encoded as numbers": _with_vr(good, b"\x08\x00\x18\x00UI", b"FD"),
        "uid encoded as an unknown vr": _with_vr(good, b"\x08\x00\x18\x00UI", b"U\xff"),
        **_truncated(good),
        **_mislabelled(good),
        **_out_of_range(good),
    }


def _with_vr(data: bytes, element: bytes, vr: bytes) -> bytes:
    at = data.index(element) + 4
    return data[:at] + vr + data[at + 2:]


def _truncated(good: bytes) -> dict[str, bytes]:
    """Files whose declared lengths run past their end, or past what holds them."""
    ct_small = next(p for p in BUNDLED if p.name == "CT_small.dcm").read_bytes()
    header = pydicom.dcmread(io.BytesIO(good))
    del header.PixelData
    header = written(header)
    short_pixels = pydicom.dcmread(io.BytesIO(good))
    short_pixels.PixelData = short_pixels.PixelData[:-100]
    rtplan = pydicom.dcmread(next(p for p in BUNDLED if p.name == "rtplan_truncated.dcm"), force=True)
    rtplan.file_meta.MediaStorageSOPInstanceUID = rtplan.SOPInstanceUID
    return {
        "cut inside the header": ct_small[:3000],
        "cut where the pixel data starts": header,
        "cut inside the pixel data": good[:-100],
        "pixel data longer than the file": header + _element(0x7FE0, 0x0010, b"OW", 0x7FFFFFF0) + b"x" * 100,
        "text longer than the file": header + _element(0x0040, 0xA160, b"UT", 0x7FFFFFF0) + b"short",
        "private value longer than the file": header + _element(0x0009, 0x1010, b"OB", 0xFFFFFFF0) + b"x" * 100,
        "element header cut short": header + _element(0x0040, 0xA160, b"UT", 0)[:8],
        # As a sender re-encodes a truncated file: a sequence of the length it has left, and an
        # item inside that declares its whole length; pixel data as short as what was left of it.
        "sequence item longer than its sequence": written(rtplan),
        "pixel data shorter than its rows and columns": written(short_pixels),
        # Native pixel data is read by its length: of undefined length, its end is unknown.
        "native pixel data of undefined length": header + _element(0x7FE0, 0x0010, b"OW", 0xFFFFFFFF) + pydicom.dcmread(io.BytesIO(good)).PixelData,
    }


def _mislabelled(good: bytes) -> dict[str, bytes]:
    """Files whose meta information names a transfer syntax their data set is not in, or
    misstates its own length."""
    dataset = pydicom.dcmread(io.BytesIO(good))
    group_length = good.index(b"\x02\x00\x00\x00UL\x04\x00") + 8  # (0002,0000), the meta's first element
    return {
        "deflated in name only": _with_syntax(dataset, DeflatedExplicitVRLittleEndian),
        "unknown transfer syntax": _with_syntax(dataset, "1.2.3.4.5.6"),
        "sop class as transfer syntax": _with_syntax(dataset, "1.2.840.10008.5.1.4.1.1.2"),
        "meta group length that lies": good[:group_length] + struct.pack("<L", 100) + good[group_length + 4:],
        "implicit vr under an explicit syntax": _with_syntax(dataset, ExplicitVRLittleEndian, implicit=True),
        "explicit vr under the implicit syntax": _with_syntax(dataset, ImplicitVRLittleEndian),
    }


def _out_of_range(good: bytes) -> dict[str, bytes]:
    frames, series = pydicom.dcmread(io.BytesIO(good)), pydicom.dcmread(io.BytesIO(good))
    frames.NumberOfFrames = -3
    series.SeriesNumber = 99999999999
    spaced = pydicom.dcmread(io.BytesIO(good))
    uid = generate_uid()
    uid = uid if len(uid) % 2 else uid[:-1]  # of odd length: written with a NUL after it, which a space before it replaces
    spaced.SOPInstanceUID = spaced.file_meta.MediaStorageSOPInstanceUID = uid
    tag = b"\x08\x00\x18\x00UI"  # (0008,0018) in explicit VR little endian
    return {
        "negative number of frames": written(frames),
        "series number beyond 32 bits": written(series),
        "uid with a leading space": written(spaced).replace(tag + bytes([len(uid) + 1, 0]) + uid.encode() + b"\0", tag + bytes([len(uid) + 1, 0]) + b" " + uid.encode()),
    }


def _element(group: int, element: int, vr: bytes, length: int) -> bytes:
    """An explicit VR little endian header of a value with a 4-byte length."""
    return struct.pack("<HH2s2xL", group, element, vr, length)


def _with_syntax(dataset, syntax: str, *, implicit: bool = False) -> bytes:
    """The data set in Explicit (or Implicit) VR Little Endian under meta information naming `syntax`."""
    meta = copy.deepcopy(dataset.file_meta)
    meta.TransferSyntaxUID = syntax
    buffer = pydicom.filebase.DicomBytesIO()
    buffer.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
    write_dataset(buffer, dataset)
    return buffer.getvalue()


class CountingReader(io.BytesIO):
    """A file that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def deflated_bomb(megabytes: int, *, padding: int = 0) -> bytes:
    """A deflated CT of as many 64 × 64 frames as `megabytes` MB of zero pixels hold: about a
    thousandth of that on disk, and `padding` bytes of Data Set Trailing Padding after the pixel
    data. Deflated a block at a time, so never held inflated here."""
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    frame = dataset.Rows * dataset.Columns * dataset.BitsAllocated // 8
    dataset.NumberOfFrames = frames = megabytes * 1024 * 1024 // frame
    del dataset.PixelData
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    data_set = pydicom.filebase.DicomBytesIO()
    data_set.is_little_endian, data_set.is_implicit_VR = True, False
    write_dataset(data_set, dataset)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflater.compress(data_set.getvalue() + _element(0x7FE0, 0x0010, b"OW", frames * frame))]
    zeros = bytes(frame * 256)
    for _ in range(frames // 256):
        parts.append(deflater.compress(zeros))
    parts.append(deflater.compress(bytes(frame * (frames % 256))))
    if padding:
        parts.append(deflater.compress(_element(0xFFFC, 0xFFFC, b"OB", padding) + bytes(padding)))
    parts.append(deflater.flush())
    meta = pydicom.filebase.DicomBytesIO()
    meta.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(meta, dataset.file_meta, enforce_standard=True)
    return meta.getvalue() + b"".join(parts)


def jpeg_declaring(*, rows: int, columns: int, header_rows: int = 64, header_columns: int = 64, frames: int = 1) -> bytes:
    """A JPEG Baseline CT of `frames` frames whose header says `header_rows` × `header_columns`,
    each frame a small grey JPEG whose start-of-frame declares `rows` × `columns` (a decoder
    bomb when that is larger: decoders size their output by the codestream)."""
    buffer = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buffer, "JPEG")
    codestream = bytearray(buffer.getvalue())
    start_of_frame = codestream.index(b"\xff\xc0")
    codestream[start_of_frame + 5:start_of_frame + 9] = struct.pack(">HH", rows, columns)
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1, size=16)[0]))
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.JPEGBaseline8Bit
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.Rows, dataset.Columns, dataset.NumberOfFrames = header_rows, header_columns, frames
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 8, 8, 7, 0
    dataset.PixelData = pydicom.encaps.encapsulate([bytes(codestream)] * frames)
    dataset["PixelData"].VR = "OB"
    return written(dataset)


def bundled_as(name: str, *, patient_id: str) -> bytes:
    """One of pydicom's bundled files as sent for a patient of ours (it lands under them)."""
    dataset = pydicom.dcmread(pydicom.data.get_testdata_file(name))
    dataset.PatientID = patient_id
    return written(dataset)


def encoded_as(data: bytes, syntax: str) -> bytes:
    """The file with its data set written again in `syntax` (big endian, deflated...)."""
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, implicit_vr=syntax.is_implicit_VR, little_endian=syntax.is_little_endian, force_encoding=True)
    return buffer.getvalue()


def with_private_value(data: bytes, length: int) -> bytes:
    """The file with a private value of `length` bytes in group 0009, before the study's UID (as
    some scanners write their own data there)."""
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.private_block(0x0009, "TELEMED TEST", create=True).add_new(0x10, "OB", b"\1" * length)
    return written(dataset)


def changed(data: bytes, **values) -> bytes:
    """The file with these elements set (by keyword)."""
    dataset = pydicom.dcmread(io.BytesIO(data))
    for keyword, value in values.items():
        setattr(dataset, keyword, value)
    return written(dataset)


def written(dataset) -> bytes:
    """A data set as a Part 10 file."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def zeroed_preamble(data: bytes) -> bytes:
    return b"\0" * 128 + data[128:]
