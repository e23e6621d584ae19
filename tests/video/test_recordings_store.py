"""Storing a finished recording's files: one file that cannot be stored costs none of the others."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from telemed.accounts.models import Role
from telemed.rtc.recording import RecordedFile
from telemed.video.models import Recording
from telemed.video.services.admission import room_for
from telemed.video.services.recordings import recording_directory, recordings_store
from tests.consults.factories import booked_consult

pytestmark = pytest.mark.django_db


def test_a_file_that_cannot_be_stored_is_left_in_place_and_the_others_are_kept(cast, caplog):
    room = room_for(booked_consult(cast.north))
    room.recording_by = cast.north[Role.SPECIALIST]  # who started the recording
    room.save(update_fields=["recording_by"])
    good_dir, bad_dir = Path(recording_directory(room.pk)), Path(recording_directory(room.pk))
    good = good_dir / "expert.webm"
    good.write_bytes(b"webm bytes")
    missing = bad_dir / "clinic.webm"  # the relay's file vanished: reading it fails
    files = [
        RecordedFile(participant_id=str(uuid.uuid4()), path=missing, duration=1.0, kinds=["video"]),
        RecordedFile(participant_id=str(uuid.uuid4()), path=good, duration=1.0, kinds=["video"]),
    ]

    stored = recordings_store(room_id=room.pk, files=files)

    assert len(stored) == 1 and stored[0].storage_key.endswith(".webm")
    assert list(Recording.objects.filter(room=room).values_list("pk", flat=True)) == [stored[0].pk]
    assert default_storage.exists(stored[0].storage_key)
    assert not good_dir.exists(), "a directory whose files are all stored is removed"
    assert bad_dir.exists(), "the failed file's directory is kept for an administrator"
    assert "could not be stored" in caplog.text
