"""What the relay refuses, with a reason, leaving the room and everyone in it as they were."""
from __future__ import annotations

import asyncio

import pytest

from telemed.rtc import BadDescription, NoOfferPending, Relay, RelayConfig, RoomFull, UnknownParticipant
from telemed.rtc.testing import Conference, PatternTrack, Peer, until

pytestmark = pytest.mark.asyncio


async def _decoding(peer, publisher):
    await until(lambda: (r := peer.reception_from(publisher, "video")) is not None and r.frames > 5, timeout=20)


async def test_a_publisher_beyond_the_rooms_limit_is_refused_but_a_listener_is_welcome():
    relay = Relay(RelayConfig(stats_interval=None, max_publishers=2))
    conference = Conference(relay)
    extra = Peer("third-site")
    try:
        await conference.join(Peer("expert"))
        await conference.join(Peer("clinic"))

        with pytest.raises(RoomFull):
            await conference.room.join("third-site", await extra.offer())
        await conference.join(Peer("student", colour=None, tone=None))

        assert set(conference.room.participants) == {"expert", "clinic", "student"}
        await _decoding(conference.peers["student"], "clinic")
    finally:
        await extra.close()
        await conference.close()


async def test_a_listener_who_starts_publishing_in_a_full_room_is_refused_and_not_forwarded():
    relay = Relay(RelayConfig(stats_interval=None, max_publishers=1))
    conference = Conference(relay)
    listener = Peer("student", colour=None, tone=None)
    try:
        await conference.join(Peer("expert"))
        await conference.join(listener)
        await _decoding(listener, "expert")
        listener.pc.addTrack(PatternTrack((10, 10, 10), width=160, height=120, fps=5))

        with pytest.raises(RoomFull):
            await conference.renegotiate(listener)
        with pytest.raises(RoomFull):  # and again: the refusal does not wear off
            await conference.renegotiate(listener)

        assert [key for key in conference.room.publications if key[0] == "student"] == []
    finally:
        await conference.close()


async def test_a_malformed_offer_is_refused_with_a_reason(conference):
    with pytest.raises(BadDescription, match="unusable offer"):
        await conference.room.join("clinic", "v=0\r\nthis is not sdp\r\n")

    assert conference.room.participants == {}


async def test_an_offer_with_no_codec_the_relay_knows_is_refused(conference):
    clinic = Peer("clinic")
    offer = (await clinic.offer()).replace("VP8/90000", "AV1X/90000").replace("H264/90000", "AV1Y/90000")

    with pytest.raises(BadDescription, match="no audio or video codec in common"):
        await conference.room.join("clinic", offer)

    assert conference.room.participants == {}
    await clinic.close()


async def test_a_bad_offer_from_a_participant_leaves_the_others_call_alone(conference):
    expert, clinic = Peer("expert"), Peer("clinic")
    await conference.join(expert)
    await conference.join(clinic)
    await _decoding(clinic, "expert")

    with pytest.raises(BadDescription):
        await conference.room.join("intruder", "v=0\r\n")
    with pytest.raises(UnknownParticipant):
        await conference.room.renegotiate("nobody", await Peer("nobody").offer())

    frames = clinic.reception_from("expert", "video").frames
    await asyncio.sleep(0.5)
    assert clinic.reception_from("expert", "video").frames > frames
    assert set(conference.room.participants) == {"expert", "clinic"}


async def test_an_answer_nobody_asked_for_is_refused(conference):
    expert = Peer("expert")
    await conference.join(expert)

    with pytest.raises(NoOfferPending):
        await conference.room.accept_answer("expert", await expert.offer())


async def test_a_trickled_candidate_is_taken_and_a_garbled_one_refused(conference):
    expert = Peer("expert")
    await conference.join(expert)

    await conference.room.add_ice_candidate("expert", "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "0")
    with pytest.raises(BadDescription, match="ICE candidate"):
        await conference.room.add_ice_candidate("expert", "candidate:nonsense", "0")
