"""The glue between a room's signalling and the relay's media (telemed/rtc).

The consumer asks for media through a `MediaLink`: join with an SDP offer, renegotiate, answer the
relay's offers, audio-only, leave, remove. Two links exist, chosen by VIDEO_RELAY:

- `LocalMedia` (embedded default): the relay runs in this server process;
- `WorkerMedia` (production): rooms live on `manage.py runrelay` workers, reached over the
  channel layer (see telemed/video/workers.py).

Either way the relay's events come back to the seat's group `video.seat.<seat id>` as
`media.offer` (the relay renegotiates: the browser answers) and to the Django side as a record of
any transcoding fallback.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from telemed.rtc.events import OfferReady, TranscodingUsed
from telemed.rtc.relay import Relay, RelayConfig

logger = logging.getLogger(__name__)


def seat_group(seat_id) -> str:
    return f"video.seat.{seat_id}"


class MediaLink(Protocol):
    async def join(self, room_id: str, seat_id: str, sdp: str, sources: dict[str, str]) -> str: ...
    async def renegotiate(self, room_id: str, seat_id: str, sdp: str, sources: dict[str, str]) -> str: ...
    async def answer(self, room_id: str, seat_id: str, sdp: str) -> None: ...
    async def ice(self, room_id: str, seat_id: str, candidate: str, mid: str | None) -> None: ...
    async def audio_only(self, room_id: str, seat_id: str, on: bool) -> None: ...
    async def leave(self, room_id: str, seat_id: str, *, removed: bool = False) -> None: ...
    async def start_recording(self, room_id: str) -> None: ...
    async def stop_recording(self, room_id: str) -> int: ...


def relay_config() -> RelayConfig:
    from aiortc import RTCIceServer

    return RelayConfig(
        ice_servers=tuple(RTCIceServer(urls=url) for url in settings.VIDEO_STUN_URLS),
        max_publishers=settings.VIDEO_MAX_PUBLISHERS,
        max_video_bitrate=settings.VIDEO_MAX_BITRATE_KBPS * 1000,
        public_address=settings.VIDEO_RELAY_PUBLIC_IP or None,
    )


async def deliver_event(event, record) -> None:
    """Send one relay event where it belongs: offers to the seat's browser, a transcoding fallback to `record`."""
    if isinstance(event, OfferReady):
        tracks = {mid: {"seat": t.participant_id, "source": t.source, "kind": t.kind} for mid, t in event.tracks.items()}
        await get_channel_layer().group_send(seat_group(event.participant_id), {"type": "media.offer", "sdp": event.sdp, "tracks": tracks})
    elif isinstance(event, TranscodingUsed):
        await record(event)


class LocalMedia:
    """The relay inside this process; one per event loop (each test has its own loop)."""

    def __init__(self, record) -> None:
        self.relay = Relay(relay_config())
        self.pump = asyncio.get_running_loop().create_task(self._pump(record), name="relay events")

    async def _pump(self, record) -> None:
        while True:
            event = await self.relay.events.get()
            try:
                await deliver_event(event, record)
            except Exception:  # one bad event must not stop every room's renegotiation
                logger.exception("relay event %r could not be delivered", event)

    async def join(self, room_id, seat_id, sdp, sources):
        return await self.relay.room(room_id).join(seat_id, sdp, sources=sources)

    async def renegotiate(self, room_id, seat_id, sdp, sources):
        return await self.relay.room(room_id).renegotiate(seat_id, sdp, sources=sources)

    async def answer(self, room_id, seat_id, sdp):
        await self.relay.room(room_id).accept_answer(seat_id, sdp)

    async def ice(self, room_id, seat_id, candidate, mid):
        await self.relay.room(room_id).add_ice_candidate(seat_id, candidate, mid)

    async def audio_only(self, room_id, seat_id, on):
        self.relay.room(room_id).set_audio_only(seat_id, on)

    async def leave(self, room_id, seat_id, *, removed=False):
        room = self.relay.rooms.get(room_id)
        if room is not None:
            await (room.remove(seat_id) if removed else room.leave(seat_id))

    async def start_recording(self, room_id):
        await start_recording(self.relay, room_id)

    async def stop_recording(self, room_id):
        return await stop_recording(self.relay, room_id)


async def start_recording(relay: Relay, room_id: str) -> None:
    from telemed.video.services.recordings import recording_directory

    relay.room(room_id).start_recording(recording_directory(room_id))


async def stop_recording(relay: Relay, room_id: str) -> int:
    """Stop and store the files where the relay wrote them (this process). Returns how many."""
    from channels.db import database_sync_to_async

    from telemed.video.services.recordings import recordings_store

    room = relay.rooms.get(room_id)
    files = await room.stop_recording() if room is not None else []
    stored = await database_sync_to_async(recordings_store)(room_id=room_id, files=files)
    return len(stored)


_local: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalMedia] = weakref.WeakKeyDictionary()


def media_link() -> MediaLink:
    from telemed.video.services.records import record_relay_event

    if settings.VIDEO_RELAY == "workers":
        from telemed.video.workers import WorkerMedia

        return WorkerMedia()
    loop = asyncio.get_running_loop()
    if loop not in _local:
        _local[loop] = LocalMedia(record_relay_event)
    return _local[loop]


async def close_local_media() -> None:
    """Close this event loop's in-process relay (its peers, its event pump): at shutdown, and
    after each test, so no aiortc task outlives the loop."""
    local = _local.pop(asyncio.get_running_loop(), None)
    if local is not None:
        local.pump.cancel()
        await local.relay.close()
