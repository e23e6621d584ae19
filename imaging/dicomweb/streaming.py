"""Stored files as parts of WADO-RS bodies: on disk, as regions the server sends with sendfile
(telemed/web/handler.py FileRegion, telemed/web/server.py); elsewhere (object storage), read a
block at a time. Either way the server takes the next block when the client has taken the one
before."""
from __future__ import annotations

import os
from collections.abc import Iterator

from django.core.files.storage import default_storage

from telemed.web.handler import BLOCK, FileRegion, file_regions


def file_chunks(name: str) -> Iterator[bytes | FileRegion]:
    try:
        path = default_storage.path(name)
    except NotImplementedError:  # no file system path: object storage
        with default_storage.open(name, "rb") as handle:
            while chunk := handle.read(BLOCK):
                yield chunk
        return
    yield from file_regions(path, os.path.getsize(path))
