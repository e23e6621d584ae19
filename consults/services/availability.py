"""Consult hours: weekly rules and exceptions in the expert's time zone, turned into slots.

Slots are not stored: they are computed from the rules, the extra sessions, the blocked spans
and the expert's engagements each time, so a change to any of them shows at once.
"""
from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from consults.models import AvailabilityException, AvailabilityRule, Engagement, ExpertProfile
from telemed import access
from telemed.accounts.models import User
from telemed.audit.services import audit_record

DEFAULT_SLOT_MINUTES = 30


@dataclass(frozen=True, order=True)
class Span:
    starts_at: datetime
    ends_at: datetime

    def overlaps(self, other: Span) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


def slot_minutes(expert: User) -> int:
    profile = ExpertProfile.objects.filter(user=expert).first()
    return profile.slot_minutes if profile else DEFAULT_SLOT_MINUTES


def _check_may_edit(by: User, expert: User) -> None:
    """The expert themself, or a coordinator of a hospital where the expert works."""
    if not access.editable_experts(by).filter(pk=expert.pk).exists():
        raise PermissionDenied(_("Only the expert or a coordinator of their hospital can change their consult hours."))


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"time_zone": _("Unknown time zone: %(zone)s.") % {"zone": name}}) from None


@transaction.atomic
def availability_rule_add(
    *, by: User, expert: User, weekday: int, starts: time, ends: time, valid_from: date, valid_until: date | None = None, time_zone: str = ""
) -> AvailabilityRule:
    _check_may_edit(by, expert)
    if starts >= ends:
        raise ValidationError({"ends": _("The hours must end after they start.")})
    if valid_until and valid_until < valid_from:
        raise ValidationError({"valid_until": _("'Valid until' is before 'valid from'.")})
    zone = time_zone or expert.time_zone
    _zone(zone)
    clash = AvailabilityRule.objects.filter(expert=expert, weekday=weekday, starts__lt=ends, ends__gt=starts).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from)
    )
    if valid_until:
        clash = clash.filter(valid_from__lte=valid_until)
    if clash.exists():
        raise ValidationError(_("These hours overlap consult hours already set for that weekday."))
    rule = AvailabilityRule.objects.create(
        expert=expert, weekday=weekday, starts=starts, ends=ends, valid_from=valid_from, valid_until=valid_until, time_zone=zone
    )
    audit_record(actor=by, action="availability.rule_add", obj=rule, detail={"expert": str(expert.pk)})
    return rule


@transaction.atomic
def availability_rule_remove(*, by: User, rule: AvailabilityRule) -> None:
    _check_may_edit(by, rule.expert)
    audit_record(actor=by, action="availability.rule_remove", obj=rule, detail={"expert": str(rule.expert_id)})
    rule.delete()


@transaction.atomic
def availability_exception_add(
    *, by: User, expert: User, kind: str, starts_at: datetime, ends_at: datetime, reason: str = ""
) -> AvailabilityException:
    _check_may_edit(by, expert)
    if starts_at >= ends_at:
        raise ValidationError({"ends_at": _("The span must end after it starts.")})
    exception = AvailabilityException.objects.create(
        expert=expert, kind=kind, starts_at=starts_at, ends_at=ends_at, reason=reason.strip(), created_by=by
    )
    audit_record(actor=by, action="availability.exception_add", obj=exception, detail={"expert": str(expert.pk), "kind": kind})
    return exception


@transaction.atomic
def availability_exception_remove(*, by: User, exception: AvailabilityException) -> None:
    _check_may_edit(by, exception.expert)
    audit_record(actor=by, action="availability.exception_remove", obj=exception, detail={"expert": str(exception.expert_id)})
    exception.delete()


def _rule_spans(expert: User, start: datetime, end: datetime) -> list[Span]:
    """Every weekly block that touches [start, end), as aware datetimes in its own zone."""
    spans = []
    rules = list(expert.availability_rules.all())
    for rule in rules:
        zone = zoneinfo.ZoneInfo(rule.time_zone)
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date()
        while day <= last:
            if day.weekday() == rule.weekday and rule.valid_from <= day and (rule.valid_until is None or day <= rule.valid_until):
                spans.append(Span(datetime.combine(day, rule.starts, zone), datetime.combine(day, rule.ends, zone)))
            day += timedelta(days=1)
    return spans


