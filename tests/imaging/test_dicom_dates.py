"""DICOM dates and times (DA, TM) as every page writes them, the same in both languages; a value
pydicom cannot read is shown as sent."""
from __future__ import annotations

import pytest
from django.utils import translation

from imaging.dicom.dates import dicom_date, dicom_time


@pytest.mark.parametrize(("written_as", "value", "written"), [
    (dicom_date, "20261120", "2026-11-20"),
    (dicom_date, "2026.11.20", "2026-11-20"),  # the ACR-NEMA form some old modalities still send
    (dicom_date, "00010101", "0001-01-01"),
    (dicom_date, "20261340", "20261340"),
    (dicom_date, "", ""),
    (dicom_date, "  ", ""),  # padding alone: pydicom reads it as no date
    (dicom_time, "093000.25", "09:30"),
    (dicom_time, "0930", "09:30"),
    (dicom_time, "09", "09:00"),
    (dicom_time, "2500", "2500"),
    (dicom_time, "", ""),
    (dicom_time, " ", ""),
])
def test_a_dicom_date_is_written_year_month_day_and_a_time_to_the_minute_in_both_languages(written_as, value, written):
    for language in ("en", "zh-hans"):
        with translation.override(language):
            assert written_as(value) == written
