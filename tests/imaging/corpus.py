"""DICOM test material: pydicom's bundled files, a generated CT series, and malformed files.

The CT generator lives in the app (imaging/dicom/synthetic.py), where the demo uses it too.
"""
from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pydicom.data

from imaging.dicom.synthetic import ct_series

__all__ = ["BUNDLED", "ct_series", "malformed", "zeroed_preamble"]

BUNDLED = sorted(
    list((Path(pydicom.data.__file__).parent / "test_files").glob("*.dcm")) + list((Path(pydicom.data.__file__).parent / "charset_files").glob("*.dcm"))
)


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
