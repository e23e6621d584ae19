"""The media relay: an SFU on aiortc that forwards RTP packets between participants.

No Django here: the signalling consumer (telemed/video, or a `runrelay` worker) drives it
through this small asyncio API, all on one event loop:

    relay = Relay(RelayConfig(ice_servers=(...), max_video_bitrate=1_200_000))
    room = relay.room("consult-<uuid>")

    answer = await room.join(participant_id, offer_sdp, sources={"2": "screen"})
    await room.renegotiate(participant_id, offer_sdp)   # the browser's later offer -> answer
    await room.accept_answer(participant_id, answer_sdp)   # answer to an OfferReady event
    await room.add_ice_candidate(participant_id, "candidate:...", sdp_mid)
    room.set_audio_only(participant_id, True)   # stop sending it video (a weak link)
    await room.leave(participant_id)   # or room.remove(...): media stops at once
    room.start_recording(directory)   # <participant>.webm (camera, microphone), <participant>-screen.webm...
    files = await room.stop_recording()   # [RecordedFile(participant_id, path, duration, kinds, source, offset)]
    room.stats()   # figures per participant
    await relay.close_room(room_id); await relay.close()

    event = await relay.events.get()   # telemed.rtc.events: OfferReady, ParticipantJoined,
                                       # ParticipantLeft, TrackPublished, TrackUnpublished,
                                       # TranscodingUsed, RoomStats

Refusals are `RelayError`s (telemed.rtc.errors), one class per reason the signalling side turns
into a message or close code: RoomFull, BadDescription (malformed SDP, no codec in common, a
garbled candidate), NegotiationConflict (glare), NoOfferPending, ConnectionClosed (join again),
UnknownParticipant, RoomClosed. A refusal leaves the room and everyone else as they were.

What it does:
- One aiortc peer connection per participant. A participant's own tracks are its offer's
  m-lines; every other publisher's tracks come on m-lines the relay adds and offers
  (`OfferReady`; the signalling side delivers it and returns the browser's answer).
- Packets, not frames: each publisher's RTP packets are forwarded to each subscriber with that
  subscriber's SSRC, payload type, sequence numbers and timestamps; nothing is decoded.
  Keyframe requests go upstream, NACKs are answered from the relay's own send history, and
  each publisher's bitrate follows its weakest subscriber or `max_video_bitrate` (REMB).
- A subscriber whose answer lacks the publisher's codec gets that one track transcoded (one
  decoder and encoder per track and codec, shared by all such subscribers); `TranscodingUsed`
  says so, for the session record.
- Up to `max_publishers` (8) publishing participants per room, plus receive-only listeners
  (whose offer sends nothing, e.g. only a recvonly transceiver or a data channel).
- aiortc neither trickles its own candidates nor restarts ICE: answers and offers carry all
  candidates, and a participant who lost its link joins again with a new offer under the same
  id; the new connection replaces the old one, and the others never see it leave.
- Every use of aiortc internals is in `telemed.rtc.internals`; docs/architecture.md has the
  whole picture.
"""
from __future__ import annotations

from telemed.rtc.errors import (
    BadDescription,
    ConnectionClosed,
    NegotiationConflict,
    NoOfferPending,
    RelayError,
    RoomClosed,
    RoomFull,
    UnknownParticipant,
)
from telemed.rtc.relay import Relay, RelayConfig
from telemed.rtc.room import Room

__all__ = [
    "BadDescription",
    "ConnectionClosed",
    "NegotiationConflict",
    "NoOfferPending",
    "Relay",
    "RelayConfig",
    "RelayError",
    "Room",
    "RoomClosed",
    "RoomFull",
    "UnknownParticipant",
]
