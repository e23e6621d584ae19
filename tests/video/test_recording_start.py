"""Marking a room recording: the host only, everyone in the room consenting, checked again under
the room's lock after the relay has begun; files of a start that was never marked are not kept.

The cast: expert_n hosts North's consult; doc_n1 is its clinic doctor; both sit in the room.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from telemed.rtc.recording import RecordedFile
from telemed.video.models import Recording, Room
from telemed.video.services.admission import JoinRefused, Person, room_for
from telemed.video.services.recordings import consent_set, recording_directory, recording_start, recordings_store
from telemed.video.services.seats import seat_take
from tests.consults.factories import booked_consult, starting_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(cast):
    room = room_for(starting_in(booked_consult(cast.north), 10))
    for user in (cast.north[Role.SPECIALIST], cast.north[Role.CLINIC_DOCTOR]):
        seat_take(room=room, person=Person(user=user), channel_name=f"test.{user.pk}")
    consent_set(room=room, person=Person(user=cast.north[Role.SPECIALIST]), given=True)
    return room


def _recording_by(room: Room):
    return Room.objects.get(pk=room.pk).recording_by


def test_the_host_marks_the_room_recording_once_everyone_has_consented(cast, room):
    consent_set(room=room, person=Person(user=cast.north[Role.CLINIC_DOCTOR]), given=True)
    recording_start(by=cast.north[Role.SPECIALIST], room=room)
    assert _recording_by(room) == cast.north[Role.SPECIALIST]
    assert AuditEvent.objects.filter(action="video.recording_start", actor=cast.north[Role.SPECIALIST]).count() == 1


def test_a_start_is_refused_while_someone_in_the_room_has_not_consented(cast, room):
    with pytest.raises(JoinRefused, match="North clinic_doctor"):
        recording_start(by=cast.north[Role.SPECIALIST], room=room)
    assert _recording_by(room) is None
    assert not AuditEvent.objects.filter(action="video.recording_start").exists()


def test_only_the_host_may_start(cast, room):
    consent_set(room=room, person=Person(user=cast.north[Role.CLINIC_DOCTOR]), given=True)
    with pytest.raises(JoinRefused, match="Only the host"):
        recording_start(by=cast.north[Role.CLINIC_DOCTOR], room=room)
    assert _recording_by(room) is None


def test_the_files_of_a_start_never_marked_are_deleted_not_kept(room):
    directory = Path(recording_directory(room.pk))
    written = directory / "expert.webm"
    written.write_bytes(b"webm bytes")
    files = [RecordedFile(participant_id=str(uuid.uuid4()), path=written, duration=0.2, kinds=["video"])]

    assert recordings_store(room_id=room.pk, files=files) == []
    assert not Recording.objects.filter(room=room).exists()
    assert not directory.exists()
