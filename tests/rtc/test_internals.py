"""The aiortc internals the relay relies on (telemed/rtc/internals.py), each checked by name.

When one of these fails after an aiortc upgrade, the message names what moved; fix
telemed/rtc/internals.py (and only it) before pinning the new version.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import struct

import aiortc
import aioice
import pytest
import pytest_asyncio
from pylibsrtp import Policy, Session
from aiortc import RTCPeerConnection, RTCRtpHeaderExtensionParameters, RTCRtpReceiver, RTCRtpSender, clock
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcdtlstransport import RTCDtlsTransport, State as DtlsState
from aiortc.rtp import RTCP_RTPFB_NACK, HeaderExtensions, HeaderExtensionsMap, RtcpPacket, RtcpRtpfbPacket, RtpPacket

from telemed.rtc import internals
from telemed.rtc.testing import Peer, until

RECEIVER = ["_RTCRtpReceiver__jitter_buffer", "_RTCRtpReceiver__rtcp_ssrc", "_send_rtcp", "_send_rtcp_pli", "_handle_rtp_packet"]
SENDER = [
    "_RTCRtpSender__started",
    "_RTCRtpSender__encoder",
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__octet_count",
    "_RTCRtpSender__packet_count",
    "_RTCRtpSender__rtp_header_extensions_map",
    "_handle_rtcp_packet",
    "_ssrc",
    "_rtx_ssrc",
    "_stream_id",
]
TRANSCEIVER = ["_codecs", "_offerDirection"]
DTLS_TRANSPORT = ["_state", "_tx_srtp", "_transport", "_RTCDtlsTransport__tx_bytes", "_RTCDtlsTransport__tx_packets", "_handle_rtp_data"]


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


@pytest.mark.parametrize("name", DTLS_TRANSPORT)
@pytest.mark.asyncio
async def test_the_dtls_transport_still_has(transceiver, name):
    assert hasattr(transceiver.sender.transport, name), f"aiortc's RTCDtlsTransport no longer has {name}"


@pytest.mark.asyncio
async def test_the_ice_connection_still_has_its_nominated_pairs(transceiver):
    connection = transceiver.sender.transport.transport._connection
    assert isinstance(connection, aioice.Connection), "aiortc's RTCIceTransport no longer keeps its aioice Connection in _connection"
    assert connection._nominated == {}, "aioice's Connection no longer keeps the nominated pair per component in _nominated"
    assert list(inspect.signature(aioice.ice.StunProtocol.send_data).parameters) == ["self", "data", "addr"]
    assert "self.transport.sendto(data, addr)" in inspect.getsource(aioice.ice.StunProtocol.send_data)
    assert DtlsState.CONNECTED.name == "CONNECTED"


def test_srtp_protection_without_pylibsrtps_wrapper_gives_the_same_packets():
    policy = Policy(key=bytes(range(30)), ssrc_type=Policy.SSRC_ANY_OUTBOUND)
    policy.allow_repeat_tx = True  # as aiortc's sending policy
    ours, theirs = Session(policy), Session(policy)
    for name in ("_srtp", "_cdata", "_buffer"):
        assert hasattr(ours, name), f"pylibsrtp's Session no longer has {name}"
    protect = internals.SrtpProtect(ours)
    for seq in (1, 2, 2, 700):  # a repeat: a retransmission without RTX
        packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=seq * 3000, ssrc=11, payload=bytes(1100)).serialize()
        assert protect(packet) == theirs.protect(packet)
    assert protect(bytes(1500)) is None, "too long for the session's buffer: dropped, not raised"


def test_the_ntp_clock_agrees_with_aiortcs():
    before, ours, after = clock.current_ntp_time(), internals.ntp_now(), clock.current_ntp_time()
    assert before - (1 << 28) <= ours <= after + (1 << 28)  # within 1/16 s either way


@pytest.mark.parametrize("mid", ["0", "a-mid-longer-than-sixteen-bytes"])  # one-byte and two-byte headers
@pytest.mark.parametrize("level", [None, (True, 23), (False, 127)])
def test_the_extension_template_packs_what_aiortc_would(mid, level):
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(RTCRtpSendParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
        RTCRtpHeaderExtensionParameters(id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
    ]))
    template = internals.ExtensionTemplate(extensions_map, mid, level is not None)
    for send_time in (0, 0x123456, 0xFFFFFF):
        packet = RtpPacket(payload_type=96, sequence_number=7, timestamp=9, ssrc=11, payload=b"media")
        packet.extensions = HeaderExtensions(mid=mid, abs_send_time=send_time, audio_level=level)
        assert packet.serialize(extensions_map)[12:-5] == template.fill(send_time, level)


def test_the_methods_the_relay_wraps_keep_their_signatures():
    assert list(inspect.signature(RTCRtpReceiver._handle_rtp_packet).parameters) == ["self", "packet", "arrival_time_ms"]
    assert list(inspect.signature(RTCRtpReceiver._send_rtcp).parameters) == ["self", "packet"]
    assert list(inspect.signature(RTCRtpReceiver._send_rtcp_pli).parameters) == ["self", "media_ssrc"]
    assert list(inspect.signature(RTCRtpSender._handle_rtcp_packet).parameters) == ["self", "packet"]
    # Benchmark listeners replace the transport's handler on the instance: aiortc must call it so.
    assert list(inspect.signature(RTCDtlsTransport._handle_rtp_data).parameters) == ["self", "data", "arrival_time_ms"]
    assert "await self._handle_rtp_data(data, arrival_time_ms=arrival_time_ms)" in inspect.getsource(RTCDtlsTransport._recv_next)
    # The tap stands in for the jitter buffer: aiortc must still call add() and unpack a pair.
    assert "self.__jitter_buffer.add(packet)" in inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "pli_flag, encoded_frame =" in inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    # NACKs reach the wrapper as aiortc parses them: the lost sequence numbers in `lost`.
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=2, lost=[7, 9])
    assert RtcpPacket.parse(bytes(nack))[0].lost == [7, 9]


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
async def test_a_listener_counting_headers_counts_every_packet_past_aiortcs_receiver():
    sender, listener = Peer("publisher", size=(160, 120), fps=15), Peer("listener", colour=None, tone=None, decode=False, headers_only=True)
    try:
        listener.pc.addTransceiver("video", direction="recvonly")
        await sender.accept(await listener.answer(await sender.offer()))
        video = next(t for t in listener.pc.getTransceivers() if t.kind == "video" and t.mid in listener.receptions)
        handled = []
        handle = video.receiver._handle_rtp_packet
        video.receiver._handle_rtp_packet = lambda packet, arrival_time_ms: (handled.append(packet), handle(packet, arrival_time_ms))[1]

        reception = listener.receptions[video.mid]
        await until(lambda: reception.frames > 15 and reception.packets > 30, timeout=20)

        assert len(handled) <= 2  # at most the first, which names the stream, and a straggler
        assert reception.packets >= reception.frames
    finally:
        await asyncio.gather(sender.close(), listener.close())


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


def test_aioice_still_parses_datagrams_where_the_guard_wraps_them():
    from aioice.ice import StunProtocol

    aioices = inspect.unwrap(StunProtocol.datagram_received)  # the relay may have wrapped it already
    assert list(inspect.signature(aioices).parameters) == ["self", "data", "addr"]
    assert "message = stun.parse_message(data)" in inspect.getsource(aioices)


@pytest.mark.asyncio
async def test_a_truncated_stun_attribute_sprayed_at_a_peer_is_dropped_without_a_logged_error(caplog):
    internals.drop_unparsable_stun()
    internals.drop_unparsable_stun()  # a second relay in the process wraps nothing twice
    offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
    try:
        offerer.addTransceiver("audio")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        await until(lambda: answerer.connectionState == "connected", timeout=10)
        candidate = next(line for line in answerer.localDescription.sdp.splitlines() if line.startswith("a=candidate")).split()
        # A STUN binding response whose PRIORITY attribute holds 2 bytes instead of 4.
        attribute = struct.pack("!HH", 0x0024, 2) + b"\x00\x01\x00\x00"
        datagram = struct.pack("!HHI12s", 0x0101, len(attribute), 0x2112A442, b"transaction1") + attribute
        with caplog.at_level(logging.ERROR), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sprayer:
            for _ in range(20):
                sprayer.sendto(datagram, (candidate[4], int(candidate[5])))
            await asyncio.sleep(0.3)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert answerer.connectionState == "connected"
    finally:
        await offerer.close()
        await answerer.close()
