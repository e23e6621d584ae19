"""One WebSocket per signed-in page: the unread-notification count, and board changes for coordinators."""
from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from consults.events import groups_for
from consults.services.notify import unread_count

CLOSE_UNAUTHENTICATED = 4401


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.joined = await database_sync_to_async(groups_for)(user)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self._send_unread()

    async def disconnect(self, code):
        for group in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # The page only pings (to keep NAT mappings open on clinic links); anything else is refused.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"kind": "pong"})
        else:
            await self.send_json({"kind": "error", "error": "unknown message type"})

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def live_board(self, event):
        await self.send_json({"kind": "board", "consult": event["consult"], "status": event["status"]})

    async def live_notify(self, event):
        await self._send_unread()

    async def _send_unread(self):
        count = await database_sync_to_async(unread_count)(self.scope["user"])
        await self.send_json({"kind": "notify", "unread": count})
