"""Health of the parts a request depends on: database, channel layer, file storage."""
from __future__ import annotations

import asyncio
import uuid

from channels.layers import get_channel_layer
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


async def check_channel_layer() -> str:
    """A message sent to a fresh channel must come back: proves the layer routes, not just connects."""
    layer = get_channel_layer()
    channel = await layer.new_channel("health.")
    await layer.send(channel, {"type": "health.ping"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=3)
    if message.get("type") != "health.ping":
        raise RuntimeError("unexpected message")
    return type(layer).__name__


def check_storage() -> str:
    name = default_storage.save(f"health/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name) as handle:
            if handle.read() != b"ok":
                raise RuntimeError("read back different bytes")
    finally:
        default_storage.delete(name)
    return type(default_storage._wrapped).__name__ if hasattr(default_storage, "_wrapped") else type(default_storage).__name__
