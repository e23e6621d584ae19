from __future__ import annotations

from django.urls import reverse

from telemed import access
from telemed.web.navigation import nav_items


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = [{"label": item.label, "url": reverse(item.url_name), "active": False} for item in nav_items(user)]
    # One item is current: the one whose address is the longest start of the page's (a read's
    # page, /imaging/reads/…, is under "Imaging reads", not also under "Studies", /imaging/).
    matching = [item for item in items if request.path.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    return {"nav_items": items, "user_roles": sorted(access.roles(user))}
