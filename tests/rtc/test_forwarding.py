"""Several participants through the relay: everyone decodes everyone else, and nothing is
decoded or re-encoded on the way."""
from __future__ import annotations

import pytest

from telemed.rtc.events import OfferReady, ParticipantJoined, TrackPublished
from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio

COLOURS = {"clinic": (200, 40, 40), "expert": (40, 200, 40), "radiologist": (40, 40, 200)}


def close_to(colour, expected, tolerance=30):
    return colour is not None and all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


def decoding(peer: Peer, publisher: str, *, frames: int = 10) -> bool:
    video = peer.reception_from(publisher, "video")
    audio = peer.reception_from(publisher, "audio")
    return video is not None and video.frames >= frames and audio is not None and audio.frames >= frames


async def test_every_subscriber_decodes_every_other_publishers_video_and_audio(conference):
    peers = {name: Peer(name, colour=colour, tone=300 + 100 * i) for i, (name, colour) in enumerate(COLOURS.items())}
    listener = Peer("family", colour=None, tone=None)
    for peer in [*peers.values(), listener]:
        await conference.join(peer)

    for subscriber in [*peers.values(), listener]:
        for publisher in peers:
            if publisher != subscriber.name:
                await until(lambda: decoding(subscriber, publisher), timeout=20)

    for subscriber in [*peers.values(), listener]:
        for publisher, colour in COLOURS.items():
            if publisher != subscriber.name:
                video = subscriber.reception_from(publisher, "video")
                audio = subscriber.reception_from(publisher, "audio")
                assert close_to(video.last_colour, colour), (subscriber.name, publisher, video.last_colour)
                assert audio.last_rms > 1000  # the tone, not silence
    room = conference.room
    assert all(not path["transcoded"] for p in room.stats().values() for path in p["receiving"].values())


async def test_the_listener_publishes_nothing_and_the_signalling_side_hears_of_each_step(conference):
    expert = Peer("expert")
    listener = Peer("interpreter", colour=None, tone=None)
    listener.pc.createDataChannel("chat")
    await conference.join(expert)
    await conference.join(listener)
    await until(lambda: decoding(listener, "expert"), timeout=20)

    joined = [e for e in conference.events if isinstance(e, ParticipantJoined)]
    assert [(e.participant_id, e.publishing, e.reconnected) for e in joined] == [
        ("expert", True, False),
        ("interpreter", False, False),
    ]
    published = {(e.participant_id, e.source, e.codec) for e in conference.events if isinstance(e, TrackPublished)}
    assert published == {("expert", "audio", "audio/opus"), ("expert", "video", "video/VP8")}
    offers = [e for e in conference.events if isinstance(e, OfferReady) and e.participant_id == "interpreter"]
    assert {(t.participant_id, t.source) for t in offers[-1].tracks.values()} == {("expert", "audio"), ("expert", "video")}
    assert conference.room.stats()["interpreter"]["publishing"] == {}
