"""Coordinators' statistics: monthly counts, waiting times, expert utilisation, who sees them, CSV.

Everything happens in January to March 2025 in Asia/Shanghai (the cast's time zone), far enough
in the past that "now" never moves a consult between months.
"""
from __future__ import annotations

import csv
import io
import zoneinfo
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from consults import statistics
from consults.models import (
    AvailabilityException,
    Consult,
    Engagement,
    Opinion,
    Urgency,
)
from telemed.accounts.models import Pairing, Role, Specialty
from telemed.audit.models import AuditEvent
from telemed.web.navigation import nav_items
from tests.accounts.factories import HospitalFactory, InstitutionFactory, member
from tests.consults.factories import ConsultFactory, booked_consult, weekday_hours
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
QUARTER = {"since": "2025-01", "until": "2025-03"}
JAN, FEB, MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)


def _at(day: int, hour: int = 10, month: int = 1) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=SHANGHAI)


def _consult(clinic, *, hospital, created: datetime, booked_after: timedelta | None = None, **fields) -> Consult:
    """A consult of `clinic` given by `hospital`, requested at `created` (and booked `booked_after` later)."""
    consult = ConsultFactory(patient=PatientFactory(institution=clinic), **fields)
    scheduled = created + booked_after if booked_after is not None else None
    Consult.objects.filter(pk=consult.pk).update(hospital=hospital, created_at=created, scheduled_at=scheduled)
    consult.refresh_from_db()
    return consult


def _scope(user, first: date = JAN, last: date = MAR, hospital=None) -> statistics.Scope:
    return statistics.statistics_scope(user, period=statistics.Period.of(first, last, SHANGHAI), hospital=hospital)


def _counts(table: statistics.MonthlyTable) -> dict[str, list[int]]:
    return {series.label: list(series.counts) for series in table.series}


# --- Counts per month -----------------------------------------------------------------------------

def test_consults_are_counted_per_local_month_by_specialty_hospital_clinic_and_pairing(cast):
    north = cast.north
    unpaired = InstitutionFactory(alliance=north.hospital.alliance, name="North Unpaired Clinic")
    _consult(north.clinic, hospital=north.hospital, created=_at(5))
    _consult(north.clinic2, hospital=north.hospital, created=_at(20), specialty=Specialty.CARDIOLOGY, urgency=Urgency.URGENT)
    # 01:00 on 1 February in Shanghai is still 31 January in UTC: it counts in the local February.
    _consult(north.clinic, hospital=north.hospital, created=_at(1, hour=1, month=2))
    _consult(unpaired, hospital=north.hospital, created=_at(3, month=3))
    _consult(north.clinic, hospital=north.hospital, created=datetime(2024, 12, 31, 23, tzinfo=SHANGHAI))  # before the period
    _consult(north.clinic, hospital=None, created=_at(6))  # not booked: no hospital's consult yet

    tables = statistics.monthly_tables(_scope(north[Role.COORDINATOR]))

    assert tables["specialty"].months == (JAN, FEB, MAR)
    assert _counts(tables["specialty"]) == {"Respiratory medicine": [1, 1, 1], "Cardiology": [1, 0, 0]}
    assert _counts(tables["hospital"]) == {"North Hospital": [2, 1, 1]}
    assert _counts(tables["clinic"]) == {"North Clinic One": [1, 1, 0], "North Clinic Two": [1, 0, 0], "North Unpaired Clinic": [0, 0, 1]}
    assert _counts(tables["pairing"]) == {"North Hospital → North Clinic One": [1, 1, 0], "North Hospital → North Clinic Two": [1, 0, 0]}
    assert _counts(tables["urgency"]) == {"Urgent": [1, 0, 0], "Routine": [1, 1, 1]}
    assert _counts(tables["status"]) == {"Requested": [2, 1, 1]}
    assert tables["specialty"].month_totals == [2, 1, 1] and tables["specialty"].total == 4


