"""FILE_STORAGE=s3 against a real S3-compatible server: moto's, on a local port, standing in for
the object store at the one seam it replaces. The archive's files go there and come back."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pydicom
import pytest
from django.conf import settings as django_settings

from imaging.models import Instance, Study
from imaging.services.exports import export_request, export_run
from imaging.services.ingest import Status, instance_ingest
from telemed.accounts.models import Role
from tests.conftest import free_port
from tests.imaging.corpus import ct_series, malformed, zeroed_preamble

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "telemed-studies"
KEYS = {"S3_ACCESS_KEY": "test-access", "S3_SECRET_KEY": "test-secret", "S3_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    _bucket(endpoint).create()
    yield endpoint
    server.stop()


def _bucket(endpoint: str):
    s3 = boto3.resource("s3", endpoint_url=endpoint, aws_access_key_id=KEYS["S3_ACCESS_KEY"], aws_secret_access_key=KEYS["S3_SECRET_KEY"], region_name=KEYS["S3_REGION"])
    return s3.Bucket(BUCKET)


def _keys(endpoint: str, prefix: str = "") -> set[str]:
    return {o.key for o in _bucket(endpoint).objects.filter(Prefix=prefix)}


def test_the_environment_selects_s3_and_the_health_check_round_trips_through_it(s3_endpoint, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DJANGO_SETTINGS_MODULE="telemed.settings", DATA_DIR=str(tmp_path), FILE_STORAGE="s3", S3_BUCKET=BUCKET, S3_ENDPOINT_URL=s3_endpoint, **KEYS)
    script = "import django; django.setup(); from telemed.web.health import check_storage; print(check_storage())"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "S3Storage"
    assert not _keys(s3_endpoint, "health/")  # written, read back and deleted


@pytest.fixture
def s3_storage(s3_endpoint, settings):
    """The default storage exactly as settings.py builds it for FILE_STORAGE=s3."""
    options = {
        "bucket_name": BUCKET, "endpoint_url": s3_endpoint, "access_key": KEYS["S3_ACCESS_KEY"], "secret_key": KEYS["S3_SECRET_KEY"],
        "region_name": KEYS["S3_REGION"], "default_acl": "private", "querystring_auth": True, "file_overwrite": False,
    }
    settings.STORAGES = {**django_settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}}
    yield s3_endpoint


@pytest.mark.django_db
def test_studies_are_stored_in_the_bucket_under_server_made_keys_and_retrieved(s3_storage, cast, client_for):
    files = ct_series(slices=3)
    results = [instance_ingest(stream=io.BytesIO(d), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test") for d in files]
    assert [r.status for r in results] == [Status.STORED] * 3
    keys = _keys(s3_storage, f"dicom/{cast.north.clinic.pk}/")
    assert keys == {i.file.name for i in Instance.objects.all()}
    assert all(len(Path(k).stem) == 32 for k in keys)  # a uuid, never a name the sender chose
    study = Study.objects.get()
    series = study.series.get()
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/dicomweb/studies/{study.study_instance_uid}/series/{series.series_instance_uid}")
    body = b"".join(response.streaming_content)
    assert response.status_code == 200 and all(zeroed_preamble(d) in body for d in files)


@pytest.mark.django_db
def test_refused_files_leave_nothing_in_the_bucket(s3_storage, cast):
    before = _keys(s3_storage)
    for data in malformed().values():
        instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    cast.north.clinic.dicom_quota_bytes = 1
    cast.north.clinic.save()
    assert instance_ingest(stream=io.BytesIO(ct_series(slices=1)[0]), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test").status == Status.OVER_QUOTA
    assert _keys(s3_storage) == before


@pytest.mark.django_db
def test_a_teaching_export_is_written_to_and_downloaded_from_the_bucket(s3_storage, cast, client_for):
    for data in ct_series(slices=2):
        instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    export = export_run(export_id=export_request(by=cast.north[Role.CLINIC_DOCTOR], study=Study.objects.get()).pk)
    assert export.status == "done" and export.file.name in _keys(s3_storage, "exports/")
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/exports/{export.pk}/download/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = [n for n in archive.namelist() if n.endswith(".dcm")]
    assert len(names) == 2 and pydicom.dcmread(io.BytesIO(archive.read(names[0]))).PatientIdentityRemoved == "YES"
