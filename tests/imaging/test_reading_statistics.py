"""Read turnaround in the coordinators' statistics: request → assignment, request → signed report.

Everything happens in January and February 2025 in Asia/Shanghai, like the consult statistics.
"""
from __future__ import annotations

import csv
import io
import zoneinfo
from datetime import date, datetime, timedelta

import pytest

from consults import statistics
from imaging import statistics as read_statistics
from imaging.models import ReadRequest
from telemed.accounts.models import Role
from tests.imaging.reading_factories import ct_study, requested_read
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
QUARTER = {"since": "2025-01", "until": "2025-03"}


def _read(side, *, created: datetime, assigned_after: float | None, signed_after: float | None, urgency="routine", modality="CT") -> ReadRequest:
    patient = PatientFactory(institution=side.clinic, registered_by=side[Role.CLINIC_DOCTOR])
    read = requested_read(side, study=ct_study(side, patient=patient), urgency=urgency)
    ReadRequest.objects.filter(pk=read.pk).update(
        created_at=created, modality=modality,
        assigned_at=created + timedelta(hours=assigned_after) if assigned_after is not None else None,
        signed_at=created + timedelta(hours=signed_after) if signed_after is not None else None,
    )
    return read


@pytest.fixture
def quarter(cast):
    north = cast.north
    _read(north, created=datetime(2025, 1, 6, 9, tzinfo=SHANGHAI), assigned_after=1, signed_after=5)
    _read(north, created=datetime(2025, 1, 31, 23, tzinfo=SHANGHAI), assigned_after=3, signed_after=9, urgency="urgent")  # still January in Shanghai
    _read(north, created=datetime(2025, 2, 3, 9, tzinfo=SHANGHAI), assigned_after=0.5, signed_after=None, urgency="emergency", modality="MR")
    _read(cast.south, created=datetime(2025, 1, 7, 9, tzinfo=SHANGHAI), assigned_after=100, signed_after=200)
    return cast


def _scope(user) -> statistics.Scope:
    return statistics.statistics_scope(user, period=statistics.Period.of(date(2025, 1, 1), date(2025, 3, 1), SHANGHAI))


def test_turnaround_per_request_month_as_median_and_90th_percentile(quarter):
    figures = read_statistics.turnaround(_scope(quarter.north[Role.COORDINATOR]))["all"]
    assignment, report = figures.durations["request_to_assignment"], figures.durations["request_to_report"]
    assert figures.requested == 3
    assert [(s.count, s.median, s.p90) for s in assignment.months] == [(2, 2.0, 2.8), (1, 0.5, 0.5), (0, None, None)]
    assert [(s.count, s.median, s.p90) for s in report.months] == [(2, 7.0, 8.6), (0, None, None), (0, None, None)]
    assert (assignment.overall.median, assignment.overall.p90) == (1.0, 2.6)


def test_turnaround_by_hospital_modality_and_urgency(quarter):
    by = read_statistics.turnaround(_scope(quarter.north[Role.COORDINATOR]))["by"]
    assert [(g.label, g.requested) for g in by["hospital"]] == [("North Hospital", 3)]
    assert [(g.label, g.requested) for g in by["modality"]] == [("CT", 2), ("MR", 1)]
    assert [(g.label, g.requested, g.durations["request_to_report"].overall.median) for g in by["urgency"]] == [
        ("Routine", 1, 5.0), ("Urgent", 1, 9.0), ("Emergency", 1, None),
    ]


def test_the_statistics_page_shows_read_turnaround_with_a_chart(quarter, client_for):
    response = client_for(quarter.north[Role.COORDINATOR]).get("/consults/statistics/", QUARTER)
    page = response.content.decode()
    assert "Remote reads: turnaround" in page and 'id="read-turnaround"' in page
    assert 'class="ra-median"' in page and "<rect class=\"rs-median\"" in page
    reads = response.context["reads"]
    assert reads["requested"] == 3 and [g["group"].label for g in reads["breakdowns"][1]["groups"]] == ["CT", "MR"]


def test_read_turnaround_csv_and_api_match_the_page_and_keep_the_south_out(quarter, client_for):
    client = client_for(quarter.north[Role.COORDINATOR])
    response = client.get("/consults/statistics/reads.csv", QUARTER)
    assert response.status_code == 200 and 'filename="consult-reads-2025-01-2025-03.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0]) == list(statistics.EXPORT_COLUMNS["reads"])
    by_key = {(r["breakdown"], r["key"], r["measure"], r["month"]): r for r in rows}
    assert by_key["all", "all", "request_to_report", "2025-01"] == {
        "month": "2025-01", "breakdown": "all", "key": "all", "name": "", "requested": "2", "measure": "request_to_report", "reads": "2", "median_hours": "7.0", "p90_hours": "8.6",
    }
    assert by_key["modality", "MR", "request_to_assignment", "all"]["median_hours"] == "0.5"
    assert "South Hospital" not in response.content.decode()
    api = client.get("/api/v1/consult-statistics/", QUARTER).json()["reads"]
    assert {(r["breakdown"], r["key"], r["measure"], r["month"]) for r in api} == set(by_key)


