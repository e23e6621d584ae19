"""Django's HTTP handling under ASGI, with each request's synchronous work on one reused thread.

Django's own ASGIHandler serves a synchronous view by starting a new thread for every request
(asgiref's ThreadSensitiveContext), and crosses between that thread and the event loop four
times: into the middleware, back out to the async handler core, into the view, and out again;
a streamed body over a plain iterator is then read whole into a list before its first byte
leaves. On this project's development machine a view that does nothing, behind our middleware,
took 2.54 ms of server CPU that way and takes 0.98 ms here: the difference was about half of a
small DICOMweb request's CPU (README, Performance).

Here a request borrows one long-lived worker thread and keeps it until its response has been
sent: the signals, the synchronous middleware chain and the view run there in one call. A body
held in memory (most answers) is closed there too, so the request crosses to the worker and back
once. A streamed body is read there a block at a time, as the client takes them (the
back-pressure server makes each send wait); a body read from files only gives the worker back
first and is read on a thread of its own. Everything Django promises a synchronous view holds:
one thread for the request's database connection and transactions (an audit export streams a
queryset over it), `async_to_sync` inside a view runs on the server's event loop (as the
in-memory channel layer requires), what the view set in context variables (the active language)
is still set while its body is streamed, and a client that leaves stops the response.
"""
from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import AsyncIterator, TypeVar

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.urls import set_script_prefix

Result = TypeVar("Result")
# Daphne and Twisted cost about as much per message as per megabyte: on bench/dicomweb.py's
# 125-slice series, 1 MB messages that Django sliced again went at about 700 MB/s, whole 2 MB
# ones at about 950 MB/s; since server.py sends each block straight to the socket, 2 MB blocks
# went at about 1,300 MB/s and 4 MB ones at 1,500. 8 MB ones fell to 700: buffers that large are
# mapped from the kernel for each block (server.py, keep_large_buffers_in_the_heap).
BLOCK = 4 * 1024 * 1024
BODY_FILE = "telemed.body_file"  # the ASGI extension by which our server (server.py) offers a request's body as a file
BODY_BLOCKS = "telemed.body_blocks"  # the ASGI extension by which our server takes a response body's blocks as `Block`s
# At most this many parts to a Block: the server sends a block's parts with one sendmsg, and the
# kernel takes at most 1,024 buffers at a time (IOV_MAX).
BLOCK_PARTS = 256


def _runner(executor: ThreadPoolExecutor, context: contextvars.Context) -> Callable[..., asyncio.Future]:
    """Runs a function on `executor` in the request's `context` (asgiref moves the context's
    thread-bound values to that thread), where `async_to_sync` still finds the server's loop."""
    def run(function: Callable[..., Result], *args) -> asyncio.Future[Result]:
        return sync_to_async(function, thread_sensitive=False, executor=executor, context=context)(*args)

    return run


def _on_the_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """A worker thread's start: where asgiref's `async_to_sync` looks for the loop to run on
    (sync_to_async sets the same before every call; a worker's one-hop call does not go through it)."""
    SyncToAsync.threadlocal.main_event_loop = loop
    SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()


async def _finished_on(worker: ThreadPoolExecutor, function: Callable[..., Result], *args) -> Result:
    """`function(*args)` run on `worker`. A request cancelled meanwhile (its client left) still
    waits for the call to end before it gives the worker back, as asgiref's sync_to_async does,
    so a worker never runs two requests at once."""
    call = worker.submit(function, *args)
    try:
        return await asyncio.wrap_future(call)
    except asyncio.CancelledError:  # the call could not be cancelled once running: wait for its end
        await asyncio.wait([asyncio.wrap_future(call)])
        raise


def _reads_no_database(response: HttpResponse) -> bool:
    """A body streamed from a file: a FileResponse, or a response a view marked so."""
    return response.streaming and (isinstance(response, FileResponse) or getattr(response, "reads_no_database", False))