def test_an_ended_pairing_still_counts_for_the_consults_given_under_it(cast):
    north = cast.north
    _consult(north.clinic, hospital=north.hospital, created=_at(5))
    Pairing.objects.filter(hospital=north.hospital, clinic=north.clinic).update(ended_on=date(2025, 2, 1))
    assert _counts(statistics.monthly_table(_scope(north[Role.COORDINATOR]), "pairing")) == {"North Hospital → North Clinic One": [1, 0, 0]}


def test_stacked_chart_is_scaled_to_the_busiest_month(cast):
    north = cast.north
    for day in (5, 6):
        _consult(north.clinic, hospital=north.hospital, created=_at(day))
    _consult(north.clinic, hospital=north.hospital, created=_at(5, month=2), specialty=Specialty.CARDIOLOGY)
    chart = statistics.stacked_month_bars(statistics.monthly_table(_scope(north[Role.COORDINATOR]), "specialty"))
    assert chart["peak"] == 2 and [bar["total"] for bar in chart["bars"]] == [2, 1, 0]
    january, february, march = chart["bars"]
    assert january["rects"] == [{"css": "series-0", "y": 0.0, "height": 80.0, "title": "2025-01 · Respiratory medicine: 2"}]
    assert february["rects"][0]["height"] == 40.0 and february["rects"][0]["css"] == f"series-{Specialty.values.index('cardiology')}"
    assert march["rects"] == []


# --- Waiting times --------------------------------------------------------------------------------

def test_median_and_90th_percentile_interpolate_between_ranks():
    assert statistics.spread([float(h) for h in range(1, 11)]) == statistics.Spread(10, 5.5, 9.1)
    assert statistics.spread([2.0, 4.0]) == statistics.Spread(2, 3.0, 3.8)
    assert statistics.spread([7.25]) == statistics.Spread(1, 7.2, 7.2)
    assert statistics.spread([]) == statistics.Spread(0, None, None)


def test_waiting_times_per_month_use_the_latest_signed_opinion(cast):
    north = cast.north
    second_expert = member(north.hospital, Role.SPECIALIST)
    january = [_consult(north.clinic, hospital=north.hospital, created=_at(2 + h), booked_after=timedelta(hours=h)) for h in range(1, 11)]
    for consult, hours in zip(january[:3], (2, 4, 6)):
        Opinion.objects.create(consult=consult, author=north[Role.SPECIALIST], findings="f", impression="i", recommendations="r", signed_at=consult.scheduled_at + timedelta(hours=hours))
    # A second, later opinion on the first consult: the consult waited until it was signed.
    Opinion.objects.create(consult=january[0], author=second_expert, findings="f", impression="i", recommendations="r", signed_at=january[0].scheduled_at + timedelta(hours=12))
    # An unsigned draft does not end the wait.
    Opinion.objects.create(consult=january[3], author=north[Role.SPECIALIST], findings="f", impression="i", recommendations="r")
    _consult(north.clinic, hospital=north.hospital, created=_at(3, month=2), booked_after=timedelta(hours=30))

    result = statistics.durations(_scope(north[Role.COORDINATOR]))

    booking = result["request_to_booking"]
    assert booking.months == (statistics.Spread(10, 5.5, 9.1), statistics.Spread(1, 30.0, 30.0), statistics.Spread(0, None, None))
    assert booking.overall == statistics.spread([*map(float, range(1, 11)), 30.0])
    opinion = result["booking_to_opinion"]
    assert opinion.months[0] == statistics.Spread(3, 6.0, 10.8)  # 4, 6 and 12 hours
    assert opinion.months[1].count == 0 and opinion.overall == opinion.months[0]


# --- Expert utilisation ---------------------------------------------------------------------------

def _engage(expert, starts_at: datetime, hours: float, **fields) -> Engagement:
    return Engagement.objects.create(expert=expert, starts_at=starts_at, ends_at=starts_at + timedelta(hours=hours), **fields)


