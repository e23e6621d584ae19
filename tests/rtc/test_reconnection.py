"""A dropped link comes back as a new peer connection under the same participant: the others
keep their m-lines and see the stream continue; nobody sees a ghost or a leave."""
from __future__ import annotations

import asyncio

import pytest

from telemed.rtc import ConnectionClosed
from telemed.rtc.events import OfferReady, ParticipantJoined, ParticipantLeft
from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio

RED, BLUE = (200, 40, 40), (40, 40, 200)


def colour_is(reception, expected, tolerance=30):
    return reception.last_colour is not None and all(abs(a - b) <= tolerance for a, b in zip(reception.last_colour, expected))


async def test_a_reconnecting_participant_replaces_its_old_connection_without_a_ghost(conference):
    expert = Peer("expert")
    clinic = Peer("clinic", colour=RED)
    await conference.join(expert)
    await conference.join(clinic)
    seen_by_expert = await _decoding(expert, "clinic")
    await _decoding(clinic, "expert")
    offers_to_expert = _offers(conference, "expert")

    reloaded = Peer("clinic", colour=BLUE)  # the page reloaded: a new connection, same person
    await conference.join(reloaded)
    await until(lambda: colour_is(seen_by_expert, BLUE), timeout=20)
    await _decoding(reloaded, "expert")

    assert set(conference.room.participants) == {"expert", "clinic"}
    assert expert.reception_from("clinic", "video") is seen_by_expert  # the same m-line carries on
    assert _offers(conference, "expert") == offers_to_expert  # no renegotiation for the others
    assert not [e for e in conference.events if isinstance(e, ParticipantLeft)]
    rejoined = [e for e in conference.events if isinstance(e, ParticipantJoined) and e.participant_id == "clinic"]
    assert [e.reconnected for e in rejoined] == [False, True]
    await until(lambda: clinic.pc.connectionState == "closed", timeout=10)


async def test_a_connection_lost_for_longer_than_the_grace_period_counts_as_leaving(conference):
    expert = Peer("expert")
    clinic = Peer("clinic")
    await conference.join(expert)
    await conference.join(clinic)
    await _decoding(expert, "clinic")

    await clinic.pc.close()  # the clinic's link goes, with no leave message
    relay_side = conference.room.participants["clinic"].pc
    await until(lambda: relay_side.signalingState == "closed", timeout=20)
    with pytest.raises(ConnectionClosed):  # what it sends meanwhile is refused: it must join again
        await conference.room.renegotiate("clinic", await Peer("clinic").offer())

    await until(lambda: any(isinstance(e, ParticipantLeft) for e in conference.events), timeout=30)
    left = [e for e in conference.events if isinstance(e, ParticipantLeft)]
    assert [(e.participant_id, e.reason) for e in left] == [("clinic", "connection-lost")]
    assert "clinic" not in conference.room.participants


async def test_a_connection_back_within_the_grace_period_never_left(conference):
    expert = Peer("expert")
    clinic = Peer("clinic")
    await conference.join(expert)
    await conference.join(clinic)
    await _decoding(expert, "clinic")

    await clinic.pc.close()
    await asyncio.sleep(0.5)
    await conference.join(Peer("clinic"))
    await asyncio.sleep(conference.room.config.reconnect_grace + 0.5)

    assert "clinic" in conference.room.participants
    assert not [e for e in conference.events if isinstance(e, ParticipantLeft)]


async def _decoding(peer, publisher):
    await until(lambda: (r := peer.reception_from(publisher, "video")) is not None and r.frames > 5, timeout=20)
    return peer.reception_from(publisher, "video")


def _offers(conference, participant_id):
    return len([e for e in conference.events if isinstance(e, OfferReady) and e.participant_id == participant_id])
