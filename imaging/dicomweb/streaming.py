"""Large response bodies (WADO-RS retrieval) streamed from storage under ASGI.

Django serves a StreamingHttpResponse over a plain iterator under ASGI by reading the iterator
whole into a list first, so a series of 500 MB would sit in memory before its first byte left.
Here the body is read in a worker thread a block at a time, when daphne has sent the block
before; under WSGI (the test server) the ordinary iterator is used. Each block is about 1 MB:
daphne's cost is per message rather than per byte (bench/dicomweb.py: 64 KB messages cost
twice the CPU of 1 MB ones), so multipart headers and file chunks travel together.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse

BLOCK = 1024 * 1024


def file_chunks(name: str) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as handle:
        while chunk := handle.read(BLOCK):
            yield chunk


def _next_block(parts: Iterator[bytes]) -> bytes:
    """The next parts joined until about BLOCK bytes; empty only at the end."""
    block, size = [], 0
    for part in parts:
        block.append(part)
        size += len(part)
        if size >= BLOCK:
            break
    return block[0] if len(block) == 1 else b"".join(block)


class ThreadedStreamingResponse(StreamingHttpResponse):
    """Streams a synchronous iterator of bytes block by block under ASGI."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.is_async:
            async for part in super().__aiter__():
                yield part
            return
        parts = iter(self.streaming_content)
        read = sync_to_async(_next_block, thread_sensitive=False)  # storage reads, no database
        while block := await read(parts):
            yield block
