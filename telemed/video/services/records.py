"""What a session leaves behind besides the audit trail: quality figures and transcoding fallbacks."""
from __future__ import annotations

from channels.db import database_sync_to_async
from django.db import transaction

from telemed.rtc.events import TranscodingUsed
from telemed.video.models import Attendance, Room


def quality_save(*, attendance: Attendance, summary: dict) -> None:
    """The browser sends its running summary every few seconds; the latest one stands."""
    Attendance.objects.filter(pk=attendance.pk).update(quality=summary)


@transaction.atomic
def transcoding_record(*, room_id, event: TranscodingUsed) -> None:
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        return
    entry = {"publisher": event.publisher_id, "subscriber": event.subscriber_id, "source": event.source, "from": event.from_codec, "to": event.to_codec}
    if entry not in room.transcoding:
        room.transcoding = [*room.transcoding, entry]
        room.save(update_fields=["transcoding"])


async def record_relay_event(event) -> None:
    if isinstance(event, TranscodingUsed):
        await database_sync_to_async(transcoding_record)(room_id=event.room_id, event=event)
