"""The browser controls ICE and may nominate another candidate pair in the middle of a call (a
second network's checks finish later, or a better path appears); the relay's forwarding must
follow the new pair, not stop at the old one."""
from __future__ import annotations

import pytest
from aioice.ice import CandidatePair

from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio


def _frames(peer: Peer, publisher: str) -> int:
    reception = peer.reception_from(publisher, "video")
    return reception.frames if reception is not None else 0


async def test_forwarding_follows_a_pair_the_subscriber_nominates_later(conference):
    expert, doctor = Peer("expert"), Peer("doctor")
    await conference.join(expert)
    await conference.join(doctor)
    await until(lambda: _frames(doctor, "expert") >= 10, timeout=20)

    # What aioice does when the controlling side nominates another pair: a new pair object
    # becomes the component's nominated one (here over the same socket and address, so the test
    # does not depend on the machine having two networks).
    connection = conference.room.participants["doctor"].pc.getTransceivers()[0].sender.transport.transport._connection
    old = connection._nominated[1]
    renominated = CandidatePair(old.protocol, old.remote_candidate)
    renominated.state, renominated.nominated = CandidatePair.State.SUCCEEDED, True
    connection._nominated[1] = renominated

    before = _frames(doctor, "expert")
    await until(lambda: _frames(doctor, "expert") >= before + 30, timeout=10)
    assert connection._nominated[1] is renominated  # the relay kept the pair the subscriber chose
    assert _frames(doctor, "expert") >= before + 30, "video stopped at the renomination"
