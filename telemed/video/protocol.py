"""The signalling protocol's client messages: one schema per `type`, checked before anything runs.

A message is a JSON object of at most MAX_MESSAGE_BYTES; each field has a type and, for text, a
length limit. Anything else is answered with an error naming the problem; the connection stays.
"""
from __future__ import annotations

from django.utils.translation import gettext as _

MAX_MESSAGE_BYTES = 64 * 1024  # a full SDP with every candidate is ~10 KB

_TEXT = (str, 500)
_SDP = (str, 60_000)
_SEAT = (str, 36)

SCHEMAS: dict[str, dict[str, tuple]] = {
    "join": {"token": _TEXT},
    "offer": {"sdp": _SDP},
    "answer": {"sdp": _SDP},
    "mute": {"audio": (bool, None), "video": (bool, None)},
    "audio_only": {"on": (bool, None)},
    "chat": {"text": (str, 2000)},
    "stats": {"summary": (dict, None)},
    "admit": {"seat": _SEAT},
    "remove": {"seat": _SEAT},
    "end": {},
    "leave": {},
    "ping": {},
}


class BadMessage(ValueError):
    pass


def parse(content: object) -> tuple[str, dict]:
    """Return (type, fields) of a valid message, or raise BadMessage with a reason."""
    if not isinstance(content, dict):
        raise BadMessage(_("A message must be a JSON object."))
    kind = content.get("type")
    schema = SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        raise BadMessage(_("Unknown message type."))
    fields = {}
    for name, (expected, limit) in schema.items():
        value = content.get(name)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise BadMessage(_("The field “%(field)s” is missing or of the wrong type.") % {"field": name})
        if limit is not None and len(value) > limit:
            raise BadMessage(_("The field “%(field)s” is too long.") % {"field": name})
        fields[name] = value
    extra = set(content) - set(schema) - {"type"}
    if extra:
        raise BadMessage(_("Unexpected fields: %(fields)s.") % {"fields": ", ".join(sorted(extra))[:200]})
    return kind, fields

