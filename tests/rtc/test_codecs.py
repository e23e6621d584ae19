"""Codec choice: publishers are steered to VP8 so their packets suit every subscriber; one that
can only send H.264 still has its packets forwarded as they are to those who decode H.264."""
from __future__ import annotations

import re

import pytest

from telemed.rtc.events import TrackPublished, TranscodingUsed
from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio


def video_codecs_reordered(sdp: str, *, first: str, drop: str | None = None) -> str:
    """The offer of a browser that lists `first` first (Safari does, with H.264), or that
    cannot send `drop` at all."""
    names = dict(re.findall(r"a=rtpmap:(\d+) ([\w-]+)/", sdp))
    apt = dict(re.findall(r"a=fmtp:(\d+) apt=(\d+)", sdp))

    def codec(pt: str) -> str:
        return names[apt[pt]] if names.get(pt) == "rtx" else names.get(pt, "")

    lines = []
    for line in sdp.splitlines():
        if line.startswith("m=video"):
            parts = line.split(" ")
            types = [t for t in parts[3:] if codec(t) != drop]
            types.sort(key=lambda t: codec(t) != first)
            line = " ".join(parts[:3] + types)
        elif drop and (m := re.match(r"a=(?:rtpmap|rtcp-fb|fmtp):(\d+)", line)) and codec(m.group(1)) == drop:
            continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


async def _join_with(conference, peer: Peer, offer_sdp: str) -> None:
    conference.peers[peer.name] = peer
    await peer.accept(await conference.room.join(peer.name, offer_sdp))


async def test_a_publisher_preferring_h264_is_asked_to_send_vp8(conference):
    safari = Peer("expert")
    offer = video_codecs_reordered(await safari.offer(), first="H264")
    assert _first_video_codec(offer) == "H264"

    answer = await conference.room.join("expert", offer)
    await safari.accept(answer)
    conference.peers["expert"] = safari
    await conference.join(Peer("clinic", colour=None, tone=None))

    assert _first_video_codec(answer) == "VP8"
    published = [e.codec for e in conference.events if isinstance(e, TrackPublished) and e.kind == "video"]
    assert published == ["video/VP8"]
    await until(lambda: (r := conference.peers["clinic"].reception_from("expert", "video")) is not None and r.frames > 5, timeout=20)


async def test_a_publisher_that_can_only_send_h264_is_forwarded_as_is_to_those_who_decode_it(conference):
    no_vp8 = Peer("expert")
    await _join_with(conference, no_vp8, video_codecs_reordered(await no_vp8.offer(), first="H264", drop="VP8"))
    clinic = Peer("clinic", colour=None, tone=None)
    await conference.join(clinic)

    await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and r.frames > 5, timeout=30)
    published = [e.codec for e in conference.events if isinstance(e, TrackPublished) and e.kind == "video"]
    assert published == ["video/H264"]
    assert not [e for e in conference.events if isinstance(e, TranscodingUsed)]
    assert conference.room.stats()["clinic"]["receiving"]["expert/video"]["transcoded"] is False


def _first_video_codec(sdp: str) -> str:
    first_type = next(line for line in sdp.splitlines() if line.startswith("m=video")).split(" ")[3]
    return re.search(rf"a=rtpmap:{first_type} ([\w-]+)/", sdp).group(1)