def working_spans(expert: User, start: datetime, end: datetime) -> list[Span]:
    """The expert's consult hours in [start, end): weekly rules plus extra sessions, minus blocked spans."""
    exceptions = list(expert.availability_exceptions.filter(starts_at__lt=end, ends_at__gt=start))
    spans = _rule_spans(expert, start, end) + [Span(e.starts_at, e.ends_at) for e in exceptions if e.kind == AvailabilityException.Kind.EXTRA]
    blocked = [Span(e.starts_at, e.ends_at) for e in exceptions if e.kind == AvailabilityException.Kind.BLOCKED]
    return _subtract(_merge(spans), blocked)


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans):
        if merged and span.starts_at <= merged[-1].ends_at:
            merged[-1] = Span(merged[-1].starts_at, max(merged[-1].ends_at, span.ends_at))
        else:
            merged.append(span)
    return merged


def _subtract(spans: list[Span], holes: list[Span]) -> list[Span]:
    for hole in holes:
        remaining = []
        for span in spans:
            if not span.overlaps(hole):
                remaining.append(span)
                continue
            if span.starts_at < hole.starts_at:
                remaining.append(Span(span.starts_at, hole.starts_at))
            if hole.ends_at < span.ends_at:
                remaining.append(Span(hole.ends_at, span.ends_at))
        spans = remaining
    return spans


def busy_spans(expert: User, start: datetime, end: datetime) -> list[Span]:
    engagements = Engagement.objects.filter(expert=expert, released_at__isnull=True, starts_at__lt=end, ends_at__gt=start)
    return sorted(Span(e.starts_at, e.ends_at) for e in engagements)


def iter_free_slots(expert: User, start: datetime, end: datetime, *, minutes: int | None = None) -> Iterator[Span]:
    """Bookable slots of `minutes` (the expert's consult length by default) in [start, end), not
    in the past, earliest first. A generator: asking for the first few costs only those."""
    length = timedelta(minutes=minutes or slot_minutes(expert))
    busy = busy_spans(expert, start, end)
    floor = max(start, timezone.now())
    first_busy = 0  # both lists are sorted, so busy spans that ended are never looked at again
    for span in working_spans(expert, start, end):
        cursor = span.starts_at
        while cursor + length <= span.ends_at:
            slot = Span(cursor, cursor + length)
            while first_busy < len(busy) and busy[first_busy].ends_at <= slot.starts_at:
                first_busy += 1
            clash = first_busy < len(busy) and busy[first_busy].starts_at < slot.ends_at
            if slot.starts_at >= floor and slot.ends_at <= end and not clash:
                yield slot
            cursor += length


def free_slots(expert: User, start: datetime, end: datetime, *, minutes: int | None = None) -> list[Span]:
    return list(iter_free_slots(expert, start, end, minutes=minutes))


def covers(expert: User, span: Span) -> bool:
    """Whether the span lies wholly inside the expert's consult hours."""
    return any(w.starts_at <= span.starts_at and span.ends_at <= w.ends_at for w in working_spans(expert, span.starts_at, span.ends_at))


@dataclass(frozen=True)
class CalendarCell:
    span: Span
    state: str  # "free", "booked" or "blocked"


def calendar_cells(expert: User, start: datetime, end: datetime) -> list[CalendarCell]:
    """What a week or day view shows: free slots, booked time and blocked time, in order."""
    cells = [CalendarCell(slot, "free") for slot in free_slots(expert, start, end)]
    cells += [CalendarCell(span, "booked") for span in busy_spans(expert, start, end)]
    blocked = expert.availability_exceptions.filter(kind=AvailabilityException.Kind.BLOCKED, starts_at__lt=end, ends_at__gt=start)
    cells += [CalendarCell(Span(max(b.starts_at, start), min(b.ends_at, end)), "blocked") for b in blocked]
    return sorted(cells, key=lambda cell: cell.span)
