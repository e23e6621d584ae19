"""Telling people: in-app notifications (live, with an unread count), e-mail, and the SMS seam."""
from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import translation
from django.utils import formats, timezone
from django.utils.functional import Promise, lazy
from django.utils.module_loading import import_string

from consults import events
from consults.models import Consult, Notification
from telemed.accounts.models import User

logger = logging.getLogger(__name__)
SCHEDULER = "scheduler"  # the audit trail's name for the background routines


def lazy_format(message, **values) -> Promise:
    """`message % values`, evaluated each time it is rendered, so in the language active then.

    notify() renders titles inside each recipient's language; `gettext_lazy(...) % values`
    would translate at once, in the sender's language, so the whole formatting is deferred.

    Values that are lazy themselves (a specialty's label) are rendered then too; numbers stay
    numbers for %(n)d.
    """

    def render() -> str:
        return str(message) % {key: value if isinstance(value, int) else str(value) for key, value in values.items()}

    return lazy(render, str)()


class ConsoleSms:
    """The default SMS sender: writes to the log. A gateway is a class with the same `send`."""

    def send(self, phone: str, text: str) -> None:
        logger.info("SMS to %s: %s", phone, text)


def sms_sender():
    return import_string(settings.SMS_SENDER)()


def _deliver(user: User, title: str, body: str) -> None:
    """Outside channels, after commit: a failure here must not undo the in-app notification."""
    try:
        if user.email:
            send_mail(title, body, None, [user.email], fail_silently=False)
        if user.phone:
            sms_sender().send(user.phone, f"{title} {body}"[:300])
    except Exception:  # one unreachable mailbox must not stop the others
        logger.exception("could not deliver notification to %s", user.pk)


def notify(users: Iterable[User], *, consult: Consult | None, title, body="", link: str = "") -> list[Notification]:
    """One notification per person, in their own language and time zone; pushed live once committed.

    Pass lazy texts (`lazy_format`, `gettext_lazy`) so they are rendered for each recipient.
    Bodies go out by e-mail and SMS too: they never carry a patient's name. `link` is the page
    to open when the notification is not about a consult (an imaging read).
    """
    notes = []
    for user in {u.pk: u for u in users if u.is_active and not u.is_device}.values():
        with translation.override(user.language), timezone.override(_zone(user)):
            text_title, text_body = str(title), str(body)
        note = Notification.objects.create(user=user, consult=consult, link=link, title=text_title[:200], body=text_body)
        notes.append(note)
        transaction.on_commit(lambda u=user, t=text_title, b=text_body: _deliver(u, t, b))
    events.announce_after_commit({events.user_group(note.user_id) for note in notes}, {"type": "live.notify"})
    return notes


def _zone(user: User):
    try:
        return zoneinfo.ZoneInfo(user.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Asia/Shanghai")


def local_minute(moment: datetime) -> str:
    """The moment to the minute in the active time zone, as refusals and notifications show it."""
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i")


def local_time(moment: datetime) -> Promise:
    """`local_minute` rendered when shown, so in the recipient's time zone inside notify()."""
    return lazy(local_minute, str)(moment)


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


@transaction.atomic
def notifications_mark_read(*, user: User, until: datetime | None = None) -> int:
    """Mark the user's notifications read up to `until`, the moment their list was shown.

    One that arrived after the page was drawn stays unread: the person has not seen it. Not
    audited: a person's own inbox holds no patient data and changes nobody else's.
    """
    until = min(until or timezone.now(), timezone.now())
    count = Notification.objects.filter(user=user, read_at__isnull=True, created_at__lte=until).update(read_at=timezone.now())
    if count:
        events.announce_after_commit({events.user_group(user.pk)}, {"type": "live.notify", "unread": unread_count(user)})
    return count
