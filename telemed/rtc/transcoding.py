"""The fallback for a subscriber that cannot decode a publisher's codec.

One transcoder per (published track, target codec): it decodes the track once and encodes it
once, and its packets go to every subscriber that needs that codec through the same
`OutboundPath`s as forwarded packets. Decoding and encoding run in one worker thread per
transcoder, so the event loop that forwards everyone else's packets is never held up.
"""
from __future__ import annotations

import asyncio
import logging
import random
from concurrent.futures import ThreadPoolExecutor

from aiortc import RTCRtpCodecParameters

from telemed.rtc import internals
from telemed.rtc.forwarding import Codec, Source, schedule
from telemed.rtc.internals import RtpPacket
from telemed.rtc.packets import starts_keyframe

logger = logging.getLogger(__name__)

QUEUED_FRAMES = 30  # about a second of video; beyond that the worker cannot keep up


class Transcoder(Source):
    def __init__(self, publication: Source, target: RTCRtpCodecParameters, *, name: str) -> None:
        super().__init__(publication.kind)
        self.publication = publication
        self.target = Codec.of(target)
        self.encoder = internals.codec_encoder(target)
        self._decoder = None
        self._decoder_codec: str | None = None
        self._assembler: internals.FrameAssembler | None = None
        self._synced = False
        self._force_keyframe = True
        self._frames: asyncio.Queue = asyncio.Queue(maxsize=QUEUED_FRAMES)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"transcode-{name}")
        self._seq = random.randint(0, 0x7FFF)
        self._task = schedule(self._run(), name=f"transcode {name}")
        publication.add_sink(self)

    # -- as a sink of the publication ----------------------------------------------------

    def push(self, packet: RtpPacket, codec: Codec) -> None:
        if not self._synced:
            if not starts_keyframe(codec.mime_type, packet.payload):
                self.publication.request_keyframe()
                return
            self._synced = True
            self._assembler = internals.FrameAssembler(codec.params)
        frame = self._assembler.add(packet)
        if frame is None:
            return
        try:
            self._frames.put_nowait((codec, frame))
        except asyncio.QueueFull:
            logger.warning("transcoder %s is behind; dropping to the next keyframe", self._task.get_name())
            self.resync()

    def resync(self) -> None:
        self._synced = False

    # -- as a source ---------------------------------------------------------------------

    def _send_keyframe_request(self) -> None:
        self._force_keyframe = True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            codec, frame = await self._frames.get()
            force, self._force_keyframe = self._force_keyframe, False
            try:
                encoded = await loop.run_in_executor(self._executor, self._transcode, codec, frame, force)
            except Exception as exc:  # a frame the decoder rejects (lost reference): start again
                logger.debug("transcoder %s: %s", self._task.get_name(), exc)
                self._force_keyframe = True
                self.resync()
                continue
            for payloads, timestamp in encoded:
                for i, payload in enumerate(payloads):
                    packet = RtpPacket(
                        payload_type=self.target.params.payloadType,
                        marker=int(i == len(payloads) - 1),
                        sequence_number=self._seq,
                        timestamp=timestamp & 0xFFFFFFFF,
                        payload=payload,
                    )
                    self._seq = (self._seq + 1) & 0xFFFF
                    self.deliver(packet, self.target)

    def _transcode(self, codec: Codec, frame: internals.EncodedFrame, force_keyframe: bool):
        """In the worker thread: one encoded frame in, the target codec's RTP payloads out."""
        if self._decoder_codec != codec.key:
            self._decoder = internals.codec_decoder(codec.params)
            self._decoder_codec = codec.key
        encoded = []
        for picture in internals.decode(self._decoder, frame):
            payloads, timestamp = self.encoder.encode(picture, force_keyframe)
            force_keyframe = False
            if payloads:
                encoded.append((payloads, timestamp))
        return encoded

    async def close(self) -> None:
        self.publication.remove_sink(self)
        self.sinks.clear()
        self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
