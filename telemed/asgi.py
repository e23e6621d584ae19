"""ASGI entry point: HTTP to Django, WebSockets to the apps' Channels consumers."""
from __future__ import annotations

import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")


class _Handler(ASGIHandler):
    # Django cuts response bodies into 64 KB messages; daphne's cost is per message, so large
    # bodies (a DICOM series is hundreds of MB) go at half the CPU in 1 MB messages.
    chunk_size = 1024 * 1024


django.setup(set_prefix=False)  # what get_asgi_application() does, with the handler above
django_asgi_app = _Handler()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from telemed.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
