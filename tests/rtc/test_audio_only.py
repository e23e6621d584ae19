"""A subscriber on a weak link asks for audio only: the relay stops sending it video, and only
it; when it asks for video again, video resumes at the next keyframe."""
from __future__ import annotations

import asyncio

import pytest

from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio


async def test_audio_only_mode_stops_video_to_that_subscriber_only(conference):
    expert = Peer("expert")
    clinic = Peer("clinic", colour=None, tone=None)
    family = Peer("family", colour=None, tone=None)
    for peer in (expert, clinic, family):
        await conference.join(peer)
    for peer in (clinic, family):
        await until(lambda: (r := peer.reception_from("expert", "video")) is not None and r.frames > 5, timeout=20)
    room = conference.room

    room.set_audio_only("clinic", True)
    await asyncio.sleep(1.0)  # what was on the wire or waiting for the peer's decoder
    clinic_video, clinic_audio = clinic.reception_from("expert", "video"), clinic.reception_from("expert", "audio")
    family_video = family.reception_from("expert", "video")
    before = (clinic_video.frames, clinic_audio.frames, family_video.frames)
    sent_before = room.stats()["clinic"]["receiving"]["expert/video"]["packets"]
    await asyncio.sleep(1.5)

    assert clinic_video.frames == before[0]
    assert room.stats()["clinic"]["receiving"]["expert/video"]["packets"] == sent_before
    assert clinic_audio.frames > before[1] + 30
    assert family_video.frames > before[2] + 10
    assert room.stats()["clinic"]["audio_only"] is True

    room.set_audio_only("clinic", False)
    await until(lambda: clinic_video.frames > before[0] + 10, timeout=20)
