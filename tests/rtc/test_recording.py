"""Recording writes the forwarded packets to files as they are: PyAV opens them and finds each
participant's VP8 (WebM) or H.264 (MP4) video and Opus audio, for as long as the recording ran,
and each screen share in a file of its own."""
from __future__ import annotations

import asyncio
import re
import time

import av
import numpy as np
import pytest

from telemed.rtc import internals
from telemed.rtc.recording import TrackRecorder
from telemed.rtc.testing import PatternTrack, Peer, until
from tests.rtc.test_codecs import video_codecs_reordered

pytestmark = pytest.mark.asyncio

GREEN = (40, 200, 40)
SCREEN = (230, 230, 60)


async def test_a_recorded_session_is_a_webm_per_participant_with_both_tracks_and_the_right_duration(conference, tmp_path):
    expert = Peer("expert", colour=GREEN, size=(320, 240))
    clinic = Peer("clinic", colour=None, tone=None)
    await conference.join(expert)
    await conference.join(clinic)
    await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and r.frames > 5, timeout=20)

    conference.room.start_recording(tmp_path)
    started = time.monotonic()
    await asyncio.sleep(3.0)
    recorded = await conference.room.stop_recording()
    length = time.monotonic() - started

    assert [(r.participant_id, r.path.name, r.kinds) for r in recorded] == [("expert", "expert.webm", ["audio", "video"])]
    assert recorded[0].duration == pytest.approx(length, abs=0.6)
    with av.open(str(recorded[0].path)) as container:
        streams = {s.type: s for s in container.streams}
        assert streams["video"].codec_context.name == "vp8"
        assert (streams["video"].codec_context.width, streams["video"].codec_context.height) == (320, 240)
        assert streams["audio"].codec_context.name == "opus"
        assert container.duration / av.time_base == pytest.approx(length, abs=0.6)
        frames = list(container.decode(video=0))
    assert len(frames) >= 2.0 * 15  # 15 fps for about 3 s, every frame decodable from the first
    centre = frames[-1].to_ndarray(format="rgb24")[80:120, 80:240].reshape(-1, 3).mean(axis=0)
    assert np.all(np.abs(centre - GREEN) <= 30)
    with av.open(str(recorded[0].path)) as container:
        audio = list(container.decode(audio=0))
    assert sum(f.samples for f in audio) / 48000 == pytest.approx(length, abs=0.6)


async def test_nothing_is_recorded_after_the_recording_stops(conference, tmp_path):
    expert = Peer("expert")
    await conference.join(expert)
    await conference.join(Peer("clinic", colour=None, tone=None))
    conference.room.start_recording(tmp_path)
    await asyncio.sleep(1.0)
    recorded = await conference.room.stop_recording()
    size = recorded[0].path.stat().st_size

    await asyncio.sleep(0.5)

    assert recorded[0].path.stat().st_size == size
    for publication in conference.room.publications.values():
        assert not any(isinstance(sink, TrackRecorder) for sink in publication.sinks)


async def test_a_screen_share_is_recorded_in_its_own_file_from_when_it_started_to_when_it_stopped(conference, tmp_path):
    expert = Peer("expert", colour=GREEN, size=(160, 120))
    clinic = Peer("clinic", colour=None, tone=None)
    await conference.join(expert)
    await conference.join(clinic)
    await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and r.frames > 5, timeout=20)
    conference.room.start_recording(tmp_path)
    started = time.monotonic()
    await asyncio.sleep(1.0)

    screen = expert.pc.addTransceiver(PatternTrack(SCREEN, width=320, height=240, fps=5), direction="sendonly")
    await conference.renegotiate(expert, sources={"2": "screen"})
    shared = time.monotonic()
    await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and _screen(clinic) is not None, timeout=20)
    await asyncio.sleep(2.5)
    screen.direction = "inactive"
    await conference.renegotiate(expert, sources={"2": "screen"})
    unshared = time.monotonic()
    await asyncio.sleep(0.5)
    recorded = {r.path.name: r for r in await conference.room.stop_recording()}

    assert sorted(recorded) == ["expert-screen.webm", "expert.webm"]
    camera, shared_file = recorded["expert.webm"], recorded["expert-screen.webm"]
    assert (camera.source, camera.kinds) == ("camera", ["audio", "video"])
    assert (shared_file.source, shared_file.kinds) == ("screen", ["video"])
    assert shared_file.offset == pytest.approx(shared - started, abs=0.8)
    assert shared_file.duration == pytest.approx(unshared - shared, abs=0.8)
    with av.open(str(shared_file.path)) as container:
        assert [s.type for s in container.streams] == ["video"]
        video = container.streams.video[0]
        assert (video.codec_context.name, video.codec_context.width, video.codec_context.height) == ("vp8", 320, 240)
        assert container.duration / av.time_base == pytest.approx(unshared - shared, abs=0.8)
        frames = list(container.decode(video=0))
    assert len(frames) >= 5  # 5 fps for about 2.5 s, decodable from the first
    centre = frames[-1].to_ndarray(format="rgb24")[80:120, 80:240].reshape(-1, 3).mean(axis=0)
    assert np.all(np.abs(centre - SCREEN) <= 30)
    with av.open(str(camera.path)) as container:  # the camera went on beside it, in its own file
        assert container.duration / av.time_base == pytest.approx(unshared + 0.5 - started, abs=0.8)


