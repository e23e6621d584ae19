"""An Extended Offset Table pydicom cannot follow (the wrong length, or lengths beyond any file)
is stored, as the standard's lengths allow, but its frames cannot be cut out of the pixel data:
rendering, decoding or sending a frame as stored is refused with why (406), not a 500.

Who asks: the north clinic doctor who stored the files."""
from __future__ import annotations

import io
import struct

import pydicom
import pytest

from telemed.accounts.models import Role
from tests.imaging.corpus import jpeg_declaring, written
from tests.imaging.stored import instance_url, stored_by_north

pytestmark = pytest.mark.django_db

DECODED = f'multipart/related; type="application/octet-stream"; transfer-syntax={pydicom.uid.ExplicitVRLittleEndian}'
AS_STORED = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
ODD_TABLES = {
    "a table of 12 bytes, not a multiple of 8": (bytes(12), bytes(8)),
    "a frame length of 2**64 - 1 bytes": (bytes(8), struct.pack("<Q", 2**64 - 1)),
}


def _with_offset_table(table: bytes, lengths: bytes) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(jpeg_declaring(rows=16, columns=16, header_rows=16, header_columns=16)))
    dataset.ExtendedOffsetTable, dataset.ExtendedOffsetTableLengths = table, lengths
    return written(dataset)


@pytest.mark.parametrize("odd", ODD_TABLES)
def test_a_frame_behind_an_extended_offset_table_that_cannot_be_followed_is_refused_with_why(cast, client_for, odd):
    instance = stored_by_north(cast, _with_offset_table(*ODD_TABLES[odd]))
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    viewer = f"/imaging/studies/{instance.series.study.pk}/view/{instance.series.series_instance_uid}/{instance.sop_instance_uid}/1/window/"
    for url, accept in [
        (instance_url(instance, "/frames/1/rendered"), "image/png"),
        (instance_url(instance, "/frames/1"), DECODED),
        (instance_url(instance, "/frames/1"), AS_STORED),
        (viewer, "application/json"),
    ]:
        response = client.get(url, HTTP_ACCEPT=accept)
        assert response.status_code == 406, (url, accept)
        assert "the frame cannot be found in the encapsulated pixel data" in response.json()["detail"], (url, accept)
