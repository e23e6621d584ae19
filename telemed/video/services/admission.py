"""Who may be in a room, and when.

People with an account are let in because of who they are: the consult's participants (its experts
and clinic doctors) and the coordinators of its hospital. Anyone else needs the host's invitation.
The room opens when the consult's session may start and closes when the session has ended.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.utils import timezone
from django.utils.translation import gettext as _

from consults.models import Participant, Status
from consults.services.notify import local_time
from consults.services.sessions import session_opens_at
from telemed import access
from telemed.video.models import Invitation, Room

# WebSocket close codes (4000–4999 are the application's): the page explains each one.
CLOSE_NOT_SIGNED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NO_ROOM = 4404
CLOSE_TOKEN_EXPIRED = 4408
CLOSE_REPLACED = 4409
CLOSE_ENDED = 4410
CLOSE_TOO_EARLY = 4425

OPEN_STATES = (Status.SCHEDULED, Status.IN_SESSION)


class JoinRefused(Exception):
    def __init__(self, message: str, code: int = CLOSE_FORBIDDEN):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Person:
    """Someone knocking: an account holder, or a guest holding an invitation."""

    user: object | None = None
    invitation: Invitation | None = None

    @property
    def key(self) -> str:
        return f"u:{self.user.pk}" if self.user is not None else f"g:{self.invitation.pk}"

    def __str__(self) -> str:
        return str(self.user) if self.user is not None else self.invitation.guest_name


def room_for(consult) -> Room:
    room, _created = Room.objects.get_or_create(consult=consult)
    return room


def room_get(room_id) -> Room | None:
    """The room with what its roster shows of the consult (its clinic and hospital)."""
    return Room.objects.select_related("consult__clinic", "consult__hospital").filter(pk=room_id).first()


def person_for(user, invitation_id) -> Person | None:
    """Who is knocking: the signed-in account holder, else the guest whose redeemed invitation
    the browser session holds; None for anyone else."""
    if user is not None and user.is_authenticated:
        return Person(user=user)
    invitation = Invitation.objects.filter(pk=invitation_id, redeemed_at__isnull=False).first() if invitation_id else None
    return Person(invitation=invitation) if invitation else None


def _active(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


class Standing:
    """Where someone with an account stands in a room's consult: the rules of `is_host` and
    `participant_role`, over their participation (None if they take no part) and over whether
    they coordinate the consult (asked only when needed, unless `standings` loaded it for many)."""

    def __init__(self, user, consult, participation: Participant | None, coordinators: set | None = None):
        self.user, self.consult, self.participation = user, consult, participation
        self._coordinators = coordinators

    @cached_property
    def coordinates(self) -> bool:
        if self._coordinators is not None:
            return self.user.pk in self._coordinators
        return access.can_coordinate(self.user, self.consult)

    @property
    def hosts(self) -> bool:
        """The lead expert hosts; the hospital's coordinators can act as host (a lead who dropped out)."""
        if not _active(self.user):
            return False
        return (self.participation is not None and self.participation.role == Participant.Role.LEAD_EXPERT) or self.coordinates

    @property
    def role(self) -> str | None:
        """The label the others see on this person's tile."""
        if self.participation is not None:
            return self.participation.get_role_display()
        return str(Participant.Role.COORDINATOR.label) if self.coordinates else None


def _standing(user, room: Room) -> Standing:
    return Standing(user, room.consult, room.consult.participants.filter(user=user, removed_at__isnull=True).first())


def standings(room: Room, users, participations) -> dict:
    """The standing of many people at once, by user id, in one query (whether they coordinate);
    `participations` holds the consult's participants among them (removed ones too)."""
    consult = room.consult
    current = {p.user_id: p for p in participations if p.removed_at is None}
    coordinators = access.coordinators_among(users, consult)
    return {user.pk: Standing(user, consult, current.get(user.pk), coordinators) for user in users}


def is_host(user, room: Room) -> bool:
    return _active(user) and _standing(user, room).hosts


def participant_role(user, room: Room) -> str | None:
    return _standing(user, room).role


def live_invitation(room: Room, user) -> Invitation | None:
    now = timezone.now()
    return room.invitations.filter(user=user, revoked_at__isnull=True, expires_at__gt=now).first()


def check_window(room: Room, now: datetime | None = None) -> None:
    """Refuse before the room opens and after the session has ended."""
    consult = room.consult
    now = now or timezone.now()
    if consult.status not in OPEN_STATES:
        raise JoinRefused(_("This consult's video session has ended."), CLOSE_ENDED)
    opens = session_opens_at(consult)
    if opens is None:
        raise JoinRefused(_("This consult has no booked time yet."), CLOSE_TOO_EARLY)
    if now < opens:
        raise JoinRefused(_("The room opens at %(time)s, 15 minutes before the consult begins.") % {"time": local_time(opens)}, CLOSE_TOO_EARLY)
    if consult.status == Status.SCHEDULED and consult.ends_at and now >= consult.ends_at:
        raise JoinRefused(_("This consult's booked time is over and its session was never started."), CLOSE_ENDED)


def check_person(room: Room, person: Person) -> None:
    """Deny by default: a participant, a coordinator of the consult, or someone invited."""
    if person.user is not None:
        user = person.user
        if not user.is_active or user.is_device:
            raise JoinRefused(_("This account cannot join video sessions."))
        if participant_role(user, room) is None and live_invitation(room, user) is None:
            raise JoinRefused(_("You are not taking part in this consult. Ask its host to invite you."))
        return
    invitation = person.invitation
    if invitation.room_id != room.pk:
        raise JoinRefused(_("This invitation is for another room."))
    if invitation.revoked_at is not None:
        raise JoinRefused(_("The host has withdrawn this invitation."))


def check_admission(room: Room, person: Person, now: datetime | None = None) -> None:
    check_person(room, person)
    check_window(room, now)


def needs_lobby(room: Room, person: Person) -> bool:
    """Guests wait for the host; people with an account who belong there do not."""
    return person.user is None
