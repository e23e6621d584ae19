"""A subscriber that cannot decode the publisher's codec: that one path is transcoded, once,
and the relay says so; everyone else still gets the packets as they came."""
from __future__ import annotations

import re

import pytest

from telemed.rtc.events import TranscodingUsed
from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio

GREEN = (40, 200, 40)


def without_codec(sdp: str, codec: str) -> str:
    """The SDP a browser without `codec` would have seen: its payload types (and their RTX)
    gone from every m-line."""
    doomed = set(re.findall(rf"a=rtpmap:(\d+) {codec}/", sdp))
    doomed |= {rtx for rtx, apt in re.findall(r"a=fmtp:(\d+) apt=(\d+)", sdp) if apt in doomed}
    lines = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            parts = line.split(" ")
            line = " ".join(parts[:3] + [t for t in parts[3:] if t not in doomed])
        elif (m := re.match(r"a=(?:rtpmap|rtcp-fb|fmtp):(\d+)", line)) and m.group(1) in doomed:
            continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


async def test_a_subscriber_without_vp8_gets_the_video_transcoded_and_the_session_records_it(conference):
    expert = Peer("expert", colour=GREEN)
    old_tablet = Peer("clinic", colour=None, tone=None)
    family = Peer("family", colour=None, tone=None)
    conference.offer_filter = lambda participant_id, sdp: without_codec(sdp, "VP8") if participant_id == "clinic" else sdp
    for peer in (expert, old_tablet, family):
        await conference.join(peer)

    await until(lambda: (r := old_tablet.reception_from("expert", "video")) is not None and r.frames > 10, timeout=30)
    await until(lambda: (r := family.reception_from("expert", "video")) is not None and r.frames > 10, timeout=30)

    video = old_tablet.reception_from("expert", "video")
    assert all(abs(a - b) <= 30 for a, b in zip(video.last_colour, GREEN))
    used = [e for e in conference.events if isinstance(e, TranscodingUsed)]
    assert [(e.publisher_id, e.source, e.subscriber_id, e.from_codec, e.to_codec) for e in used] == [
        ("expert", "video", "clinic", "video/VP8", "video/H264")
    ]
    receiving = conference.room.stats()
    assert receiving["clinic"]["receiving"]["expert/video"]["transcoded"] is True
    assert receiving["clinic"]["receiving"]["expert/audio"]["transcoded"] is False
    assert receiving["family"]["receiving"]["expert/video"]["transcoded"] is False
    assert len(conference.room.transcoders) == 1


async def test_the_transcoder_goes_when_its_last_subscriber_leaves(conference):
    expert = Peer("expert")
    old_tablet = Peer("clinic", colour=None, tone=None)
    conference.offer_filter = lambda participant_id, sdp: without_codec(sdp, "VP8") if participant_id == "clinic" else sdp
    await conference.join(expert)
    await conference.join(old_tablet)
    await until(lambda: (r := old_tablet.reception_from("expert", "video")) is not None and r.frames > 5, timeout=30)

    await conference.room.leave("clinic")

    assert conference.room.transcoders == {}