def test_utilisation_is_booked_hours_over_the_consult_hours_offered(cast):
    expert = cast.north[Role.SPECIALIST]
    weekday_hours(expert, since=JAN)  # 09:00–12:00 every day: 3 h a day
    # Ten days of leave in January: 21 days of hours remain (63 h); February has 28 (84 h).
    AvailabilityException.objects.create(expert=expert, kind="blocked", starts_at=_at(1, hour=0), ends_at=_at(11, hour=0), created_by=expert)
    for day in (13, 14, 15):
        _engage(expert, _at(day, hour=9), 3)
    _engage(expert, _at(16, hour=9), 3, released_at=_at(10))  # cancelled: the time was given back
    _engage(expert, _at(31, hour=23), 2)  # over midnight into February: one hour in each month

    (load,) = [load for load in statistics.utilisation(_scope(cast.north[Role.COORDINATOR])) if load.expert == expert]

    assert load.months == (statistics.Load(63.0, 10.0), statistics.Load(84.0, 1.0), statistics.Load(93.0, 0.0))
    assert [m.percent for m in load.months] == [15.9, 1.2, 0.0]
    assert load.overall == statistics.Load(240.0, 11.0) and load.overall.percent == 4.6


def test_expert_without_consult_hours_has_no_utilisation_figure(cast):
    loads = statistics.utilisation(_scope(cast.north[Role.COORDINATOR]))
    assert [(load.expert, load.overall.percent) for load in loads] == [(cast.north[Role.SPECIALIST], None)]
    assert statistics.utilisation_bars(loads)[0]["width"] == 0


# --- Who sees what --------------------------------------------------------------------------------

def test_coordinator_sees_only_their_hospitals_consults_and_the_administrator_the_alliance(cast):
    north = cast.north
    other = HospitalFactory(alliance=north.hospital.alliance, name="North Second Hospital")
    _consult(north.clinic, hospital=north.hospital, created=_at(5))
    _consult(north.clinic, hospital=other, created=_at(6))
    _consult(cast.south.clinic, hospital=cast.south.hospital, created=_at(7))

    assert _counts(statistics.monthly_table(_scope(north[Role.COORDINATOR]), "hospital")) == {"North Hospital": [1, 0, 0]}
    assert _counts(statistics.monthly_table(_scope(north[Role.ADMINISTRATOR]), "hospital")) == {"North Hospital": [1, 0, 0], "North Second Hospital": [1, 0, 0]}
    assert _counts(statistics.monthly_table(_scope(north[Role.ADMINISTRATOR], hospital=other), "hospital")) == {"North Second Hospital": [1, 0, 0]}
    # A hospital outside the reader's scope narrows to nothing rather than widening it.
    assert statistics.monthly_table(_scope(north[Role.COORDINATOR], hospital=other), "hospital").series == ()


def test_coordinator_page_shows_their_figures(cast, client_for):
    north = cast.north
    _consult(north.clinic, hospital=north.hospital, created=_at(5))
    response = client_for(north[Role.COORDINATOR]).get("/consults/statistics/", QUARTER)
    assert response.status_code == 200
    assert response.context["total"] == 1
    text = response.content.decode()
    assert "North Hospital → North Clinic One" in text and '<svg class="tall" viewBox="0 0 30 80"' in text


@pytest.mark.parametrize("role", [Role.CLINIC_DOCTOR, Role.SPECIALIST, Role.AUDITOR])
def test_people_who_do_not_coordinate_get_403(cast, client_for, role):
    client = client_for(cast.north[role])
    assert client.get("/consults/statistics/").status_code == 403
    assert client.get("/consults/statistics/monthly.csv").status_code == 403
    assert not AuditEvent.objects.filter(action="consult.statistics_export").exists()


