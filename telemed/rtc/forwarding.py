"""Packets from sources to subscribers: the forward path, with no decoding.

A *source* is a stream of RTP packets of one kind: a participant's published track
(`room.Publication`) or a transcoder's output. A source hands each packet to its sinks in order.
The sink that matters is `OutboundPath`, one per (source, subscriber): it rewrites SSRC, payload
type, sequence number and timestamp for the subscriber's connection and sends the packet. It
starts a video stream only at a keyframe (asking the source for one), and when it stops and
starts again (audio-only mode, a publisher's reconnection) it rebases sequence numbers and
timestamps so the subscriber sees one continuous stream with no gap to NACK.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

from aiortc import RTCRtpCodecParameters, RTCRtpTransceiver

from telemed.rtc import internals
from telemed.rtc.internals import RtpPacket
from telemed.rtc.packets import codec_key, starts_keyframe

logger = logging.getLogger(__name__)

KEYFRAME_REQUEST_INTERVAL = 0.3  # s; a source asks its publisher at most this often
KEYFRAME_RETRY = 0.5  # s; a path still waiting for a keyframe asks again after this long
ESTIMATE_TTL = 5.0  # s; a subscriber's bandwidth estimate older than this no longer counts


@dataclass(frozen=True)
class Codec:
    """A negotiated codec, as the relay compares and reports it."""

    mime_type: str
    clock_rate: int
    key: str
    params: RTCRtpCodecParameters = field(compare=False, repr=False)

    @classmethod
    def of(cls, params: RTCRtpCodecParameters) -> Codec:
        return cls(params.mimeType, params.clockRate, codec_key(params.mimeType, params.parameters), params)


def media_codecs(codecs: list[RTCRtpCodecParameters]) -> list[RTCRtpCodecParameters]:
    """The negotiated codecs without the retransmission (RTX) entries."""
    return [c for c in codecs if c.name.lower() != "rtx"]


def retransmission_type(codecs: list[RTCRtpCodecParameters], payload_type: int) -> int | None:
    """The RTX payload type paired with this codec's (aiortc pairs RTX with the first
    negotiated codec only, the one its own encoder would use)."""
    return next((c.payloadType for c in codecs if c.name.lower() == "rtx" and c.parameters.get("apt") == payload_type), None)


class Sink(Protocol):
    """Takes a packet as it arrives, synchronously: the forward path never waits, so a packet
    leaves for every subscriber in the same turn of the event loop that received it."""

    def push(self, packet: RtpPacket, codec: Codec) -> None: ...

    def resync(self) -> None: ...


class Source:
    """Fan-out of one stream's packets to its sinks, and the way back for keyframe requests."""

    kind: str

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sinks: list[Sink] = []
        self._last_keyframe_request = 0.0

    def add_sink(self, sink: Sink) -> None:
        if inspect.iscoroutinefunction(sink.push):  # its packets would silently go nowhere
            raise TypeError(f"{type(sink).__name__}.push must be synchronous")
        if sink not in self.sinks:
            self.sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)

    def deliver(self, packet: RtpPacket, codec: Codec) -> None:
        for sink in list(self.sinks):
            try:
                sink.push(packet, codec)
            except ConnectionError:
                pass  # that subscriber's transport just closed; the room removes it

    def request_keyframe(self) -> None:
        """Throttled: several subscribers joining at once cost the publisher one keyframe."""
        now = time.monotonic()
        if now - self._last_keyframe_request >= KEYFRAME_REQUEST_INTERVAL:
            self._last_keyframe_request = now
            self._send_keyframe_request()

    def _send_keyframe_request(self) -> None:
        raise NotImplementedError


