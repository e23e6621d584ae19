"""Synthetic participants for the relay's tests and benchmark: real aiortc peers with generated
media, and the signalling loop a Channels consumer would otherwise run.

- `PatternTrack`: video in one colour per participant (so a receiver can tell whose video it
  decoded), with the send time painted in as a bar code (so the benchmark can measure latency).
- `ToneTrack`: a sine tone.
- `Peer`: an aiortc peer connection that publishes those tracks and counts what it receives.
- `Conference`: joins peers to a relay room and answers the relay's offers for them.
"""
from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from aiortc import (
    MediaStreamError,
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from av import AudioFrame, VideoFrame

from telemed.rtc import internals
from telemed.rtc.events import OfferReady, TrackInfo

BARCODE_BITS = 32


def now_ms() -> int:
    return int(time.time() * 1000) & 0xFFFFFFFF


def _yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return round(y), round(u), round(v)


class Pacer:
    """Frame n is due at start + n / fps, the clock a camera keeps whatever the work between
    frames; `next()` waits for the next one and returns its number."""

    def __init__(self, fps: int) -> None:
        self.fps, self.count = fps, 0
        self._start: float | None = None

    async def next(self) -> int:
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self.count / self.fps - time.monotonic()))
        self.count += 1
        return self.count - 1


