"""Our server offers the Django handler a request's body as a file of its own
(telemed/web/server.py `_BodyFile.region`, telemed/web/handler.py `_body`): read where Twisted
spooled it, with no copy and nothing read or written on the event loop.

Who sends: the north clinic doctor, with a dicom:write token, to the server as deployed.
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
import requests
from django.core.files.storage import default_storage

from imaging.dicom.synthetic import ct_series
from imaging.models import Instance
from telemed.accounts.models import Role
from telemed.web.server import _BodyFile
from tests.imaging.test_dicomweb import _multipart, _token


def _spooled(data: bytes):
    spooled = tempfile.TemporaryFile()
    spooled.write(data)
    return spooled


def test_the_body_is_read_whole_or_in_pieces_at_its_own_position():
    data = bytes(range(256)) * 4096  # 1 MB
    spooled = _spooled(data)
    body = _BodyFile(spooled)
    region = body.region()
    spooled.seek(10)  # Twisted's own position does not move the region's
    assert region.read(100) == data[:100] and region.tell() == 100
    assert region.read() == data[100:] and region.read(10) == b""
    region.seek(-5, io.SEEK_END)
    assert region.read() == data[-5:]
    region.close()
    assert not spooled.closed  # Twisted closes its own file


def test_the_body_can_still_be_read_after_twisted_has_closed_its_file():
    data = b"DICM" * 300_000
    spooled = _spooled(data)
    region = _BodyFile(spooled).region()
    spooled.close()  # the request ended (its response sent, or the client gone) while a worker reads
    assert region.read() == data
    region.close()


def test_a_small_body_twisted_kept_in_memory_comes_as_bytes():
    assert _BodyFile(io.BytesIO(b"username=a&password=b")).region().read() == b"username=a&password=b"


def stored_byte_for_byte_through(base: str, cast) -> None:
    """A STOW-RS of 12 slices (6 MB) to the server at `base` stores each as sent."""
    files = ct_series(slices=12, size=512)
    body, content_type = _multipart(files)
    response = requests.post(
        base + "/dicomweb/studies", data=body, timeout=60,
        headers={"Authorization": f"Bearer {_token(cast.north[Role.CLINIC_DOCTOR])}", "Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    stored = {Path(default_storage.path(i.file.name)).read_bytes()[128:] for i in Instance.objects.all()}
    assert stored == {f[128:] for f in files}  # as sent, past the preamble the ingest zeroes


@pytest.mark.django_db(transaction=True)
def test_a_stow_rs_of_several_mb_spooled_by_twisted_is_stored_byte_for_byte(live_daphne_spooling_bodies, cast):
    stored_byte_for_byte_through(live_daphne_spooling_bodies, cast)