def test_the_read_csv_gives_the_reads_requested_each_month_as_the_pages_requested_column_does(quarter, client_for):
    """A month's reads assigned or signed alone do not say how many were asked (February: one
    requested, none signed)."""
    client = client_for(quarter.north[Role.COORDINATOR])
    page = client.get("/consults/statistics/", QUARTER).context["reads"]
    rows = list(csv.DictReader(io.StringIO(client.get("/consults/statistics/reads.csv", QUARTER).content.decode("utf-8-sig"))))
    signed = {r["month"]: r for r in rows if (r["breakdown"], r["measure"]) == ("all", "request_to_report")}
    assert [signed[f"{row['month']:%Y-%m}"]["requested"] for row in page["rows"]] == [str(row["requested"]) for row in page["rows"]] == ["2", "1", "0"]
    assert signed["all"]["requested"] == str(page["requested"]) == "3"
    assert {(r["key"], r["month"], r["requested"]) for r in rows if r["breakdown"] == "modality" and r["month"] != "all"} == {
        ("CT", "2025-01", "2"), ("CT", "2025-02", "0"), ("CT", "2025-03", "0"), ("MR", "2025-01", "0"), ("MR", "2025-02", "1"), ("MR", "2025-03", "0"),
    }


def test_the_south_coordinator_sees_only_the_souths_reads(quarter, client_for):
    figures = read_statistics.turnaround(_scope(quarter.south[Role.COORDINATOR]))["all"]
    assert figures.requested == 1 and figures.durations["request_to_report"].overall.median == 200.0
    assert client_for(quarter.north[Role.RADIOLOGIST]).get("/consults/statistics/reads.csv").status_code == 403


def test_a_read_signed_in_two_minutes_shows_as_0_02_not_0_0_hours(cast, client_for):
    _read(cast.north, created=datetime(2025, 1, 6, 9, tzinfo=SHANGHAI), assigned_after=1 / 60, signed_after=2 / 60)
    page = client_for(cast.north[Role.COORDINATOR]).get("/consults/statistics/", QUARTER).content.decode()
    table = page[page.index('id="read-turnaround"'):]
    assert "Median (h:mm)" in table
    assert '<td class="num">0:02</td>' in table and '<td class="num">0:01</td>' in table
    assert '<td class="num">0.0</td>' not in table


def test_the_read_chart_speaks_h_mm_like_its_table_while_consults_stay_in_hours(cast, client_for):
    _read(cast.north, created=datetime(2025, 1, 6, 9, tzinfo=SHANGHAI), assigned_after=0.25, signed_after=1.5)
    response = client_for(cast.north[Role.COORDINATOR]).get("/consults/statistics/", QUARTER, HTTP_ACCEPT_LANGUAGE="en")
    chart = response.context["reads"]["chart"]
    titles = [rect["title"] for bar in chart["bars"] for rect in bar["rects"]]
    assert "2025-01 · Request to signed report, median: 1:30" in titles and "2025-01 · Request to assignment, median: 0:15" in titles
    assert chart["peak_shown"] == "1:30" and "longest: 1:30" in response.content.decode()
    assert response.context["duration_chart"]["peak_shown"].endswith(" h")


def test_the_turnaround_tables_say_what_each_count_counts_beside_the_reads_requested(quarter, client_for):
    page = client_for(quarter.north[Role.COORDINATOR]).get("/consults/statistics/", QUARTER).content.decode()
    table = page[page.index('id="read-turnaround"'):page.index("</table>", page.index('id="read-turnaround"'))]
    assert ">Requested</th>" in table and ">Reads assigned</th>" in table and ">Reports signed</th>" in table and ">Reads</th>" not in table
    # January: two requested, two assigned, two signed; February: one requested and assigned, none signed.
    assert '<th scope="row">2025-02</th><td class="num">1</td><td class="num">1</td><td class="num">0:30</td><td class="num">0:30</td><td class="num">0</td>' in table
    assert '<th scope="row">Whole period</th><td class="num">3</td><td class="num">3</td>' in table
    chinese = client_for(quarter.north[Role.COORDINATOR], language="zh-hans").get("/consults/statistics/", QUARTER).content.decode()
    assert "已分配阅片数" in chinese and "已签发报告数" in chinese
