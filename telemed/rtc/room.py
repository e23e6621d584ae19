"""A room: its participants' peer connections, their published tracks, the paths between them.

Negotiation, per participant, under that participant's lock:

1. `join(offer)` answers the participant's offer (its own tracks: it publishes them).
2. The relay adds one sending m-line per track of every other publisher, and offers them
   (`OfferReady`) once the connection is up (so the browser has applied the join answer).
3. `accept_answer(answer)` starts forwarding on those m-lines, or transcoding where the
   subscriber's answer lacks the publisher's codec (`TranscodingUsed`).
4. `renegotiate(offer)` handles the participant's later offers (a screen share, a track
   stopped); a new track is offered to everyone else as in 2.
A change that arrives while an offer is out waits for its answer, then goes in the next offer.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from telemed.rtc import internals
from telemed.rtc.sdp import announce_public_address, keep_browser_numbering
from telemed.rtc.errors import (
    BadDescription,
    ConnectionClosed,
    NegotiationConflict,
    NoOfferPending,
    RoomClosed,
    RoomFull,
    UnknownParticipant,
)
from telemed.rtc.events import (
    OfferReady,
    ParticipantJoined,
    ParticipantLeft,
    RoomStats,
    TrackInfo,
    TrackPublished,
    TrackUnpublished,
    TranscodingUsed,
)
from telemed.rtc.forwarding import Codec, OutboundPath, Source, aggregate_bitrate, media_codecs, schedule
from telemed.rtc.internals import RtpPacket
from telemed.rtc.packets import codec_key
from telemed.rtc.recording import RecordedFile, Recording
from telemed.rtc.transcoding import Transcoder

logger = logging.getLogger(__name__)

TrackKey = tuple[str, str]  # (publishing participant, source label)


class Publication(Source):
    """One track a participant sends; survives the participant's reconnections."""

    def __init__(self, participant_id: str, label: str, kind: str) -> None:
        super().__init__(kind)
        self.participant_id = participant_id
        self.label = label
        self.transceiver: RTCRtpTransceiver | None = None
        self.codecs: dict[int, Codec] = {}  # the publisher's payload type -> codec
        self.codec: Codec | None = None  # what the publisher sends (first in the answer)
        self.media_ssrc: int | None = None
        self.uplink_estimate: int | None = None
        self.bitrate_target: int | None = None
        self.packets = 0
        self.octets = 0
        self._generation = 0

    def bind(self, transceiver: RTCRtpTransceiver) -> None:
        """Take packets from this m-line (a new connection's after a reconnection)."""
        codecs = media_codecs(internals.negotiated_codecs(transceiver))
        self.codecs = {c.payloadType: Codec.of(c) for c in codecs}
        self.codec = Codec.of(codecs[0]) if codecs else None
        if transceiver is self.transceiver:
            return
        self.transceiver = transceiver
        self._generation += 1
        self.media_ssrc = None
        internals.tap_receiver(transceiver.receiver, partial(self._on_packet, self._generation), self._on_uplink_estimate)
        for sink in self.sinks:
            sink.resync()

    def _on_packet(self, generation: int, packet: RtpPacket) -> None:
        """Called by aiortc's receiver as each packet arrives: forwarded there and then (no queue,
        no task: a hop through the event loop adds latency under load). A failure here must not
        reach aiortc's receive loop, which would stop taking this publisher's packets."""
        codec = self.codecs.get(packet.payload_type)
        if codec is None or generation != self._generation:  # or a replaced connection's
            return
        self.media_ssrc = packet.ssrc
        self.packets += 1
        self.octets += len(packet.payload)
        try:
            self.deliver(packet, codec)
        except Exception:
            logger.exception("forwarding a packet of %s/%s failed", self.participant_id, self.label)

    def _on_uplink_estimate(self, bitrate: int) -> None:
        self.uplink_estimate = bitrate

    def _send_keyframe_request(self) -> None:
        if self.transceiver is not None and self.media_ssrc is not None:
            schedule(internals.request_keyframe(self.transceiver.receiver, self.media_ssrc), name="keyframe request")

    async def send_bitrate(self, bitrate: int) -> None:
        """REMB to the publisher, if it negotiated REMB feedback."""
        self.bitrate_target = bitrate
        if self.transceiver is None or self.media_ssrc is None or self.codec is None:
            return
        if any(fb.type == "goog-remb" for fb in self.codec.params.rtcpFeedback):
            await internals.send_bandwidth_estimate(self.transceiver.receiver, bitrate, [self.media_ssrc])

    def outbound_paths(self) -> list[OutboundPath]:
        return [s for s in self.sinks if isinstance(s, OutboundPath)]

    def close(self) -> None:
        self._generation += 1  # packets still arriving from the old connection go nowhere
        self.sinks.clear()