def test_south_coordinator_sees_none_of_the_norths_consults(cast, client_for):
    north = cast.north
    _consult(north.clinic, hospital=north.hospital, created=_at(5))
    client = client_for(cast.south[Role.COORDINATOR])
    response = client.get("/consults/statistics/", QUARTER)
    assert response.status_code == 200 and response.context["total"] == 0
    assert "North" not in response.content.decode()
    exported = client.get("/consults/statistics/monthly.csv", QUARTER).content.decode("utf-8-sig")
    assert list(csv.DictReader(io.StringIO(exported))) == []
    # Naming the north's hospital in the filter is refused, not obeyed.
    forged = client.get("/consults/statistics/", {**QUARTER, "hospital": str(north.hospital.pk)})
    assert forged.status_code == 200 and "Select a valid choice" in forged.content.decode()


def test_statistics_are_in_the_menu_of_coordinators_and_administrators(cast):
    def has_statistics(user):
        return "consults:statistics" in [item.url_name for item in nav_items(user)]

    assert has_statistics(cast.north[Role.COORDINATOR]) and has_statistics(cast.north[Role.ADMINISTRATOR])
    assert not has_statistics(cast.north[Role.CLINIC_DOCTOR]) and not has_statistics(cast.north[Role.SPECIALIST])


# --- Filters --------------------------------------------------------------------------------------

def test_default_period_is_the_last_twelve_local_months(cast, client_for):
    response = client_for(cast.north[Role.COORDINATOR]).get("/consults/statistics/")
    months = response.context["period"].months
    today = timezone.now().astimezone(SHANGHAI).date()
    assert len(months) == 12 and months[-1] == today.replace(day=1)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-13"}, "Enter a month as YYYY-MM"),
        ({"until": "March"}, "Enter a month as YYYY-MM"),
        ({"since": "0001-01"}, "Choose a month between 2000-01 and 2100-12"),
        ({"since": "2025-03", "until": "2025-01"}, "must not be after"),
        ({"since": "2015-01", "until": "2025-01"}, "Choose at most 60 months"),
        ({"hospital": "not-a-hospital"}, "is not a valid UUID"),
    ],
)
def test_bad_filter_values_give_a_form_error_not_a_500(cast, client_for, query, message):
    client = client_for(cast.north[Role.COORDINATOR])
    response = client.get("/consults/statistics/", query)
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert "period" not in response.context
    exported = client.get("/consults/statistics/monthly.csv", query)
    assert exported.status_code == 400 and message in exported.content.decode()


def test_a_single_month_only_uses_the_default_for_the_other_end(cast, client_for):
    response = client_for(cast.north[Role.COORDINATOR]).get("/consults/statistics/", {"until": "2025-03"})
    assert response.context["period"].months[0] == date(2024, 4, 1) and len(response.context["period"].months) == 12


# --- CSV exports ----------------------------------------------------------------------------------

def _rows(response) -> list[dict]:
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def _figures(cast, client):
    north = cast.north
    weekday_hours(north[Role.SPECIALIST], since=JAN)
    _engage(north[Role.SPECIALIST], _at(13, hour=9), 3)
    for hours, day in ((2, 5), (5, 6), (9, 7)):
        consult = _consult(north.clinic, hospital=north.hospital, created=_at(day), booked_after=timedelta(hours=hours))
    Opinion.objects.create(consult=consult, author=north[Role.SPECIALIST], findings="f", impression="i", recommendations="r", signed_at=consult.scheduled_at + timedelta(hours=20))
    _consult(north.clinic2, hospital=north.hospital, created=_at(2, month=3), specialty=Specialty.TCM)
    return client.get("/consults/statistics/", QUARTER).context


def test_monthly_csv_matches_the_page(cast, client_for):
    client = client_for(cast.north[Role.COORDINATOR])
    page = _figures(cast, client)
    response = client.get("/consults/statistics/monthly.csv", QUARTER)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="consult-monthly-2025-01-2025-03.csv"' in response["Content-Disposition"]
    rows = _rows(response)
    for breakdown, table in page["tables"].items():
        exported = {(r["name"], r["month"]): int(r["consults"]) for r in rows if r["breakdown"] == breakdown}
        shown = {(s.label, f"{m:%Y-%m}"): n for s in table.series for m, n in zip(table.months, s.counts)}
        assert exported == shown, breakdown
    assert sum(int(r["consults"]) for r in rows if r["breakdown"] == "specialty") == page["total"] == 4


