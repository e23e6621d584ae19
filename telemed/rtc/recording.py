"""Recording: the forwarded packets written to WebM as they are (VP8 and Opus), never re-encoded.

One file per participant, with its microphone and camera tracks. The recorder is one more sink
on each publication: it assembles whole frames from the packets (no decoding) and muxes them
with PyAV. Timestamps follow the RTP clock within a stretch of stream, and the wall clock
across a gap (a reconnection, a late start), so audio and video stay aligned in the file.
Other codecs (H.264 from a browser without VP8) are not recorded; `RecordedFile.skipped` says so.
"""
from __future__ import annotations

import fractions
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import av

from telemed.rtc import internals
from telemed.rtc.forwarding import Codec, Source
from telemed.rtc.internals import RtpPacket
from telemed.rtc.packets import starts_keyframe, vp8_frame_size

logger = logging.getLogger(__name__)

RECORDED = {"audio": "audio/opus", "video": "video/vp8"}  # kind -> the codec written as-is
MS = fractions.Fraction(1, 1000)
AUDIO_ONLY_AFTER = 3.0  # s without a video keyframe before the file starts with audio alone


@dataclass
class RecordedFile:
    participant_id: str
    path: Path
    duration: float  # seconds, from the first to the last packet written
    kinds: list[str]
    skipped: list[str] = field(default_factory=list)  # e.g. "video/H264: not recordable as-is"


class ParticipantFile:
    """One participant's WebM: opened at the first video keyframe (its size fixes the video
    stream), or with audio alone if no video comes; audio that arrives first is held until then."""

    def __init__(self, participant_id: str, path: Path, started: float) -> None:
        self.participant_id = participant_id
        self.path = path
        self.started = started
        self.container = None
        self.streams: dict[str, av.stream.Stream] = {}
        self.wants_video = False
        self.held: list[tuple[str, bytes, int, bool]] = []
        self.last_pts: dict[str, int] = {}
        self.first_pts: int | None = None
        self.skipped: set[str] = set()

    def write(self, kind: str, data: bytes, pts_ms: int, keyframe: bool) -> None:
        if self.container is None:
            size = vp8_frame_size(data) if kind == "video" and keyframe else None
            waited = time.monotonic() - self.started
            if size is None and (self.wants_video and waited < AUDIO_ONLY_AFTER):
                if kind == "audio":
                    self.held.append((kind, data, pts_ms, keyframe))
                return
            self._open(size)
            for held in self.held:
                self._mux(*held)
            self.held.clear()
        self._mux(kind, data, pts_ms, keyframe)

    def _open(self, video_size: tuple[int, int] | None) -> None:
        self.container = av.open(str(self.path), mode="w", format="webm")
        if video_size is not None:
            video = self.container.add_stream("libvpx", rate=30)
            video.width, video.height = video_size
            video.pix_fmt = "yuv420p"
            self.streams["video"] = video
        audio = self.container.add_stream("libopus", rate=48000)
        audio.layout = "stereo"
        self.streams["audio"] = audio
        # PyAV opens these encoders when the header is written (the Opus one supplies the
        # OpusHead WebM needs); no frame is ever given to them.

    def _mux(self, kind: str, data: bytes, pts_ms: int, keyframe: bool) -> None:
        stream = self.streams.get(kind)
        if stream is None:
            return  # video after an audio-only start: the file has no stream for it
        pts = max(pts_ms, self.last_pts.get(kind, -1) + 1)
        self.last_pts[kind] = pts
        if self.first_pts is None or pts < self.first_pts:
            self.first_pts = pts
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = MS
        packet.stream = stream
        packet.is_keyframe = keyframe
        self.container.mux(packet)

    def close(self) -> RecordedFile | None:
        if self.container is None and self.held:
            self._open(None)
            for held in self.held:
                self._mux(*held)
        if self.container is None:
            return None
        self.container.close()
        duration = (max(self.last_pts.values()) - (self.first_pts or 0)) / 1000 if self.last_pts else 0.0
        return RecordedFile(self.participant_id, self.path, duration, sorted(self.streams), sorted(self.skipped))


class TrackRecorder:
    """A sink on one publication, writing its frames into the participant's file."""

    def __init__(self, file: ParticipantFile, source: Source, kind: str) -> None:
        self.file = file
        self.source = source
        self.kind = kind
        self._assembler: internals.FrameAssembler | None = None
        self._synced = False
        self._segment_ms: int | None = None  # where this stretch of stream starts in the file
        self._last_rtp = 0
        self._rtp_elapsed = 0  # RTP clock ticks since the stretch started
        if kind == "video":
            file.wants_video = True
        source.add_sink(self)

    def resync(self) -> None:
        self._synced = False

    def push(self, packet: RtpPacket, codec: Codec) -> None:
        if codec.mime_type.lower() != RECORDED[self.kind]:
            self.file.skipped.add(f"{codec.mime_type}: not recordable as-is")
            return
        if not self._synced:
            if not starts_keyframe(codec.mime_type, packet.payload):
                self.source.request_keyframe()
                return
            self._synced = True
            self._assembler = internals.FrameAssembler(codec.params) if self.kind == "video" else None
            self._segment_ms = None
        if self._assembler is None:  # an Opus packet is a whole frame
            self._write(packet.payload, packet.timestamp, codec.clock_rate, keyframe=True)
            return
        frame = self._assembler.add(packet)
        if frame is not None:
            self._write(frame.data, frame.timestamp, codec.clock_rate, keyframe=vp8_frame_size(frame.data) is not None)

    def _write(self, data: bytes, rtp_timestamp: int, clock_rate: int, *, keyframe: bool) -> None:
        if self._segment_ms is None:
            self._segment_ms = int((time.monotonic() - self.file.started) * 1000)
            self._rtp_elapsed = 0
        else:
            step = (rtp_timestamp - self._last_rtp) & 0xFFFFFFFF  # across the 32-bit wrap
            self._rtp_elapsed += step - (1 << 32) if step >= 0x80000000 else step
        self._last_rtp = rtp_timestamp
        self.file.write(self.kind, data, self._segment_ms + self._rtp_elapsed * 1000 // clock_rate, keyframe)

    def close(self) -> None:
        self.source.remove_sink(self)


class Recording:
    """Every participant's microphone ("audio") and camera ("video"), one file each."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.files: dict[str, ParticipantFile] = {}
        self.tracks: dict[tuple[str, str], TrackRecorder] = {}

    def add(self, participant_id: str, label: str, kind: str, source: Source) -> None:
        if label not in RECORDED or (participant_id, label) in self.tracks:
            return
        file = self.files.get(participant_id)
        if file is None:
            file = self.files[participant_id] = ParticipantFile(
                participant_id, self.directory / f"{participant_id}.webm", self.started
            )
        self.tracks[(participant_id, label)] = TrackRecorder(file, source, kind)

    def remove(self, participant_id: str, label: str) -> None:
        track = self.tracks.pop((participant_id, label), None)
        if track is not None:
            track.close()

    def stop(self) -> list[RecordedFile]:
        for track in self.tracks.values():
            track.close()
        self.tracks.clear()
        recorded = [f.close() for f in self.files.values()]
        return [r for r in recorded if r is not None]
