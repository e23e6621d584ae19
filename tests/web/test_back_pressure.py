"""A client that reads slowly (a clinic on a weak link fetching a CT series) holds back the
server: the series is read from storage as the client takes it, not into the server's memory."""
from __future__ import annotations

import io
import os
import socket
import time
from datetime import timedelta

import numpy as np
import pydicom
import pytest
import requests
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from imaging.models import Instance
from imaging.services.ingest import instances_ingest
from telemed.accounts.models import Role
from telemed.accounts.services.tokens import token_create
from tests.conftest import _test_database_url, proc_figure, serving
from tests.imaging.corpus import ct_series, written, zeroed_preamble
from tests.imaging.test_dicomweb import _parts

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MB = 1024 * 1024
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@pytest.fixture
def server(django_db_blocker):
    """Our server (`python -m telemed.web.server`) on the test database: its address and pid."""
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(settings.DATA_DIR), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    with serving("telemed.asgi:application", env, ready_path="/healthz") as (base, pid):
        yield int(base.rsplit(":", 1)[1]), pid


def _resident_mb(pid: int) -> float:
    return proc_figure(pid, "status", "VmRSS") / 1024


def _stored_series(cast, *, slices: int, size: int = 512, rle: bool = False) -> tuple[list[bytes], str, str]:
    """A CT series stored by the north clinic (RLE compressed if asked): its files, its WADO-RS
    path and a token to read it."""
    doctor = cast.north[Role.CLINIC_DOCTOR]
    files = ct_series(slices=slices, size=size)
    if rle:
        files = [_rle(f) for f in files]
    instances_ingest(streams=[io.BytesIO(f) for f in files], institution=cast.north.clinic, by=doctor, source="test")
    token = token_create(owner=doctor, by=doctor, name="viewer", scopes=["dicom:read"], expires_at=timezone.now() + timedelta(days=1))[1]
    header = pydicom.dcmread(io.BytesIO(files[0]), stop_before_pixels=True)
    return files, f"/dicomweb/studies/{header.StudyInstanceUID}/series/{header.SeriesInstanceUID}", token


def _rle(data: bytes) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.compress(RLELossless)
    return written(dataset)


def _request(method: str, path: str, token: str, *, close: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}",
             f"Accept: {AS_STORED}"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _get(port: int, path: str, token: str) -> socket.socket:
    """A GET from a client with a small receive window, so the kernel's buffers hold little."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    client.connect(("127.0.0.1", port))
    client.sendall(_request("GET", path, token))
    return client


def test_a_slow_client_holds_back_the_series_instead_of_filling_the_servers_memory(server, cast):
    port, pid = server
    files, path, token = _stored_series(cast, slices=100)  # 100 × 0.5 MB
    series_mb = sum(map(len, files)) / MB

    before = _resident_mb(pid)
    client = _get(port, path, token)
    first = client.recv(64 * 1024)
    assert first.startswith(b"HTTP/1.1 200"), first[:200]
    time.sleep(3)  # the client reads nothing: the server must stop reading the series too
    grown = _resident_mb(pid) - before
    assert grown < series_mb / 3, f"the server took {grown:.0f} MB for a {series_mb:.0f} MB series its client is not reading"

    received = len(first)
    while chunk := client.recv(MB):
        received += len(chunk)
    client.close()
    assert received > sum(map(len, files)), "the whole series arrives once the client reads again"


def test_a_series_sent_straight_to_the_socket_arrives_whole_on_a_reused_connection(server, cast):
    """The server writes a streamed body's blocks to the socket itself once its headers have gone
    (telemed/web/server.py): the bytes, the framing and the connection's next requests must hold."""
    port, _pid = server
    files, path, token = _stored_series(cast, slices=20)
    url = f"http://127.0.0.1:{port}{path}"
    expected = sorted(zeroed_preamble(f) for f in files)
    with requests.Session() as session:
        session.headers.update({"Authorization": f"Bearer {token}", "Accept": AS_STORED})
        for _ in range(2):
            response = session.get(url, timeout=60)
            assert response.status_code == 200
            assert int(response.headers["Content-Length"]) == len(response.content)
            assert sorted(_parts(response)) == expected
        head = session.head(url, timeout=60)
        assert head.status_code == 200 and head.content == b""
        assert session.get(f"http://127.0.0.1:{port}/healthz", timeout=60).status_code == 200
    # On the wire: a HEAD's answer ends with its headers (a series after them would be read as
    # the answer to the next request on the connection).
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(_request("HEAD", path, token, close=False) + _request("GET", "/healthz", token))
        client.settimeout(30)
        answers = b""
        while chunk := client.recv(MB):
            answers += chunk
    head, _, rest = answers.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and rest.startswith(b"HTTP/1.1 200"), rest[:80]


def test_a_client_that_leaves_mid_series_leaves_the_server_serving(server, cast):
    port, _pid = server
    _files, path, token = _stored_series(cast, slices=60)
    for _ in range(3):
        client = _get(port, path, token)
        assert client.recv(64 * 1024).startswith(b"HTTP/1.1 200")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # leave with a reset
        client.close()
    time.sleep(1)
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        whole = session.get(f"http://127.0.0.1:{port}{path}", headers={"Accept": AS_STORED}, timeout=60)
        assert whole.status_code == 200 and len(whole.content) == int(whole.headers["Content-Length"])
        assert session.get(f"http://127.0.0.1:{port}/healthz", timeout=60).status_code == 200


def test_a_series_streamed_without_a_length_arrives_whole_in_chunks(server, cast):
    """Decoded on the way (stored as RLE, asked in Explicit VR Little Endian), a series has no
    Content-Length: Twisted writes each block as a chunk, and needs it as bytes."""
    port, _pid = server
    files, path, token = _stored_series(cast, slices=12, size=256, rle=True)
    answer = requests.get(f"http://127.0.0.1:{port}{path}", timeout=60, headers={
        "Authorization": f"Bearer {token}", "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={ExplicitVRLittleEndian}',
    })
    assert answer.status_code == 200 and answer.headers["Transfer-Encoding"] == "chunked"
    received = sorted((pydicom.dcmread(io.BytesIO(part)) for part in _parts(answer)), key=lambda d: d.InstanceNumber)
    sent = sorted((pydicom.dcmread(io.BytesIO(f)) for f in files), key=lambda d: d.InstanceNumber)
    assert [d.file_meta.TransferSyntaxUID for d in received] == [ExplicitVRLittleEndian] * 12
    assert all(np.array_equal(r.pixel_array, s.pixel_array) for r, s in zip(received, sent))


def test_a_stored_file_gone_mid_series_cuts_the_answer_short_and_leaves_the_server_serving(server, cast):
    """The body's length was promised: a file that cannot be read once the answer has started
    ends the connection, so the client sees a short body rather than waiting for the rest."""
    port, _pid = server
    files, path, token = _stored_series(cast, slices=40)
    client = _get(port, path, token)
    received = client.recv(64 * 1024)
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    length = int(next(line for line in received.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[1])
    for instance in Instance.objects.filter(instance_number__gt=30):
        os.remove(default_storage.path(instance.file.name))
    client.settimeout(30)
    with pytest.raises(ConnectionResetError):  # the server aborts: no clean end a client could take for the whole
        while chunk := client.recv(MB):
            received += chunk
    client.close()
    assert len(received.partition(b"\r\n\r\n")[2]) < length
    with requests.Session() as session:
        assert session.get(f"http://127.0.0.1:{port}/healthz", timeout=60).status_code == 200