def test_durations_csv_matches_the_page(cast, client_for):
    client = client_for(cast.north[Role.COORDINATOR])
    page = _figures(cast, client)
    rows = {(r["measure"], r["month"]): r for r in _rows(client.get("/consults/statistics/durations.csv", QUARTER))}
    assert rows["request_to_booking", "2025-01"] == {"month": "2025-01", "measure": "request_to_booking", "consults": "3", "median_hours": "5.0", "p90_hours": "8.2"}
    assert rows["booking_to_opinion", "all"]["median_hours"] == "20.0"
    assert rows["request_to_booking", "2025-03"]["median_hours"] == ""
    for measure, overall in zip(statistics.MEASURES, page["duration_overall"]):
        assert (rows[measure, "all"]["median_hours"], rows[measure, "all"]["p90_hours"]) == (str(overall.median), str(overall.p90))


def test_utilisation_csv_matches_the_page_and_every_export_is_audited(cast, client_for):
    coordinator = cast.north[Role.COORDINATOR]
    client = client_for(coordinator)
    page = _figures(cast, client)
    rows = _rows(client.get("/consults/statistics/utilisation.csv", QUARTER))
    (load,) = page["loads"]
    by_month = {r["month"]: r for r in rows}
    assert by_month["2025-01"]["offered_hours"] == "93.0" and by_month["2025-01"]["booked_hours"] == "3.0"
    assert by_month["2025-01"]["utilisation_percent"] == str(load.months[0].percent) == "3.2"
    assert by_month["all"]["utilisation_percent"] == str(load.overall.percent)
    assert by_month["all"]["expert"] == str(cast.north[Role.SPECIALIST])
    event = AuditEvent.objects.filter(action="consult.statistics_export").get()
    assert event.actor_id == coordinator.pk
    assert event.detail == {"table": "utilisation", "since": "2025-01", "until": "2025-03", "hospital": ""}


def test_unknown_export_table_is_404(cast, client_for):
    assert client_for(cast.north[Role.COORDINATOR]).get("/consults/statistics/patients.csv").status_code == 404


def test_booked_consult_counts_in_the_month_of_its_request(cast):
    consult = booked_consult(cast.north)
    today = consult.created_at.astimezone(SHANGHAI).date().replace(day=1)
    tables = statistics.monthly_tables(_scope(cast.north[Role.COORDINATOR], first=today, last=today))
    assert _counts(tables["status"]) == {"Scheduled": [1]}
    assert statistics.durations(_scope(cast.north[Role.COORDINATOR], first=today, last=today))["request_to_booking"].overall.count == 1


def test_a_name_that_looks_like_a_formula_is_exported_as_text(cast, client_for):
    clinic = InstitutionFactory(alliance=cast.north.hospital.alliance, name="=HYPERLINK(\"http://x\")")
    _consult(clinic, hospital=cast.north.hospital, created=_at(5))
    rows = _rows(client_for(cast.north[Role.COORDINATOR]).get("/consults/statistics/monthly.csv", QUARTER))
    assert {r["name"] for r in rows if r["breakdown"] == "clinic"} == {"'=HYPERLINK(\"http://x\")"}


def test_statistics_api_gives_the_csv_tables_as_json_to_coordinators_only(cast, client_for):
    from tests.consults.factories import booked_consult

    booked_consult(cast.north)
    body = client_for(cast.north[Role.COORDINATOR]).get("/api/v1/consult-statistics/").json()
    assert set(body) == {"monthly", "durations", "utilisation", "reads"}
    assert sum(row["consults"] for row in body["monthly"] if row["breakdown"] == "specialty") == 1
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get("/api/v1/consult-statistics/").status_code == 403
    assert client_for(cast.north[Role.COORDINATOR]).get("/api/v1/consult-statistics/?since=2026-13").status_code == 400
