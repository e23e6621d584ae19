"""The archive's settings come from the environment too: quota, AE title, DICOMweb CORS origins."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.web.test_settings import ROOT

SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DICOM_DEFAULT_QUOTA_BYTES, s.DICOM_AE_TITLE, ','.join(s.CORS_ALLOWED_ORIGINS) or '-', s.CORS_URLS_REGEX, s.CORS_ALLOW_CREDENTIALS)"
)


def _start(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    clean.update(DJANGO_SETTINGS_MODULE="telemed.settings", DATA_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_defaults_allow_no_origin_and_keep_100_gb_per_institution(tmp_path):
    result = _start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(100 * 1024**3), "TELEMED", "-", "^/dicomweb/.*$", "False"]


def test_values_come_from_the_environment(tmp_path):
    result = _start(tmp_path, DICOM_QUOTA_GB="0", DICOM_AE_TITLE="CITY_ARCHIVE", DICOMWEB_CORS_ORIGINS="https://ohif.example.org, http://localhost:3000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["0", "CITY_ARCHIVE", "https://ohif.example.org,http://localhost:3000"]


@pytest.mark.parametrize(("env", "message"), [
    ({"DICOM_QUOTA_GB": "-5"}, "DICOM_QUOTA_GB=-5 is below the minimum of 0"),
    ({"DICOM_QUOTA_GB": "lots"}, "DICOM_QUOTA_GB='lots' is not a whole number"),
    ({"DICOM_AE_TITLE": "A_TITLE_TOO_LONG_FOR_DICOM"}, "at most 16 characters"),
    ({"DICOM_AE_TITLE": "CITY\\PACS"}, "backslash"),
    ({"DICOMWEB_CORS_ORIGINS": "ohif.example.org"}, "DICOMWEB_CORS_ORIGINS: 'ohif.example.org' is not an origin"),
    ({"DICOMWEB_CORS_ORIGINS": "https://ohif.example.org/viewer"}, "is not an origin"),
])
def test_a_bad_archive_setting_stops_the_start(tmp_path, env, message):
    result = _start(tmp_path, **env)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and message in result.stderr
