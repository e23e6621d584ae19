"""A stored file damaged in storage since ingest read it (here no longer a DICOM file at all: no
'DICM' after its preamble) is refused with why (406) wherever its pixel data is asked for, not a
500.

Who asks: the north clinic doctor who stored the file."""
from __future__ import annotations

import pydicom
import pytest
from django.core.files.storage import default_storage

from telemed.accounts.models import Role
from tests.imaging.corpus import jpeg_declaring
from tests.imaging.stored import instance_url, stored_by_north

pytestmark = pytest.mark.django_db

DECODED = f'multipart/related; type="application/octet-stream"; transfer-syntax={pydicom.uid.ExplicitVRLittleEndian}'
AS_STORED = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def test_a_compressed_file_that_is_no_longer_dicom_in_storage_is_refused_with_why(cast, client_for):
    instance = stored_by_north(cast, jpeg_declaring(rows=16, columns=16, header_rows=16, header_columns=16))
    path = default_storage.path(instance.file.name)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:128] + b"XXXX" + data[132:])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for tail, accept in [("/frames/1/rendered", "image/png"), ("/frames/1", DECODED), ("/frames/1", AS_STORED), ("/bulkdata/7FE00010", AS_STORED)]:
        response = client.get(instance_url(instance, tail), HTTP_ACCEPT=accept)
        assert response.status_code == 406, (tail, accept)
        assert "the image pixel module cannot be read" in response.json()["detail"], (tail, accept)
