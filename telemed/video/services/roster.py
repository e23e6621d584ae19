"""What everyone in a room sees: who is here, who waits in the lobby, and where the experts are;
and what a person sees on taking their seat."""
from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from consults.models import Participant, Status
from telemed.video.models import Attendance, Room
from telemed.video.services import chat
from telemed.video.services.admission import Person, standings
from telemed.video.services.ice import ice_servers
from telemed.video.services.recordings import is_recording, person_lacks_consent


def _institution(consult, participation: Participant | None) -> str:
    place = consult.clinic if participation is not None and participation.role == Participant.Role.CLINIC_DOCTOR else consult.hospital
    return place.name if place else ""


def _tile(seat: Attendance, consult, participations: dict, people: dict) -> dict:
    tile = {"id": str(seat.pk), "name": seat.display_name, "state": seat.state, "guest": seat.user_id is None}
    if seat.user_id is None:
        return tile | {"role": str(seat.invitation.get_guest_role_display()), "institution": "", "host": False}
    standing = people[seat.user_id]
    return tile | {
        "role": standing.role or str(Participant.Role.EXPERT.label),
        "institution": _institution(consult, participations.get(seat.user_id)),
        "host": standing.hosts,
    }


def roster(room: Room) -> list[dict]:
    """Everyone in the room or its lobby, in the order they knocked, in three queries however many
    they are: their seats, the consult's participants among them, its coordinators among them
    (`room_get` loads the consult's clinic and hospital with the room)."""
    seats = list(
        room.attendances.filter(state__in=(Attendance.State.WAITING, Attendance.State.IN_ROOM))
        .select_related("user", "invitation")
        .order_by("knocked_at")
    )
    users = [seat.user for seat in seats if seat.user_id is not None]
    consult = room.consult
    participations = {p.user_id: p for p in consult.participants.filter(user__in=users)}
    people = standings(room, users, participations.values())
    return [_tile(seat, consult, participations, people) for seat in seats]


def _elsewhere(user_ids, room: Room) -> dict:
    """Each of these people's seat in another consult's session, by user id (the lowest id, if several)."""
    seats = (
        Attendance.objects.filter(user_id__in=user_ids, state=Attendance.State.IN_ROOM, room__consult__status=Status.IN_SESSION)
        .exclude(room=room)
        .select_related("room__consult")
        .order_by("-pk")
    )
    return {seat.user_id: seat for seat in seats}


def _minutes(later: datetime | None, now: datetime) -> int:
    return max(0, round((later - now).total_seconds() / 60)) if later else 0


def expert_presence(room: Room, now: datetime | None = None) -> list[dict]:
    """For the clinic waiting: each expert is here, still in another consult (with a guess of how
    long), late, or not due yet."""
    now = now or timezone.now()
    consult = room.consult
    here = set(room.attendances.filter(state=Attendance.State.IN_ROOM).values_list("user_id", flat=True))
    experts = list(consult.participants.filter(role__in=Participant.EXPERT_ROLES, removed_at__isnull=True).select_related("user"))
    away = [part.user_id for part in experts if part.user_id not in here]
    elsewhere = _elsewhere(away, room)
    out = []
    for part in experts:
        entry = {"name": str(part.user), "state": "here", "wait_minutes": 0}
        if part.user_id not in here:
            other = elsewhere.get(part.user_id)
            if other is not None:
                entry.update(state="in_another_consult", wait_minutes=_minutes(other.room.consult.ends_at, now))
            elif consult.starts_at and now > consult.starts_at:
                entry.update(state="late", wait_minutes=0)
            else:
                entry.update(state="expected", wait_minutes=_minutes(consult.starts_at, now))
        out.append(entry)
    return out


def room_state(room: Room) -> dict:
    return {"people": roster(room), "experts": expert_presence(room)}


def welcome(room: Room, person: Person, seat: Attendance) -> tuple[dict, dict]:
    """What the person sees on taking their seat or on being let in (the lobby, or the room with
    the chat so far), and the room's state it was built from, for the caller to announce to everyone."""
    state = room_state(room)
    if seat.state == Attendance.State.WAITING:
        return {"kind": "lobby", "seat": str(seat.pk), "experts": state["experts"]}, state
    return {
        "kind": "joined",
        "seat": str(seat.pk),
        "host": any(tile["host"] for tile in state["people"] if tile["id"] == str(seat.pk)),  # the roster knows
        "ice_servers": ice_servers(person.key),
        "chat": chat.chat_history(room=room, reader=seat),
        "recording": is_recording(room),
        "consented": not person_lacks_consent(room, person),
        **state,
    }, state
