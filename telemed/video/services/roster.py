"""What everyone in a room sees: who is here, who waits in the lobby, and where the experts are."""
from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from consults.models import Participant, Status
from telemed.video.models import Attendance, Room
from telemed.video.services.admission import is_host, participant_role


def _institution(room: Room, seat: Attendance) -> str:
    if seat.user_id is None:
        return ""
    consult = room.consult
    role = consult.participants.filter(user_id=seat.user_id).values_list("role", flat=True).first()
    place = consult.clinic if role == Participant.Role.CLINIC_DOCTOR else consult.hospital
    return place.name if place else ""


def _role(room: Room, seat: Attendance) -> str:
    if seat.user_id is None:
        return str(seat.invitation.get_guest_role_display())
    return participant_role(seat.user, room) or str(Participant.Role.EXPERT.label)


def roster(room: Room) -> list[dict]:
    seats = room.attendances.filter(state__in=(Attendance.State.WAITING, Attendance.State.IN_ROOM)).select_related("user", "invitation")
    return [
        {
            "id": str(seat.pk),
            "name": seat.display_name,
            "role": _role(room, seat),
            "institution": _institution(room, seat),
            "state": seat.state,
            "host": seat.user is not None and is_host(seat.user, room),
            "guest": seat.user_id is None,
        }
        for seat in seats.order_by("knocked_at")
    ]


def _elsewhere(user_id, room: Room) -> Attendance | None:
    return (
        Attendance.objects.filter(user_id=user_id, state=Attendance.State.IN_ROOM, room__consult__status=Status.IN_SESSION)
        .exclude(room=room)
        .select_related("room__consult")
        .first()
    )


def _minutes(later: datetime | None, now: datetime) -> int:
    return max(0, round((later - now).total_seconds() / 60)) if later else 0


def expert_presence(room: Room, now: datetime | None = None) -> list[dict]:
    """For the clinic waiting: each expert is here, still in another consult (with a guess of how
    long), late, or not due yet."""
    now = now or timezone.now()
    consult = room.consult
    here = set(room.attendances.filter(state=Attendance.State.IN_ROOM).values_list("user_id", flat=True))
    out = []
    for part in consult.participants.filter(role__in=Participant.EXPERT_ROLES, removed_at__isnull=True).select_related("user"):
        entry = {"name": str(part.user), "state": "here", "wait_minutes": 0}
        if part.user_id not in here:
            other = _elsewhere(part.user_id, room)
            if other is not None:
                entry.update(state="in_another_consult", wait_minutes=_minutes(other.room.consult.ends_at, now))
            elif consult.starts_at and now > consult.starts_at:
                entry.update(state="late", wait_minutes=0)
            else:
                entry.update(state="expected", wait_minutes=_minutes(consult.starts_at, now))
        out.append(entry)
    return out
