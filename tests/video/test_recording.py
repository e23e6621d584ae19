"""Recording through the signalling socket and the in-process relay: consent first, then the
host records; the files are stored with their SHA-256, open in PyAV with both tracks and the
expected length; a screen share and an H.264 sender are recorded too, labelled and playable on
the consult page, and every playback is audited."""
from __future__ import annotations

import asyncio
import hashlib

import av
import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.core.files.storage import default_storage
from django.db import connections
from django.test import Client

from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from telemed.rtc.events import TrackInfo
from telemed.rtc.testing import PatternTrack, Peer, until
from telemed.video.models import Recording, Room
from tests.rtc.test_codecs import video_codecs_reordered
from tests.video.test_room_consumer import Socket, _soon_room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    yield
    await database_sync_to_async(connections.close_all)()


async def until_db(check, timeout):
    """`until` for a condition that reads the database (from this async test, through a thread)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await database_sync_to_async(check)():
        assert asyncio.get_running_loop().time() < deadline, "still not true"
        await asyncio.sleep(0.1)


class Caller:
    """A signalling socket with an aiortc peer behind it, answering the relay's offers as a browser does."""

    def __init__(self, room, user, colour, *, h264_only=False):
        self.socket = Socket(room, user=user)
        self.peer = Peer(user.username, colour=colour, size=(160, 120), fps=15)
        self.h264_only = h264_only  # a browser that sends H.264 and no VP8
        self.errors: list[str] = []

    async def join(self):
        await self.socket.open()
        assert (await self.socket.join())["kind"] == "joined"
        offer = await self.peer.offer()
        if self.h264_only:
            offer = video_codecs_reordered(offer, first="H264", drop="VP8")
        await self.socket.send({"type": "offer", "sdp": offer, "sources": {}})
        await self.peer.accept((await self.socket.next("answer", timeout=20))["sdp"])
        self.reader = asyncio.create_task(self._read())

    async def share_screen(self, colour):
        screen = self.peer.pc.addTransceiver(PatternTrack(colour, width=160, height=120, fps=5), direction="sendonly")
        offer = await self.peer.offer()
        await self.socket.send({"type": "offer", "sdp": offer, "sources": {screen.mid: "screen"}})

    async def _read(self):
        while True:
            message = await self.socket.com.receive_json_from(timeout=60)
            if message["kind"] == "answer":
                await self.peer.accept(message["sdp"])
            elif message["kind"] == "offer":
                tracks = {mid: TrackInfo(t["seat"], t["source"], t["kind"]) for mid, t in message["tracks"].items()}
                answer = await self.peer.answer(message["sdp"], tracks)
                await self.socket.send({"type": "answer", "sdp": answer})
            elif message["kind"] == "error":
                self.errors.append(message["error"])

    async def close(self):
        self.reader.cancel()
        await self.socket.close()
        await self.peer.close()


async def test_the_host_records_only_with_everyones_consent_and_the_files_are_kept(cast):
    room = await database_sync_to_async(_soon_room)(cast)
    expert = Caller(room, cast.north[Role.SPECIALIST], (200, 40, 40))
    doctor = Caller(room, cast.north[Role.CLINIC_DOCTOR], (40, 40, 200))
    await expert.join()
    await doctor.join()
    try:
        await until(lambda: any(r.frames > 5 for r in doctor.peer.receptions.values() if r.kind == "video"), timeout=20)
        await expert.socket.send({"type": "consent", "on": True})
        await expert.socket.send({"type": "record", "on": True})
        await until(lambda: expert.errors, timeout=5)
        assert "Everyone must consent" in expert.errors[0] and "North clinic_doctor" in expert.errors[0]

        await doctor.socket.send({"type": "consent", "on": True})
        await asyncio.sleep(0.3)
        await expert.socket.send({"type": "record", "on": True})
        await until_db(lambda: Room.objects.filter(pk=room.pk, recording_by__isnull=False).exists(), timeout=5)
        await asyncio.sleep(3)
        await expert.socket.send({"type": "record", "on": False})
        await until_db(lambda: Recording.objects.filter(room=room).count() == 2, timeout=15)
    finally:
        await expert.close()
        await doctor.close()

    for recording in await database_sync_to_async(list)(Recording.objects.filter(room=room)):
        with default_storage.open(recording.storage_key, "rb") as handle:
            data = handle.read()
        assert hashlib.sha256(data).hexdigest() == recording.sha256
        with default_storage.open(recording.storage_key, "rb") as handle, av.open(handle) as container:
            kinds = sorted(s.type for s in container.streams)
            assert kinds == ["audio", "video"]
            assert container.streams.video[0].codec_context.name == "vp8"
            assert container.streams.audio[0].codec_context.name == "opus"
        assert 2.0 <= recording.duration_seconds <= 6.0
    assert await database_sync_to_async(AuditEvent.objects.filter(action="video.recording_stored").count)() == 2


