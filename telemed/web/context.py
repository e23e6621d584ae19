from __future__ import annotations

from django.urls import reverse

from telemed import access
from telemed.web.navigation import nav_items


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for item in nav_items(user):
        url = reverse(item.url_name)
        items.append({"label": item.label, "url": url, "active": request.path.startswith(url)})
    return {"nav_items": items, "user_roles": sorted(access.roles(user))}
