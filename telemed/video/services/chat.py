"""In-call chat, kept with the consult."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from telemed.video.models import Attendance, ChatMessage

MAX_CHARS = 2000


def chat_post(*, attendance: Attendance, text: object) -> ChatMessage:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("A chat message needs some text."))
    if len(text) > MAX_CHARS:
        raise ValidationError(_("A chat message can be at most %(n)d characters.") % {"n": MAX_CHARS})
    attendance.refresh_from_db(fields=["state"])
    if attendance.state != Attendance.State.IN_ROOM:
        raise ValidationError(_("Only people in the room can chat."))
    return ChatMessage.objects.create(room_id=attendance.room_id, attendance=attendance, text=text.strip())


def chat_payload(message: ChatMessage) -> dict:
    return {"id": str(message.pk), "from": message.attendance.display_name, "seat": str(message.attendance_id), "text": message.text, "at": message.sent_at.isoformat()}


def chat_history(room, limit: int = 200) -> list[dict]:
    messages = room.messages.select_related("attendance__user", "attendance__invitation").order_by("-sent_at")[:limit]
    return [chat_payload(m) for m in reversed(list(messages))]
