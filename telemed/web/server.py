"""daphne with back-pressure and a bounded request body.

    python -m telemed.web.server [daphne's options] telemed.asgi:application

Back-pressure: daphne hands every body message to Twisted at once and lets the application go
on, so a WADO-RS series (hundreds of MB) sent to a clinic on a 2 Mbit/s link was read from
storage into the server's memory as fast as the disk allowed, and sat there for minutes. Twisted
tells a registered push producer when a connection's buffer fills and when it has drained: each
streamed response registers one here, and the application's `send` of the next block waits for
it, so Django reads a block from storage only when the client has taken the one before. Over
plain TCP a block of a body with a known length goes from the application's message straight to
the socket (`_sent_directly`), where the kernel's buffer gives the same back-pressure; our
handler (the ASGI extension BODY_BLOCKS) gives it a block as the parts it was read in, which go
out with one sendmsg instead of being joined first.

A bounded body: Twisted writes a request's whole body to a temporary file before daphne passes
it on, whoever sends it and however large it is, so anyone could fill the server's disk; it read
a whole multipart/form-data body into memory to parse form arguments daphne never uses; and
daphne then read the whole body into messages for the application at once. A body beyond
HTTP_MAX_BODY_MB is now read and dropped as it comes, and refused with 413 and a reason in the
client's language (`BoundedRequest`); a body within it reaches the application a block at a
time, as the application reads (`_BodyFile`). A body of known length that fits in the process's
budget (HTTP_BODY_MEMORY_MB) is kept in memory as the blocks read from the socket rather than
written to Twisted's file and read back (`_BodyInMemory`).

A bounded request line: Twisted dropped the connection on one longer than 16 KB (a QIDO-RS query
of a few hundred UIDs), which a client reports as a network failure; it is answered 414 with a
reason in the client's language instead (`BoundedHTTPChannel`), the connection kept.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import io
import json
import logging
import os
import select
import time
from concurrent.futures import ThreadPoolExecutor

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from django.conf import settings
from django.http import HttpRequest
from django.urls import get_resolver
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from twisted.internet import tcp
from twisted.internet.interfaces import IPushProducer
from twisted.web.http import NO_BODY_CODES, HTTPChannel, Request, _GenericHTTPChannelProtocol
from zope.interface import implementer

from telemed.web.handler import BODY_BLOCKS, BODY_FILE, Block, FileRegion

HIGH_WATER = 4 * 1024 * 1024  # bytes a connection may hold before its response waits
REQUEST_BLOCK = 1024 * 1024
IN_MEMORY_FROM = 100_000  # below this, Twisted keeps a body in memory itself
METHOD_LIMIT = 16  # bytes kept of the start and the end of a request line too long to read
# A request line is skipped this far for its 414; beyond, the client is not a browser or a
# DICOMweb client with a long query, and the connection is dropped rather than kept open for it.
SKIPPED_LINE_LIMIT = 1024 * 1024
# Threads that send responses' FileRegions (_sent_with_files). One is held while sendfile reads
# a file and the socket takes bytes, and at most SEND_PATIENCE seconds more while it is full:
# never for as long as a client is slow to read, so a few serve every download at once.
FILE_SENDERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="http-sendfile")
SEND_PATIENCE = 0.01

logger = logging.getLogger(__name__)


@implementer(IPushProducer)
class _Writable:
    """Whether the client's connection can take more: paused and resumed by Twisted."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.event.set()

    def pauseProducing(self) -> None:
        self.event.clear()

    def resumeProducing(self) -> None:
        self.event.set()

    def stopProducing(self) -> None:  # the connection is gone: nothing is worth waiting for
        self.event.set()


class _Dropped:
    """Where a refused body goes: nowhere (Twisted still measures and rewinds it once it has all
    come)."""

    def write(self, data: bytes) -> None:
        pass

    def seek(self, offset: int, whence: int = 0) -> None:
        pass

    def tell(self) -> int:
        return 0

    def close(self) -> None:
        pass


def _sought(position: int, size: int, offset: int, whence: int) -> int:
    """Where a seek by `offset` from `whence` (0: the start, 1: `position`, 2: the end) lands."""
    return offset if whence == 0 else size + offset if whence == 2 else position + offset


class _Span:
    """A stretch of a request's body, read only when the application receives it."""

    __slots__ = ("source", "offset", "length")

    def __init__(self, source: _BodyFile, offset: int, length: int) -> None:
        self.source, self.offset, self.length = source, offset, length

    def __len__(self) -> int:
        return self.length

    def read(self) -> bytes:
        self.source.file.seek(self.offset)
        return self.source.file.read(self.length)


