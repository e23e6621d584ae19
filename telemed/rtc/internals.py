"""Every use of aiortc's private parts, in one module.

aiortc has no public API for forwarding RTP packets, so the relay reaches into it here and
nowhere else. aiortc is pinned exactly (pyproject.toml); `tests/rtc/test_internals.py` checks
each assumption below by name and fails loudly when an upgrade moves one of them:

1. Receiving: `RTCRtpReceiver._handle_rtp_packet` parses, counts, unwraps RTX, sends NACKs and
   receiver reports, then hands each packet to `__jitter_buffer.add()`. The relay swaps that
   jitter buffer for a tap, so packets leave before any reassembly or decoding (aiortc's jitter
   buffer holds a frame back until the next one starts: ~33 ms). The receiver's own bandwidth
   estimate (REMB) is intercepted in `_send_rtcp`, so the relay can send the aggregate instead.
2. Keyframe and bitrate requests upstream: `_send_rtcp_pli` and `_send_rtcp` with the
   receiver's `__rtcp_ssrc`.
3. Sending: each subscriber gets an ordinary `RTCRtpSender` whose track never yields a frame;
   the relay packs the rewritten header itself (the extension block from the sender's
   `__rtp_header_extensions_map`), encrypts with the DTLS transport's `_tx_srtp` session
   (libsrtp's `srtp_protect` called on the pylibsrtp session's own `_srtp` context and
   `_cdata`/`_buffer`, as its `Session.protect` does, without its checks and allocation) and
   writes to the ICE connection's nominated pair (`RTCIceTransport._connection._nominated`,
   straight to the socket for an aioice `StunProtocol`), counting in the DTLS transport's
   `__tx_bytes`/`__tx_packets` and in the sender's fields its sender reports are built from.
   aiortc's own send path (`_send_rtp`) does the same work through four coroutine layers, two
   datetime clock reads and an `RtpPacket` kept per packet: most of the relay's CPU per
   subscriber, measured with bench/relay.py. The relay keeps what it sent, packed, in a ring
   of its own and answers NACKs from it (RTX with the sender's `_rtx_ssrc` where negotiated).
4. Feedback from subscribers: the sender's `_handle_rtcp_packet` is wrapped so PLI/FIR, REMB
   and NACKs reach the relay; receiver reports still go to aiortc.
5. Negotiation details: `RTCRtpTransceiver._codecs` (the negotiated codecs),
   `_offerDirection` (what the remote side offered to send) and `RTCRtpSender._stream_id` (the
   msid stream a subscriber's browser groups the track under).
6. Tests and benchmarks only: `_handle_rtp_packet` of a test peer's receiver, wrapped to lose a
   packet; the `__encoder` of a test peer's sender, to read the bitrate REMB set; and the DTLS
   transport's `_handle_rtp_data` (called with each decrypted RTP packet), wrapped so the
   benchmark's listeners count packets from their headers (`count_from_headers`).
7. Frame assembly for transcoding and recording: `aiortc.jitterbuffer.JitterBuffer`,
   `aiortc.codecs.depayload`, `get_decoder`, `get_encoder`.
8. Modules aiortc does not export at its top level: `aiortc.rtp` (RTP/RTCP packets),
   `aiortc.clock`, `aiortc.sdp.candidate_from_sdp`, `aiortc.exceptions.OperationError`.
9. aioice's `StunProtocol.datagram_received`, wrapped so a datagram it cannot parse is dropped
   (see `drop_unparsable_stun`).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from struct import Struct, pack
from struct import error as StructError

import aiortc
from aiortc import MediaStreamError, MediaStreamTrack, RTCRtpCodecParameters, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import depayload, get_decoder, get_encoder
from aiortc.exceptions import OperationError  # raised for an offer with no codec in common
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    HeaderExtensions,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)
from aiortc.sdp import candidate_from_sdp
from aioice.ice import StunProtocol
from pylibsrtp import SRTP_MAX_TRAILER_LEN, Session
from pylibsrtp._binding import ffi as srtp_ffi, lib as srtp_lib

AIORTC_VERSION = "1.16.0"
logger = logging.getLogger(__name__)


def check_version() -> None:
    """Refuse to start on an aiortc this module was not written for."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise RuntimeError(
            f"telemed.rtc relies on aiortc {AIORTC_VERSION} internals, found {aiortc.__version__}: "
            "re-run tests/rtc/test_internals.py and update telemed/rtc/internals.py"
        )


