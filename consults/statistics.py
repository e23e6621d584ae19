"""Consult statistics for coordinators and administrators (issue 11): pure reads.

A consult belongs to the local month (in the reader's time zone) of its request, `created_at`,
everywhere here: the counts, and both durations (request → booking, booking → latest signed
opinion), so one row of every table describes the same consults. Counts are aggregated by the
database; medians and 90th percentiles are computed in Python (`statistics.quantiles`) because
SQLite has no percentile function and a month holds few consults. Expert utilisation is booked
engagement time over offered consult hours, both taken from the availability service.
"""
from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cached_property
from statistics import median, quantiles

from django.db.models import Count, Exists, Max, OuterRef, QuerySet
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.models import Consult, Engagement, Status, Urgency
from consults.services.availability import Span, working_spans
from telemed import access
from telemed.accounts.models import Institution, Pairing, Role, Specialty, User

MAX_MONTHS = 60  # five years: enough for a trend, small enough to compute on a page request
DEFAULT_MONTHS = 12


# --- Months ---------------------------------------------------------------------------------------

def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month + 1


def default_months(today: date) -> tuple[date, date]:
    """The last twelve months, the current one included."""
    last = today.replace(day=1)
    return add_months(last, 1 - DEFAULT_MONTHS), last


@dataclass(frozen=True)
class Period:
    """Whole local months, oldest first, in the reader's time zone."""

    months: tuple[date, ...]
    zone: tzinfo

    @classmethod
    def of(cls, first: date, last: date, zone: tzinfo) -> Period:
        first = first.replace(day=1)
        if months_between(first, last) < 1:
            raise ValueError("The period must end in or after its first month.")
        return cls(tuple(add_months(first, i) for i in range(months_between(first, last))), zone)

    def bounds(self, index: int) -> tuple[datetime, datetime]:
        month = self.months[index]
        return datetime.combine(month, time.min, self.zone), datetime.combine(add_months(month, 1), time.min, self.zone)

    @property
    def start(self) -> datetime:
        return self.bounds(0)[0]

    @property
    def end(self) -> datetime:
        return self.bounds(len(self.months) - 1)[1]

    def index_of(self, moment: datetime) -> int | None:
        local = moment.astimezone(self.zone).date().replace(day=1)
        return self._index.get(local)

    @cached_property
    def _index(self) -> dict[date, int]:
        return {month: i for i, month in enumerate(self.months)}


# --- Scope ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """What one reader's statistics cover: their hospitals, and the consults requested in the period."""

    period: Period
    hospitals: QuerySet[Institution]
    consults: QuerySet[Consult]

    def experts(self) -> QuerySet[User]:
        return User.objects.filter(
            is_active=True, memberships__institution__in=self.hospitals, memberships__role=Role.SPECIALIST, memberships__is_active=True
        ).distinct()


def statistics_scope(user: User, *, period: Period, hospital: Institution | None = None) -> Scope:
    hospitals = access.statistics_hospitals(user)
    if hospital is not None:
        # The form offers only the reader's hospitals; a forged one narrows to nothing.
        hospitals = hospitals.filter(pk=hospital.pk)
    consults = access.statistics_consults(user).filter(hospital__in=hospitals, created_at__gte=period.start, created_at__lt=period.end)
    return Scope(period, hospitals, consults)


# --- Counts per month -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    key: str
    label: str
    counts: tuple[int, ...]  # one per month of the period
    css: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class MonthlyTable:
    breakdown: str
    months: tuple[date, ...]
    series: tuple[Series, ...]

    @property
    def month_totals(self) -> list[int]:
        return [sum(s.counts[i] for s in self.series) for i in range(len(self.months))]

    @property
    def total(self) -> int:
        return sum(s.total for s in self.series)


def _choice_label(choices: type) -> Callable[[str], str]:
    labels = dict(choices.choices)
    return lambda value: str(labels.get(value, value))


def _choice_order(choices: type) -> Callable[[Series], tuple]:
    order = {value: i for i, value in enumerate(choices.values)}
    return lambda series: (order.get(series.key, len(order)), series.key)


@dataclass(frozen=True)
class _Grouping:
    fields: tuple[str, ...]
    key: Callable[[dict], str]
    label: Callable[[dict], str]
    order: Callable[[Series], tuple] = lambda series: (series.label.casefold(), series.key)
    css: Callable[[str], str] = lambda key: ""
    paired_only: bool = False


_specialty, _status, _urgency = _choice_label(Specialty), _choice_label(Status), _choice_label(Urgency)


def _specialty_css(key: str) -> str:
    """One CSS class per specialty, by its place in the choices: its colour never changes with the filter."""
    values = list(Specialty.values)
    return f"series-{values.index(key) if key in values else len(values) - 1}"


