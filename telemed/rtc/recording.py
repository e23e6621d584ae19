"""Recording: the forwarded packets written to files as they are, never re-encoded.

Files, per participant, in the recording's directory:
- `<participant>.webm`: its microphone ("audio") and camera ("video") together;
- `<participant>-<label>.webm`: every other track on its own, e.g. the screen share
  (`<participant>-screen.webm`). A browser's <video> shows only a file's first video stream, so
  a screen share muxed beside the camera would never be seen on playback.
The container follows the video codec: VP8 (and audio alone) in WebM; H.264, which WebM cannot
carry, in MP4 with the index first ("faststart"), which every browser plays as it downloads
(Safari, the usual H.264 sender, plays no Matroska). Opus goes in either.

The recorder is one more sink on each publication: it assembles whole frames from the packets
(no decoding) and muxes them with PyAV. Timestamps follow the RTP clock within a stretch of
stream, and the wall clock across a gap (a reconnection, a late start), so audio and video stay
aligned. Each file's time starts at 0 with its first frame; `RecordedFile.offset` says when that
was, counted from the start of the recording. A file closes when its last track goes (a screen
share stopped, a participant who left); if the track comes back, a new part starts
(`<participant>-screen-2.webm`). Closing happens in a thread: writing an MP4's index first
rewrites the whole file, which must not stall the event loop that forwards everyone's packets.
Codecs no container takes as sent (G.711 audio) are not recorded; `RecordedFile.skipped` says so.
"""
from __future__ import annotations

import asyncio
import fractions
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import av

from telemed.rtc import internals
from telemed.rtc.forwarding import Codec, Source
from telemed.rtc.internals import RtpPacket
from telemed.rtc.packets import frame_is_keyframe, starts_keyframe, vp8_frame_size

logger = logging.getLogger(__name__)

CONTAINERS = {"video/vp8": "webm", "video/h264": "mp4"}  # the video codec decides; audio alone: WebM
RECORDABLE = {"audio": {"audio/opus"}, "video": set(CONTAINERS)}
CAMERA_LABELS = {"audio", "video"}  # the publications recorded together in `<participant>.webm`
MS = fractions.Fraction(1, 1000)
AUDIO_ONLY_AFTER = 3.0  # s without a video keyframe before the file starts with audio alone


@dataclass
class RecordedFile:
    participant_id: str
    path: Path
    duration: float  # seconds, from the file's first frame to its last
    kinds: list[str]
    skipped: list[str] = field(default_factory=list)  # e.g. "audio/PCMU: not recordable as-is"
    source: str = "camera"  # "camera" (microphone and camera) or the track's label, e.g. "screen"
    offset: float = 0.0  # s from the start of the recording to the file's first frame


