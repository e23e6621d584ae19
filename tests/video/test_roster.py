"""What everyone in a room sees costs a fixed number of queries, however many people sit in it.

The cast of the big room (North's consult, booked by coord_n with expert_n as lead):
  expert_n      lead expert: hosts
  second        a second expert of the MDT consult
  doc_n1        the consult's clinic doctor: her clinic's name on her tile
  coord_n       the coordinator who booked it (a participant): may act as host
  other_coord   a coordinator of North hospital who is not a participant: may act as host too
  rad_n         invited by the host: an expert's tile, not a host
  two guests    an interpreter in the room and a family member waiting in the lobby
"""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consults.services.sessions import consult_start_session
from telemed.accounts.models import Role
from telemed.video.models import Invitation, Room
from telemed.video.services.admission import Person, room_for, room_get
from telemed.video.services.invitations import invitation_create_guest, invitation_create_user, invitation_redeem
from telemed.video.services.roster import expert_presence, roster
from telemed.video.services.seats import seat_admit, seat_take
from tests.accounts.factories import member
from tests.consults.factories import booked_consult, second_expert, starting_in

pytestmark = pytest.mark.django_db


def _room(cast, *, hour: int, experts=None) -> Room:
    return room_for(starting_in(booked_consult(cast.north, hour=hour, experts=experts), 10))


def _seat(room: Room, person: Person):
    return seat_take(room=room, person=person, channel_name=f"test.{person.key}").attendance


def _guest(room: Room, name: str, role: str) -> Person:
    _invitation, secret = invitation_create_guest(by=room.consult.participants.get(role="lead").user, room=room, name=name, role=role)
    return Person(invitation=invitation_redeem(secret=secret, session_key=f"session-{name}"))


def _small_room(cast) -> Room:
    room = _room(cast, hour=9)
    for user in (cast.north[Role.SPECIALIST], cast.north[Role.CLINIC_DOCTOR]):
        _seat(room, Person(user=user))
    return room


def _big_room(cast) -> Room:
    second = second_expert(cast)
    room = _room(cast, hour=10, experts=[cast.north[Role.SPECIALIST], second])
    host = cast.north[Role.SPECIALIST]
    invitation_create_user(by=host, room=room, user=cast.north[Role.RADIOLOGIST])
    other_coordinator = member(cast.north.hospital, Role.COORDINATOR, full_name="North other coordinator")
    for user in (host, second, cast.north[Role.CLINIC_DOCTOR], cast.north[Role.COORDINATOR], other_coordinator, cast.north[Role.RADIOLOGIST]):
        _seat(room, Person(user=user))
    interpreter = _seat(room, _guest(room, "Guest interpreter", Invitation.GuestRole.INTERPRETER))
    seat_admit(by=host, room=room, attendance_id=interpreter.pk)
    _seat(room, _guest(room, "Guest family", Invitation.GuestRole.FAMILY))
    return room


def _queries(build, room: Room) -> tuple[int, list]:
    room = room_get(room.pk)  # as the consumer holds it
    with CaptureQueriesContext(connection) as queries:
        built = build(room)
    return len(queries), built


def test_the_roster_costs_as_many_queries_for_eight_seats_as_for_two(cast):
    small, small_roster = _queries(roster, _small_room(cast))
    big, big_roster = _queries(roster, _big_room(cast))
    assert len(small_roster) == 2 and len(big_roster) == 8
    assert big == small


def test_the_roster_shows_each_persons_role_place_state_and_whether_they_host(cast):
    _count, people = _queries(roster, _big_room(cast))
    tiles = [(p["name"], p["role"], p["institution"], p["state"], p["host"], p["guest"]) for p in people]
    assert tiles == [
        ("North specialist", "Lead expert", "North Hospital", "in_room", True, False),
        ("North second expert", "Expert", "North Hospital", "in_room", False, False),
        ("North clinic_doctor", "Clinic doctor", "North Clinic One", "in_room", False, False),
        ("North coordinator", "Coordinator", "North Hospital", "in_room", True, False),
        ("North other coordinator", "Coordinator", "North Hospital", "in_room", True, False),
        ("North radiologist", "Expert", "North Hospital", "in_room", False, False),
        ("Guest interpreter", "Interpreter", "", "in_room", False, True),
        ("Guest family", "Family member", "", "waiting", False, True),
    ]


def test_where_the_experts_are_costs_as_many_queries_for_three_experts_as_for_one(cast):
    """Every expert is away: in another consult's session, or not yet come."""
    lead = cast.north[Role.SPECIALIST]
    busy = _room(cast, hour=9)
    consult_start_session(by=lead, consult=busy.consult)
    _seat(busy, Person(user=lead))
    one, one_entry = _queries(expert_presence, _room(cast, hour=10))
    three, three_entries = _queries(expert_presence, _room(cast, hour=11, experts=[lead, second_expert(cast), _third_expert(cast)]))
    assert [e["state"] for e in one_entry] == ["in_another_consult"]
    assert {e["name"]: e["state"] for e in three_entries} == {
        "North specialist": "in_another_consult", "North second expert": "expected", "North third expert": "expected",
    }
    assert three == one


def _third_expert(cast):
    expert = second_expert(cast)
    expert.full_name = "North third expert"
    expert.save(update_fields=["full_name"])
    return expert