GROUPINGS: dict[str, _Grouping] = {
    "specialty": _Grouping(
        ("specialty",), lambda r: r["specialty"], lambda r: _specialty(r["specialty"]), _choice_order(Specialty), css=_specialty_css
    ),
    "hospital": _Grouping(("hospital_id", "hospital__name"), lambda r: str(r["hospital_id"]), lambda r: r["hospital__name"]),
    "clinic": _Grouping(("clinic_id", "clinic__name"), lambda r: str(r["clinic_id"]), lambda r: r["clinic__name"]),
    "pairing": _Grouping(
        ("hospital_id", "clinic_id", "hospital__name", "clinic__name"),
        lambda r: f"{r['hospital_id']}:{r['clinic_id']}",
        lambda r: f"{r['hospital__name']} → {r['clinic__name']}",
        paired_only=True,
    ),
    "status": _Grouping(("status",), lambda r: r["status"], lambda r: _status(r["status"]), _choice_order(Status)),
    "urgency": _Grouping(("urgency",), lambda r: r["urgency"], lambda r: _urgency(r["urgency"]), _choice_order(Urgency)),
}
BREAKDOWNS = tuple(GROUPINGS)


def _paired(consults: QuerySet[Consult]) -> QuerySet[Consult]:
    """Consults whose clinic is paired with the hospital that gave them. An ended pairing still
    counts, so last year's figures do not change when a pairing ends."""
    return consults.filter(Exists(Pairing.objects.filter(hospital=OuterRef("hospital"), clinic=OuterRef("clinic"))))


def monthly_table(scope: Scope, breakdown: str) -> MonthlyTable:
    grouping = GROUPINGS[breakdown]
    consults = _paired(scope.consults) if grouping.paired_only else scope.consults
    rows = (
        consults.annotate(month=TruncMonth("created_at", tzinfo=scope.period.zone))
        .values("month", *grouping.fields)
        .annotate(n=Count("pk"))
        .order_by()
    )
    width = len(scope.period.months)
    cells: dict[str, list[int]] = {}
    labels: dict[str, str] = {}
    for row in rows:
        index = scope.period.index_of(row["month"])
        if index is None:
            continue
        key = grouping.key(row)
        labels[key] = grouping.label(row)
        cells.setdefault(key, [0] * width)[index] += row["n"]
    series = [Series(key, labels[key], tuple(counts), grouping.css(key)) for key, counts in cells.items()]
    return MonthlyTable(breakdown, scope.period.months, tuple(sorted(series, key=grouping.order)))


def monthly_tables(scope: Scope) -> dict[str, MonthlyTable]:
    return {breakdown: monthly_table(scope, breakdown) for breakdown in BREAKDOWNS}


# --- Durations ------------------------------------------------------------------------------------

MEASURES = {
    "request_to_booking": gettext_lazy("Request to booking"),
    "booking_to_opinion": gettext_lazy("Booking to signed opinion"),
}


@dataclass(frozen=True)
class Spread:
    count: int
    median: float | None  # hours, to 0.1 h unless the caller asks for more digits
    p90: float | None


def spread(hours: list[float], *, digits: int = 1) -> Spread:
    """Median and 90th percentile, interpolated between closest ranks ("inclusive": the same
    figure PostgreSQL's percentile_cont would give), so one consult gives its own duration."""
    if not hours:
        return Spread(0, None, None)
    if len(hours) == 1:
        return Spread(1, round(hours[0], digits), round(hours[0], digits))
    return Spread(len(hours), round(median(hours), digits), round(quantiles(hours, n=10, method="inclusive")[8], digits))


@dataclass(frozen=True)
class Durations:
    measure: str
    label: str
    months: tuple[Spread, ...]
    overall: Spread


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def durations(scope: Scope) -> dict[str, Durations]:
    """Per request month: hours from request to booking, and from booking to the latest signed opinion."""
    rows = (
        scope.consults.filter(scheduled_at__isnull=False)
        .annotate(signed=Max("opinions__signed_at"))
        .values_list("created_at", "scheduled_at", "signed")
        .order_by()
    )
    samples: dict[str, list[list[float]]] = {m: [[] for _month in scope.period.months] for m in MEASURES}
    for created, scheduled, signed in rows:
        index = scope.period.index_of(created)
        if index is None:
            continue
        samples["request_to_booking"][index].append(_hours(scheduled - created))
        if signed is not None:
            samples["booking_to_opinion"][index].append(_hours(signed - scheduled))
    return {
        measure: Durations(measure, str(MEASURES[measure]), tuple(spread(s) for s in per_month), spread([h for s in per_month for h in s]))
        for measure, per_month in samples.items()
    }


# --- Expert utilisation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    offered_hours: float  # consult hours the expert held, to 0.01 h
    booked_hours: float  # unreleased engagements in the month, to 0.01 h

    @property
    def percent(self) -> float | None:
        return round(self.booked_hours / self.offered_hours * 100, 1) if self.offered_hours else None


