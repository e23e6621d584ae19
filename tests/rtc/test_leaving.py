"""Leaving and removal: the participant's media stops at once, for everyone."""
from __future__ import annotations

import asyncio

import pytest

from telemed.rtc import UnknownParticipant
from telemed.rtc.events import OfferReady, ParticipantLeft, TrackUnpublished
from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio


async def test_a_removed_participant_is_cut_off_at_once_and_the_others_are_told(conference):
    expert = Peer("expert")
    clinic = Peer("clinic")
    guest = Peer("guest")
    for peer in (expert, clinic, guest):
        await conference.join(peer)
    await until(lambda: (r := expert.reception_from("guest", "video")) is not None and r.frames > 5, timeout=20)
    await until(lambda: (r := guest.reception_from("expert", "video")) is not None and r.frames > 5, timeout=20)
    room = conference.room

    await room.remove("guest")

    assert "guest" not in room.participants
    assert room.publications.keys() == {("expert", "audio"), ("expert", "video"), ("clinic", "audio"), ("clinic", "video")}
    assert room.stats().keys() == {"expert", "clinic"}
    await asyncio.sleep(0.5)  # what was on the wire or waiting for the peers' decoders
    heard = expert.reception_from("guest", "audio").frames
    seen_by_guest = guest.reception_from("expert", "video").frames
    await asyncio.sleep(1.0)
    assert expert.reception_from("guest", "audio").frames == heard
    assert guest.reception_from("expert", "video").frames == seen_by_guest
    left = [(e.participant_id, e.reason) for e in conference.events if isinstance(e, ParticipantLeft)]
    assert left == [("guest", "removed")]
    withdrawn = {(e.participant_id, e.source) for e in conference.events if isinstance(e, TrackUnpublished)}
    assert withdrawn == {("guest", "audio"), ("guest", "video")}
    await until(lambda: "a=inactive" in _last_offer(conference, "expert"), timeout=10)
    with pytest.raises(UnknownParticipant):
        room.set_audio_only("guest", True)


async def test_leaving_twice_is_harmless(conference):
    expert = Peer("expert")
    await conference.join(expert)

    await conference.room.leave("expert")
    await conference.room.leave("expert")
    await until(lambda: any(isinstance(e, ParticipantLeft) for e in conference.events), timeout=5)
    await asyncio.sleep(0.2)  # time for a second one to arrive, were there one

    assert [(e.participant_id, e.reason) for e in conference.events if isinstance(e, ParticipantLeft)] == [("expert", "left")]


def _last_offer(conference, participant_id) -> str:
    offers = [e.sdp for e in conference.events if isinstance(e, OfferReady) and e.participant_id == participant_id]
    return offers[-1] if offers else ""
