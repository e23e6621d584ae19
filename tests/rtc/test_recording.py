"""Recording writes the forwarded packets to WebM as they are: PyAV opens the file and finds
each participant's VP8 video and Opus audio, for as long as the recording ran."""
from __future__ import annotations

import asyncio
import time

import av
import numpy as np
import pytest

from telemed.rtc.recording import TrackRecorder
from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio

GREEN = (40, 200, 40)


async def test_a_recorded_session_is_a_webm_per_participant_with_both_tracks_and_the_right_duration(conference, tmp_path):
    expert = Peer("expert", colour=GREEN, size=(320, 240))
    clinic = Peer("clinic", colour=None, tone=None)
    await conference.join(expert)
    await conference.join(clinic)
    await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and r.frames > 5, timeout=20)

    conference.room.start_recording(tmp_path)
    started = time.monotonic()
    await asyncio.sleep(3.0)
    recorded = conference.room.stop_recording()
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
    recorded = conference.room.stop_recording()
    size = recorded[0].path.stat().st_size

    await asyncio.sleep(0.5)

    assert recorded[0].path.stat().st_size == size
    for publication in conference.room.publications.values():
        assert not any(isinstance(sink, TrackRecorder) for sink in publication.sinks)
