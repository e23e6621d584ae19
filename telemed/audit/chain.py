"""The seal of one audit event: HMAC-SHA256 over a canonical form of its fields and its predecessor."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

from django.conf import settings

SEALED_FIELDS = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_username",
    "actor_role",
    "institution_id",
    "institution_name",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "ip",
    "user_agent",
    "channel",
    "outcome",
    "detail",
    "prev_hash",
)


def _canonical(value):
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if value is None or isinstance(value, (str, int, bool, dict, list)):
        return value
    return str(value)  # UUIDs


def seal(fields: dict, *, key: str | None = None) -> str:
    payload = json.dumps(
        {name: _canonical(fields[name]) for name in SEALED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    secret = (key or settings.AUDIT_CHAIN_KEY).encode()
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
