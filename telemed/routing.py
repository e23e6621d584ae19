"""WebSocket routes of every app, collected in one list for the ASGI router."""
from __future__ import annotations

from consults.routing import websocket_urlpatterns as consult_routes
from telemed.video.routing import websocket_urlpatterns as video_routes

websocket_urlpatterns: list = [*consult_routes, *video_routes]
