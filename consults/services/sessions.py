"""The consult's session: scheduled → in session → opinion pending.

The video room (a later issue) will call these when the call starts and ends; until then they
are buttons on the consult page. Either way the rules are the same, so they live here: the
consult's experts or its coordinator run the session, and it opens a little before its time.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.models import Consult, Status
from consults.services.bookings import participants_of
from consults.services.lifecycle import transition
from consults.services.notify import local_minute, notify
from consults.services.opinions import complete_if_every_expert_signed, is_expert_participant
from consults.services.requests import _locked
from telemed import access
from telemed.accounts.models import User

# Experts open the room early to check camera and sound with the clinic before the patient joins.
EARLY_START = timedelta(minutes=15)


def can_run_session(user, consult: Consult) -> bool:
    return is_expert_participant(user, consult) or access.can_coordinate(user, consult)


def session_opens_at(consult: Consult) -> datetime | None:
    return consult.starts_at - EARLY_START if consult.starts_at else None


def _require_runner(by: User, consult: Consult) -> None:
    if not can_run_session(by, consult):
        raise PermissionDenied(_("Only the consult's experts or its coordinator can start or end the session."))


def _status(consult: Consult) -> str:
    return Status(consult.status).label.lower()


@transaction.atomic
def consult_start_session(*, by: User, consult: Consult) -> Consult:
    """Start the session of a scheduled consult, from 15 minutes before its time.

    1. Lock the consult: the room and a button (or two experts) starting together start it once.
    2. Check the person, the state and the time; move it to in session; tell the others.
    """
    consult = _locked(consult)
    _require_runner(by, consult)
    if consult.status != Status.SCHEDULED:
        raise ValidationError(_("Only a scheduled consult can start its session; this one is %(status)s.") % {"status": _status(consult)})
    opens = session_opens_at(consult)
    if opens is None or timezone.now() < opens:
        raise ValidationError(
            _("The session can be started from %(time)s, 15 minutes before the consult begins.") % {"time": local_minute(opens) if opens else "—"}
        )
    transition(consult, to=Status.IN_SESSION, by=by, action="start_session")
    others = [person for person in participants_of(consult) if person.pk != by.pk]
    notify(others, consult=consult, title=gettext_lazy("The consult session has started"), body=str(consult))
    return consult


@transaction.atomic
def _free_the_rest(consult: Consult) -> None:
    now = timezone.now()
    engaged = consult.engagements.filter(released_at__isnull=True, ends_at__gt=now)
    engaged.filter(starts_at__gte=now).update(released_at=now)  # ended before it was due to begin
    engaged.filter(starts_at__lt=now).update(ends_at=now)


def consult_end_session(*, by: User, consult: Consult) -> Consult:
    """End the session: the consult waits for the experts' signed opinions.

    1. Lock the consult, so a session ended twice at once is ended once.
    2. Check the person and the state; move it to opinion pending.
    3. Give the experts back the booked time that is left, so it can be booked again.
    4. If every expert already signed during the call, complete it now (nobody else will).
    """
    consult = _locked(consult)
    _require_runner(by, consult)
    if consult.status != Status.IN_SESSION:
        raise ValidationError(_("Only a consult in session can be ended; this one is %(status)s.") % {"status": _status(consult)})
    transition(consult, to=Status.OPINION_PENDING, by=by, action="end_session")
    _free_the_rest(consult)
    complete_if_every_expert_signed(consult, by=by)
    return consult