class Participant:
    def __init__(self, participant_id: str, pc: RTCPeerConnection, *, audio_only: bool) -> None:
        self.id = participant_id
        self.pc = pc
        self.lock = asyncio.Lock()
        self.connected = asyncio.Event()
        self.outputs: dict[TrackKey, OutboundPath] = {}
        self.relay_mlines: set[RTCRtpTransceiver] = set()  # the m-lines the relay added, kept when withdrawn
        self.audio_only = audio_only
        self.needs_offer = False
        self.offer_task: asyncio.Task | None = None
        self.closed = False


class Room:
    def __init__(self, room_id: str, *, config, emit: Callable[[object], None]) -> None:
        self.id = room_id
        self.config = config
        self._emit = emit
        self.participants: dict[str, Participant] = {}
        self.publications: dict[TrackKey, Publication] = {}
        self.transcoders: dict[tuple[str, str, str], Transcoder] = {}
        self.recording: Recording | None = None
        self._housekeeping: asyncio.Task | None = None
        self.closed = False

    # -- joining and leaving -------------------------------------------------------------

    async def join(self, participant_id: str, offer_sdp: str, *, sources: dict[str, str] | None = None) -> str:
        """Answer a participant's first offer (or a reconnecting participant's new one).

        `sources` names the participant's tracks by mid (e.g. {"2": "screen"}); unnamed tracks
        are called by their kind ("audio", "video", then "video-2"...). A participant who is
        already here is reconnecting: the new connection replaces the old one, the others keep
        their m-lines and simply see the stream continue (no ghost, no renegotiation for them).
        """
        if self.closed:
            raise RoomClosed(f"room {self.id} is closed")
        previous = self.participants.get(participant_id)
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=list(self.config.ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        try:
            answer = await self._answer(pc, offer_sdp)
            if self._publishes(pc) and self._publishers(excluding=participant_id) >= self.config.max_publishers:
                raise RoomFull(f"room {self.id} already has {self.config.max_publishers} publishing participants")
        except BaseException:
            await pc.close()
            raise
        participant = Participant(participant_id, pc, audio_only=previous.audio_only if previous else False)
        if previous is not None:
            await self._disconnect(previous)
        self.participants[participant_id] = participant
        self._watch(participant)
        self._sync_publications(participant, sources or {})
        for key, publication in self.publications.items():
            if key[0] != participant_id:
                self._plan_output(participant, publication)
        self._start_housekeeping()
        self._emit(
            ParticipantJoined(
                self.id, participant_id, publishing=self._publishes(pc), reconnected=previous is not None
            )
        )
        return answer

    async def leave(self, participant_id: str, *, reason: str = "left") -> None:
        """The participant's media stops at once: its connection closes, its tracks are
        withdrawn from everyone else (who get an offer without them)."""
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return
        await self._disconnect(participant)
        for key in [k for k in self.publications if k[0] == participant_id]:
            self._unpublish(key)
        self._emit(ParticipantLeft(self.id, participant_id, reason))

    async def remove(self, participant_id: str) -> None:
        """The host removes someone: the same as leaving, recorded as a removal."""
        await self.leave(participant_id, reason="removed")

    async def close(self) -> None:
        self.closed = True  # first: nobody left behind is offered the leavers' withdrawal
        await self.stop_recording()
        for participant_id in list(self.participants):
            await self.leave(participant_id, reason="room-closed")
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        for transcoder in self.transcoders.values():
            await transcoder.close()
        self.transcoders.clear()

    # -- negotiation ---------------------------------------------------------------------

    async def renegotiate(self, participant_id: str, offer_sdp: str, *, sources: dict[str, str] | None = None) -> str:
        """Answer a participant's later offer: a track added (screen share) or stopped."""
        participant = self._participant(participant_id, connected=True)
        async with participant.lock:
            if participant.pc.signalingState == "have-local-offer":
                raise NegotiationConflict("the relay's offer is waiting for an answer: answer it, then offer again")
            was_publishing = any(key[0] == participant_id for key in self.publications)
            answer = await self._answer(participant.pc, offer_sdp, participant.relay_mlines)
            if (
                not was_publishing
                and self._publishes(participant.pc)
                and self._publishers(excluding=participant_id) >= self.config.max_publishers
            ):
                # The answer is applied already; the tracks are simply not forwarded.
                raise RoomFull(f"room {self.id} already has {self.config.max_publishers} publishing participants")
            self._sync_publications(participant, sources or {})
        if participant.needs_offer:
            self._request_offer(participant)
        return answer

    async def accept_answer(self, participant_id: str, answer_sdp: str) -> None:
        """The participant's answer to the relay's last `OfferReady`."""
        participant = self._participant(participant_id)
        async with participant.lock:
            self._participant(participant_id, connected=True)  # it may have closed meanwhile
            if participant.pc.signalingState != "have-local-offer":
                raise NoOfferPending("the relay has no offer waiting for an answer")
            try:
                await participant.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
            except Exception as exc:
                raise BadDescription(f"unusable answer: {exc}") from exc
            for path in participant.outputs.values():
                if path.transceiver is not None and path.source is None:
                    self._connect_output(participant, path)
        if participant.needs_offer:
            self._request_offer(participant)

    async def add_ice_candidate(self, participant_id: str, candidate: str, sdp_mid: str | None) -> None:
        """A candidate the browser trickled after its offer (aiortc gathers its own candidates
        before answering, so only this direction trickles)."""
        participant = self._participant(participant_id, connected=True)
        try:
            ice = internals.candidate_from_sdp(candidate.removeprefix("candidate:"))
        except (ValueError, IndexError, AssertionError) as exc:  # aiortc asserts on too few fields
            raise BadDescription(f"unusable ICE candidate: {candidate[:100]!r}") from exc
        ice.sdpMid = sdp_mid
        await participant.pc.addIceCandidate(ice)

    # -- what a participant receives -------------------------------------------------------

    def set_audio_only(self, participant_id: str, audio_only: bool) -> None:
        """Stop (or resume) sending this participant video, at once; resuming waits for the
        next keyframe, which the relay requests."""
        participant = self._participant(participant_id)
        participant.audio_only = audio_only
        for path in participant.outputs.values():
            if path.kind == "video":
                path.pause(audio_only)

    def start_recording(self, directory: str | Path) -> None:
        """Write every participant's tracks, as forwarded, into `directory`: microphone and
        camera to `<participant>.webm` (`.mp4` for H.264), each other track (the screen share)
        to its own file; participants and tracks that come later are included."""
        if self.recording is None:
            self.recording = Recording(Path(directory))
            for (participant_id, label), publication in self.publications.items():
                self.recording.add(participant_id, label, publication.kind, publication)

    async def stop_recording(self) -> list[RecordedFile]:
        """Stop writing at once and close the files; what was written, one entry per file."""
        recording, self.recording = self.recording, None
        return await recording.stop() if recording is not None else []

    def stats(self) -> dict[str, dict]:
        """Per participant: what it publishes, what it receives, and how much."""
        figures: dict[str, dict] = {}
        for participant in self.participants.values():
            publishing = {
                pub.label: {
                    "kind": pub.kind,
                    "codec": pub.codec.mime_type if pub.codec else None,
                    "packets": pub.packets,
                    "octets": pub.octets,
                    "subscribers": len(pub.outbound_paths()),
                    "bitrate_target": pub.bitrate_target,
                }
                for key, pub in self.publications.items()
                if key[0] == participant.id
            }
            receiving = {
                f"{key[0]}/{key[1]}": {
                    "kind": path.kind,
                    "packets": path.packets,
                    "octets": path.octets,
                    "paused": path.paused,
                    "transcoded": isinstance(path.source, Transcoder),
                    "bandwidth_estimate": path.current_estimate(),
                }
                for key, path in participant.outputs.items()
            }
            figures[participant.id] = {
                "connection": participant.pc.connectionState,
                "audio_only": participant.audio_only,
                "publishing": publishing,
                "receiving": receiving,
            }
        return figures

    # -- inside ----------------------------------------------------------------------------

    def _participant(self, participant_id: str, *, connected: bool = False) -> Participant:
        try:
            participant = self.participants[participant_id]
        except KeyError:
            raise UnknownParticipant(f"{participant_id} is not in room {self.id}") from None
        if connected and participant.pc.signalingState == "closed":
            raise ConnectionClosed(f"{participant_id}'s connection has closed: join again with a new offer")
        return participant

    def _publishers(self, *, excluding: str) -> int:
        return len({key[0] for key in self.publications if key[0] != excluding})

    @staticmethod
    def _publishes(pc: RTCPeerConnection) -> bool:
        return any(t.receiver.track is not None and internals.remote_offers_to_send(t) for t in pc.getTransceivers())

    async def _answer(self, pc: RTCPeerConnection, offer_sdp: str, relay_mlines: set = frozenset()) -> str:
        """Answer an offer. The participant's own video is steered to the room's codec (VP8
        unless configured otherwise) where it can send it, so its packets suit everyone.

        A browser's `addTrack` reuses an m-line it only received on, which may be one the relay
        added: the relay then receives on that m-line too, while it keeps sending on it."""
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            if not pc.getTransceivers() and pc.sctp is None:
                raise ValueError("it has no media section to carry the connection")
            for transceiver in pc.getTransceivers():
                if transceiver in relay_mlines:
                    sending = transceiver.direction in ("sendonly", "sendrecv")
                    receiving = internals.remote_offers_to_send(transceiver)
                    transceiver.direction = _DIRECTIONS[(sending, receiving)]
                elif transceiver.kind == "video":
                    internals.prefer_codec(transceiver, self.config.preferred_video_codec)
            await pc.setLocalDescription(await pc.createAnswer())
        except internals.OperationError as exc:  # aiortc raises it for nothing else
            raise BadDescription("unusable offer: no audio or video codec in common with the relay") from exc
        except Exception as exc:
            raise BadDescription(f"unusable offer: {exc or type(exc).__name__}") from exc
        return self._announced(pc)

    def _announced(self, pc: RTCPeerConnection) -> str:
        """The relay's description as the participant gets it: at its public address too, if set."""
        return announce_public_address(pc.localDescription.sdp, self.config.public_address)

    def _watch(self, participant: Participant) -> None:
        def changed() -> None:
            state = participant.pc.connectionState
            if state == "connected":
                participant.connected.set()
            elif state in ("failed", "closed") and not participant.closed:
                schedule(self._expire(participant), name=f"expire {participant.id}")

        participant.pc.on("connectionstatechange", changed)

    async def _expire(self, participant: Participant) -> None:
        """A lost connection: give the participant time to reconnect, then let it go."""
        await asyncio.sleep(self.config.reconnect_grace)
        if self.participants.get(participant.id) is participant:
            await self.leave(participant.id, reason="connection-lost")

    async def _disconnect(self, participant: Participant) -> None:
        participant.closed = True
        if participant.offer_task is not None:
            participant.offer_task.cancel()
        for path in participant.outputs.values():
            self._detach(path)
        participant.outputs.clear()
        await participant.pc.close()

    def _sync_publications(self, participant: Participant, sources: dict[str, str]) -> None:
        counts: dict[str, int] = {}
        live: set[TrackKey] = set()
        added: list[Publication] = []
        for transceiver in participant.pc.getTransceivers():
            if transceiver.receiver.track is None or not internals.remote_offers_to_send(transceiver):
                continue
            kind = transceiver.kind
            counts[kind] = counts.get(kind, 0) + 1
            label = sources.get(transceiver.mid) or (kind if counts[kind] == 1 else f"{kind}-{counts[kind]}")
            key = (participant.id, label)
            live.add(key)
            publication = self.publications.get(key)
            if publication is None or publication.kind != kind:
                if publication is not None:
                    self._unpublish(key)
                publication = self.publications[key] = Publication(participant.id, label, kind)
                added.append(publication)
            publication.bind(transceiver)
        for key in [k for k in self.publications if k[0] == participant.id and k not in live]:
            self._unpublish(key)
        for publication in added:
            if self.recording is not None:
                self.recording.add(participant.id, publication.label, publication.kind, publication)
            codec = publication.codec.mime_type if publication.codec else ""
            self._emit(TrackPublished(self.id, participant.id, publication.label, publication.kind, codec))
            for other in self.participants.values():
                if other.id != participant.id:
                    self._plan_output(other, publication)

    def _unpublish(self, key: TrackKey) -> None:
        publication = self.publications.pop(key)
        for subscriber in self.participants.values():
            path = subscriber.outputs.pop(key, None)
            if path is not None:
                self._detach(path)
                if path.transceiver is not None and not subscriber.closed:
                    # Stop sending on it (the browser may still be sending on it: see _answer).
                    path.transceiver.direction = "recvonly" if path.transceiver.direction == "sendrecv" else "inactive"
                    self._request_offer(subscriber)
        if self.recording is not None:
            self.recording.remove(*key)
        for tkey in [k for k in self.transcoders if k[:2] == key]:
            schedule(self.transcoders.pop(tkey).close(), name="close transcoder")
        publication.close()
        self._emit(TrackUnpublished(self.id, key[0], key[1], publication.kind))

    def _plan_output(self, subscriber: Participant, publication: Publication) -> None:
        key = (publication.participant_id, publication.label)
        if key in subscriber.outputs:
            return
        path = OutboundPath(
            subscriber_id=subscriber.id,
            publisher_id=publication.participant_id,
            source_label=publication.label,
            kind=publication.kind,
        )
        path.pause(subscriber.audio_only and publication.kind == "video")
        subscriber.outputs[key] = path
        self._request_offer(subscriber)

    def _detach(self, path: OutboundPath) -> None:
        source = path.source
        path.close()
        if isinstance(source, Transcoder) and not source.sinks:
            tkey = next((k for k, t in self.transcoders.items() if t is source), None)
            if tkey is not None:
                del self.transcoders[tkey]
            schedule(source.close(), name="close transcoder")

    def _request_offer(self, participant: Participant) -> None:
        if self.closed:
            return
        participant.needs_offer = True
        if participant.offer_task is None or participant.offer_task.done():
            participant.offer_task = schedule(self._offer(participant), name=f"offer to {participant.id}")

    async def _offer(self, participant: Participant) -> None:
        # Only once connected: then the browser has applied the join answer and can take an offer.
        await participant.connected.wait()
        async with participant.lock:
            if participant.closed or not participant.needs_offer or participant.pc.connectionState == "closed":
                return  # a closed connection is being replaced or expired: nothing to offer
            if participant.pc.signalingState != "stable":
                return  # an answer is due; accept_answer asks again
            participant.needs_offer = False
            for key, path in participant.outputs.items():
                if path.transceiver is None and key in self.publications:
                    path.bind(self._add_sending_mline(participant, self.publications[key]))
                    participant.relay_mlines.add(path.transceiver)
            offer = await participant.pc.createOffer()
            remote = participant.pc.remoteDescription
            sdp = keep_browser_numbering(offer.sdp, remote.sdp if remote else None)
            await participant.pc.setLocalDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            tracks = {
                path.transceiver.mid: TrackInfo(path.publisher_id, path.source_label, path.kind)
                for path in participant.outputs.values()
                if path.transceiver is not None
            }
            self._emit(OfferReady(self.id, participant.id, self._announced(participant.pc), tracks))

    @staticmethod
    def _add_sending_mline(participant: Participant, publication: Publication) -> RTCRtpTransceiver:
        track = internals.IdleTrack(publication.kind, f"{publication.participant_id}:{publication.label}")
        transceiver = participant.pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(_preferences(publication))
        internals.group_under(transceiver.sender, publication.participant_id)
        return transceiver

    def _connect_output(self, subscriber: Participant, path: OutboundPath) -> None:
        publication = self.publications.get((path.publisher_id, path.source_label))
        accepted = path.negotiated()
        if publication is None or not accepted:
            return
        if publication.codec is None or path.can_forward(publication.codec):
            path.attach(publication)
            return
        target = accepted[0]
        tkey = (publication.participant_id, publication.label, codec_key(target.mimeType, target.parameters))
        transcoder = self.transcoders.get(tkey)
        if transcoder is None:
            transcoder = self.transcoders[tkey] = Transcoder(
                publication, target, name=f"{self.id}/{publication.participant_id}/{publication.label}"
            )
        path.attach(transcoder)
        self._emit(
            TranscodingUsed(
                self.id,
                publication.participant_id,
                publication.label,
                subscriber.id,
                from_codec=publication.codec.mime_type,
                to_codec=target.mimeType,
            )
        )

    def _start_housekeeping(self) -> None:
        if self._housekeeping is None:
            self._housekeeping = schedule(self._housekeep(), name=f"room {self.id}")

    async def _housekeep(self) -> None:
        """Every second: each video publisher's bitrate follows its weakest receiving subscriber
        (or the cap); now and then, the room's figures."""
        next_stats = time.monotonic() + (self.config.stats_interval or 0)
        while True:
            await asyncio.sleep(1.0)
            cap = self.config.max_video_bitrate
            for publication in list(self.publications.values()):
                if publication.kind == "video":
                    bitrate = aggregate_bitrate(publication.outbound_paths(), cap=cap, uplink=publication.uplink_estimate)
                    await publication.send_bitrate(bitrate)
            for transcoder in list(self.transcoders.values()):
                paths = [s for s in transcoder.sinks if isinstance(s, OutboundPath)]
                transcoder.encoder.target_bitrate = aggregate_bitrate(paths, cap=cap, uplink=None)
            if self.config.stats_interval and time.monotonic() >= next_stats:
                next_stats = time.monotonic() + self.config.stats_interval
                self._emit(RoomStats(self.id, self.stats()))


_DIRECTIONS = {  # the relay's direction on its own m-line: (it sends, the participant sends)
    (True, True): "sendrecv",
    (True, False): "sendonly",
    (False, True): "recvonly",
    (False, False): "inactive",
}


def _preferences(publication: Publication):
    """The publisher's codec first, so a subscriber that can decode it gets it as-is."""
    capabilities = RTCRtpSender.getCapabilities(publication.kind).codecs
    if publication.codec is None:
        return capabilities
    wanted = publication.codec.params
    first = [
        c
        for c in capabilities
        if c.mimeType.lower() == wanted.mimeType.lower() and (c.parameters or {}) == (wanted.parameters or {})
    ]
    rtx = [c for c in capabilities if c.name.lower() == "rtx"]
    return first + rtx + [c for c in capabilities if c not in first and c not in rtx]