def h264_frame_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height (cropped) from the SPS in an Annex-B access unit, by libavcodec's
    parser: nothing is decoded."""
    parser = av.CodecContext.create("h264", "r")
    try:
        parser.parse(frame)
        parser.parse(None)  # flush: the parser reports a frame once it has seen its end
    except av.FFmpegError:
        return None
    return (parser.width, parser.height) if parser.width and parser.height else None


def frame_size(mime_type: str, frame: bytes) -> tuple[int, int] | None:
    """The size a keyframe fixes for the file's video stream; None when it cannot start one
    (an H.264 keyframe without its SPS)."""
    return vp8_frame_size(frame) if mime_type == "video/vp8" else h264_frame_size(frame)


class MediaFile:
    """One file: opened at the first video keyframe (its codec picks the container, its size
    fixes the video stream), or with audio alone if no video comes; audio that arrives first is
    held until then."""

    def __init__(self, participant_id: str, source: str, stem: Path, kinds: set[str], started: float) -> None:
        self.participant_id = participant_id
        self.source = source
        self.stem = stem
        self.kinds = kinds  # what this file may carry
        self.started = started
        self.path: Path | None = None
        self.container = None
        self.streams: dict[str, av.stream.Stream] = {}
        self.video_codec: str | None = None
        self.wants_video = False
        self.held: list[tuple[str, str, bytes, int, bool]] = []
        self.last_pts: dict[str, int] = {}
        self.origin = 0  # ms since the recording started at the file's time 0
        self.skipped: set[str] = set()

    def write(self, kind: str, mime_type: str, data: bytes, pts_ms: int, keyframe: bool) -> None:
        if self.container is None:
            size = frame_size(mime_type, data) if kind == "video" and keyframe else None
            waited = time.monotonic() - self.started
            if size is None and self.wants_video and (waited < AUDIO_ONLY_AFTER or "audio" not in self.kinds):
                if kind == "audio":
                    self.held.append((kind, mime_type, data, pts_ms, keyframe))
                return
            self._open(mime_type if size else None, size, origin=min([h[3] for h in self.held] + [pts_ms]))
            for held in self.held:
                self._mux(*held)
            self.held.clear()
        self._mux(kind, mime_type, data, pts_ms, keyframe)

    def _open(self, video_codec: str | None, video_size: tuple[int, int] | None, *, origin: int) -> None:
        container_format = CONTAINERS.get(video_codec, "webm")
        self.path = Path(f"{self.stem}.{container_format}")
        options = {"movflags": "+faststart"} if container_format == "mp4" else {}
        self.container = av.open(str(self.path), mode="w", format=container_format, options=options)
        self.origin = origin
        if video_codec is not None:
            width, height = video_size
            self.streams["video"] = self.container.add_mux_stream(video_codec.split("/")[1], rate=30, width=width, height=height)
            self.video_codec = video_codec
        if "audio" in self.kinds:
            # An encoder PyAV opens when the header is written, never given a frame: it supplies
            # the OpusHead both containers need.
            audio = self.container.add_stream("libopus", rate=48000)
            audio.layout = "stereo"
            self.streams["audio"] = audio

    def _mux(self, kind: str, mime_type: str, data: bytes, pts_ms: int, keyframe: bool) -> None:
        stream = self.streams.get(kind)
        if stream is None:
            return  # video after an audio-only start: the file has no stream for it
        if kind == "video" and mime_type != self.video_codec:
            self.skipped.add(f"{mime_type} after {self.video_codec}: one video codec per file")
            return
        pts = max(pts_ms - self.origin, self.last_pts.get(kind, -1) + 1)
        self.last_pts[kind] = pts
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = MS
        packet.stream = stream
        packet.is_keyframe = keyframe
        self.container.mux(packet)

    def close(self) -> RecordedFile | None:
        """Write the trailer (blocking: run it in a thread). None if nothing was written."""
        if self.container is None and self.held:
            self._open(None, None, origin=self.held[0][3])
            for held in self.held:
                self._mux(*held)
        if self.container is None:
            return None
        self.container.close()
        duration = max(self.last_pts.values()) / 1000 if self.last_pts else 0.0
        return RecordedFile(
            self.participant_id, self.path, duration, sorted(self.streams), sorted(self.skipped),
            source=self.source, offset=self.origin / 1000,
        )


class TrackRecorder:
    """A sink on one publication, writing its frames into a file."""

    def __init__(self, file: MediaFile, source: Source, kind: str) -> None:
        self.file = file
        self.source = source
        self.kind = kind
        self._assembler: internals.FrameAssembler | None = None
        self._synced_codec: str | None = None  # the codec a keyframe was found in; None: waiting
        self._segment_ms: int | None = None  # where this stretch of stream starts in the recording
        self._last_rtp = 0
        self._rtp_elapsed = 0  # RTP clock ticks since the stretch started
        self.closed = False
        if kind == "video":
            file.wants_video = True
        source.add_sink(self)

    def resync(self) -> None:
        self._synced_codec = None

    def push(self, packet: RtpPacket, codec: Codec) -> None:
        if self.closed:
            return  # a packet its source was already delivering when the file began to close
        mime = codec.mime_type.lower()
        if mime not in RECORDABLE[self.kind]:
            self.file.skipped.add(f"{codec.mime_type}: not recordable as-is")
            return
        if self._synced_codec != mime:
            if not starts_keyframe(mime, packet.payload):
                self.source.request_keyframe()
                return
            self._synced_codec = mime
            self._assembler = internals.FrameAssembler(codec.params) if self.kind == "video" else None
            self._segment_ms = None
        if self._assembler is None:  # an Opus packet is a whole frame
            self._write(mime, packet.payload, packet.timestamp, codec.clock_rate, keyframe=True)
            return
        frame = self._assembler.add(packet)
        if frame is not None:
            self._write(mime, frame.data, frame.timestamp, codec.clock_rate, keyframe=frame_is_keyframe(mime, frame.data))

    def _write(self, mime: str, data: bytes, rtp_timestamp: int, clock_rate: int, *, keyframe: bool) -> None:
        if self._segment_ms is None:
            self._segment_ms = int((time.monotonic() - self.file.started) * 1000)
            self._rtp_elapsed = 0
        else:
            step = (rtp_timestamp - self._last_rtp) & 0xFFFFFFFF  # across the 32-bit wrap
            self._rtp_elapsed += step - (1 << 32) if step >= 0x80000000 else step
        self._last_rtp = rtp_timestamp
        self.file.write(self.kind, mime, data, self._segment_ms + self._rtp_elapsed * 1000 // clock_rate, keyframe)

    def close(self) -> None:
        self.closed = True
        self.source.remove_sink(self)


class Recording:
    """Every track of every participant: microphone and camera in one file, each other track
    (the screen share) in its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.files: dict[tuple[str, str], MediaFile] = {}  # (participant, source) -> the open file
        self.parts: dict[tuple[str, str], int] = {}
        self.tracks: dict[tuple[str, str], TrackRecorder] = {}
        self.closing: list[asyncio.Future] = []  # files whose tracks went, closing in a thread

    def add(self, participant_id: str, label: str, kind: str, source: Source) -> None:
        if (participant_id, label) in self.tracks:
            return
        file_key = (participant_id, "camera" if label in CAMERA_LABELS else label)
        file = self.files.get(file_key)
        if file is None:
            file = self.files[file_key] = self._new_file(file_key, CAMERA_LABELS if label in CAMERA_LABELS else {kind})
        self.tracks[(participant_id, label)] = TrackRecorder(file, source, kind)

    def _new_file(self, key: tuple[str, str], kinds: set[str]) -> MediaFile:
        participant_id, source = key
        part = self.parts[key] = self.parts.get(key, 0) + 1
        name = participant_id if source == "camera" else f"{participant_id}-{source}"
        if part > 1:
            name = f"{name}-{part}"
        return MediaFile(participant_id, source, self.directory / name, set(kinds), self.started)

    def remove(self, participant_id: str, label: str) -> None:
        track = self.tracks.pop((participant_id, label), None)
        if track is None:
            return
        track.close()
        if not any(t.file is track.file for t in self.tracks.values()):
            key = next(k for k, f in self.files.items() if f is track.file)
            del self.files[key]
            self.closing.append(asyncio.ensure_future(asyncio.to_thread(track.file.close)))

    async def stop(self) -> list[RecordedFile]:
        """Nothing more is written from the moment this is called; the files close in threads."""
        for track in self.tracks.values():
            track.close()
        self.tracks.clear()
        files, self.files = list(self.files.values()), {}
        closing = self.closing + [asyncio.to_thread(f.close) for f in files]
        self.closing = []
        recorded = []
        for result in await asyncio.gather(*closing, return_exceptions=True):
            if isinstance(result, BaseException):  # one broken file must not lose the others
                logger.error("a recording file could not be closed", exc_info=result)
            elif result is not None:
                recorded.append(result)
        return recorded
