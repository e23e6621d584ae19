"""The aiortc internals the relay relies on (telemed/rtc/internals.py), each checked by name.

When one of these fails after an aiortc upgrade, the message names what moved; fix
telemed/rtc/internals.py (and only it) before pinning the new version.
"""
from __future__ import annotations

import asyncio
import inspect

import aiortc
import pytest
import pytest_asyncio
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender

from telemed.rtc import internals
from telemed.rtc.testing import Peer, until

RECEIVER = ["_RTCRtpReceiver__jitter_buffer", "_RTCRtpReceiver__rtcp_ssrc", "_send_rtcp", "_send_rtcp_pli", "_handle_rtp_packet"]
SENDER = [
    "_RTCRtpSender__started",
    "_RTCRtpSender__rtp_history",
    "_RTCRtpSender__rtx_payload_type",
    "_RTCRtpSender__encoder",
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__octet_count",
    "_RTCRtpSender__packet_count",
    "_RTCRtpSender__rtp_header_extensions_map",
    "_handle_rtcp_packet",
    "_ssrc",
    "_stream_id",
]
TRANSCEIVER = ["_codecs", "_offerDirection"]
TRANSPORT = ["_send_rtp"]


def test_the_installed_aiortc_is_the_pinned_one():
    assert aiortc.__version__ == internals.AIORTC_VERSION
    internals.check_version()


@pytest_asyncio.fixture
async def transceiver():
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video")
    yield transceiver
    await pc.close()


@pytest.mark.parametrize("name", RECEIVER)
@pytest.mark.asyncio
async def test_the_receiver_still_has(transceiver, name):
    assert hasattr(transceiver.receiver, name), f"aiortc's RTCRtpReceiver no longer has {name}"


@pytest.mark.parametrize("name", SENDER)
@pytest.mark.asyncio
async def test_the_sender_still_has(transceiver, name):
    assert hasattr(transceiver.sender, name), f"aiortc's RTCRtpSender no longer has {name}"


@pytest.mark.parametrize("name", TRANSCEIVER)
@pytest.mark.asyncio
async def test_the_transceiver_still_has(transceiver, name):
    assert hasattr(transceiver, name), f"aiortc's RTCRtpTransceiver no longer has {name}"


@pytest.mark.parametrize("name", TRANSPORT)
@pytest.mark.asyncio
async def test_the_dtls_transport_still_has(transceiver, name):
    assert hasattr(transceiver.sender.transport, name), f"aiortc's RTCDtlsTransport no longer has {name}"


def test_the_methods_the_relay_wraps_keep_their_signatures():
    assert list(inspect.signature(RTCRtpReceiver._handle_rtp_packet).parameters) == ["self", "packet", "arrival_time_ms"]
    assert list(inspect.signature(RTCRtpReceiver._send_rtcp).parameters) == ["self", "packet"]
    assert list(inspect.signature(RTCRtpReceiver._send_rtcp_pli).parameters) == ["self", "media_ssrc"]
    assert list(inspect.signature(RTCRtpSender._handle_rtcp_packet).parameters) == ["self", "packet"]
    # The tap stands in for the jitter buffer: aiortc must still call add() and unpack a pair.
    assert "self.__jitter_buffer.add(packet)" in inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "pli_flag, encoded_frame =" in inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    # Retransmission reads the history the relay fills, keyed the same way.
    assert "self.__rtp_history.get(sequence_number % RTP_HISTORY_SIZE)" in inspect.getsource(RTCRtpSender._retransmit)


@pytest.mark.asyncio
async def test_a_tapped_receiver_hands_over_every_packet_and_decodes_nothing():
    sender, receiver = Peer("publisher"), Peer("receiver", colour=None, tone=None, decode=False)
    try:
        receiver.pc.addTransceiver("video", direction="recvonly")
        await sender.accept(await receiver.answer(await sender.offer()))
        video = next(t for t in receiver.pc.getTransceivers() if t.kind == "video" and t.mid in receiver.receptions)

        await until(lambda: receiver.receptions[video.mid].packets > 20, timeout=20)

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(video.receiver.track.recv(), timeout=0.5)
    finally:
        await asyncio.gather(sender.close(), receiver.close())


@pytest.mark.asyncio
async def test_forwarded_packets_count_in_the_subscribers_sender_reports(conference):
    await conference.join(Peer("expert"))
    await conference.join(Peer("clinic", colour=None, tone=None))
    path = None

    def forwarding() -> bool:
        nonlocal path
        path = conference.room.participants["clinic"].outputs.get(("expert", "video"))
        return path is not None and path.packets > 20

    await until(forwarding, timeout=20)

    stats = await path.transceiver.sender.getStats()
    outbound = next(s for s in stats.values() if s.type == "outbound-rtp")
    assert outbound.packetsSent >= 20
    assert outbound.bytesSent > 0
