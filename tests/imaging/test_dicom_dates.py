"""DICOM dates and times (DA, TM) as every page writes them, the same in both languages; a value
pydicom cannot read is shown as sent."""
from __future__ import annotations

import pytest
from django.utils import translation

from imaging.dicom.dates import dicom_date, dicom_time


@pytest.mark.parametrize(("value", "written"), [
    ("20261120", "2026-11-20"),
    ("2026.11.20", "2026-11-20"),  # the ACR-NEMA form some old modalities still send
    ("00010101", "0001-01-01"),
    ("20261340", "20261340"),
    ("", ""),
])
def test_a_dicom_date_is_written_year_month_day_in_both_languages(value, written):
    for language in ("en", "zh-hans"):
        with translation.override(language):
            assert dicom_date(value) == written


@pytest.mark.parametrize(("value", "written"), [
    ("093000.25", "09:30"),
    ("0930", "09:30"),
    ("09", "09:00"),
    ("2500", "2500"),
    ("", ""),
])
def test_a_dicom_time_is_written_to_the_minute_in_both_languages(value, written):
    for language in ("en", "zh-hans"):
        with translation.override(language):
            assert dicom_time(value) == written
