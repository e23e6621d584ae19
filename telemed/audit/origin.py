"""Where the current request came from, for the audit trail.

Services record events without being handed the HTTP request: the edge (middleware, consumer,
command, task) sets the origin once and every event recorded beneath it carries it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings

from telemed.audit.models import Channel


@dataclass(frozen=True)
class Origin:
    ip: str | None = None
    user_agent: str = ""
    channel: str = Channel.SYSTEM


_current: ContextVar[Origin] = ContextVar("audit_origin", default=Origin())


def current_origin() -> Origin:
    return _current.get()


@contextmanager
def origin_scope(origin: Origin) -> Iterator[Origin]:
    token = _current.set(origin)
    try:
        yield origin
    finally:
        _current.reset(token)


def client_ip(meta: dict) -> str | None:
    """The client address: REMOTE_ADDR, or the entry TRUSTED_PROXY_COUNT hops into X-Forwarded-For."""
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return meta.get("REMOTE_ADDR") or None


def origin_from_request(request) -> Origin:
    path = request.path
    channel = Channel.API if path.startswith("/api/") or path.startswith("/dicomweb/") else Channel.WEB
    return Origin(
        ip=client_ip(request.META),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        channel=channel,
    )
