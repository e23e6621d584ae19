"""Our server keeps a request's body in memory, as the blocks it read from the socket, when its
length is known and it fits in the process's budget (HTTP_BODY_MEMORY_MB, at most a quarter of
it to one body); any other goes to a temporary file (telemed/web/server.py `_BodyInMemory`).

Who sends: the north clinic doctor, with a dicom:write token, to the server as deployed.
"""
from __future__ import annotations

import io
import socket
import time

import pytest
import requests
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyChannel

from telemed.web.server import BoundedRequest, _BodyFile, _BodyInMemory
from tests.conftest import proc_figure, serving
from tests.web.test_request_body_file import stored_byte_for_byte_through

MB = 1024 * 1024


@pytest.fixture
def budget(settings):
    settings.HTTP_BODY_MEMORY_BYTES = 8 * MB
    assert _BodyInMemory.held == 0
    yield
    assert _BodyInMemory.held == 0  # every test gives back what it took


def _received(blocks: list[bytes]) -> _BodyInMemory:
    body = _BodyInMemory.reserved(sum(map(len, blocks)))
    for block in blocks:
        body.write(block)
    return body


def test_a_body_within_a_quarter_of_the_budget_is_kept_in_memory_and_gives_its_share_back_once(budget):
    body = _BodyInMemory.reserved(2 * MB)
    assert body is not None and _BodyInMemory.held == 2 * MB
    body.close()
    body.close()
    assert _BodyInMemory.held == 0


def test_a_body_larger_than_a_quarter_of_the_budget_or_beyond_what_is_left_goes_to_a_file(budget):
    assert _BodyInMemory.reserved(2 * MB + 1) is None
    held = [_BodyInMemory.reserved(2 * MB) for _ in range(4)]
    assert all(held) and _BodyInMemory.reserved(1) is None  # the budget is spent
    held[0].close()
    again = _BodyInMemory.reserved(MB)
    assert again is not None
    for body in [*held[1:], again]:
        body.close()


def test_no_body_is_kept_in_memory_with_a_budget_of_nothing(settings):
    settings.HTTP_BODY_MEMORY_BYTES = 0
    assert _BodyInMemory.reserved(1) is None


def test_the_application_reads_the_blocks_as_they_came_without_a_copy(budget):
    blocks = [b"a" * 65536, b"b" * 1000, b"c" * 65536]
    body = _BodyFile(_received(blocks))
    region = body.region()
    read = [region.read(1024 * 1024) for _ in range(3)]
    assert all(got is sent for got, sent in zip(read, blocks)) and region.read(10) == b""
    body.close()


def test_a_smaller_read_takes_a_block_in_pieces_and_a_whole_read_takes_the_rest(budget):
    blocks = [b"0123456789", b"abcdef"]
    body = _BodyFile(_received(blocks))
    region = body.region()
    assert region.read(4) == b"0123" and region.read(4) == b"4567" and region.read(4) == b"89"
    assert region.read(3) == b"abc" and region.read() == b"def" and region.read() == b""
    region = body.region()
    assert region.read(2) == b"01" and region.read() == b"23456789abcdef"
    body.close()


def test_daphnes_own_reads_of_a_body_in_memory_give_each_stretch(budget):
    body = _BodyFile(_received([b"0123456789", b"abcdef"]))
    assert body.size == 16
    spans = [body.read(6), body.read(6), body.read(6)]
    assert [span.read() for span in spans] == [b"012345", b"6789ab", b"cdef"]
    body.seek(0)
    assert body.read() == b"0123456789abcdef"  # a WebSocket upgrade reads the whole request
    body.close()


def test_the_reader_still_has_the_body_after_the_request_ended(budget):
    body = _BodyFile(_received([b"DICM" * 1000]))
    region = body.region()
    body.close()  # the client left while a worker reads
    assert region.read() == b"DICM" * 1000 and _BodyInMemory.held == 0


class _Server:
    """What a daphne request tells its server about: here, nothing to do."""

    def protocol_connected(self, protocol) -> None:
        pass

    def protocol_disconnected(self, protocol) -> None:
        pass


def _request(length: int) -> BoundedRequest:
    """A request as our server's HTTP channel makes it, its headers read and its length known."""
    channel = DummyChannel()
    channel.factory = type("Factory", (), {"server": _Server()})()
    request = BoundedRequest(channel)
    request.gotLength(length)
    return request


def test_a_body_whose_client_leaves_half_way_gives_its_share_back(budget):
    request = _request(2 * MB)
    assert isinstance(request.content, _BodyInMemory) and _BodyInMemory.held == 2 * MB
    request.handleContentChunk(b"x" * 65536)
    request.connectionLost(Failure(ConnectionError("the clinic's link dropped")))
    assert _BodyInMemory.held == 0


def test_a_small_body_stays_with_twisted_and_a_large_one_goes_to_its_file(budget):
    assert isinstance(_request(1000).content, io.BytesIO) and _BodyInMemory.held == 0
    large = _request(3 * MB)
    assert not isinstance(large.content, _BodyInMemory) and large.content.fileno() >= 0
    large.content.close()


def test_bodies_sent_at_once_hold_no_more_memory_than_the_budget():
    """Eight clients each send most of a 1.9 MB body and wait: with a budget of 8 MB at most four
    bodies are in memory (7.6 MB); the others are written to files. Without the budget all eight
    would be, 15 MB."""
    with serving("tests.web.counting_app:application", {"DJANGO_SETTINGS_MODULE": "tests.settings", "HTTP_BODY_MEMORY_MB": "8"}) as (base, pid):
        requests.post(base + "/", data=b"warm" * 100_000, timeout=30)
        host, port = base.removeprefix("http://").split(":")
        before = proc_figure(pid, "status", "VmRSS")
        length, sent = int(1.9 * MB), int(1.8 * MB)
        clients = [socket.create_connection((host, int(port))) for _ in range(8)]
        for client in clients:
            client.sendall(f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n".encode() + b"x" * sent)
        time.sleep(1)  # everything sent has been read
        grown = proc_figure(pid, "status", "VmRSS") - before
        answers = []
        for client in clients:
            client.sendall(b"x" * (length - sent))
            with client.makefile("rb") as answer:
                answers.append(answer.read())  # to the end: the request asked to close
            client.close()
    assert all(answer.startswith(b"HTTP/1.1 200") and f" {length}\r\n".encode() in answer for answer in answers), answers
    assert grown < 10 * 1024  # kB: four bodies and the server's buffers, not eight


@pytest.mark.django_db(transaction=True)
def test_a_stow_rs_kept_in_memory_is_stored_byte_for_byte(live_daphne, cast):
    stored_byte_for_byte_through(live_daphne, cast)  # 6 MB: within a quarter of the default budget
