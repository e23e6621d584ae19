"""Pages for the calendar feed, the .ics of one consult, and the notification inbox."""
from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from consults import calendars
from consults.models import Notification
from consults.services import calendar_feeds, requests
from consults.services.notify import notifications_mark_read, unread_count

NOTIFICATIONS_PER_PAGE = 30


def _ics(body: bytes, *, filename: str, inline: bool) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    response["X-Robots-Tag"] = "noindex"
    return response


# --- Calendar feed and downloads ----------------------------------------------------------------

def calendar_page(request):
    """The user's feed address: shown once when made (POST), like a token; it cannot be shown again."""
    feed_url = None
    if request.method == "POST":
        _feed, secret = calendar_feeds.calendar_feed_create(user=request.user)
        feed_url = request.build_absolute_uri(reverse("consults:calendar_feed", kwargs={"key": secret}))
    return render(
        request,
        "consults/calendar.html",
        {"feed": calendar_feeds.active_feed(request.user), "feed_url": feed_url, "webcal_url": _webcal(feed_url)},
    )


def _webcal(url: str | None) -> str | None:
    # webcal:// makes a click open the calendar app's "subscribe" dialog instead of downloading once.
    return "webcal://" + url.split("://", 1)[1] if url else None


@require_POST
def calendar_revoke(request):
    feed = calendar_feeds.active_feed(request.user)
    if feed is None:
        messages.info(request, _("You have no calendar feed to revoke."))
    else:
        calendar_feeds.calendar_feed_revoke(user=request.user, feed=feed)
        messages.success(request, _("Your calendar feed was revoked; calendar apps subscribed to it no longer get updates."))
    return redirect("consults:calendar")


@login_not_required  # calendar apps send no cookie: the secret in the address is the credential
@require_safe
@never_cache
def calendar_feed(request, key):
    owner, consults = calendar_feeds.calendar_feed_events(secret=key, by=request.user)
    with translation.override(owner.language):
        body = calendars.feed_calendar(
            consults, zone=calendars.user_zone(owner), base_url=request.build_absolute_uri("/"), stamp=timezone.now(),
            name=_("Consultations"), uid=f"consults-{owner.pk}@telemed",
        )
    return _ics(body, filename="consults.ics", inline=True)


@require_safe
@never_cache
def consult_invite(request, consult_id):
    consult = requests.consult_get(by=request.user, consult_id=consult_id)
    if consult.starts_at is None or consult.ends_at is None:
        raise Http404(_("This consult has no booked time yet."))
    body = calendars.invite_calendar(consult, zone=calendars.user_zone(request.user), base_url=request.build_absolute_uri("/"), stamp=timezone.now())
    return _ics(body, filename=f"consult-{consult.starts_at:%Y%m%d}.ics", inline=False)


# --- Notifications --------------------------------------------------------------------------------

def notification_list(request):
    """The inbox; "mark all read" covers what the page showed, not what arrived since."""
    if request.method == "POST":
        count = notifications_mark_read(user=request.user, until=_shown_at(request.POST.get("shown_at", "")))
        messages.success(request, ngettext("%(count)d notification marked as read.", "%(count)d notifications marked as read.", count) % {"count": count})
        return redirect("consults:notifications")
    notes = Notification.objects.filter(user=request.user).order_by("-created_at")
    page = Paginator(notes, NOTIFICATIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "consults/notification_list.html",
        {"page": page, "unread": unread_count(request.user), "shown_at": timezone.now().isoformat()},
    )


def _shown_at(raw: str) -> datetime | None:
    """The moment the list was drawn, from the form; anything unreadable means "now"."""
    try:
        moment = parse_datetime(raw)
    except ValueError:
        return None
    return moment if moment is not None and timezone.is_aware(moment) else None


@require_safe
def notification_unread(request):
    return JsonResponse({"unread": unread_count(request.user)})
