"""Recording: only with everyone's consent, started by the host, kept with the consult.

The relay writes what it forwards without re-encoding: per participant, microphone and camera in
one file and each screen share in its own (WebM, or MP4 for an H.264 sender); when the recording
stops, the process holding the relay stores each file through the storage API with its SHA-256
and attaches it to the consult. Every playback is audited.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import uuid
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from telemed.audit.services import audit_record
from telemed.video.models import Attendance, Recording, RecordingConsent, Room
from telemed.video.services.admission import JoinRefused, Person, is_host
from telemed.video.services.seats import room_is_empty

logger = logging.getLogger(__name__)


def _consent_filter(person: Person) -> dict:
    return {"user": person.user} if person.user is not None else {"invitation": person.invitation}


@transaction.atomic
def consent_set(*, room: Room, person: Person, given: bool) -> None:
    # The room's lock orders this with `recording_start`: a recording is either refused for want
    # of this consent or already marked started when the caller checks whether to stop it.
    Room.objects.select_for_update().get(pk=room.pk)
    if given:
        RecordingConsent.objects.get_or_create(consult=room.consult, **_consent_filter(person))
    else:
        RecordingConsent.objects.filter(consult=room.consult, **_consent_filter(person)).delete()
    audit_record(actor=person.user, username="" if person.user else f"guest:{person.invitation.guest_name}",
                 action="video.consent" if given else "video.consent_withdrawn", obj=room.consult, patient_id=room.consult.patient_id)


def person_lacks_consent(room: Room, person: Person) -> bool:
    return not RecordingConsent.objects.filter(consult=room.consult, **_consent_filter(person)).exists()


def without_consent(room: Room) -> list[str]:
    """Names of the people in the room who have not consented."""
    consents = RecordingConsent.objects.filter(consult=room.consult)
    users = set(consents.exclude(user=None).values_list("user_id", flat=True))
    guests = set(consents.exclude(invitation=None).values_list("invitation_id", flat=True))
    seats = room.attendances.filter(state=Attendance.State.IN_ROOM).select_related("user", "invitation")
    return [s.display_name for s in seats if (s.user_id not in users if s.user_id else s.invitation_id not in guests)]


def is_recording(room: Room) -> bool:
    return Room.objects.filter(pk=room.pk, recording_by__isnull=False).exists()


def recording_left_running(room: Room) -> bool:
    """Everyone has left and the room still records: the last to leave stops it."""
    return room_is_empty(room) and is_recording(room)


def unconsented_while_recording(room: Room) -> str | None:
    """The name of someone in the room without consent while a recording is under way: it must stop."""
    if not is_recording(room):
        return None
    return next(iter(without_consent(room)), None)


def recording_may_start(*, by, room: Room) -> None:
    if not is_host(by, room):
        raise JoinRefused(_("Only the host can record."))
    missing = without_consent(room)
    if missing:
        raise JoinRefused(_("Everyone must consent before recording. Not yet: %(names)s.") % {"names": ", ".join(missing)})


@transaction.atomic
def recording_start(*, by, room: Room) -> None:
    """Mark the room recording, once the relay records (the caller starts it first, and stops it
    again if this refuses or fails, so the room never records while the database says it does not).

    1. Lock the room: consent changes and newcomers (`consent_set`, `seat_take`) wait, or went first.
    2. Check again that the host asks and that everyone in the room has consented.
    3. Record who started it, and audit.
    """
    Room.objects.select_for_update().get(pk=room.pk)
    recording_may_start(by=by, room=room)
    Room.objects.filter(pk=room.pk).update(recording_by=by)
    audit_record(actor=by, action="video.recording_start", obj=room.consult, patient_id=room.consult.patient_id)


def recording_may_stop(*, by, room: Room) -> bool:
    """Only the host stops a recording at will; True if there is one to stop."""
    if not is_host(by, room):
        raise JoinRefused(_("Only the host can record."))
    return is_recording(room)


def recording_directory(room_id) -> str:
    return tempfile.mkdtemp(prefix=f"recording-{room_id}-")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recordings_store(*, room_id, files) -> list[Recording]:
    """Store the relay's files (`telemed.rtc.recording.RecordedFile`s) and attach them to the consult.

    A file lands in storage before its row; if the row cannot be written the stored copy is
    removed. One file that fails does not cost the others: it stays where the relay wrote it
    (logged, for an administrator to recover) and its temporary directory is kept. The files of
    a recording the room was never marked as making (`recording_start` refused or failed after
    the relay began) are deleted: someone in them may not have consented.
    """
    room = Room.objects.select_related("consult").get(pk=room_id)
    if room.recording_by_id is None:
        if files:
            logger.warning("room %s: %d files of a recording never marked started are deleted", room.pk, len(files))
        _remove_directories(files)
        return []
    stored, kept = [], set()
    for recorded in files:
        try:
            stored.append(_store_one(room, recorded))
        except Exception:
            logger.exception("recording file %s of room %s could not be stored; left in place", recorded.path, room.pk)
            kept.add(Path(recorded.path).parent)
    Room.objects.filter(pk=room.pk).update(recording_by=None)
    _remove_directories(files, keep=kept)
    return stored


def _remove_directories(files, keep=frozenset()) -> None:
    for directory in {Path(f.path).parent for f in files} - keep:
        shutil.rmtree(directory, ignore_errors=True)


def _store_one(room: Room, recorded) -> Recording:
    path = Path(recorded.path)
    digest = _sha256(path)
    with path.open("rb") as handle:
        key = default_storage.save(f"recordings/{room.consult_id}/{uuid.uuid4().hex}{path.suffix}", File(handle))
    try:
        with transaction.atomic():
            recording = Recording.objects.create(
                room=room,
                attendance=Attendance.objects.filter(pk=recorded.participant_id).first(),
                storage_key=key, sha256=digest, size=path.stat().st_size,
                duration_seconds=recorded.duration, kinds=list(recorded.kinds),
                source=recorded.source, offset_seconds=recorded.offset,
                started_by_id=room.recording_by_id,
            )
            audit_record(actor=None, username="relay", action="video.recording_stored", obj=room.consult,
                         patient_id=room.consult.patient_id, detail={"recording": str(recording.pk), "sha256": digest})
        return recording
    except Exception:
        default_storage.delete(key)
        raise


def recording_open(*, by, recording: Recording):
    """The file for playback; the caller has checked that `by` may see the consult."""
    audit_record(actor=by, action="video.recording_play", obj=recording.room.consult, patient_id=recording.room.consult.patient_id,
                 detail={"recording": str(recording.pk)})
    return default_storage.open(recording.storage_key, "rb")