def drop_unparsable_stun() -> None:
    """aioice parses every datagram that reaches a relay port as STUN before anything
    authenticates it, and a truncated attribute (a 2-byte PRIORITY, say) raises struct.error out
    of `datagram_received`: asyncio logged a traceback for each, so anyone who could reach the
    ports could fill the relay's log. Such a datagram is dropped. By its first byte it can only
    be STUN (RFC 7983), so nothing else is lost. Idempotent."""
    if getattr(StunProtocol.datagram_received, "drops_unparsable", False):
        return
    received = StunProtocol.datagram_received

    @functools.wraps(received)
    def datagram_received(self, data, addr) -> None:
        try:
            received(self, data, addr)
        except StructError:
            logger.debug("dropped a STUN datagram that cannot be parsed, from %s", addr)

    datagram_received.drops_unparsable = True
    StunProtocol.datagram_received = datagram_received


# --- receiving ---------------------------------------------------------------------------


class _PacketTap:
    """Stands where the receiver's jitter buffer was: hands packets on, never yields a frame."""

    def __init__(self, on_packet: Callable[[RtpPacket], None]) -> None:
        self.on_packet = on_packet

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.on_packet(packet)
        return False, None


def tap_receiver(
    receiver: RTCRtpReceiver,
    on_packet: Callable[[RtpPacket], None],
    on_bandwidth_estimate: Callable[[int], None],
) -> None:
    """Send the receiver's packets to `on_packet` instead of its jitter buffer and decoder.

    `on_packet` gets aiortc's own packet object (RTX already unwrapped); it must not change it.
    """
    if not hasattr(receiver, "_RTCRtpReceiver__jitter_buffer"):
        raise RuntimeError("aiortc changed: RTCRtpReceiver has no __jitter_buffer to tap")
    receiver._RTCRtpReceiver__jitter_buffer = _PacketTap(on_packet)
    send_rtcp = receiver._send_rtcp

    async def intercept_remb(packet) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                on_bandwidth_estimate(unpack_remb_fci(packet.fci)[0])
            except ValueError:
                pass
            return
        await send_rtcp(packet)

    receiver._send_rtcp = intercept_remb
    receiver._telemed_send_rtcp = send_rtcp


_TIMESTAMP_SSRC = Struct("!LL")


def count_from_headers(transport, on_header: Callable[[int, int, bool], bool]) -> None:
    """Show each decrypted RTP packet's SSRC, timestamp and marker bit to `on_header` first; a
    packet it claims (returns True) goes no further: no parsing, statistics, NACKs or bandwidth
    estimates. For the benchmark's listeners, which would otherwise load the machine more than
    the relay they measure (`transport` is an RTCDtlsTransport)."""
    handle = transport._handle_rtp_data

    async def counted(data: bytes, arrival_time_ms: int) -> None:
        if len(data) >= 12:
            timestamp, ssrc = _TIMESTAMP_SSRC.unpack_from(data, 4)
            if on_header(ssrc, timestamp, bool(data[1] & 0x80)):
                return
        await handle(data, arrival_time_ms)

    transport._handle_rtp_data = counted


