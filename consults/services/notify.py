"""Telling people: in-app notifications (live, with an unread count), e-mail, and the SMS seam."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import translation
from django.utils.module_loading import import_string

from consults import events
from consults.models import Consult, Notification
from telemed.accounts.models import User

logger = logging.getLogger(__name__)


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


def notify(users: Iterable[User], *, consult: Consult | None, title, body="") -> list[Notification]:
    """One notification per person, each in their own language; pushed live once committed."""
    notes = []
    for user in {u.pk: u for u in users if u.is_active and not u.is_device}.values():
        with translation.override(user.language):
            text_title, text_body = str(title), str(body)
        note = Notification.objects.create(user=user, consult=consult, title=text_title[:200], body=text_body)
        notes.append(note)
        transaction.on_commit(lambda u=user, t=text_title, b=text_body: _deliver(u, t, b))
    events.announce_after_commit({events.user_group(note.user_id) for note in notes}, {"type": "live.notify"})
    return notes


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