@dataclass(frozen=True)
class ExpertLoad:
    expert: User
    months: tuple[Load, ...]

    @property
    def overall(self) -> Load:
        return Load(round(sum(m.offered_hours for m in self.months), 2), round(sum(m.booked_hours for m in self.months), 2))


def _hours_within(spans: list[Span], start: datetime, end: datetime) -> float:
    """Hours of the spans inside [start, end); the spans of one expert never overlap."""
    seconds = sum(max(0.0, (min(end, s.ends_at) - max(start, s.starts_at)).total_seconds()) for s in spans)
    return round(seconds / 3600, 2)


def _booked_spans(experts: list[User], period: Period) -> dict[uuid.UUID, list[Span]]:
    engagements = Engagement.objects.filter(
        expert__in=experts, released_at__isnull=True, starts_at__lt=period.end, ends_at__gt=period.start
    ).values_list("expert_id", "starts_at", "ends_at")
    booked: dict[uuid.UUID, list[Span]] = {}
    for expert_id, starts_at, ends_at in engagements:
        booked.setdefault(expert_id, []).append(Span(starts_at, ends_at))
    return booked


def utilisation(scope: Scope) -> list[ExpertLoad]:
    """Per specialist of the scope's hospitals and month: booked hours over offered consult hours.

    Offered hours come from `working_spans` (weekly rules, extra sessions, leave), asked once for
    the whole period per expert and cut at month boundaries here."""
    period = scope.period
    experts = list(scope.experts())
    booked = _booked_spans(experts, period)
    loads = []
    for expert in experts:
        offered = working_spans(expert, period.start, period.end)
        months = tuple(
            Load(_hours_within(offered, *period.bounds(i)), _hours_within(booked.get(expert.pk, []), *period.bounds(i)))
            for i in range(len(period.months))
        )
        loads.append(ExpertLoad(expert, months))
    # Busiest first; experts who held no consult hours at all go last.
    return sorted(loads, key=lambda load: (load.overall.percent is None, -(load.overall.percent or 0), str(load.expert)))


# --- Chart geometry (drawn as SVG by the template) ------------------------------------------------

def stacked_month_bars(table: MonthlyTable, *, height: int = 80, bar_width: int = 8, gap: int = 2) -> dict:
    """One bar per month, stacked by series, scaled to the busiest month."""
    totals = table.month_totals
    peak = max(totals, default=0) or 1
    bars = []
    for index, month in enumerate(table.months):
        y = float(height)
        rects = []
        for series in table.series:
            count = series.counts[index]
            h = round(count / peak * height, 2)
            if h:
                y -= h
                rects.append({"css": series.css, "y": round(y, 2), "height": h, "title": f"{month:%Y-%m} · {series.label}: {count}"})
        bars.append({"month": month, "total": totals[index], "x": index * (bar_width + gap), "rects": rects})
    return _frame(bars, table.months, height=height, bar_width=bar_width, width=len(table.months) * (bar_width + gap), peak=max(totals, default=0))


def _frame(bars: list[dict], months: tuple[date, ...], *, height: int, bar_width: int, width: int, peak: float) -> dict:
    return {
        "bars": bars,
        "width": width,
        "height": height,
        "bar_width": bar_width,
        "peak": peak,
        "first": months[0] if months else None,
        "last": months[-1] if months else None,
    }


DURATION_SERIES = (
    ("request_to_booking", "median", "rb-median"),
    ("request_to_booking", "p90", "rb-p90"),
    ("booking_to_opinion", "median", "bo-median"),
    ("booking_to_opinion", "p90", "bo-p90"),
)


def in_hours(hours: float) -> str:
    return _("%(hours)s h") % {"hours": hours}


def duration_bars(
    spans: dict[str, Durations], months: tuple[date, ...], *, series=DURATION_SERIES, shown: Callable[[float], str] = in_hours,
    height: int = 80, bar_width: int = 3, gap: int = 4,
) -> dict:
    """Per month a group of bars, one per (measure, statistic) of `series`: by default the median and
    90th percentile of both consult durations; the read turnaround chart passes its own series, and
    shows its durations as the table beside it does (`shown`)."""
    values = [[getattr(spans[measure].months[i], stat) for measure, stat, _css in series] for i in range(len(months))]
    peak = max((v for group in values for v in group if v is not None), default=0)
    scale = height / peak if peak > 0 else 0
    group_width = len(series) * bar_width + gap
    bars = []
    for index, month in enumerate(months):
        rects = []
        for offset, ((measure, stat, css), value) in enumerate(zip(series, values[index])):
            if value is None or value <= 0:
                continue
            h = round(value * scale, 2)
            title = _("%(month)s · %(measure)s, %(stat)s: %(duration)s") % {
                "month": f"{month:%Y-%m}", "measure": spans[measure].label, "stat": _("median") if stat == "median" else _("90th percentile"), "duration": shown(value)
            }
            rects.append({"css": css, "x": index * group_width + offset * bar_width, "y": round(height - h, 2), "height": h, "title": title})
        bars.append({"month": month, "rects": rects})
    chart = _frame(bars, months, height=height, bar_width=bar_width, width=len(months) * group_width, peak=peak)
    chart["peak_shown"] = shown(peak)
    return chart