class PatternTrack(VideoStreamTrack):
    """A colour field with a moving textured band and, on top, the send time as a bar code."""

    def __init__(self, colour: tuple[int, int, int], *, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self.colour = colour
        self.width, self.height, self.fps = width, height, fps
        y, u, v = _yuv(colour)
        self._y = np.full((height, width), y, dtype=np.uint8)
        self._u = np.full((height // 2, width // 2), u, dtype=np.uint8)
        self._v = np.full((height // 2, width // 2), v, dtype=np.uint8)
        self._texture = np.random.default_rng(len(colour) + sum(colour)).integers(16, 235, (height // 4, width), dtype=np.uint8)
        self._pacer = Pacer(fps)

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        number = await self._pacer.next()
        return self.picture(number, now_ms())

    def picture(self, number: int, barcode: int) -> VideoFrame:
        """Frame `number`: the band moved on, `barcode` painted in."""
        luma = self._y.copy()
        band = self.height // 4
        top = self.height - band
        luma[top:, :] = np.roll(self._texture, number * 4, axis=1)
        paint_barcode(luma, barcode)
        frame = VideoFrame(width=self.width, height=self.height, format="yuv420p")
        for plane, data in zip(frame.planes, (luma, self._u, self._v)):
            plane.update(data.tobytes())
        frame.pts = int(number * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


def _barcode_cells(width: int, height: int) -> tuple[int, int]:
    return max(width // BARCODE_BITS, 4), max(height // 16, 8)


def paint_barcode(luma: np.ndarray, value: int) -> None:
    cell, rows = _barcode_cells(luma.shape[1], luma.shape[0])
    for bit in range(BARCODE_BITS):
        luma[:rows, bit * cell : (bit + 1) * cell] = 235 if value >> bit & 1 else 16


def read_barcode(luma: np.ndarray) -> int:
    cell, rows = _barcode_cells(luma.shape[1], luma.shape[0])
    value = 0
    for bit in range(BARCODE_BITS):
        block = luma[rows // 4 : rows * 3 // 4, bit * cell + cell // 4 : (bit + 1) * cell - cell // 4]
        if block.mean() > 128:
            value |= 1 << bit
    return value


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, frequency: float = 440.0, *, sample_rate: int = 48000, ptime: float = 0.02) -> None:
        super().__init__()
        self.frequency = frequency
        self.sample_rate = sample_rate
        self.samples = int(sample_rate * ptime)
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self._sent / self.sample_rate - time.monotonic()))
        t = (np.arange(self.samples) + self._sent) / self.sample_rate
        pcm = (np.sin(2 * math.pi * self.frequency * t) * 8000).astype(np.int16)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        self._sent += self.samples
        return frame


@dataclass
class Reception:
    """What a peer got on one incoming m-line."""

    kind: str
    frames: int = 0
    packets: int = 0
    first_frame_at: float | None = None
    last_colour: tuple[float, float, float] | None = None
    last_rms: float = 0.0
    latencies_ms: list[int] = field(default_factory=list)
    last_marked: int | None = None


class Peer:
    """A participant's browser, played by aiortc. `decode=False` only counts packets and frames
    (the benchmark's receivers that must not spend the machine's CPU on decoding); a set of
    participant ids decodes only their media. `headers_only` (with `decode=False`) counts them
    from their RTP headers past the first packet of each stream, as the benchmark's listeners
    do: such a peer sends no NACKs, receiver reports or bandwidth estimates. `measure_latency`
    reads the bar code of each decoded frame and asks `sent_at` when that frame was sent (by
    default the bar code is the send time itself, as `PatternTrack` paints it)."""

    def __init__(
        self,
        name: str,
        *,
        colour: tuple[int, int, int] | None = (200, 40, 40),
        tone: float | None = 440.0,
        size: tuple[int, int] = (160, 120),
        fps: int = 15,
        decode: bool | set[str] = True,
        measure_latency: bool = False,
        sent_at: Callable[[int], int | None] = lambda painted: painted,
        headers_only: bool = False,
    ) -> None:
        self.name = name
        self.decode = decode
        self.headers_only = headers_only
        self._by_ssrc: dict[int, Reception] = {}
        self._counting_headers = False
        self.measure_latency = measure_latency
        self.sent_at = sent_at  # the send time (now_ms) of a frame, from what is painted into it
        # max-bundle: with aiortc's default (balanced), an offer bringing several video m-lines
        # at once leaves all but the first on a transport that bundling has just stopped.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.video = PatternTrack(colour, width=size[0], height=size[1], fps=fps) if colour else None
        self.audio = ToneTrack(tone) if tone else None
        for track in (self.audio, self.video):
            if track is not None:
                self.pc.addTrack(track)
        if self.audio is None and self.video is None:
            # A listener's offer still needs an m-line to carry ICE and DTLS, as in a browser.
            self.pc.addTransceiver("audio", direction="recvonly")
        self.receptions: dict[str, Reception] = {}
        self.tracks: dict[str, TrackInfo] = {}
        self._readers: list[asyncio.Task] = []
        self.pc.on("track", self._on_track)

    # -- signalling, as a browser does it -----------------------------------------------

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def answer(self, offer_sdp: str, tracks: dict[str, TrackInfo] | None = None) -> str:
        self.tracks.update(tracks or {})
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await self.pc.close()

    # -- what arrives ----------------------------------------------------------------------

    def reception_from(self, participant_id: str, kind: str) -> Reception | None:
        """The newest m-line carrying that participant's media of that kind."""
        found = None
        for mid, info in self.tracks.items():
            if info.participant_id == participant_id and info.kind == kind and mid in self.receptions:
                found = self.receptions[mid]
        return found

    def _on_track(self, track: MediaStreamTrack) -> None:
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
        reception = self.receptions[transceiver.mid] = Reception(kind=track.kind)
        info = self.tracks.get(transceiver.mid)
        if self.decode is True or (self.decode and info is not None and info.participant_id in self.decode):
            self._readers.append(asyncio.ensure_future(self._read(track, reception)))
        else:
            internals.tap_receiver(transceiver.receiver, partial(self._count, reception), lambda bitrate: None)
            if self.headers_only and not self._counting_headers:  # one hook for the connection
                self._counting_headers = True
                internals.count_from_headers(transceiver.receiver.transport, self._count_header)

    def _count(self, reception: Reception, packet) -> None:
        self._tally(reception, packet.timestamp, packet.marker)
        if self.headers_only:
            self._by_ssrc[packet.ssrc] = reception  # its next packets are counted from headers

    def _count_header(self, ssrc: int, timestamp: int, marker: bool) -> bool:
        reception = self._by_ssrc.get(ssrc)
        if reception is not None:
            self._tally(reception, timestamp, marker)
        return reception is not None

    @staticmethod
    def _tally(reception: Reception, timestamp: int, marker: bool) -> None:
        reception.packets += 1
        # The last packet of a frame, once (a retransmitted one carries the marker again).
        if reception.kind == "video" and marker and timestamp != reception.last_marked:
            reception.last_marked = timestamp
            reception.frames += 1

    async def _read(self, track: MediaStreamTrack, reception: Reception) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            reception.frames += 1
            if reception.first_frame_at is None:
                reception.first_frame_at = time.monotonic()
            if isinstance(frame, VideoFrame):
                self._look_at(frame, reception)
            else:
                samples = frame.to_ndarray().astype(np.float64)
                reception.last_rms = float(np.sqrt(np.mean(samples**2)))

    def _look_at(self, frame: VideoFrame, reception: Reception) -> None:
        if self.measure_latency:
            luma = frame.to_ndarray(format="gray")
            sent = self.sent_at(read_barcode(luma))
            latency = None if sent is None else (now_ms() - sent) & 0xFFFFFFFF
            if latency is not None and latency < 10_000:
                reception.latencies_ms.append(latency)
        if reception.frames % 5 == 1:
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            centre = rgb[h // 3 : h // 2, w // 4 : w * 3 // 4]
            reception.last_colour = tuple(float(c) for c in centre.reshape(-1, 3).mean(axis=0))


class Conference:
    """Plays the signalling side for a relay room: joins peers and answers the relay's offers."""

    def __init__(self, relay, room_id: str = "room") -> None:
        self.relay = relay
        self.room = relay.room(room_id)
        self.peers: dict[str, Peer] = {}
        self.events: list = []
        self.errors: list[Exception] = []  # answers that failed: a test should find none
        self.offer_filter: Callable[[str, str], str] = lambda participant_id, sdp: sdp
        self._pump = asyncio.ensure_future(self._run())

    async def join(self, peer: Peer, *, sources: dict[str, str] | None = None) -> None:
        self.peers[peer.name] = peer
        answer = await self.room.join(peer.name, await peer.offer(), sources=sources)
        await peer.accept(answer)

    async def _run(self) -> None:
        while True:
            event = await self.relay.events.get()
            self.events.append(event)
            if isinstance(event, OfferReady) and event.participant_id in self.peers:
                peer = self.peers[event.participant_id]
                sdp = self.offer_filter(event.participant_id, event.sdp)
                try:
                    answer = await peer.answer(sdp, event.tracks)
                    await self.room.accept_answer(event.participant_id, answer)
                except Exception as exc:
                    if event.participant_id in self.room.participants:  # not a peer that just left
                        self.errors.append(exc)

    async def renegotiate(self, peer: Peer, *, sources: dict[str, str] | None = None) -> None:
        """The peer's own later offer (a track added or stopped), as the browser sends it."""
        answer = await self.room.renegotiate(peer.name, await peer.offer(), sources=sources)
        await peer.accept(answer)

    async def close(self) -> None:
        self._pump.cancel()
        await self.relay.close()
        for peer in self.peers.values():
            await peer.close()


async def until(condition: Callable[[], bool], *, timeout: float, step: float = 0.05) -> float:
    """Wait for a condition; returns how long it took. Raises TimeoutError after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"still not true after {timeout} s")
        await asyncio.sleep(step)
    return time.monotonic() - started