class _Workers:
    """Single-thread executors lent to one request at a time; a request beyond them waits. The
    one given back last is lent first: its thread's memory (glibc keeps an arena per thread) and
    caches are warm, where taking them in turn had every request fault in fresh pages for its
    buffers: a first render of a CT slice took 0.5 ms less this way."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._idle: asyncio.LifoQueue[ThreadPoolExecutor] | None = None

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[ThreadPoolExecutor]:
        if self._idle is None:  # made in the server's loop, on the first request
            self._idle = asyncio.LifoQueue()
            loop = asyncio.get_running_loop()
            for n in range(self.count):
                self._idle.put_nowait(ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"http-{n}", initializer=_on_the_server_loop, initargs=(loop,),
                ))
        worker = await self._idle.get()
        try:
            yield worker
        finally:
            self._idle.put_nowait(worker)


class _Senders:
    """Single-thread executors that read file bodies as clients take them: one per body being
    sent, made when none is idle (a slow download waits on its client, not on the others), and
    up to KEEP kept for the next. One thread a body reads faster than the loop's shared pool:
    about 1,000 against 850 MB/s for a series."""

    KEEP = 32

    def __init__(self) -> None:
        self._idle: list[ThreadPoolExecutor] = []

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[ThreadPoolExecutor]:
        sender = self._idle.pop() if self._idle else ThreadPoolExecutor(max_workers=1, thread_name_prefix="http-body")
        try:
            yield sender
        finally:
            if len(self._idle) < self.KEEP:
                self._idle.append(sender)
            else:
                sender.shutdown(wait=False)


class FileRegion:
    """`length` bytes of the file at `path` from `offset`, as a part of a response body that a
    server offering BODY_BLOCKS sends with sendfile: the kernel copies them from its page cache
    to the socket, where reading them into a block and sending that copied every byte twice (a
    WADO-RS series of 125 × 0.5 MB took 34 ms of server CPU that way). `bytes(region)` reads
    them for any other use: Django's test client, a chunked body, TLS."""

    __slots__ = ("path", "offset", "length")

    def __init__(self, path: str, offset: int, length: int) -> None:
        self.path, self.offset, self.length = path, offset, length

    def __len__(self) -> int:
        return self.length

    def __bytes__(self) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(self.length)
        if len(data) != self.length:  # the length was promised (Content-Length): never send less
            raise OSError(f"{self.path} ended {self.length - len(data)} bytes before the part it was to send")
        return data

    def after(self, sent: int) -> FileRegion:
        """What is left of the region once its first `sent` bytes have gone."""
        return FileRegion(self.path, self.offset + sent, self.length - sent)


def file_regions(path: str, size: int) -> Iterator[FileRegion]:
    """A file on disk as regions of at most BLOCK bytes, so a body read for a server that cannot
    send files (`bytes(region)`) still holds a block at a time."""
    for offset in range(0, size, BLOCK):
        yield FileRegion(path, offset, min(BLOCK, size - offset))


class FilesResponse(StreamingHttpResponse):
    """A streamed body whose parts may be FileRegions: our handler passes them to a server that
    sends files; anyone else gets their bytes."""

    def make_bytes(self, value):
        return bytes(value) if isinstance(value, FileRegion) else super().make_bytes(value)


class Block:
    """A block of a response body as the parts it was read in (bytes, FileRegions), for a server
    that offers BODY_BLOCKS: it sends them with one sendmsg (and sendfile for regions), where
    joining them copied every byte once more (a tenth of a WADO-RS series' CPU). `bytes(block)`
    joins them for any other use."""

    __slots__ = ("parts", "size", "has_regions")

    def __init__(self, parts: list[bytes | FileRegion]) -> None:
        self.parts, self.size = parts, sum(map(len, parts))
        self.has_regions = any(isinstance(part, FileRegion) for part in parts)

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        if self.has_regions:
            return b"".join(bytes(part) if isinstance(part, FileRegion) else part for part in self.parts)
        return b"".join(self.parts)


def _next_block(parts: Iterator[bytes | FileRegion], unjoined: bool = False) -> bytes | Block:
    """The next parts until about BLOCK bytes, joined (or a Block of them, `unjoined`); empty
    only at the end. Daphne's cost is per message rather than per byte, so small parts
    (multipart headers) travel with data. FileRegions come only `unjoined` (`_passed_on`), and
    hold no memory: a block takes as many as it may have parts (a series of 0.5 MB slices went
    in 16 blocks of 4 MB; each cost a message and a hop to a thread and back)."""
    block, size = [], 0
    for part in parts:
        block.append(part)
        if not isinstance(part, FileRegion):
            size += len(part)
        if size >= BLOCK or len(block) >= BLOCK_PARTS:
            break
    if len(block) == 1 and not isinstance(block[0], FileRegion):
        return block[0]
    return Block(block) if unjoined else b"".join(block)


