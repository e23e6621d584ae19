"""The relay: rooms by id, one configuration, one queue of events."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass

from aiortc import RTCIceServer

from telemed.rtc import internals
from telemed.rtc.events import Event, RoomStats
from telemed.rtc.room import Room

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayConfig:
    ice_servers: tuple[RTCIceServer, ...] = ()  # none: host candidates only (a LAN, the tests)
    max_publishers: int = 8  # per room; receive-only listeners are not counted
    max_video_bitrate: int = 1_500_000  # bit/s per published video, whatever the subscribers
    preferred_video_codec: str = "video/VP8"  # what publishers are asked to send, where they can
    reconnect_grace: float = 15.0  # s a lost connection may take to come back before "left"
    stats_interval: float | None = 10.0  # s between RoomStats events; None: none
    events_max: int = 10_000  # queued events; beyond that the oldest statistics are dropped
    # The address browsers reach the relay at when it sits behind a 1:1 NAT or a port forward:
    # announced beside its host candidates, same ports (telemed/rtc/sdp.py). None: as they are.
    public_address: str | None = None

    def __post_init__(self) -> None:
        if self.public_address is not None:
            ipaddress.ip_address(self.public_address)  # ValueError, at once, for anything else


class Relay:
    """Holds the rooms of one process (the embedded server, or one `runrelay` worker)."""

    def __init__(self, config: RelayConfig | None = None) -> None:
        internals.check_version()
        internals.drop_unparsable_stun()
        self.config = config or RelayConfig()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.rooms: dict[str, Room] = {}

    def room(self, room_id: str) -> Room:
        """The room with this id, opened on first use."""
        room = self.rooms.get(room_id)
        if room is None or room.closed:
            room = self.rooms[room_id] = Room(room_id, config=self.config, emit=self._emit)
        return room

    async def close_room(self, room_id: str) -> None:
        room = self.rooms.pop(room_id, None)
        if room is not None:
            await room.close()

    async def close(self) -> None:
        for room_id in list(self.rooms):
            await self.close_room(room_id)

    def _emit(self, event: Event) -> None:
        if self.events.qsize() >= self.config.events_max:
            self._drop_statistics()
        self.events.put_nowait(event)

    def _drop_statistics(self) -> None:
        """Nobody is reading: keep the events that change state, drop the figures."""
        kept = [e for e in _drain(self.events) if not isinstance(e, RoomStats)]
        for event in kept:
            self.events.put_nowait(event)
        logger.warning("relay events are not being read (%d queued)", len(kept))


def _drain(queue: asyncio.Queue) -> list:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
