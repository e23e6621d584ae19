"""A relay behind a 1:1 NAT or a port forward: its answers and offers carry the public address
beside its own host candidates (same port), and calls still connect through the private ones."""
from __future__ import annotations

import re

import pytest

from telemed.rtc import Relay, RelayConfig
from telemed.rtc.events import OfferReady
from telemed.rtc.testing import Conference, Peer, until

PUBLIC = "203.0.113.7"  # TEST-NET-3: nothing answers there, so media flows on the private candidates


def host_candidates(sdp: str) -> list[tuple[str, str]]:
    return sorted(set(re.findall(r"^a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host", sdp, re.M)))


@pytest.mark.asyncio
async def test_the_relays_answer_and_offers_carry_the_public_address_and_the_call_connects():
    conference = Conference(Relay(RelayConfig(stats_interval=None, public_address=PUBLIC)))
    try:
        expert, clinic = Peer("expert"), Peer("clinic")
        expert_offer = await expert.offer()
        answer = await conference.room.join("expert", expert_offer)
        await expert.accept(answer)
        conference.peers["expert"] = expert
        await conference.join(clinic)
        await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and r.frames > 5, timeout=20)
        offers = [e.sdp for e in conference.events if isinstance(e, OfferReady)]

        for sdp in [answer] + offers:
            candidates = host_candidates(sdp)
            ipv4_ports = {port for address, port in candidates if "." in address and address != PUBLIC}
            assert ipv4_ports and {port for address, port in candidates if address == PUBLIC} == ipv4_ports
        assert conference.errors == []
    finally:
        await conference.close()


@pytest.mark.asyncio
async def test_without_a_public_address_the_relay_describes_itself_as_aiortc_does(conference):
    expert = Peer("expert")
    answer = await conference.room.join("expert", await expert.offer())

    assert answer == conference.room.participants["expert"].pc.localDescription.sdp
    assert PUBLIC not in answer


def test_a_public_address_that_is_no_address_is_refused_at_once():
    with pytest.raises(ValueError):
        RelayConfig(public_address="relay.example.org")
