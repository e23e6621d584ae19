"""STUN/TURN servers for the browser, with time-limited TURN credentials.

TURN credentials follow the TURN REST API scheme that coturn speaks with `use-auth-secret`:
username = "<expiry unix time>:<user key>", password = base64(HMAC-SHA1(shared secret, username)).
coturn checks the HMAC and the expiry itself, so nothing is stored and a leaked credential dies on
its own. Only people admitted to a room get them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

from django.conf import settings


def turn_credentials(user_key: str, *, now: float | None = None) -> tuple[str, str]:
    expires = int((now if now is not None else time.time()) + settings.VIDEO_TURN_TTL_SECONDS)
    username = f"{expires}:{user_key}"
    digest = hmac.new(settings.VIDEO_TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(user_key: str) -> list[dict]:
    """The RTCPeerConnection `iceServers` list for one admitted person."""
    servers: list[dict] = []
    if settings.VIDEO_STUN_URLS:
        servers.append({"urls": list(settings.VIDEO_STUN_URLS)})
    if settings.VIDEO_TURN_URLS and settings.VIDEO_TURN_SECRET:
        username, credential = turn_credentials(user_key)
        servers.append({"urls": list(settings.VIDEO_TURN_URLS), "username": username, "credential": credential})
    return servers
