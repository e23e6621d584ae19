"""Stored files read a block at a time for WADO-RS bodies (the server sends each block when the
client has taken the one before: telemed/web/handler.py and telemed/web/server.py)."""
from __future__ import annotations

from collections.abc import Iterator

from django.core.files.storage import default_storage

from telemed.web.handler import BLOCK


def file_chunks(name: str) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as handle:
        while chunk := handle.read(BLOCK):
            yield chunk
