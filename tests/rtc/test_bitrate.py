"""Each publisher's bitrate follows its weakest receiving subscriber, its own link, or the
configured cap, whichever is lowest (REMB to the publisher)."""
from __future__ import annotations

import pytest

from telemed.rtc import Relay, RelayConfig, internals
from telemed.rtc.forwarding import OutboundPath, aggregate_bitrate
from telemed.rtc.testing import Conference, Peer, until

pytestmark = pytest.mark.asyncio


def subscriber(name: str, estimate: int | None) -> OutboundPath:
    path = OutboundPath(subscriber_id=name, publisher_id="expert", source_label="video", kind="video")
    if estimate is not None:
        path._subscriber_estimate(estimate)
    return path


async def test_the_weakest_subscriber_sets_the_publishers_bitrate():
    paths = [subscriber("hospital", 2_000_000), subscriber("township", 300_000), subscriber("new", None)]

    assert aggregate_bitrate(paths, cap=1_500_000, uplink=None) == 300_000


async def test_a_subscriber_on_audio_only_no_longer_holds_the_others_back():
    weak = subscriber("township", 150_000)
    weak.pause(True)

    assert aggregate_bitrate([subscriber("hospital", 900_000), weak], cap=1_500_000, uplink=None) == 900_000


async def test_the_cap_and_the_publishers_own_link_bound_it_too():
    paths = [subscriber("hospital", 5_000_000)]

    assert aggregate_bitrate(paths, cap=1_500_000, uplink=None) == 1_500_000
    assert aggregate_bitrate(paths, cap=1_500_000, uplink=700_000) == 700_000
    assert aggregate_bitrate([], cap=1_500_000, uplink=None) == 1_500_000


async def test_the_configured_cap_reaches_the_publishers_encoder():
    relay = Relay(RelayConfig(stats_interval=None, max_video_bitrate=300_000))
    conference = Conference(relay)
    expert = Peer("expert")
    clinic = Peer("clinic", colour=None, tone=None)
    try:
        await conference.join(expert)
        await conference.join(clinic)
        video_sender = next(s for s in expert.pc.getSenders() if s.kind == "video")

        await until(lambda: internals.encoder_target_bitrate(video_sender) == 300_000, timeout=20)

        assert conference.room.stats()["expert"]["publishing"]["video"]["bitrate_target"] <= 300_000
    finally:
        await conference.close()