class PooledASGIHandler(ASGIHandler):
    # Larger than any block `_blocks` makes (BLOCK plus one part), so Django's send does not
    # slice a block into a copy and a remainder; in-memory bodies go in messages this big too.
    chunk_size = 4 * BLOCK

    @classmethod
    def chunk_bytes(cls, data):
        """Django's send slices each part of a body into messages; a Block goes whole."""
        if isinstance(data, Block):
            yield data, False
        else:
            yield from super().chunk_bytes(data)

    def __init__(self) -> None:
        super(ASGIHandler, self).__init__()  # BaseHandler: the synchronous chain is loaded below
        self.load_middleware(is_async=False)
        self.workers = _Workers(settings.HTTP_WORKER_THREADS)
        self.senders = _Senders()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body = await self._body(scope, receive)
        except RequestAborted:
            return
        try:
            await self._serve(scope, body, receive, send)
        finally:
            body.close()

    async def _body(self, scope, receive):
        """The request's body: our server's own file of it where it offers one (telemed/web/server.py:
        no copy, nothing read or written on the event loop), else Django's spooled copy."""
        take = (scope.get("extensions") or {}).get(BODY_FILE)
        if take is None:
            return await self.read_body(receive)
        body = await take()
        if body is None:
            raise RequestAborted()
        return body

    async def _serve(self, scope, body, receive, send) -> None:
        """1. respond on a borrowed worker; 2. send; 3. close (request_finished: the database
        connection goes back to the pool). A body in memory was closed on the worker in step 1,
        so only its bytes are left. A body read from files only (a WADO-RS series, a recording)
        gives the worker and its connection back before it is sent: a clinic on a slow link may
        take half an hour over a series, and must not hold either that long."""
        context = contextvars.copy_context()
        async with self.workers.lease() as worker:
            response = await _finished_on(worker, context.run, self._respond, scope, body)
            if not response.streaming:
                await self.send_response(response, send)
                return
            unjoined = BODY_BLOCKS in (scope.get("extensions") or {})
            if not _reads_no_database(response):
                await self._send(_runner(worker, context), response, receive, send, unjoined)
                return
        async with self.senders.lease() as sender:
            await self._send(_runner(sender, context), response, receive, send, unjoined)

    async def _send(self, run, response: HttpResponse, receive, send, unjoined: bool) -> None:
        """Send a streamed response, stopping if the client leaves; then close it where `run` runs."""
        if not response.is_async:
            if unjoined:  # Django would copy each Block into bytes on its way to `send`, and read each FileRegion
                response.make_bytes = _passed_on(response.make_bytes)
            response.streaming_content = self._blocks(run, response.streaming_content, unjoined)
        sending = asyncio.ensure_future(self.send_response(response, send))
        leaving = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait((sending, leaving), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (leaving, sending):
                task.cancel()
            sent, _ = await asyncio.gather(sending, leaving, return_exceptions=True)
            await run(response.close)
        if isinstance(sent, Exception):
            raise sent

    def _respond(self, scope, body) -> HttpResponse:
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error = self.create_request(scope, body)
        response = error if request is None else self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = BLOCK
        if not response.streaming:
            response.close()  # its body is bytes by now; closing ends the request (request_finished)
        elif _reads_no_database(response):
            close_old_connections()  # as request_finished will, on whichever thread sends it
        return response

    @staticmethod
    async def _blocks(run, parts: Iterator[bytes], unjoined: bool) -> AsyncIterator[bytes | Block]:
        """A streamed body read on the request's worker, a block when the one before has gone."""
        while block := await run(_next_block, parts, unjoined):
            yield block


def _passed_on(make_bytes: Callable[[object], bytes]) -> Callable[[object], bytes | Block | FileRegion]:
    """A response's make_bytes that leaves Blocks and FileRegions as they are, for our server."""
    def passed_on(part):
        return part if isinstance(part, (Block, FileRegion)) else make_bytes(part)

    return passed_on