class OutboundPath:
    """One source's packets to one subscriber, rewritten for the subscriber's connection."""

    def __init__(self, *, subscriber_id: str, publisher_id: str, source_label: str, kind: str) -> None:
        self.subscriber_id = subscriber_id
        self.publisher_id = publisher_id
        self.source_label = source_label
        self.kind = kind
        self.transceiver: RTCRtpTransceiver | None = None  # created when the offer is made
        self.writer: internals.PacketWriter | None = None  # once negotiated and connected
        self.source: Source | None = None  # set once the subscriber has answered
        self.payload_types: dict[str, int] = {}  # codec key -> the subscriber's payload type
        self.paused = False
        self.closed = False
        self.packets = 0
        self.octets = 0
        self.bandwidth_estimate: tuple[int, float] | None = None  # (bit/s, when)
        self._codec: Codec | None = None  # the last packet's codec, and the payload type it maps to
        self._payload_type: int | None = None
        self._synced = False
        self._base_in_seq = 0
        self._seq_offset = 0
        self._ts_offset = 0
        self._next_seq = random.randint(0, 0x7FFF)  # low half: SRTP dislikes an early wrap
        self._last_ts: int | None = None
        self._last_sent = 0.0
        self._last_keyframe_wish = 0.0

    # -- set-up --------------------------------------------------------------------------

    def bind(self, transceiver: RTCRtpTransceiver) -> None:
        self.transceiver = transceiver
        self.writer = None
        internals.take_over_sender(
            transceiver.sender, self._subscriber_wants_keyframe, self._subscriber_estimate, self._subscriber_lost
        )

    def negotiated(self) -> list[RTCRtpCodecParameters]:
        """Record the codecs the subscriber accepted; returns them in its order of preference."""
        codecs = internals.negotiated_codecs(self.transceiver)
        self.payload_types = {codec_key(c.mimeType, c.parameters): c.payloadType for c in media_codecs(codecs)}
        self._codec = None
        return media_codecs(codecs)

    def attach(self, source: Source) -> None:
        if self.source is not None:
            self.source.remove_sink(self)
        self.source = source
        self.resync()
        source.add_sink(self)

    def close(self) -> None:
        self.closed = True
        if self.source is not None:
            self.source.remove_sink(self)
            self.source = None

    def can_forward(self, codec: Codec) -> bool:
        return codec.key in self.payload_types

    # -- state changes -------------------------------------------------------------------

    def resync(self) -> None:
        """Start again at the next keyframe, continuing this path's numbering."""
        self._synced = False
        self._last_keyframe_wish = 0.0

    def pause(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if not paused:
            self.resync()

    # -- the forward path ----------------------------------------------------------------

    def push(self, packet: RtpPacket, codec: Codec) -> None:
        """Everything here runs once per packet and subscriber: the checks are ordered so the
        common case (synced, same codec, in order) does the least. Sequence numbers compare
        across the 16-bit wrap: `a` is before `b` when (a - b) mod 2^16 is 2^15 or more."""
        if self.paused or self.closed:
            return
        writer = self.writer
        if writer is None or not writer.ready():
            if not self._ready():
                return
            writer = self.writer
        if codec is not self._codec:
            self._codec, self._payload_type = codec, self.payload_types.get(codec.key)
        if self._payload_type is None:
            return
        if not self._synced:
            if not starts_keyframe(codec.mime_type, packet.payload):
                self._wish_keyframe()
                return
            self._rebase(packet, codec)
        elif (packet.sequence_number - self._base_in_seq) & 0xFFFF >= 0x8000:
            return  # from before this path (re)started: the subscriber has no use for it
        sequence_number = (packet.sequence_number + self._seq_offset) & 0xFFFF
        timestamp = (packet.timestamp + self._ts_offset) & 0xFFFFFFFF
        if (sequence_number - self._next_seq) & 0xFFFF < 0x8000:  # the newest so far
            self._next_seq = (sequence_number + 1) & 0xFFFF
            self._last_ts = timestamp
            self._last_sent = time.monotonic()
        writer.write(packet, self._payload_type, sequence_number, timestamp)
        self.packets += 1
        self.octets += len(packet.payload)

    def _ready(self) -> bool:
        if self.transceiver is None:
            return False
        if self.writer is None:
            if self.transceiver.mid is None:
                return False
            self.writer = internals.PacketWriter(self.transceiver.sender, self.transceiver.mid)
        return self.writer.ready()

    def _rebase(self, packet: RtpPacket, codec: Codec) -> None:
        """Map this packet onto the next sequence number, and its timestamp onto the time that
        has passed since the last packet this subscriber got (its jitter buffer and lip sync
        follow RTP time, so a pause must look like a pause)."""
        self.writer.rtx_payload_type = retransmission_type(internals.negotiated_codecs(self.transceiver), self._payload_type)
        if self._last_ts is None:
            out_ts = random.randint(0, 0xFFFFFFFF)
        else:
            elapsed = max(time.monotonic() - self._last_sent, 0.001)
            out_ts = (self._last_ts + int(elapsed * codec.clock_rate)) & 0xFFFFFFFF
        self._seq_offset = (self._next_seq - packet.sequence_number) & 0xFFFF
        self._ts_offset = (out_ts - packet.timestamp) & 0xFFFFFFFF
        self._base_in_seq = packet.sequence_number
        self._synced = True

    def _wish_keyframe(self) -> None:
        now = time.monotonic()
        if self.source is not None and now - self._last_keyframe_wish >= KEYFRAME_RETRY:
            self._last_keyframe_wish = now
            self.source.request_keyframe()

    # -- feedback from the subscriber ----------------------------------------------------

    def _subscriber_wants_keyframe(self) -> None:
        if self.source is not None and not self.paused:
            self.source.request_keyframe()

    def _subscriber_lost(self, sequence_numbers: list[int]) -> None:
        if self.writer is not None:
            for sequence_number in sequence_numbers:
                self.writer.retransmit(sequence_number)

    def _subscriber_estimate(self, bitrate: int) -> None:
        self.bandwidth_estimate = (bitrate, time.monotonic())

    def current_estimate(self) -> int | None:
        """The subscriber's latest bandwidth estimate, if fresh and if it is receiving video."""
        if self.paused or self.bandwidth_estimate is None:
            return None
        bitrate, at = self.bandwidth_estimate
        return bitrate if time.monotonic() - at <= ESTIMATE_TTL else None


def aggregate_bitrate(paths: list[OutboundPath], *, cap: int, uplink: int | None) -> int:
    """What a publisher may send: the weakest receiving subscriber, its own link, the cap."""
    estimates = [e for e in (p.current_estimate() for p in paths) if e is not None]
    if uplink is not None:
        estimates.append(uplink)
    return min([cap, *estimates])


def schedule(coro, *, name: str) -> asyncio.Task:
    """A background task whose failure is logged rather than lost."""
    task = asyncio.ensure_future(coro)
    task.set_name(name)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("relay task %s failed", task.get_name(), exc_info=task.exception())
