"""Slots from weekly hours and exceptions: week boundaries, leave, extra sessions, time zones."""
from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta
from unittest import mock

import pytest

from consults.models import AvailabilityException, AvailabilityRule
from consults.services.availability import calendar_cells, free_slots
from telemed.accounts.models import Role
from tests.consults.factories import booked_consult

pytestmark = pytest.mark.django_db
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# A fixed "now": Wednesday 2026-12-02 08:00 in Shanghai, so week boundaries are known.
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=SHANGHAI)


@pytest.fixture
def frozen_now():
    with mock.patch("django.utils.timezone.now", return_value=NOW.astimezone(zoneinfo.ZoneInfo("UTC"))):
        yield NOW


def _rule(expert, weekday, starts, ends, zone="Asia/Shanghai", valid_from=date(2026, 1, 1), valid_until=None):
    return AvailabilityRule.objects.create(expert=expert, weekday=weekday, starts=starts, ends=ends, time_zone=zone, valid_from=valid_from, valid_until=valid_until)


def _local(slots, zone=SHANGHAI):
    return [s.starts_at.astimezone(zone).strftime("%a %m-%d %H:%M") for s in slots]


def test_weekly_hours_repeat_across_the_week_boundary(cast, frozen_now):
    expert = cast.north[Role.SPECIALIST]
    _rule(expert, 4, time(9), time(10))  # Friday
    _rule(expert, 0, time(9), time(10))  # Monday
    slots = free_slots(expert, NOW, NOW + timedelta(days=7))
    assert _local(slots) == ["Fri 12-04 09:00", "Fri 12-04 09:30", "Mon 12-07 09:00", "Mon 12-07 09:30"]


def test_slots_already_begun_or_past_are_not_offered(cast, frozen_now):
    expert = cast.north[Role.SPECIALIST]
    _rule(expert, 2, time(7), time(9))  # today, Wednesday, 07:00–09:00; it is 08:00
    assert _local(free_slots(expert, NOW - timedelta(hours=2), NOW + timedelta(hours=2))) == ["Wed 12-02 08:00", "Wed 12-02 08:30"]


def test_leave_removes_slots_and_an_extra_session_adds_them(cast, frozen_now):
    expert = cast.north[Role.SPECIALIST]
    _rule(expert, 3, time(9), time(11))  # Thursday
    AvailabilityException.objects.create(
        expert=expert, kind="blocked", created_by=expert, reason="training",
        starts_at=datetime(2026, 12, 3, 9, 30, tzinfo=SHANGHAI), ends_at=datetime(2026, 12, 3, 10, 30, tzinfo=SHANGHAI),
    )
    AvailabilityException.objects.create(
        expert=expert, kind="extra", created_by=expert,
        starts_at=datetime(2026, 12, 5, 14, 0, tzinfo=SHANGHAI), ends_at=datetime(2026, 12, 5, 15, 0, tzinfo=SHANGHAI),
    )
    slots = free_slots(expert, NOW, NOW + timedelta(days=7))
    assert _local(slots) == ["Thu 12-03 09:00", "Thu 12-03 10:30", "Sat 12-05 14:00", "Sat 12-05 14:30"]


def test_holiday_spanning_a_weekend_and_the_next_monday(cast, frozen_now):
    expert = cast.north[Role.SPECIALIST]
    for weekday in range(7):
        _rule(expert, weekday, time(9), time(10))
    AvailabilityException.objects.create(
        expert=expert, kind="blocked", created_by=expert, reason="holiday",
        starts_at=datetime(2026, 12, 5, 0, 0, tzinfo=SHANGHAI), ends_at=datetime(2026, 12, 8, 0, 0, tzinfo=SHANGHAI),
    )
    days = sorted({s.starts_at.astimezone(SHANGHAI).date() for s in free_slots(expert, NOW, NOW + timedelta(days=7))})
    assert [d.day for d in days] == [2, 3, 4, 8]  # Sat 5, Sun 6 and Mon 7 are gone


def test_rule_validity_dates_are_honoured(cast, frozen_now):
    expert = cast.north[Role.SPECIALIST]
    _rule(expert, 4, time(9), time(10), valid_until=date(2026, 12, 4))
    _rule(expert, 4, time(14), time(15), valid_from=date(2026, 12, 5))
    assert _local(free_slots(expert, NOW, NOW + timedelta(days=14))) == ["Fri 12-04 09:00", "Fri 12-04 09:30", "Fri 12-11 14:00", "Fri 12-11 14:30"]


def test_expert_in_london_offers_their_morning_which_is_afternoon_in_shanghai(cast, frozen_now):
    expert = cast.north[Role.SPECIALIST]
    _rule(expert, 3, time(9), time(10), zone="Europe/London")  # Thursday 09:00 London = 17:00 Shanghai (GMT in December)
    slots = free_slots(expert, NOW, NOW + timedelta(days=2))
    assert _local(slots) == ["Thu 12-03 17:00", "Thu 12-03 17:30"]
    assert _local(slots, zoneinfo.ZoneInfo("Europe/London")) == ["Thu 12-03 09:00", "Thu 12-03 09:30"]


def test_booked_time_is_not_free_and_shows_as_booked(cast):
    consult = booked_consult(cast.north, days_ahead=1, hour=9)
    expert = cast.north[Role.SPECIALIST]
    day_start = consult.starts_at.astimezone(SHANGHAI).replace(hour=0)
    slots = free_slots(expert, day_start, day_start + timedelta(days=1))
    assert consult.starts_at not in [s.starts_at for s in slots]
    states = {c.span.starts_at: c.state for c in calendar_cells(expert, day_start, day_start + timedelta(days=1))}
    assert states[consult.starts_at] == "booked"


def test_user_in_another_time_zone_sees_the_slots_in_their_own_time(cast, client_for, frozen_now):
    from telemed.accounts.services.directory import profile_update

    expert = cast.north[Role.SPECIALIST]
    _rule(expert, 3, time(9), time(10))  # Thursday 09:00 Shanghai = 01:00 London
    coordinator = cast.north[Role.COORDINATOR]
    profile_update(user=coordinator, full_name=coordinator.full_name, email="", phone="", language="en", time_zone="Europe/London")
    page = client_for(coordinator).get(f"/consults/experts/{expert.pk}/?week=2026-11-30").content.decode()
    assert "01:00–01:30" in page and "09:00–09:30" not in page