async def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the publisher for a keyframe (PLI): what aiortc does after a decoding error."""
    await receiver._send_rtcp_pli(media_ssrc)


async def send_bandwidth_estimate(receiver: RTCRtpReceiver, bitrate: int, media_ssrcs: list[int]) -> None:
    """Tell the publisher the most it should send (REMB), past the interception above."""
    rtcp_ssrc = receiver._RTCRtpReceiver__rtcp_ssrc
    if rtcp_ssrc is None:
        return
    packet = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(int(bitrate), media_ssrcs))
    await getattr(receiver, "_telemed_send_rtcp", receiver._send_rtcp)(packet)


def watch_incoming(receiver: RTCRtpReceiver, inspect: Callable[[RtpPacket], bool]) -> None:
    """Show `inspect` every packet as it arrives (RTX still wrapped); a False return drops it.
    For the tests' simulated packet loss on a peer's link, not for the relay."""
    handle = receiver._handle_rtp_packet

    async def handle_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
        if inspect(packet):
            await handle(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp


def encoder_target_bitrate(sender: RTCRtpSender) -> int | None:
    """The bitrate an aiortc peer's encoder aims at (REMB sets it). For the tests' publishers."""
    encoder = sender._RTCRtpSender__encoder
    return getattr(encoder, "target_bitrate", None)


# --- sending -----------------------------------------------------------------------------


class IdleTrack(MediaStreamTrack):
    """The track of a forwarding sender: it never yields a frame, so aiortc's encoder loop waits
    quietly (with no track at all it would poll every 20 ms)."""

    def __init__(self, kind: str, track_id: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        if track_id:
            self._id = track_id
        self._stopped = asyncio.get_event_loop().create_future()

    async def recv(self):
        await asyncio.shield(self._stopped)
        raise MediaStreamError

    def stop(self) -> None:
        if not self._stopped.done():
            self._stopped.set_result(None)
        super().stop()


def take_over_sender(
    sender: RTCRtpSender,
    on_keyframe_request: Callable[[], None],
    on_bandwidth_estimate: Callable[[int], None],
    on_lost: Callable[[list[int]], None],
) -> None:
    """Route a subscriber's keyframe requests (PLI, FIR), bandwidth estimates (REMB) and NACKs
    (`on_lost`: the sequence numbers it lacks) for this sender to the relay; receiver reports
    stay with aiortc (round-trip time, statistics)."""
    handle = sender._handle_rtcp_packet

    async def handle_rtcp(packet) -> None:
        if isinstance(packet, RtcpPsfbPacket):
            if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                on_keyframe_request()
                return
            if packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except ValueError:
                    return
                if sender._ssrc in ssrcs:
                    on_bandwidth_estimate(bitrate)
                return
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            on_lost(packet.lost)
            return
        await handle(packet)

    sender._handle_rtcp_packet = handle_rtcp


def group_under(sender: RTCRtpSender, stream_id: str) -> None:
    """The msid stream the subscriber's browser puts this track in: one per publisher, so each
    participant's audio and video land in one MediaStream (and are lip-synced together)."""
    sender._stream_id = stream_id


NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900 (NTP's epoch) to 1970
HISTORY_SIZE = 512  # packets kept per subscriber for its NACKs: 2-3 s of 720p video
_HEADER = Struct("!BBHLL").pack  # V=2, P, X; M, PT; sequence number; timestamp; SSRC


def ntp_now() -> int:
    """aiortc's `clock.current_ntp_time()` (64-bit NTP time) without its datetime arithmetic."""
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    return ((seconds + NTP_UNIX_OFFSET) << 32) | ((nanoseconds << 32) // 1_000_000_000)


class PacketWriter:
    """The way out for one forwarding sender: rewritten packets to the subscriber, encrypted by
    aiortc's SRTP session, kept (packed, before encryption) for the subscriber's NACKs and
    counted for sender reports (see 3. above)."""

    def __init__(self, sender: RTCRtpSender, mid: str) -> None:
        self.sender = sender
        self.mid = mid
        self.ssrc = sender._ssrc
        self.rtx_payload_type: int | None = None  # retransmit as RTX with this type; None: as sent
        self._rtx_seq = random.randint(0, 0x7FFF)
        self._dtls = sender.transport
        self._templates: dict[bool, ExtensionTemplate] = {}
        self._history: list[bytes | None] = [None] * HISTORY_SIZE
        self._protect: SrtpProtect | None = None
        self._nominated: dict = {}
        self._pair = None
        self._address: tuple | None = None
        self._to_socket: Callable[[bytes, tuple], None] | None = None

    def ready(self) -> bool:
        """Negotiated, started and connected: a packet written now reaches the subscriber. aioice
        forgets the nominated pair before it closes the pair's socket, so a closing connection
        is seen here first. The browser, which controls ICE, may nominate another pair at any
        time (a second network is checked later, or a better one appears): the writer follows."""
        if self._pair is not None and self._nominated.get(1) is self._pair:
            return self._dtls._state is DtlsState.CONNECTED
        if not (self.sender._RTCRtpSender__started and self._dtls._state is DtlsState.CONNECTED):
            return False
        self._nominated = self._dtls.transport._connection._nominated
        pair = self._nominated.get(1)
        if pair is None:
            return False
        if self._protect is None:
            self._protect = SrtpProtect(self._dtls._tx_srtp)
        self._pair, self._address = pair, pair.remote_addr  # a property building a tuple at each call
        # a TURN allocation wraps what it sends: no plain socket then
        self._to_socket = pair.protocol.transport.sendto if type(pair.protocol) is StunProtocol else None
        return True

    def write(self, packet: RtpPacket, payload_type: int, sequence_number: int, timestamp: int) -> None:
        """Send `packet` as this subscriber's: its marker, payload, padding and audio level with
        this payload type, sequence number and timestamp, and this sender's SSRC and header
        extensions (`ready()` must be true)."""
        now = ntp_now()
        level = packet.extensions.audio_level
        template = self._templates.get(level is not None) or self._template(level is not None)
        padding = packet.padding_size
        data = b"".join((
            _HEADER(0x80 | (padding > 0) << 5 | template.flag, packet.marker << 7 | payload_type, sequence_number, timestamp, self.ssrc),
            template.fill((now >> 14) & 0x00FFFFFF, level),
            packet.payload,
            bytes(padding - 1) + bytes((padding,)) if padding else b"",
        ))
        self._history[sequence_number % HISTORY_SIZE] = data
        self._send(data)
        sender = self.sender
        sender._RTCRtpSender__ntp_timestamp = now
        sender._RTCRtpSender__rtp_timestamp = timestamp
        sender._RTCRtpSender__octet_count += len(packet.payload)
        sender._RTCRtpSender__packet_count += 1

    def retransmit(self, sequence_number: int) -> None:
        """Send a packet again from the history (as RTX where negotiated), if it is still there.
        Like aiortc's own retransmission: no padding, and not counted in sender reports."""
        data = self._history[sequence_number % HISTORY_SIZE]
        if data is None or data[2:4] != sequence_number.to_bytes(2, "big") or not self.ready():
            return
        start = 12 + (4 + (int.from_bytes(data[14:16], "big") << 2) if data[0] & 0x10 else 0)
        end = len(data) - data[-1] if data[0] & 0x20 else len(data)
        marker_type = data[1]
        if self.rtx_payload_type is not None:
            marker_type = marker_type & 0x80 | self.rtx_payload_type
            sequence_number, self._rtx_seq = self._rtx_seq, (self._rtx_seq + 1) & 0xFFFF
        template = self._templates.get(False) or self._template(False)
        self._send(b"".join((
            _HEADER(0x80 | template.flag, marker_type, sequence_number, int.from_bytes(data[4:8], "big"),
                    self.sender._rtx_ssrc if self.rtx_payload_type is not None else self.ssrc),
            template.fill((ntp_now() >> 14) & 0x00FFFFFF, None),
            data[2:4] if self.rtx_payload_type is not None else b"",
            data[start:end],
        )))

    def _template(self, audio_level: bool) -> ExtensionTemplate:
        template = self._templates[audio_level] = ExtensionTemplate(
            self.sender._RTCRtpSender__rtp_header_extensions_map, self.mid, audio_level
        )
        return template

    def _send(self, data: bytes) -> None:
        protected = self._protect(data)
        if protected is None:
            return
        if self._to_socket is not None:
            self._to_socket(protected, self._address)
        else:  # through a TURN allocation: its send is a coroutine; tasks keep the order
            task = asyncio.ensure_future(self._pair.protocol.send_data(protected, self._address))
            task.add_done_callback(_drop_send_failure)
        dtls = self._dtls
        dtls._RTCDtlsTransport__tx_bytes += len(protected)
        dtls._RTCDtlsTransport__tx_packets += 1


class SrtpProtect:
    """pylibsrtp's `Session.protect` without its per-call checks and allocation: its C
    function on the session's own context and buffer. Half the cost of encrypting a forwarded
    packet was pylibsrtp's Python around libsrtp's."""

    def __init__(self, session: Session) -> None:
        self._session = session  # holds the context
        self._context = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._length = srtp_ffi.new("int *")
        self._longest = len(session._cdata) - SRTP_MAX_TRAILER_LEN

    def __call__(self, packet: bytes) -> bytes | None:
        """The packet encrypted and authenticated; None if libsrtp refuses it (too long, or a
        sequence number too far behind its window): then it is lost, as on the wire."""
        length = len(packet)
        if length > self._longest:
            return None
        self._buffer[0:length] = packet
        self._length[0] = length
        if srtp_lib.srtp_protect(self._context, self._cdata, self._length):
            return None
        return self._buffer[0 : self._length[0]]


def _drop_send_failure(task: asyncio.Task) -> None:
    """A datagram lost to a closing TURN allocation is a lost packet, as on the wire."""
    if not task.cancelled():
        task.exception()


class ExtensionTemplate:
    """The header extension block of a sender's packets, packed once by aiortc's extensions map;
    the places of the values that change from packet to packet (abs-send-time, audio level)
    are found by packing it with two different values of each."""

    def __init__(self, extensions_map, mid: str, audio_level: bool) -> None:
        def block(send_time: int, level: tuple[bool, int] | None) -> bytes:
            profile, value = extensions_map.set(HeaderExtensions(mid=mid, abs_send_time=send_time, audio_level=level))
            return pack("!HH", profile, len(value) >> 2) + value if value else b""

        quiet = (False, 0) if audio_level else None
        self.block = block(0, quiet)
        self.flag = 0x10 if self.block else 0  # the header's X bit
        self.send_time_at = _changed_at(self.block, block(0xFFFFFF, quiet))
        self.level_at = _changed_at(self.block, block(0, (True, 0x7F))) if audio_level else None
        at = self.send_time_at if self.send_time_at is not None else len(self.block)
        self._before, self._after = self.block[:at], self.block[at + 3 :]

    def fill(self, send_time: int, level: tuple[bool, int] | None) -> bytes:
        if self.level_at is None or level is None:  # only the send time changes (video)
            if self.send_time_at is None:
                return self.block
            return self._before + send_time.to_bytes(3, "big") + self._after
        block = bytearray(self.block)
        if self.send_time_at is not None:
            block[self.send_time_at : self.send_time_at + 3] = send_time.to_bytes(3, "big")
        block[self.level_at] = (0x80 if level[0] else 0) | (level[1] & 0x7F)
        return bytes(block)


def _changed_at(one: bytes, other: bytes) -> int | None:
    """Where two packings of the same extensions differ first (None if they do not)."""
    return next((i for i, (a, b) in enumerate(zip(one, other)) if a != b), None)


# --- negotiation -------------------------------------------------------------------------


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs both sides accepted for this m-line, in preference order (RTX included)."""
    return list(transceiver._codecs)


def prefer_codec(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """Put this codec (and its RTX) first in the answer still to be created: a browser sends
    with the first codec of the answer. Between setRemoteDescription and createAnswer."""
    codecs = transceiver._codecs
    first = [c for c in codecs if c.mimeType.lower() == mime_type.lower()]
    types = {c.payloadType for c in first}
    rtx = [c for c in codecs if c.name.lower() == "rtx" and c.parameters.get("apt") in types]
    transceiver._codecs = first + rtx + [c for c in codecs if c not in first and c not in rtx]


def remote_offers_to_send(transceiver: RTCRtpTransceiver) -> bool:
    """Whether the remote peer's last offer sends media on this m-line."""
    return transceiver._offerDirection in ("recvonly", "sendrecv")


# --- frames, for transcoding and recording -----------------------------------------------


@dataclass
class EncodedFrame:
    data: bytes
    timestamp: int


class FrameAssembler:
    """Whole encoded frames from forwarded packets (aiortc's jitter buffer and depayloader)."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self.codec = codec
        video = codec.mimeType.lower().startswith("video/")
        self._buffer = JitterBuffer(capacity=512 if video else 16, is_video=video)

    def add(self, packet: RtpPacket) -> EncodedFrame | None:
        """The previous frame once this packet starts a new one; None otherwise."""
        copy = RtpPacket(
            payload_type=packet.payload_type,
            marker=packet.marker,
            sequence_number=packet.sequence_number,
            timestamp=packet.timestamp,
            ssrc=packet.ssrc,
            payload=packet.payload,
        )
        try:
            copy._data = depayload(self.codec, packet.payload) if packet.payload else b""
        except ValueError:
            return None
        _, frame = self._buffer.add(copy)
        return EncodedFrame(frame.data, frame.timestamp) if frame is not None else None


def codec_decoder(codec: RTCRtpCodecParameters):
    """aiortc's decoder for this codec (use with `decode`)."""
    return get_decoder(codec)


def decode(decoder, frame: EncodedFrame) -> list:
    """PyAV frames from one encoded frame."""
    return decoder.decode(JitterFrame(data=frame.data, timestamp=frame.timestamp))


def codec_encoder(codec: RTCRtpCodecParameters):
    """aiortc's encoder: `encode(frame, force_keyframe) -> (RTP payloads, timestamp)`; its
    `target_bitrate` follows the subscribers' estimates."""
    return get_encoder(codec)