class _BodyFile:
    """A request's body as daphne reads it to queue the application's messages. daphne reads the
    whole body into messages before the application takes the first: a 300 MB STOW-RS body grew
    the server by 300 MB. Here a sized read gives a `_Span` instead of the bytes, and
    `_receiving_bodies` reads it when the application asks for that message, or hands the
    application the whole body as a file of its own (`region`)."""

    def __init__(self, file) -> None:
        self.file, self.position = file, 0
        self.size = file.seek(0, 2)

    @property
    def closed(self) -> bool:
        return self.file.closed

    def seek(self, offset: int, whence: int = 0) -> None:
        self.position = _sought(self.position, self.size, offset, whence)

    def read(self, size: int = -1) -> bytes | _Span:
        if size is None or size < 0:  # all of it at once (a WebSocket upgrade's request)
            self.file.seek(self.position)
            data = self.file.read()
            self.position += len(data)
            return data
        span = _Span(self, self.position, max(0, min(size, self.size - self.position)))
        self.position += span.length
        return span

    def close(self) -> None:
        self.file.close()

    def region(self) -> io.RawIOBase:
        """The whole body, read without a copy: the blocks of a body kept in memory
        (`_BodyInMemory`), or Twisted's temporary file through a descriptor of its own (Twisted
        closes its file when the request ends, maybe before the reader is done); a small body
        Twisted kept in memory, as bytes."""
        if isinstance(self.file, _BodyInMemory):
            return _Blocks(self.file.blocks)
        try:
            descriptor = self.file.fileno()
        except (AttributeError, io.UnsupportedOperation):
            return io.BytesIO(self.file.getvalue())
        return _Region(os.dup(descriptor), self.size)


class _BodyInMemory:
    """A request's body kept as the blocks Twisted read from the socket, neither joined nor
    written anywhere. Twisted writes any body of 100 KB or more to a temporary file, which the
    application then reads back: for a STOW-RS of 50 slices (25 MB) that write and read cost
    about a tenth of the server's CPU. A body comes here only if its length is known and fits in
    what is left of the process's budget (HTTP_BODY_MEMORY_MB), at most a quarter of it, so
    memory stays bounded however many clients send at once; the others go to a temporary file
    as before. Closing gives its part of the budget back (Twisted closes it when the request
    ends, whether answered or abandoned)."""

    held = 0  # bytes of the budget that bodies in memory hold in this process

    @classmethod
    def reserved(cls, length: int) -> _BodyInMemory | None:
        budget = settings.HTTP_BODY_MEMORY_BYTES
        if length > budget // 4 or cls.held + length > budget:
            return None
        cls.held += length
        return cls(length)

    def __init__(self, length: int) -> None:
        self.blocks: list[bytes] = []
        self.length, self.size, self.position, self.closed = length, 0, 0, False

    def write(self, data: bytes) -> None:
        self.blocks.append(bytes(data))  # Twisted's bytes as they are: no copy
        self.size += len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = _sought(self.position, self.size, offset, whence)
        return self.position

    def tell(self) -> int:
        return self.position

    def read(self, size: int = -1) -> bytes:
        """Joined bytes from the position: for daphne's own reads (a WebSocket upgrade's
        request), not the application's, which reads the blocks through `_Blocks`."""
        end = self.size if size is None or size < 0 else min(self.size, self.position + size)
        data, start = [], 0
        for block in self.blocks:
            if start + len(block) > self.position and start < end:
                data.append(block[max(0, self.position - start):end - start])
            start += len(block)
        self.position = max(self.position, end)
        return b"".join(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            type(self).held -= self.length
            self.blocks = []  # a reader (`_Blocks`) keeps its own reference for as long as it reads


class _Blocks(io.RawIOBase):
    """A body kept in memory, read a received block at a time, as it is (no copy)."""

    def __init__(self, blocks: list[bytes]) -> None:
        super().__init__()
        self.blocks, self.next, self.offset = blocks, 0, 0  # the next block, and how far into it

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.next >= len(self.blocks):
            return b""
        if size is None or size < 0:
            rest = [self.blocks[self.next][self.offset:], *self.blocks[self.next + 1:]]
            self.next, self.offset = len(self.blocks), 0
            return b"".join(rest)
        block = self.blocks[self.next]
        if self.offset == 0 and len(block) <= size:
            self.next += 1
            return block
        data = block[self.offset:self.offset + size]
        self.offset += len(data)
        if self.offset >= len(block):
            self.next, self.offset = self.next + 1, 0
        return data

    def close(self) -> None:
        self.blocks = []
        super().close()


class _Region(io.RawIOBase):
    """A read-only file over a descriptor, read at its own position (os.pread), so nothing else
    reading the same file moves it."""

    def __init__(self, descriptor: int, size: int) -> None:
        super().__init__()
        self.descriptor, self.size, self.position = descriptor, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self.position
        data = os.pread(self.descriptor, min(size, max(0, self.size - self.position)), self.position)
        self.position += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = max(0, {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        if not self.closed:
            os.close(self.descriptor)
        super().close()


def _receiving_bodies(application):
    """The application, with a `receive` that reads each queued `_Span`: one block of a body in
    memory at a time, however large the body. An HTTP application may instead take the whole
    body as a file (scope["extensions"][BODY_FILE], telemed/web/handler.py): no copy of it, and
    nothing read or written on the event loop; its body messages are then not delivered."""

    async def app(scope, receive, send):
        taken = False

        async def receive_read():
            while True:
                message = await receive()
                body = message.get("body")
                if not isinstance(body, _Span):
                    return message
                if taken:
                    continue
                if body.source.closed:  # the request ended (the client left) before its body was read
                    return {"type": "http.disconnect"}
                return {**message, "body": body.read()}

        async def take_body():
            """The body as a file once it has all come; None if the client left first."""
            nonlocal taken
            message = await receive()
            if message["type"] == "http.disconnect" or message["body"].source.closed:
                return None
            taken = True
            return message["body"].source.region()  # every body message of a BoundedRequest is a _Span

        if scope["type"] == "http":
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), BODY_FILE: take_body, BODY_BLOCKS: {}}}
        return await application(scope=scope, receive=receive_read, send=send)

    return app


