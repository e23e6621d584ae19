"""A late joiner decodes at once: the relay asks the publisher for a keyframe (aiortc's own
VP8 encoder would otherwise send the next one 100 s later) and starts the new subscriber on it."""
from __future__ import annotations

import time

import pytest

from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio


async def test_a_late_joiner_decodes_video_within_one_second(conference):
    expert = Peer("expert", colour=(40, 200, 40))
    clinic = Peer("clinic", colour=(200, 40, 40))
    await conference.join(expert)
    await conference.join(clinic)
    await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and r.frames > 30, timeout=20)

    late = Peer("radiologist", colour=None, tone=None)
    joined = time.monotonic()
    await conference.join(late)
    for publisher in ("expert", "clinic"):
        await until(lambda: (r := late.reception_from(publisher, "video")) is not None and r.first_frame_at, timeout=10)

    assert late.reception_from("expert", "video").first_frame_at - joined < 1.0
    assert late.reception_from("clinic", "video").first_frame_at - joined < 1.0


async def test_a_subscriber_starts_on_a_keyframe_and_never_needs_to_ask_again(conference):
    expert = Peer("expert")
    clinic = Peer("clinic", colour=None, tone=None)
    await conference.join(expert)
    await conference.join(clinic)
    video = await _until_video(clinic, "expert", frames=30)

    assert video.frames >= 30  # 2 s of 15 fps video, every frame decodable from the start
    mid = next(m for m, info in clinic.tracks.items() if info.participant_id == "expert" and info.kind == "video")
    assert clinic.receptions[mid] is video


async def _until_video(peer, publisher, *, frames):
    await until(lambda: (r := peer.reception_from(publisher, "video")) is not None and r.frames >= frames, timeout=20)
    return peer.reception_from(publisher, "video")
