"""Join tokens: a signed, short-lived ticket bound to one room and one person.

The room page is rendered for a signed-in (or admitted-guest) session and carries the token; the
WebSocket presents it in its `join` message. A token copied into another room, or to another
person's session, or used after it expired is refused. It is a ticket, not a credential: the
session must still belong to the person the token names.
"""
from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.utils.translation import gettext as _

from telemed.video.models import Room
from telemed.video.services.admission import CLOSE_FORBIDDEN, CLOSE_TOKEN_EXPIRED, JoinRefused, Person

SALT = "telemed.video.join"


def join_token(room: Room, person: Person) -> str:
    return signing.dumps({"room": str(room.pk), "who": person.key}, salt=SALT, compress=False)


def check_join_token(token: object, room: Room, person: Person) -> None:
    if not isinstance(token, str) or len(token) > 500:
        raise JoinRefused(_("The join link is not valid. Open the room again from the consult page."), CLOSE_FORBIDDEN)
    try:
        claims = signing.loads(token, salt=SALT, max_age=settings.VIDEO_JOIN_TOKEN_SECONDS)
    except signing.SignatureExpired:
        raise JoinRefused(_("The join link has expired. Open the room again from the consult page."), CLOSE_TOKEN_EXPIRED) from None
    except signing.BadSignature:
        raise JoinRefused(_("The join link is not valid. Open the room again from the consult page."), CLOSE_FORBIDDEN) from None
    if claims.get("room") != str(room.pk):
        raise JoinRefused(_("This join link is for another room."), CLOSE_FORBIDDEN)
    if claims.get("who") != person.key:
        raise JoinRefused(_("This join link was issued to someone else."), CLOSE_FORBIDDEN)
