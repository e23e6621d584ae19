"""In-call chat, kept with the consult."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from telemed.audit.services import audit_record
from telemed.video.models import Attendance, ChatMessage, Room

MAX_CHARS = 2000


@transaction.atomic
def chat_post(*, attendance: Attendance, text: object) -> ChatMessage:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("A chat message needs some text."))
    if len(text) > MAX_CHARS:
        raise ValidationError(_("A chat message can be at most %(n)d characters.") % {"n": MAX_CHARS})
    attendance.refresh_from_db(fields=["state"])
    if attendance.state != Attendance.State.IN_ROOM:
        raise ValidationError(_("Only people in the room can chat."))
    message = ChatMessage.objects.create(room_id=attendance.room_id, attendance=attendance, text=text.strip())
    _audit(attendance, Room.objects.select_related("consult").get(pk=attendance.room_id), "video.chat", {"message": str(message.pk)})
    return message


def chat_payload(message: ChatMessage) -> dict:
    return {"id": str(message.pk), "from": message.attendance.display_name, "seat": str(message.attendance_id), "text": message.text, "at": message.sent_at.isoformat()}


def chat_history(*, room: Room, reader: Attendance, limit: int = 200) -> list[dict]:
    """What was said so far, for someone (re)joining; their reading it is audited."""
    messages = list(room.messages.select_related("attendance__user", "attendance__invitation").order_by("-sent_at")[:limit])
    if messages:
        _audit(reader, room, "video.chat_read", {"messages": len(messages)})
    return [chat_payload(m) for m in reversed(messages)]


def _audit(attendance: Attendance, room: Room, action: str, detail: dict) -> None:
    """Chat is kept with the consult: part of the patient's record."""
    audit_record(actor=attendance.user, username="" if attendance.user_id else f"guest: {attendance.display_name}",
                 action=action, obj=room.consult, patient_id=room.consult.patient_id, detail=detail)