def utilisation_bars(loads: list[ExpertLoad]) -> list[dict]:
    """One horizontal bar per expert on a 0–100 scale; over 100 % (booked beyond the consult hours) is capped and flagged."""
    rows = []
    for load in loads:
        overall = load.overall
        percent = overall.percent
        rows.append({
            "expert": load.expert,
            "load": overall,
            "percent": percent,
            "width": min(percent, 100.0) if percent is not None else 0,
            "over": percent is not None and percent > 100,
        })
    return rows


# --- The page and the exports ---------------------------------------------------------------------

def page_figures(scope: Scope) -> dict:
    tables = monthly_tables(scope)
    spans = durations(scope)
    loads = utilisation(scope)
    return {
        "period": scope.period,
        "tables": tables,
        "total": tables["specialty"].total,
        "specialty_chart": stacked_month_bars(tables["specialty"]),
        "measures": [spans[measure] for measure in MEASURES],
        "duration_rows": [{"month": month, "spreads": [spans[m].months[i] for m in MEASURES]} for i, month in enumerate(scope.period.months)],
        "duration_overall": [spans[m].overall for m in MEASURES],
        "duration_chart": duration_bars(spans, scope.period.months),
        "loads": loads,
        "utilisation_bars": utilisation_bars(loads),
    }


EXPORT_COLUMNS = {
    "monthly": ("month", "breakdown", "key", "name", "consults"),
    "durations": ("month", "measure", "consults", "median_hours", "p90_hours"),
    "utilisation": ("expert_id", "expert", "month", "offered_hours", "booked_hours", "utilisation_percent"),
    # Remote reads' turnaround (imaging/statistics.py), in the same export as the consults'.
    "reads": ("month", "breakdown", "key", "name", "requested", "measure", "reads", "median_hours", "p90_hours"),
}
EXPORT_TABLES = tuple(EXPORT_COLUMNS)
ALL_MONTHS = "all"  # the month column of a row that sums up the whole period


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def _text(value: str) -> str:
    """A name as a spreadsheet cell: one starting like a formula (=, +, -, @) is quoted, so an
    institution called "=HYPERLINK(…)" stays text when the file is opened."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


def _monthly_rows(scope: Scope) -> Iterator[dict]:
    for breakdown, table in monthly_tables(scope).items():
        for series in table.series:
            for month, count in zip(table.months, series.counts):
                yield {"month": f"{month:%Y-%m}", "breakdown": breakdown, "key": series.key, "name": _text(series.label), "consults": count}


def _duration_rows(scope: Scope) -> Iterator[dict]:
    for measure, result in durations(scope).items():
        labelled = [(f"{month:%Y-%m}", s) for month, s in zip(scope.period.months, result.months)] + [(ALL_MONTHS, result.overall)]
        for month, s in labelled:
            yield {"month": month, "measure": measure, "consults": s.count, "median_hours": _blank(s.median), "p90_hours": _blank(s.p90)}


def _utilisation_rows(scope: Scope) -> Iterator[dict]:
    for load in utilisation(scope):
        labelled = [(f"{month:%Y-%m}", m) for month, m in zip(scope.period.months, load.months)] + [(ALL_MONTHS, load.overall)]
        for month, m in labelled:
            yield {
                "expert_id": str(load.expert.pk), "expert": _text(str(load.expert)), "month": month,
                "offered_hours": m.offered_hours, "booked_hours": m.booked_hours, "utilisation_percent": _blank(m.percent),
            }


def _read_rows(scope: Scope) -> Iterator[dict]:
    from imaging.statistics import export_rows

    return export_rows(scope)


_EXPORT_ROWS = {"monthly": _monthly_rows, "durations": _duration_rows, "utilisation": _utilisation_rows, "reads": _read_rows}


def export_rows(table: str, scope: Scope) -> list[dict]:
    """One table's rows, as the CSV and the API give them."""
    return list(_EXPORT_ROWS[table](scope))


def export_csv(table: str, scope: Scope) -> str:
    """One table as CSV, UTF-8 with a byte-order mark so spreadsheet programs read Chinese names."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS[table])
    writer.writeheader()
    writer.writerows(export_rows(table, scope))
    return buffer.getvalue()
