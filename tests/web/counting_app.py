"""An ASGI application that answers how many messages a request's body came in and its size."""
from __future__ import annotations

import django

django.setup()  # as a real application does: the server's own refusals are translated


async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    messages, size = 0, 0
    while True:
        message = await receive()
        messages, size = messages + 1, size + len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": f"{messages} {size}".encode()})
