"""What the relay tells the signalling side, through `Relay.events` (an asyncio queue).

Every event names its room. The signalling side must act on `OfferReady` (deliver the SDP
offer to that participant's browser, then call `Room.accept_answer`); the others are facts to
record or show.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrackInfo:
    """Whose media an m-line of a subscriber's connection carries."""

    participant_id: str
    source: str  # "audio", "video", or the label the publisher gave (e.g. "screen")
    kind: str  # "audio" | "video"


@dataclass(frozen=True)
class ParticipantJoined:
    room_id: str
    participant_id: str
    publishing: bool
    reconnected: bool  # a new connection replaced the participant's previous one


@dataclass(frozen=True)
class ParticipantLeft:
    room_id: str
    participant_id: str
    reason: str  # "left" | "removed" | "connection-lost" | "room-closed"


@dataclass(frozen=True)
class OfferReady:
    """The relay renegotiates: send `sdp` to the participant, return its answer to
    `Room.accept_answer`. `tracks` maps each sending m-line (by mid) to its publisher."""

    room_id: str
    participant_id: str
    sdp: str
    tracks: dict[str, TrackInfo] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackPublished:
    room_id: str
    participant_id: str
    source: str
    kind: str
    codec: str  # e.g. "video/VP8"


@dataclass(frozen=True)
class TrackUnpublished:
    room_id: str
    participant_id: str
    source: str
    kind: str


@dataclass(frozen=True)
class TranscodingUsed:
    """A subscriber could not decode a publisher's codec: that one path is re-encoded."""

    room_id: str
    publisher_id: str
    source: str
    subscriber_id: str
    from_codec: str
    to_codec: str


@dataclass(frozen=True)
class RoomStats:
    """Periodic figures per participant (see `Room.stats`)."""

    room_id: str
    participants: dict[str, dict]


Event = (
    ParticipantJoined | ParticipantLeft | OfferReady | TrackPublished | TrackUnpublished | TranscodingUsed | RoomStats
)
