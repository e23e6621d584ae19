from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from telemed.web.health import check_channel_layer, check_database, check_storage
from telemed.web.navigation import landing_url_name


def home(request):
    return redirect(landing_url_name(request.user))


@login_not_required
def favicon(request):
    """Pages name their icon; a browser or tool that asks for /favicon.ico anyway is sent to it."""
    return redirect(static("telemed/img/favicon.svg"), permanent=True)


def _run(check):
    try:
        result = async_to_sync(check)() if asyncio.iscoroutinefunction(check) else check()
        return {"ok": True, "backend": result}
    except Exception as exc:  # a health check reports every failure instead of raising it
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}


@login_not_required
@never_cache
def health(request):
    parts = {
        "database": _run(check_database),
        "channel_layer": _run(check_channel_layer),
        "storage": _run(check_storage),
    }
    healthy = all(part["ok"] for part in parts.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **parts}, status=200 if healthy else 503)


@login_not_required
@require_POST
def switch_language(request):
    """Django's set_language, and for a signed-in user the choice is kept for their next sign-in."""
    response = set_language(request)
    language = request.POST.get("language")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES) and request.user.language != language:
        request.user.language = language
        request.user.save(update_fields=["language"])
    return response
