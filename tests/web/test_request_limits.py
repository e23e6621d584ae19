"""Our server refuses a request body beyond HTTP_MAX_BODY_MB (telemed/web/server.py) without
keeping it anywhere, and says why in the client's language; a body within the limit reaches the
application whole, and is not held in the server's memory on the way.

The server runs `counting_app`, which answers how many messages a body came in and its size: a
refused body never reaches it.
"""
from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from tests.conftest import proc_figure, serving

MB = 1024 * 1024
LIMIT_MB = 8


@contextmanager
def counting_server(**settings: str) -> Iterator[tuple[str, int]]:
    """Our server running `counting_app`, with a body limit of LIMIT_MB: its URL and process id."""
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "HTTP_MAX_BODY_MB": str(LIMIT_MB), **settings}
    with serving("tests.web.counting_app:application", env) as (base, pid):
        yield base + "/", pid


@pytest.fixture(scope="module")
def server():
    with counting_server() as running:
        yield running


def _written(pid: int) -> int:
    """Bytes the server has handed to write-like system calls so far: files and sockets."""
    return proc_figure(pid, "io", "wchar")


def test_a_body_within_the_limit_reaches_the_application_whole(server):
    base, _pid = server
    response = requests.post(base, data=b"x" * (LIMIT_MB * MB), timeout=30)
    assert response.status_code == 200
    assert int(response.text.split()[1]) == LIMIT_MB * MB


def test_a_body_declared_beyond_the_limit_is_refused_with_a_reason_and_written_nowhere(server):
    base, pid = server
    before = _written(pid)
    response = requests.post(base, data=b"x" * (5 * LIMIT_MB * MB), timeout=60)
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert f"larger than the {LIMIT_MB} MB" in detail and "HTTP_MAX_BODY_MB" in detail and "smaller requests" in detail
    assert _written(pid) - before < 64 * 1024  # the answer and a log line: none of the 40 MB


def test_a_chunked_body_is_refused_once_it_grows_beyond_the_limit(server):
    base, pid = server
    before = _written(pid)
    response = requests.post(base, data=(b"x" * MB for _ in range(5 * LIMIT_MB)), timeout=60)
    assert response.status_code == 413 and "HTTP_MAX_BODY_MB" in response.json()["detail"]
    assert _written(pid) - before < (LIMIT_MB + 2) * MB  # what came before it was known to be too large


def test_the_reason_comes_in_the_clients_language(server):
    base, _pid = server
    response = requests.post(base, data=b"x" * (LIMIT_MB * MB + 1), headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=30)
    assert response.status_code == 413
    assert "请求" in response.json()["detail"] and "HTTP_MAX_BODY_MB" in response.json()["detail"]


def test_the_connection_serves_the_next_request_after_a_refusal(server):
    base, _pid = server
    with requests.Session() as session:
        assert session.post(base, data=b"x" * (2 * LIMIT_MB * MB), timeout=30).status_code == 413
        after = session.post(base, data=b"fine", timeout=30)
    assert after.status_code == 200 and after.text.split()[1] == "4"


@pytest.mark.parametrize("upload", ["stow", "form"])
def test_a_body_is_not_held_in_the_servers_memory(upload):
    """daphne read a whole body into messages before the application took the first, and
    Twisted read a whole multipart/form-data body to parse form arguments daphne never uses: a
    7 MB body grew the server by 7 MB, a 300 MB one by 300 MB. (A body the process's budget lets
    it keep in memory is kept there on purpose: test_request_body_memory; here there is none.)"""
    payload = os.urandom(LIMIT_MB * MB - MB)
    sent = {"data": payload, "headers": {"Content-Type": "multipart/related; type=application/dicom"}} if upload == "stow" else {
        "files": {"attachment": ("scan.pdf", payload, "application/pdf")}
    }
    with counting_server(HTTP_BODY_MEMORY_MB="0") as (base, pid):
        requests.get(base, timeout=30)
        before = proc_figure(pid, "status", "VmHWM")
        response = requests.post(base, timeout=30, **sent)
        grown = proc_figure(pid, "status", "VmHWM") - before
    assert response.status_code == 200 and int(response.text.split()[1]) >= len(payload)
    assert grown < 3 * 1024  # kB: a 1 MB block or two at a time, not the body


LONG_QUERY = "?StudyInstanceUID=" + ",".join(["1.2.826.0.1.3680043.8.498.12345678901234567890"] * 400)  # 19 KB


def test_a_request_line_beyond_16_kb_is_answered_414_with_a_reason_not_a_dropped_connection(server):
    base, _pid = server
    response = requests.get(base + LONG_QUERY, timeout=30)
    assert response.status_code == 414
    assert "longer than the 16 KB" in response.json()["detail"] and "fewer values" in response.json()["detail"]


def test_the_414_comes_in_the_clients_language_and_the_connection_serves_the_next_request(server):
    base, _pid = server
    with requests.Session() as session:
        refused = session.post(base + LONG_QUERY, data=b"x" * MB, headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=30)
        after = session.post(base, data=b"fine", timeout=30)
    assert refused.status_code == 414 and "地址" in refused.json()["detail"]
    assert after.status_code == 200 and after.text.split()[1] == "4"


def test_a_long_request_line_arriving_in_pieces_is_answered_414(server):
    """The line's end, and the break after it, may come in another read than its start."""
    base, _pid = server
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"GET /" + LONG_QUERY.encode() + b" HTTP/1.1\r")
        time.sleep(0.3)
        connection.sendall(b"\nHost: x\r\nAccept-Language: en\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        answer = b""
        while received := connection.recv(65536):
            answer += received
    assert answer.startswith(b"HTTP/1.1 414 ") and b"16 KB" in answer


def test_a_request_line_that_never_ends_is_dropped_once_a_megabyte_of_it_is_skipped(server):
    """Skipped for its 414 up to a point: a line that goes on and on would hold the connection."""
    base, _pid = server
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"GET /?q=")
        try:
            while sent < 64 * MB:
                connection.sendall(b"x" * 65536)
                sent += 65536
        except OSError:  # the server closed it: a reset, or a broken pipe
            pass
    assert sent < 16 * MB
