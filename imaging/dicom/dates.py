"""DICOM dates and times (DA, TM) as every page of the product writes them, in both languages: the
consult pages' "Y-m-d H:i", not each language's long style ("Nov. 20, 2026" beside "2026-11-20").

Pages use them through the `dicom_date` and `dicom_time` filters, the upload's answer directly.
"""
from __future__ import annotations

from pydicom.valuerep import DA, TM


def dicom_date(value: str) -> str:
    """A DICOM date (DA, "20261120") as the pages write a date: 2026-11-20; one pydicom cannot
    read, as it is."""
    try:
        parsed = DA(value) if value else None
    except ValueError:
        return value
    return parsed.isoformat() if parsed else value.strip()  # pydicom gives None for spaces


def dicom_time(value: str) -> str:
    """A DICOM time (TM, "093000.25") to the minute: 09:30; one pydicom cannot read, as it is."""
    try:
        parsed = TM(value) if value else None
    except ValueError:
        return value
    return parsed.strftime("%H:%M") if parsed else value.strip()
