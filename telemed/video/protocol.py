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
    "offer": {"sdp": _SDP, "sources": (dict, 8)},
    "ice": {"candidate": _TEXT, "mid": (str, 16)},
    "answer": {"sdp": _SDP},
    "mute": {"audio": (bool, None), "video": (bool, None)},
    "audio_only": {"on": (bool, None)},
    "chat": {"text": (str, 2000)},
    "stats": {"summary": (dict, 20)},
    "consent": {"on": (bool, None)},
    "record": {"on": (bool, None)},
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
    if kind == "offer":
        _check_sources(fields["sources"])
    elif kind == "stats":
        _check_summary(fields["summary"])
    return kind, fields


def _check_sources(sources: dict) -> None:
    """Track labels by mid, e.g. {"0": "audio", "1": "video", "2": "screen"}."""
    for mid, label in sources.items():
        if len(mid) > 16 or not isinstance(label, str) or not label.isidentifier() or len(label) > 20:
            raise BadMessage(_("The offer's track labels are not valid."))


QUALITY_FIELDS = {
    "rtt_ms", "loss_pct", "bitrate_in_kbps", "bitrate_out_kbps", "fps", "freezes", "freeze_seconds",
    "audio_only_seconds", "samples", "seconds", "frames_decoded", "jitter_ms",
}


def _check_summary(summary: dict) -> None:
    for key, value in summary.items():
        if key not in QUALITY_FIELDS or isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e9:
            raise BadMessage(_("The connection statistics are not valid."))

