from __future__ import annotations

from consults.services.notify import unread_count


def live(request) -> dict:
    """The bell's count on every page, so it is right even before the WebSocket connects."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": unread_count(user)}
