"""Channels groups and payloads for live pages: the coordinator board and each user's bell."""
from __future__ import annotations

import asyncio
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def board_group(hospital_id) -> str:
    return f"board.{hospital_id}"


def user_group(user_id) -> str:
    return f"user.{user_id}"


async def _send_all(layer, groups: set[str], payload: dict) -> None:
    for group in groups:
        await layer.group_send(group, payload)


def announce_after_commit(groups: set[str], payload: dict) -> None:
    """Tell live pages once the change is committed (never about a change that rolled back).

    All groups go in one trip through async_to_sync: each trip costs an event-loop hop.
    """

    def send() -> None:
        layer = get_channel_layer()
        if layer is None or not groups:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            async_to_sync(_send_all)(layer, groups, payload)
            return
        # Synchronous code running under an event loop of this thread (a test driving a browser)
        # cannot use async_to_sync here; a short-lived thread can.
        worker = threading.Thread(target=async_to_sync(_send_all), args=(layer, groups, payload))
        worker.start()
        worker.join()

    transaction.on_commit(send)


def groups_for(user) -> set[str]:
    """The groups a signed-in user's live connection joins: their own, and their hospitals' boards."""
    from telemed import access

    groups = {user_group(user.pk)}
    groups |= {board_group(pk) for pk in access.coordinated_hospitals(user).values_list("pk", flat=True)}
    return groups
