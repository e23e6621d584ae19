"""multipart/related without Django: read parts into files, write parts as a stream.

Reading never keeps more than one chunk in memory; every part goes to its own file (STOW-RS
hands the ingest service's spool, so a part is written to disk once), and the whole body is
read before any part is used, so a malformed body stores nothing.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

CHUNK = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024


class MultipartError(ValueError):
    """The body is not a well-formed multipart message; the message says why."""


@dataclass
class Part:
    headers: dict[str, str]  # lower-case names
    file: Any  # what `open_part` made, at the start of the body
    too_large: bool = False  # longer than the limit: the rest was read and dropped

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class _Reader:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.buffer, self.eof = stream, b"\r\n", False  # a leading CRLF makes every delimiter alike

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True


def read_parts(stream: BinaryIO, boundary: str, *, part_limit: int, open_part: Callable[[], Any]) -> list[Part]:
    """Every part of the body, each written to a new `open_part()` (anything with write, seek
    and close); the caller closes them.

    A part longer than `part_limit` keeps only its first bytes and is marked too large, so a
    huge body cannot fill the disk.
    """
    if not boundary or len(boundary) > 70:
        raise MultipartError("the boundary parameter is missing or longer than 70 characters")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    reader, parts = _Reader(stream), []
    try:
        _skip_to(reader, delimiter)
        while _after_delimiter(reader):
            headers = _headers(reader)
            body = open_part()
            parts.append(Part(headers, body))
            parts[-1].too_large = _copy_to(reader, delimiter, body, part_limit)
            body.seek(0)
    except BaseException:
        for part in parts:
            part.file.close()
        raise
    return parts


def _skip_to(reader: _Reader, delimiter: bytes) -> None:
    while (at := reader.buffer.find(delimiter)) < 0:
        reader.buffer = reader.buffer[-len(delimiter):]
        if not reader.fill():
            raise MultipartError("the body does not contain the boundary")
    reader.buffer = reader.buffer[at + len(delimiter):]


def _after_delimiter(reader: _Reader) -> bool:
    """True if a part follows the delimiter just read, False after the closing one."""
    while len(reader.buffer) < 2 and reader.fill():
        pass
    if reader.buffer.startswith(b"--"):
        return False
    while (end := reader.buffer.find(b"\r\n")) < 0:
        if len(reader.buffer) > 1024 or not reader.fill():
            raise MultipartError("a boundary line is not ended by CRLF")
    if reader.buffer[:end].strip(b" \t"):
        raise MultipartError("unexpected characters after a boundary")
    reader.buffer = reader.buffer[end + 2:]
    return True


def _headers(reader: _Reader) -> dict[str, str]:
    while True:
        if reader.buffer.startswith(b"\r\n"):
            reader.buffer = reader.buffer[2:]
            return {}
        end = reader.buffer.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(reader.buffer) > MAX_HEADER_BYTES or not reader.fill():
            raise MultipartError("the headers of a part are not ended by an empty line")
    block, reader.buffer = reader.buffer[:end], reader.buffer[end + 4:]
    headers = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            raise MultipartError("a part header has no colon")
        headers[name.strip().lower()] = value.strip()
    return headers


def _copy_to(reader: _Reader, delimiter: bytes, out: BinaryIO, limit: int) -> bool:
    """Copy the part's body up to the next delimiter; True if it was longer than `limit`."""
    written, too_large = 0, False

    def write(data: memoryview) -> None:
        nonlocal written, too_large
        if written + len(data) > limit:
            too_large = True
        if not too_large:
            out.write(data)
            written += len(data)

    while True:
        at = reader.buffer.find(delimiter)
        if at >= 0:
            write(memoryview(reader.buffer)[:at])  # a view: a part is not copied on its way out
            reader.buffer = reader.buffer[at + len(delimiter):]
            return too_large
        keep = len(delimiter) - 1  # the start of a delimiter split across two chunks
        if len(reader.buffer) > keep:
            write(memoryview(reader.buffer)[:-keep])
            reader.buffer = reader.buffer[-keep:]
        if not reader.fill():
            raise MultipartError("the body ends inside a part (no closing boundary)")


def new_boundary() -> str:
    return uuid.uuid4().hex


def _part_head(boundary: str, content_type: str) -> bytes:
    return f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()


def _closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode()


def write_parts(boundary: str, parts: Iterable[tuple[str, Iterable[bytes]]]) -> Iterator[bytes]:
    """A multipart/related body from (content type, chunks) pairs, one chunk at a time."""
    for content_type, chunks in parts:
        yield _part_head(boundary, content_type)
        yield from chunks
        yield b"\r\n"
    yield _closing(boundary)


def parts_length(boundary: str, parts: Iterable[tuple[str, int]]) -> int:
    """The length of what write_parts sends for parts of these (content type, size) pairs."""
    return sum(len(_part_head(boundary, content_type)) + size + 2 for content_type, size in parts) + len(_closing(boundary))
