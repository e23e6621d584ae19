"""Seats in a room: knocking, admission from the lobby, leaving and removal.

A person holds at most one live seat per room (a database constraint): a reconnect or a second tab
takes the seat over and the old connection is closed, so nobody appears twice.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consults.models import Status
from consults.services.opinions import is_expert_participant
from consults.services.sessions import consult_start_session
from telemed.audit.services import audit_record
from telemed.video.models import Attendance, Room
from telemed.video.services.admission import JoinRefused, Person, check_admission, is_host, needs_lobby

LIVE = (Attendance.State.WAITING, Attendance.State.IN_ROOM)


@dataclass(frozen=True)
class Seat:
    attendance: Attendance
    replaced_channel: str  # the connection this one took over ("" when none)


def _audit(action: str, attendance: Attendance, *, actor, detail: dict | None = None) -> None:
    consult = attendance.room.consult
    audit_record(
        actor=actor,
        username="" if actor else f"guest:{attendance.invitation.guest_name}",
        action=action,
        obj=consult,
        patient_id=consult.patient_id,
        detail={"room": str(attendance.room_id), "attendance": str(attendance.pk), **(detail or {})},
    )


def _live_seat(room: Room, person: Person) -> Attendance | None:
    seats = Attendance.objects.select_for_update().filter(room=room, state__in=LIVE)
    if person.user is not None:
        return seats.filter(user=person.user).first()
    return seats.filter(invitation=person.invitation).first()


def _was_admitted(room: Room, person: Person) -> bool:
    """A guest the host let in earlier comes back without waiting again (a dropped link)."""
    if person.invitation is None:
        return False
    return room.attendances.filter(invitation=person.invitation, joined_at__isnull=False, state=Attendance.State.LEFT).exists()


@transaction.atomic
def seat_take(*, room: Room, person: Person, channel_name: str) -> Seat:
    """Take (or take over) the person's seat.

    1. Check who and when (deny by default).
    2. Lock the person's live seat; if one exists this connection replaces the old one.
    3. Otherwise knock: guests wait in the lobby, everyone else is in at once.
    """
    room = Room.objects.select_for_update().get(pk=room.pk)
    check_admission(room, person)
    seat = _live_seat(room, person)
    if seat is not None:
        replaced, seat.channel_name = seat.channel_name, channel_name
        seat.save(update_fields=["channel_name"])
        return Seat(seat, replaced)
    waiting = needs_lobby(room, person) and not _was_admitted(room, person)
    seat = Attendance.objects.create(
        room=room,
        user=person.user,
        invitation=person.invitation,
        channel_name=channel_name,
        state=Attendance.State.WAITING if waiting else Attendance.State.IN_ROOM,
        joined_at=None if waiting else timezone.now(),
    )
    if not waiting:
        _audit("video.join", seat, actor=person.user)
        _start_session_with_an_expert(room, person)
    return Seat(seat, "")


def _start_session_with_an_expert(room: Room, person: Person) -> None:
    """The consult is in session once one of its experts is in the room (not when a coordinator peeks)."""
    consult = room.consult
    if consult.status == Status.SCHEDULED and is_expert_participant(person.user, consult):
        consult_start_session(by=person.user, consult=consult)


def _duration(seat: Attendance) -> int:
    return int((timezone.now() - seat.joined_at).total_seconds()) if seat.joined_at else 0


@transaction.atomic
def seat_leave(*, attendance_id, channel_name: str) -> Attendance | None:
    """The connection holding the seat went away. A connection that was taken over leaves nothing."""
    seat = Attendance.objects.select_for_update().filter(pk=attendance_id, state__in=LIVE, channel_name=channel_name).first()
    if seat is None:
        return None
    was_in = seat.state == Attendance.State.IN_ROOM
    seat.state, seat.left_at = Attendance.State.LEFT, timezone.now()
    seat.save(update_fields=["state", "left_at"])
    if was_in:
        _audit("video.leave", seat, actor=seat.user, detail={"seconds": _duration(seat)})
    return seat


def _host_seat_action(by, room: Room, attendance_id) -> Attendance:
    if not is_host(by, room):
        raise JoinRefused(_("Only the host can do this."))
    seat = Attendance.objects.select_for_update().filter(pk=attendance_id, room=room, state__in=LIVE).first()
    if seat is None:
        raise JoinRefused(_("That person is no longer in the room or the lobby."))
    return seat


@transaction.atomic
def seat_admit(*, by, room: Room, attendance_id) -> Attendance:
    # As a newcomer's `seat_take` does, lock the room: a recording starting meanwhile either sees
    # this guest in the room (and asks for their consent) or is marked started before their check.
    Room.objects.select_for_update().get(pk=room.pk)
    seat = _host_seat_action(by, room, attendance_id)
    if seat.state == Attendance.State.WAITING:
        seat.state, seat.joined_at = Attendance.State.IN_ROOM, timezone.now()
        seat.save(update_fields=["state", "joined_at"])
        _audit("video.admit", seat, actor=by)
    return seat


@transaction.atomic
def seat_remove(*, by, room: Room, attendance_id) -> Attendance:
    """Remove someone (or turn a guest away from the lobby). Their connection is closed by the caller."""
    seat = _host_seat_action(by, room, attendance_id)
    if seat.user_id is not None and seat.user_id == by.pk:
        raise JoinRefused(_("You cannot remove yourself; leave the call instead."))
    was_in = seat.state == Attendance.State.IN_ROOM
    seat.state = Attendance.State.REMOVED if was_in else Attendance.State.TURNED_AWAY
    seat.left_at = timezone.now()
    seat.save(update_fields=["state", "left_at"])
    if seat.invitation_id is not None and was_in:
        # A removed guest's link is spent for good: they cannot knock again.
        seat.invitation.revoked_at = seat.left_at
        seat.invitation.save(update_fields=["revoked_at"])
    _audit("video.remove", seat, actor=by, detail={"seconds": _duration(seat), "from": "room" if was_in else "lobby"})
    return seat


def seat_get(*, attendance_id) -> Attendance:
    """The seat as it is now (a connection's copy is as it was when it joined)."""
    return Attendance.objects.select_related("user", "invitation").get(pk=attendance_id)


def room_is_empty(room: Room) -> bool:
    return not room.attendances.filter(state=Attendance.State.IN_ROOM).exists()


def seat_still_allowed(attendance: Attendance) -> bool:
    """Checked every few seconds while connected: revoked people lose their seat within seconds.
    Everything is read again (the seat, its person, the invitation, the room's consult): the
    objects the connection holds are as they were when it joined."""
    fresh = Attendance.objects.select_related("room__consult", "user", "invitation").filter(pk=attendance.pk).first()
    if fresh is None or fresh.state not in LIVE:
        return False
    attendance.state = fresh.state
    try:
        check_admission(fresh.room, Person(fresh.user, fresh.invitation))
    except JoinRefused:
        return False
    return True