class BoundedRequest(WebRequest):
    """A request refused before the application sees it: its body, declared or counted as it
    comes (chunked), is larger than HTTP_MAX_BODY_BYTES (413), or its request line was longer
    than Twisted takes (414, see `BoundedHTTPChannel`). The rest of the body is read and
    dropped, so the client finishes sending and reads the answer, in its language, and the
    connection stays usable. Any other request's body is handed to daphne as a `_BodyFile`."""

    def __init__(self, channel, *args, **kwargs) -> None:
        super().__init__(channel, *args, **kwargs)
        self._parsePOSTFormSubmission = False  # Twisted's form arguments: daphne never reads them
        self.body_bytes, self.refused = 0, None  # refused: the status it is answered with
        if getattr(channel, "uri_too_long", False):
            channel.uri_too_long, self.refused = False, 414

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > settings.HTTP_MAX_BODY_BYTES:
            self._drop_body(413)
        elif self.refused:
            self._drop_body(self.refused)
        elif length is not None and length >= IN_MEMORY_FROM and (body := _BodyInMemory.reserved(length)):
            self.content = body
        else:
            super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        self.body_bytes += len(data)
        if not self.refused and self.body_bytes > settings.HTTP_MAX_BODY_BYTES:
            self.content.close()  # the temporary file, with what came so far
            self._drop_body(413)
        self.content.write(data)

    def _drop_body(self, status: int) -> None:
        self.refused, self.content = status, _Dropped()

    def process(self):
        if not self.refused:
            self.content = _BodyFile(self.content)
            return super().process()
        self.handle_reply({"type": "http.response.start", "status": self.refused, "headers": [(b"content-type", b"application/json")]})
        self.handle_reply({"type": "http.response.body", "body": json.dumps({"detail": self._refusal_reason()}, ensure_ascii=False).encode()})
        return None

    def _refusal_reason(self) -> str:
        asked = HttpRequest()
        asked.META["HTTP_ACCEPT_LANGUAGE"] = (self.getHeader(b"accept-language") or b"").decode("latin-1")
        with translation.override(translation.get_language_from_request(asked)):
            if self.refused == 414:
                return _(
                    "The address of this request is longer than the %(limit)d KB this server accepts. "
                    "Ask for less in one request: fewer values in a query."
                ) % {"limit": HTTPChannel.MAX_LENGTH // 1024}
            return _(
                "The request is larger than the %(limit)d MB this server accepts at once (HTTP_MAX_BODY_MB). "
                "Send it in smaller requests: DICOM instances in several STOW-RS requests, a file in parts."
            ) % {"limit": settings.HTTP_MAX_BODY_BYTES // (1024 * 1024)}


class BoundedHTTPChannel(HTTPChannel):
    """Twisted's HTTP connection, but a request line longer than its line limit (MAX_LENGTH,
    16 KB: a query of a few hundred UIDs) is answered 414 rather than met by a dropped
    connection, which a client reports as a network failure. The rest of the line is skipped as
    it comes; the request goes on behind a short stand-in line with the same method and version,
    so that its headers are read (the reason is given in the language they ask for) and its body
    read and dropped by `BoundedRequest`, which answers it."""

    uri_too_long = False  # the request being started had a request line beyond MAX_LENGTH
    _skipping: bytes | None = None  # the start of such a line, while its rest is skipped
    _seen = b""  # the last bytes of it skipped so far: its version, or half a line break
    _skipped = 0  # how much of it has been skipped
    _given_up = b""  # what Twisted held of it when it gave up on it

    def lineLengthExceeded(self, line: bytes):
        if not self._HTTPChannel__first_line:  # a header line: dropped as Twisted does
            return super().lineLengthExceeded(line)
        self._skipping, self._given_up, self._skipped = line[:METHOD_LIMIT], line, 0
        return None

    def dataReceived(self, data: bytes) -> None:
        if self._skipping is not None:
            self.resetTimeout()
            data = self._after_long_line(data)
        if data:
            super().dataReceived(data)
        if self._given_up:  # Twisted gave up on a request line in that call: skip the rest of it
            given_up, self._given_up = self._given_up, b""
            self.dataReceived(given_up)

    def _after_long_line(self, data: bytes) -> bytes:
        """What follows the long line, led by the stand-in line; empty until the line ends."""
        seen = self._seen + data
        end = seen.find(b"\r\n")
        self._skipped += len(data) if end < 0 else end
        if self._skipped > SKIPPED_LINE_LIMIT:
            self._skipping = None
            self.transport.loseConnection()
            return b""
        if end < 0:
            self._seen = seen[-METHOD_LIMIT:]
            return b""
        method, version = self._skipping.split(b" ", 1)[0], seen[:end].rsplit(b" ", 1)[-1]
        self._skipping, self._seen, self.uri_too_long = None, b"", True
        return (method or b"GET") + b" / " + (version if version.startswith(b"HTTP/") else b"HTTP/1.1") + b"\r\n" + seen[end + 2:]


class BoundedHTTPFactory(HTTPFactory):
    def protocol(self) -> _GenericHTTPChannelProtocol:
        """Twisted's protocol for one connection (it may turn into HTTP/2), with our channel."""
        return _GenericHTTPChannelProtocol(BoundedHTTPChannel())

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BoundedRequest
        return protocol


class BackPressureServer(Server):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # daphne hands a request body to the application in messages of this size (8 KB unless
        # told, and its command line cannot tell it): a 25 MB STOW-RS body made 3,200 messages,
        # each awaited and written on its own. It has read the whole body before the first.
        self.request_buffer_size = REQUEST_BLOCK
        self.application = _receiving_bodies(self.application)
        warm_up()
        freeze_what_starting_made()

    async def handle_reply(self, protocol, message):
        body = isinstance(protocol, WebRequest) and message.get("type") == "http.response.body"
        if not body:
            return await super().handle_reply(protocol, message)
        if message.get("body") and (protocol.method == b"HEAD" or protocol.code in NO_BODY_CODES):
            # Twisted drops only the first write of such a response, and daphne writes the rest:
            # a HEAD of a series sent the series after its headers, as the next response.
            message = {**message, "body": b""}
        writable: _Writable | None = getattr(protocol, "_writable", None)
        more = message.get("more_body", False)
        open_ = not protocol.finished and protocol.channel is not None
        if more and writable is None and open_:
            # Before the first block is written, so the buffer is not already full when it registers.
            writable = protocol._writable = _Writable()
            protocol.registerProducer(writable, True)
            # Twisted pauses above 64 KB and resumes only once its buffer is empty: with blocks of
            # megabytes the client would wait for each next block to be read from storage.
            protocol.channel.transport.bufferSize = HIGH_WATER
        elif not more and writable is not None and open_:
            protocol.unregisterProducer()  # before daphne finishes the request, which expects none
        if more and open_ and message.get("body") and await self._sent_directly(protocol, writable, message["body"]):
            return
        if isinstance(message.get("body"), Block):  # Twisted writes bytes only (TLS, a chunked body)
            block = message["body"]
            joined = await asyncio.get_running_loop().run_in_executor(FILE_SENDERS, bytes, block) if block.has_regions else bytes(block)
            message = {**message, "body": joined}
        await super().handle_reply(protocol, message)
        if more and writable is not None:
            await writable.event.wait()

    @staticmethod
    async def _sent_directly(protocol: WebRequest, writable: _Writable, body: bytes | Block) -> bool:
        """A block of a streamed body with a known length, over plain TCP, goes from the block to
        the socket once Twisted has sent what it holds (the status line and headers, the rest of
        the block before): Twisted would copy most blocks once more, joining one to the rest of
        the one before (a seventh of a WADO-RS series' CPU). What the socket does not take at
        once is left to Twisted, which sends it as the client reads, so only Twisted ever watches
        the socket (an asyncio writer on it outlived the connection when a client left, and
        broke the next connection given the same descriptor). False where Twisted must write the
        block (TLS, a chunked body)."""
        Request.write(protocol, b"")  # the status line and headers, if they are not out yet
        transport = protocol.channel.transport
        if protocol.chunked or not isinstance(transport, tcp.Connection):
            return False
        _pause_until_sent(transport)
        await writable.event.wait()
        if protocol.finished or protocol.channel is None:  # the client left meanwhile
            return True
        if isinstance(body, Block) and body.has_regions:
            protocol.sentLength += len(body)
            await _sent_with_files(protocol, transport, writable, body.parts)
            return True
        try:
            sent = transport.socket.sendmsg(body.parts) if isinstance(body, Block) else transport.socket.send(body)
        except BlockingIOError:
            sent = 0
        except OSError:  # the client has gone: Twisted learns of it when it next reads
            transport.abortConnection()
            return True
        protocol.sentLength += len(body)
        if sent < len(body):
            # The rest goes in Twisted's buffer directly (_unsent: a bytes block as it stands,
            # with how far it was sent; a Block's unsent parts joined), and the next block waits
            # until it has gone. Twisted's buffer is empty here: it was waited for above.
            transport.dataBuffer, transport.offset = _unsent(body, sent)
            transport.startWriting()
            _pause_until_sent(transport)
            await writable.event.wait()
        return True


async def _sent_with_files(protocol: WebRequest, transport: tcp.Connection, writable: _Writable, parts: list) -> None:
    """A block with FileRegions, sent on a thread of FILE_SENDERS as far as the socket takes it
    (sendfile reads the files: disk waits stay off the event loop), then again each time Twisted
    finds the socket writable, until all of it has gone. The thread writes to its own duplicate
    of the socket's descriptor: if the client leaves meanwhile and Twisted closes its own, the
    number cannot be given to the next connection while the thread still writes to it."""
    try:
        descriptor = os.dup(transport.socket.fileno())
    except OSError:  # closed by Twisted already: the client has gone
        transport.abortConnection()
        return
    try:
        while parts:
            try:
                parts = await asyncio.get_running_loop().run_in_executor(FILE_SENDERS, _send_until_full, descriptor, parts)
            except ConnectionError:  # the client has gone: Twisted learns of it when it next reads
                transport.abortConnection()
                return
            except OSError:
                # A stored file gone or shorter than its promised length: the body cannot be
                # finished, and the client must see it cut short, not wait for the rest.
                logger.exception("A response body could not be read from its files")
                transport.abortConnection()
                return
            if parts:
                _pause_until_writable(transport)
                await writable.event.wait()
                if protocol.finished or protocol.channel is None:
                    return
    finally:
        os.close(descriptor)


def _send_until_full(descriptor: int, parts: list, patience: float = SEND_PATIENCE) -> list:
    """Sends `parts` (bytes and FileRegions) in order to a non-blocking socket; returns what is
    left, the first of it cut where the socket stopped, once it has taken nothing more for
    `patience` seconds. Waiting here that little, a client that reads as fast as the server
    sends (on this machine, on a fast network) keeps its socket busy: handing each full socket
    back to the event loop, and each writable one back to a thread, left it idle between, and a
    series went slower than with no sendfile at all."""
    writable = select.poll()
    writable.register(descriptor, select.POLLOUT)
    give_up = time.monotonic() + patience
    for n, part in enumerate(parts):
        with open(part.path, "rb") if isinstance(part, FileRegion) else contextlib.nullcontext() as handle:
            sent = 0
            while sent < len(part):
                count = _sent_once(descriptor, part, sent, handle)
                sent += count
                if count == 0 and not _writable_soon(writable, give_up):
                    rest = part.after(sent) if isinstance(part, FileRegion) else memoryview(part)[sent:]
                    return [rest, *parts[n + 1:]]
    return []


def _sent_once(descriptor: int, part, done: int, handle) -> int:
    """One write of what is left of `part` after its first `done` bytes (from the open `handle`
    of a FileRegion's file): how much the socket took, 0 when it was full."""
    try:
        if handle is None:
            return os.write(descriptor, memoryview(part)[done:])
        count = os.sendfile(descriptor, handle.fileno(), part.offset + done, part.length - done)
    except BlockingIOError:
        return 0
    if count == 0:  # the end of the file, before the end of the region
        raise OSError(f"{part.path} ended {part.length - done} bytes before the part it was to send")
    return count


def _writable_soon(poll: select.poll, give_up: float) -> bool:
    """Whether the socket can take more before `give_up` (or has failed: the next write says how)."""
    left = give_up - time.monotonic()
    return left > 0 and bool(poll.poll(left * 1000))


def _pause_until_writable(transport: tcp.Connection) -> None:
    """Pause the response until the socket can take more: Twisted, asked to write with nothing in
    its buffer, finds it empty as soon as the socket is writable and resumes the producer."""
    transport.startWriting()
    transport.producerPaused = True
    transport.producer.pauseProducing()


def _unsent(body: bytes | Block, sent: int) -> tuple[bytes, int]:
    """What is left of `body` after its first `sent` bytes, as a buffer and an offset into it: a
    Block's unsent parts are joined (the socket usually takes most of a block at once)."""
    if not isinstance(body, Block):
        return body, sent
    rest, skip = [], sent
    for part in body.parts:
        if skip >= len(part):
            skip -= len(part)
            continue
        rest.append(memoryview(part)[skip:] if skip else part)
        skip = 0
    return b"".join(rest), 0


def _pause_until_sent(transport: tcp.Connection) -> None:
    """Pause the response, as Twisted pauses a producer when its buffer is full, until Twisted
    has sent every byte it holds for the connection (it resumes a paused producer then). Its
    bufferSize cannot be lowered for this: it is also how much a read asks of the socket."""
    if transport._tempDataLen or len(transport.dataBuffer) > transport.offset:
        transport.producerPaused = True
        transport.producer.pauseProducing()


def warm_up() -> None:
    """Run the warm-ups that SERVER_WARM_UP names: work whose first time in a process costs more
    than the next (a render starts pydicom's pixel decoders and libjpeg), done before a request
    has to wait for it."""
    for name in settings.SERVER_WARM_UP:
        import_string(name)()


def freeze_what_starting_made() -> None:
    """Python's collector walks every object it tracks at each full collection: about 200,000 in
    a server process once Django, the views and pydicom's dictionaries are loaded, none of them
    ever garbage. In bench/dicomweb.py a full collection took about 60 ms, and the process that
    served the 125 first renders spent 1.4 ms a render collecting; the full collections of the
    whole run took 0.9 s. Objects made by starting are moved out of its sight (gc.freeze), and
    what requests make is collected as before: 0.7 ms a render, 0.2 s in the run."""
    get_resolver().url_patterns  # imports every view, and with them pydicom and the rest
    gc.collect()
    gc.freeze()


# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
BUFFERS_FROM_HEAP = 8 * 1024 * 1024
HEAP_KEPT = 32 * 1024 * 1024


def keep_large_buffers_in_the_heap() -> None:
    """The server handles buffers of 0.5–4 MB all day (DICOM instances, WADO-RS blocks). glibc
    maps each from the kernel and unmaps it when freed, so every one costs a page fault per 4 KB
    touched: copying a 512 KB instance took ten times as long as with the buffer taken from the
    heap, and STOW-RS at batch 50 ran about a quarter slower. Taking buffers up to 8 MB from the
    heap, and keeping up to 32 MB of freed heap per arena, ends that. No-op off glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(M_MMAP_THRESHOLD, BUFFERS_FROM_HEAP)
        libc.mallopt(M_TRIM_THRESHOLD, HEAP_KEPT)
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS): its allocator's own defaults
        pass


def main() -> None:
    keep_large_buffers_in_the_heap()
    CommandLineInterface.server_class = BackPressureServer
    daphne.server.HTTPFactory = BoundedHTTPFactory  # Server.run builds its factory from this name
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
