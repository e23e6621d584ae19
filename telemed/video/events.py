"""Channels groups and payloads of a room."""
from __future__ import annotations


def room_group(room_id) -> str:
    return f"video.room.{room_id}"
