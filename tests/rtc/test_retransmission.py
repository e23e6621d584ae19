"""A packet lost between the relay and a subscriber comes again from the relay's own send
history (as RTX), without a round trip to the publisher."""
from __future__ import annotations

import struct

import pytest

from telemed.rtc import internals
from telemed.rtc.testing import Peer, until

pytestmark = pytest.mark.asyncio


class LossyLink:
    """Loses one video packet on its way into a peer, then watches for its retransmission."""

    def __init__(self, peer: Peer, mid: str, *, after: int = 40) -> None:
        transceiver = next(t for t in peer.pc.getTransceivers() if t.mid == mid)
        codecs = internals.negotiated_codecs(transceiver)
        self.media_type = codecs[0].payloadType
        self.rtx_type = next(c.payloadType for c in codecs if c.name == "rtx" and c.parameters["apt"] == self.media_type)
        self.after = after
        self.seen = 0
        self.lost: tuple[int, bytes] | None = None
        self.retransmitted = False
        internals.watch_incoming(transceiver.receiver, self.inspect)

    def inspect(self, packet) -> bool:
        if packet.payload_type == self.media_type:
            self.seen += 1
            if self.lost is None and self.seen > self.after:
                self.lost = (packet.sequence_number, packet.payload)
                return False
        elif packet.payload_type == self.rtx_type and self.lost is not None:
            (original_seq,) = struct.unpack("!H", packet.payload[:2])
            if (original_seq, packet.payload[2:]) == self.lost:
                self.retransmitted = True
        return True


async def test_a_dropped_packet_is_served_again_from_the_relays_history(conference):
    expert = Peer("expert")
    clinic = Peer("clinic", colour=None, tone=None)
    await conference.join(expert)
    await conference.join(clinic)
    await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and r.frames > 0, timeout=20)
    mid = next(m for m, info in clinic.tracks.items() if info.participant_id == "expert" and info.kind == "video")
    link = LossyLink(clinic, mid)

    await until(lambda: link.retransmitted, timeout=20)
    video = clinic.reception_from("expert", "video")
    frames = video.frames
    await until(lambda: video.frames > frames + 15, timeout=20)

    lost_seq, lost_payload = link.lost
    assert lost_payload, "a media packet with a payload was dropped"
    assert link.retransmitted, f"packet {lost_seq} came again, as RTX, with the payload that was lost"
    assert video.frames > frames + 15, "and decoding carried on past the loss"