async def test_a_participant_withdrawing_consent_stops_the_recording(cast):
    room = await database_sync_to_async(_soon_room)(cast)
    expert = Caller(room, cast.north[Role.SPECIALIST], (200, 40, 40))
    doctor = Caller(room, cast.north[Role.CLINIC_DOCTOR], (40, 40, 200))
    await expert.join()
    await doctor.join()
    try:
        for caller in (expert, doctor):
            await caller.socket.send({"type": "consent", "on": True})
        await asyncio.sleep(0.3)
        await expert.socket.send({"type": "record", "on": True})
        await until_db(lambda: Room.objects.filter(pk=room.pk, recording_by__isnull=False).exists(), timeout=5)
        await doctor.socket.send({"type": "consent", "on": False})
        await until_db(lambda: Room.objects.filter(pk=room.pk, recording_by__isnull=True).exists(), timeout=10)
    finally:
        await expert.close()
        await doctor.close()


async def test_a_screen_share_and_an_h264_sender_are_kept_and_play_back_on_the_consult_page(cast):
    room = await database_sync_to_async(_soon_room)(cast)
    expert = Caller(room, cast.north[Role.SPECIALIST], (200, 40, 40))
    doctor = Caller(room, cast.north[Role.CLINIC_DOCTOR], (40, 40, 200), h264_only=True)
    await expert.join()
    await doctor.join()
    try:
        await until(lambda: any(r.frames > 5 for r in expert.peer.receptions.values() if r.kind == "video"), timeout=30)
        for caller in (expert, doctor):
            await caller.socket.send({"type": "consent", "on": True})
        await asyncio.sleep(0.3)
        await expert.socket.send({"type": "record", "on": True})
        await until_db(lambda: Room.objects.filter(pk=room.pk, recording_by__isnull=False).exists(), timeout=5)
        await expert.share_screen((230, 230, 60))
        await until(lambda: sum(1 for t in doctor.peer.tracks.values() if t.source == "screen") == 1, timeout=20)
        await asyncio.sleep(2.5)
        await expert.socket.send({"type": "record", "on": False})
        await until_db(lambda: Recording.objects.filter(room=room).count() == 3, timeout=15)
    finally:
        await expert.close()
        await doctor.close()
    assert not expert.errors and not doctor.errors

    recordings = await database_sync_to_async(list)(Recording.objects.filter(room=room).select_related("attendance__user"))
    kept = {(r.attendance.user.username, r.source, r.media_type): r for r in recordings}
    assert set(kept) == {
        (expert.peer.name, "camera", "video/webm"),
        (expert.peer.name, "screen", "video/webm"),
        (doctor.peer.name, "camera", "video/mp4"),
    }
    streams = {}
    for key, recording in kept.items():
        with default_storage.open(recording.storage_key, "rb") as handle, av.open(handle) as container:
            streams[key[:2]] = sorted((s.type, s.codec_context.name) for s in container.streams)
    assert streams == {
        (expert.peer.name, "camera"): [("audio", "opus"), ("video", "vp8")],
        (expert.peer.name, "screen"): [("video", "vp8")],
        (doctor.peer.name, "camera"): [("audio", "opus"), ("video", "h264")],
    }
    assert kept[(expert.peer.name, "screen", "video/webm")].offset_seconds > 0

    page = await database_sync_to_async(_consult_page)(cast, room, "zh-hans")
    assert "屏幕共享" in page and 'type="video/mp4"' in page
    mp4 = kept[(doctor.peer.name, "camera", "video/mp4")]
    response = await database_sync_to_async(_play)(cast, mp4)
    assert response["Content-Type"] == "video/mp4" and response["Content-Disposition"].endswith('.mp4"')
    played = await database_sync_to_async(AuditEvent.objects.filter(action="video.recording_play").values_list)("detail", flat=True)
    assert await database_sync_to_async(list)(played) == [{"recording": str(mp4.pk)}]


def _consult_page(cast, room, language):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(cast.north[Role.CLINIC_DOCTOR])
    return client.get(f"/consults/{room.consult_id}/").content.decode()


def _play(cast, recording):
    client = Client()
    client.force_login(cast.north[Role.CLINIC_DOCTOR])
    response = client.get(f"/video/recordings/{recording.pk}/")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    return response
