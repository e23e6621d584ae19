"""Stored files sent with sendfile (telemed/web/server.py `_send_until_full`): whatever the socket
takes at a time, the client gets every byte in order, and a file shorter than promised is never
sent short."""
from __future__ import annotations

import os
import select
import socket
import threading

import pytest

from telemed.web.handler import BLOCK, BLOCK_PARTS, FileRegion, _next_block, file_regions
from telemed.web.server import _send_until_full


@pytest.fixture
def connection():
    """A TCP connection on this machine: the server's end non-blocking with a small send buffer,
    what the client has read from the other end, and the client's start (it reads nothing before)."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    server, _ = listener.accept()
    listener.close()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
    server.setblocking(False)
    received = bytearray()

    def read():
        while chunk := client.recv(4096):
            received.extend(chunk)

    reader = threading.Thread(target=read)
    yield server, received, reader.start
    server.close()
    reader.join(10)
    client.close()


def _file(tmp_path, name: str, size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    (tmp_path / name).write_bytes(data)
    return str(tmp_path / name), data


def test_files_and_bytes_reach_the_client_in_order_whatever_the_socket_takes_at_a_time(tmp_path, connection):
    server, received, start_reading = connection
    first, first_data = _file(tmp_path, "first", 700_000)
    second, second_data = _file(tmp_path, "second", 300_000)
    parts = [b"head one|", FileRegion(first, 100, 600_000), b"|head two|", FileRegion(second, 0, 300_000), b"|end"]
    expected = b"head one|" + first_data[100:600_100] + b"|head two|" + second_data + b"|end"

    parts = _send_until_full(server.fileno(), parts)
    assert len(parts) > 1 and parts[-1] == b"|end"  # full before the client read a byte
    start_reading()
    while parts:
        select.select([], [server], [], 10)
        parts = _send_until_full(server.fileno(), parts)
    server.shutdown(socket.SHUT_WR)
    for _ in range(100):
        if len(received) == len(expected):
            break
        threading.Event().wait(0.05)
    assert bytes(received) == expected


def test_a_file_shorter_than_its_region_is_never_sent_short(tmp_path, connection):
    server, _received, start_reading = connection
    start_reading()
    path, _data = _file(tmp_path, "cut", 1000)
    region = FileRegion(path, 0, 5000)  # its file lost its end after the region was made
    with pytest.raises(OSError, match="ended 4000 bytes before"):
        _send_until_full(server.fileno(), [region])
    with pytest.raises(OSError, match="ended 4000 bytes before"):
        bytes(region)


def test_a_file_is_cut_into_regions_of_a_block_at_most():
    regions = list(file_regions("/stored", 2 * BLOCK + 10))
    assert [(r.offset, r.length) for r in regions] == [(0, BLOCK), (BLOCK, BLOCK), (2 * BLOCK, 10)]
    assert list(file_regions("/empty", 0)) == []


def test_a_block_takes_regions_by_their_count_not_their_size():
    """Regions hold no memory until they are sent: a block of them is bounded by its parts only."""
    parts = iter([FileRegion("/stored", 0, BLOCK)] * (BLOCK_PARTS + 1))
    block = _next_block(parts, unjoined=True)
    assert len(block.parts) == BLOCK_PARTS and block.has_regions
    last = _next_block(parts, unjoined=True)
    assert len(last.parts) == 1 and isinstance(last.parts[0], FileRegion)
