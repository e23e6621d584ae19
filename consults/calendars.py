"""iCalendar (RFC 5545) for consults: pure functions, no queries, no request.

A consult is one VEVENT whose UID never changes and whose SEQUENCE is the consult's `sequence`
(bumped on every reschedule and cancel), so calendar apps update the event they already hold
instead of adding a second one. A cancelled consult stays in the feed with STATUS:CANCELLED:
an app that imported the event earlier removes it only when it sees that.

Times are written in the reader's own zone (TZID plus a VTIMEZONE), so a subscriber in London
and one in Shanghai each see local times, and both describe the same instant.
"""
from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from consults.models import Consult, Status

PRODID = "-//Telemed//Remote consultations//EN"
# Subscribers poll at this interval (REFRESH-INTERVAL); reminders, not the feed, are what warn people in time.
REFRESH_INTERVAL = timedelta(hours=1)


def user_zone(user) -> zoneinfo.ZoneInfo:
    """The user's own time zone, or the server's when theirs is empty or unknown."""
    try:
        return zoneinfo.ZoneInfo(user.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def consult_uid(consult: Consult) -> str:
    return f"consult-{consult.pk}@telemed"


def consult_path(consult_id) -> str:
    """The consult page; a fixed path so a calendar entry keeps working whatever view serves it."""
    return f"/consults/{consult_id}/"


def _summary(consult: Consult, *, detailed: bool) -> str:
    summary = _("%(specialty)s consultation") % {"specialty": consult.get_specialty_display()}
    # A feed is fetched by calendar services outside the hospital; only a download the user
    # asked for, once signed in, names the patient.
    if detailed:
        summary = f"{summary} · {consult.patient.name}"
    return summary


def consult_event(consult: Consult, *, zone: zoneinfo.ZoneInfo, base_url: str, stamp: datetime, detailed: bool = False) -> Event:
    """One VEVENT for a booked consult (it must have `starts_at` and `ends_at`)."""
    cancelled = consult.status == Status.CANCELLED
    event = Event.new(
        uid=consult_uid(consult),
        sequence=consult.sequence,
        stamp=stamp,
        start=consult.starts_at.astimezone(zone),
        end=consult.ends_at.astimezone(zone),
        summary=_summary(consult, detailed=detailed),
        status="CANCELLED" if cancelled else "CONFIRMED",
        url=base_url.rstrip("/") + consult_path(consult.pk),
    )
    if detailed:
        event.add("description", _describe(consult, base_url))
    return event


def _describe(consult: Consult, base_url: str) -> str:
    lines = [
        _("Clinic: %(clinic)s") % {"clinic": consult.clinic},
        _("Status: %(status)s") % {"status": consult.get_status_display()},
        base_url.rstrip("/") + consult_path(consult.pk),
    ]
    if consult.hospital_id:
        lines.insert(1, _("Hospital: %(hospital)s") % {"hospital": consult.hospital})
    return "\n".join(lines)


def _calendar(events: list[Event], *, name: str, uid: str | None, refresh: timedelta | None) -> Calendar:
    calendar = Calendar.new(prodid=PRODID, method="PUBLISH", name=name, uid=uid, refresh_interval=refresh)
    for event in events:
        calendar.add_component(event)
    if events:
        # Only the span the events need: the whole 1970–2038 history would make every feed large.
        starts = [e.start.date() for e in events]
        ends = [e.end.date() for e in events]
        calendar.add_missing_timezones(first_date=min(starts) - timedelta(days=1), last_date=max(ends) + timedelta(days=1))
    return calendar


def feed_calendar(consults: Iterable[Consult], *, zone: zoneinfo.ZoneInfo, base_url: str, stamp: datetime, name: str, uid: str | None = None) -> bytes:
    """A subscription feed: every booked consult, without patient names."""
    events = [consult_event(c, zone=zone, base_url=base_url, stamp=stamp) for c in consults if c.starts_at and c.ends_at]
    return _calendar(events, name=name, uid=uid, refresh=REFRESH_INTERVAL).to_ical()


def invite_calendar(consult: Consult, *, zone: zoneinfo.ZoneInfo, base_url: str, stamp: datetime) -> bytes:
    """The .ics of one consult, downloaded by a signed-in participant: names the patient."""
    event = consult_event(consult, zone=zone, base_url=base_url, stamp=stamp, detailed=True)
    return _calendar([event], name=_summary(consult, detailed=False), uid=None, refresh=None).to_ical()
