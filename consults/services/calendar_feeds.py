"""Private calendar feeds: one secret URL per person that a calendar app subscribes to.

The secret in the URL is the only credential (calendar apps send no cookies), so only its
SHA-256 is stored, as with access tokens; it is shown once. Each person has at most one live
feed: making a new one revokes the old, which is also how a leaked URL is stopped.

Auditing: the feed carries no patient data (no names, no record numbers; specialty and times
only), so a fetch is recorded as one light `calendar.feed` event without a patient id. It is
recorded anyway because the fetching address lands in the trail: a leaked URL polled from an
unknown place shows up there.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from consults.models import CalendarFeed, Consult
from telemed import access
from telemed.accounts.models import User
from telemed.audit.models import Outcome
from telemed.audit.services import audit_record

# Calendar apps keep what they have already shown; a month back is enough to see recent cancellations.
FEED_PAST = timedelta(days=30)
# token_urlsafe(32) gives 43 characters; anything much longer is not one of ours.
MAX_SECRET_LENGTH = 100


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def calendar_feed_create(*, user: User) -> tuple[CalendarFeed, str]:
    """A new feed for the user, revoking any previous one; returns it with its secret, which is not kept."""
    if not user.is_active or user.is_device:
        raise PermissionDenied(_("Only people can subscribe to a calendar of their consults."))
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        revoked = CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        feed = CalendarFeed.objects.create(user=user, key_hash=_digest(secret))
        audit_record(actor=user, action="calendar.feed_create", obj=feed, detail={"revoked": revoked})
    return feed, secret


def calendar_feed_revoke(*, user: User, feed: CalendarFeed) -> CalendarFeed:
    if feed.user_id != user.pk:
        raise PermissionDenied(_("You can revoke only your own calendar feed."))
    if feed.revoked_at is None:
        with transaction.atomic():
            feed.revoked_at = timezone.now()
            feed.save(update_fields=["revoked_at"])
            audit_record(actor=user, action="calendar.feed_revoke", obj=feed)
    return feed


def active_feed(user: User) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at").first()


def _live_feed(secret: str) -> CalendarFeed | None:
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    feed = CalendarFeed.objects.select_related("user").filter(key_hash=_digest(secret)).first()
    if feed is None or feed.revoked_at is not None or not feed.user.is_active:
        return None
    return feed


def calendar_feed_events(*, secret: str, by: User | None = None) -> tuple[User, QuerySet[Consult]]:
    """The feed's owner and the consults they take part in, from 30 days ago on, cancelled ones included.

    An unknown or revoked secret is a 404, like any address that does not exist. So is a live
    secret opened by someone signed in as another person: calendar apps send no session, so a
    signed-in stranger is someone who got hold of another's URL; that attempt is recorded.
    """
    feed = _live_feed(secret)
    if feed is None:
        raise Http404(_("No such calendar feed; it may have been replaced or revoked."))
    owner = feed.user
    if by is not None and by.is_authenticated and by.pk != owner.pk:
        audit_record(actor=by, action="calendar.feed", obj=feed, outcome=Outcome.DENIED)
        raise Http404(_("No such calendar feed; it may have been replaced or revoked."))
    consults = (
        access.visible_consults(owner)
        .filter(participants__user=owner, participants__removed_at__isnull=True)
        .filter(starts_at__isnull=False, starts_at__gte=timezone.now() - FEED_PAST)
        .select_related("clinic", "hospital")
        .order_by("starts_at")
    )
    audit_record(actor=owner, action="calendar.feed", obj=feed)
    return owner, consults
