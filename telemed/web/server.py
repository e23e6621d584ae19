"""daphne with back-pressure: sending a streamed response body waits while the client's socket is full.

    python -m telemed.web.server [daphne's options] telemed.asgi:application

daphne hands every body message to Twisted at once and lets the application go on, so a WADO-RS
series (hundreds of MB) sent to a clinic on a 2 Mbit/s link was read from storage into the
server's memory as fast as the disk allowed, and sat there for minutes. Twisted tells a
registered push producer when a connection's buffer fills and when it has drained: each streamed
response registers one here, and the application's `send` of the next block waits for it, so
Django reads a block from storage only when the client has taken the one before.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util

from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

HIGH_WATER = 4 * 1024 * 1024  # bytes a connection may hold before its response waits
REQUEST_BLOCK = 1024 * 1024


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


class BackPressureServer(Server):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # daphne hands a request body to the application in messages of this size (8 KB unless
        # told, and its command line cannot tell it): a 25 MB STOW-RS body made 3,200 messages,
        # each awaited and written on its own. It has read the whole body before the first.
        self.request_buffer_size = REQUEST_BLOCK

    async def handle_reply(self, protocol, message):
        body = isinstance(protocol, WebRequest) and message.get("type") == "http.response.body"
        if not body:
            return await super().handle_reply(protocol, message)
        writable: _Writable | None = getattr(protocol, "_writable", None)
        more = message.get("more_body", False)
        open_ = not protocol.finished and protocol.channel is not None
        if more and writable is None and open_:
            # Before the first block is written, so the buffer is not already full when it registers.
            writable = protocol._writable = _Writable()
            protocol.registerProducer(writable, True)
            # Twisted pauses above 64 KB and resumes only once its buffer is empty: with 2 MB
            # blocks the client would wait for each next block to be read from storage.
            protocol.channel.transport.bufferSize = HIGH_WATER
        elif not more and writable is not None and open_:
            protocol.unregisterProducer()  # before daphne finishes the request, which expects none
        await super().handle_reply(protocol, message)
        if more and writable is not None:
            await writable.event.wait()


# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
BUFFERS_FROM_HEAP = 8 * 1024 * 1024
HEAP_KEPT = 32 * 1024 * 1024


def keep_large_buffers_in_the_heap() -> None:
    """The server handles buffers of 0.5–2 MB all day (DICOM instances, WADO-RS blocks). glibc
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
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
