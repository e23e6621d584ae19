from django import template

from telemed.video.models import Room
from telemed.video.services.admission import JoinRefused, Person, check_person, check_window

register = template.Library()


def _refusal(check) -> str | None:
    try:
        check()
    except JoinRefused as refused:
        return refused.message
    return None


@register.inclusion_tag("video/_consult_video.html")
def consult_video(consult, user):
    """The consult page's video part: the way into the room, and what the session left behind.

    Before anyone opens the room it does not exist yet; the rules are checked on an unsaved one.
    """
    room = Room.objects.filter(consult=consult).first() or Room(consult=consult)
    may_enter = consult.starts_at is not None and _refusal(lambda: check_person(room, Person(user=user))) is None
    saved = not room._state.adding
    return {
        "consult": consult,
        "may_enter": may_enter,
        "closed_reason": _refusal(lambda: check_window(room)) if may_enter else None,
        "stays": room.attendances.filter(joined_at__isnull=False).select_related("user", "invitation").order_by("joined_at") if saved else [],
        "chat": room.messages.select_related("attendance__user", "attendance__invitation").order_by("sent_at") if saved else [],
        "transcoding": room.transcoding,
        "recordings": room.recordings.select_related("attendance__user", "attendance__invitation").order_by("stored_at", "offset_seconds") if saved else [],
    }