async def test_a_screen_share_started_again_is_a_second_part(conference, tmp_path):
    expert = Peer("expert")
    await conference.join(expert)
    await conference.join(Peer("clinic", colour=None, tone=None))
    conference.room.start_recording(tmp_path)
    screen = expert.pc.addTransceiver(PatternTrack(SCREEN, width=160, height=120, fps=5), direction="sendonly")
    for direction in ("sendonly", "inactive", "sendonly"):
        screen.direction = direction
        await conference.renegotiate(expert, sources={"2": "screen"})
        await asyncio.sleep(1.5)

    recorded = sorted(r.path.name for r in await conference.room.stop_recording())

    assert recorded == ["expert-screen-2.webm", "expert-screen.webm", "expert.webm"]


async def test_an_h264_publisher_is_recorded_as_sent_in_an_mp4_that_browsers_play(conference, tmp_path):
    safari = Peer("expert", colour=GREEN, size=(320, 240))
    conference.peers["expert"] = safari
    await safari.accept(await conference.room.join("expert", video_codecs_reordered(await safari.offer(), first="H264", drop="VP8")))
    clinic = Peer("clinic", colour=None, tone=None)
    await conference.join(clinic)
    await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and r.frames > 5, timeout=30)
    sent = SentFrames(conference.room.publications[("expert", "video")])

    conference.room.start_recording(tmp_path)
    started = time.monotonic()
    await asyncio.sleep(3.0)
    recorded = await conference.room.stop_recording()
    length = time.monotonic() - started

    assert [(r.path.name, r.kinds, r.skipped) for r in recorded] == [("expert.mp4", ["audio", "video"], [])]
    assert recorded[0].duration == pytest.approx(length, abs=0.6)
    with av.open(str(recorded[0].path)) as container:
        assert container.format.name.startswith("mov,mp4")
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.codec_context.width, video.codec_context.height) == ("h264", 320, 240)
        assert audio.codec_context.name == "opus"
        assert container.duration / av.time_base == pytest.approx(length, abs=0.6)
        nal_units = [nal for packet in container.demux(video) if packet.size for nal in _length_prefixed(bytes(packet))]
    # Not re-encoded: every picture slice in the file is, byte for byte, one the publisher sent.
    slices = [nal for nal in nal_units if nal[0] & 0x1F in (1, 5)]
    assert len(slices) >= 2.0 * 15
    assert all(nal in sent.nal_units for nal in slices)
    with av.open(str(recorded[0].path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) >= 2.0 * 15
    centre = frames[-1].to_ndarray(format="rgb24")[80:120, 80:240].reshape(-1, 3).mean(axis=0)
    assert np.all(np.abs(centre - GREEN) <= 30)


class SentFrames:
    """A sink on a publication keeping the NAL units of the H.264 frames it forwards."""

    def __init__(self, publication) -> None:
        self.nal_units: set[bytes] = set()
        self._assembler = None
        publication.add_sink(self)

    def resync(self) -> None:
        self._assembler = None

    def push(self, packet, codec) -> None:
        if self._assembler is None:
            self._assembler = internals.FrameAssembler(codec.params)
        frame = self._assembler.add(packet)
        if frame is not None:
            self.nal_units.update(nal for nal in re.split(b"\x00\x00\x00\x01|\x00\x00\x01", frame.data) if nal)


def _length_prefixed(sample: bytes) -> list[bytes]:
    nal_units, pos = [], 0
    while pos + 4 <= len(sample):
        size = int.from_bytes(sample[pos : pos + 4], "big")
        nal_units.append(sample[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return nal_units


def _screen(peer: Peer):
    return next((peer.receptions[mid] for mid, t in peer.tracks.items() if t.source == "screen" and mid in peer.receptions), None)
