"""DICOM test material: pydicom's bundled files, a generated CT series, and malformed files.

The CT generator lives in the app (imaging/dicom/synthetic.py), where the demo uses it too.
"""
from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pydicom.data
from pydicom.uid import generate_uid

from imaging.dicom.synthetic import ct_series

__all__ = ["BUNDLED", "archivable", "ct_series", "malformed", "restacked", "zeroed_preamble"]

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
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        moved.append(buffer.getvalue())
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


def malformed() -> dict[str, bytes]:
    """Broken objects, each with the reason an archive must give."""
    good = ct_series(slices=1)[0]
    bad_uid = pydicom.dcmread(io.BytesIO(good))
    bad_uid.SOPInstanceUID = "1.2.abc"
    missing = pydicom.dcmread(io.BytesIO(good))
    del missing.StudyInstanceUID
    return {
        "not dicom": b"%PDF-1.4 this is a report, not an image" * 10,
        "empty": b"",
        "truncated header": good[:200],
        "bad uid": _write(bad_uid),
        "missing study uid": _write(missing),
        "no preamble": good[128:],
    }


def _write(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def zeroed_preamble(data: bytes) -> bytes:
    return b"\0" * 128 + data[128:]
