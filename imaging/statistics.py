"""Turnaround of remote reads, for the coordinators' statistics page, its CSV and the API.

Shaped like the consult statistics (consults/statistics.py), whose scope, months and spreads it
reuses: a read belongs to the local month of its request, in the reader's time zone; two
durations are measured from the request, to the first assignment and to the final signature
(after verification, where the hospital requires it), as median and 90th percentile in hours,
per month and by hospital, modality and urgency. A read takes minutes where a consult takes
days, so its hours keep three digits (4 s) and the page shows them as h:mm.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext_lazy

from consults.models import Urgency
from consults.statistics import ALL_MONTHS, Durations, Scope, _blank, _text, duration_bars, spread
from imaging.models import ReadRequest

# Each measure's label, and what its count counts: the reads that got that far (a read requested
# and not yet assigned has no time to assignment), so the tables say it beside the reads requested.
MEASURES = {
    "request_to_assignment": (gettext_lazy("Request to assignment"), gettext_lazy("Reads assigned")),
    "request_to_report": (gettext_lazy("Request to signed report"), gettext_lazy("Reports signed")),
}
# (column heading, section heading) per breakdown
BREAKDOWNS = {
    "hospital": (gettext_lazy("Hospital"), gettext_lazy("By hospital")),
    "modality": (gettext_lazy("Modality"), gettext_lazy("By modality")),
    "urgency": (gettext_lazy("Urgency"), gettext_lazy("By urgency")),
}
CHART_SERIES = (
    ("request_to_assignment", "median", "ra-median"),
    ("request_to_assignment", "p90", "ra-p90"),
    ("request_to_report", "median", "rs-median"),
    ("request_to_report", "p90", "rs-p90"),
)
NO_MODALITY = "—"
HOURS_DIGITS = 3


def hours_minutes(hours: float | None) -> str | None:
    """A turnaround in hours as h:mm ("0:02" for two minutes, where 0.0 h said nothing); None stays None."""
    if hours is None:
        return None
    minutes = round(hours * 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Group:
    """One hospital, modality or urgency: how many reads were asked, and their durations."""

    key: str
    label: str
    requested_months: tuple[int, ...]
    durations: dict[str, Durations]

    @property
    def requested(self) -> int:
        return sum(self.requested_months)


def _rows(scope: Scope) -> list[tuple]:
    return list(
        ReadRequest.objects.filter(hospital__in=scope.hospitals, created_at__gte=scope.period.start, created_at__lt=scope.period.end)
        .values_list("created_at", "assigned_at", "signed_at", "hospital_id", "hospital__name", "modality", "urgency")
        .order_by()
    )


def _hours(later, earlier) -> float:
    return (later - earlier).total_seconds() / 3600


def _group(scope: Scope, key: str, label: str, rows: list[tuple]) -> Group:
    width = len(scope.period.months)
    samples = {measure: [[] for _month in range(width)] for measure in MEASURES}
    requested = [0] * width
    for created, assigned, signed, *_rest in rows:
        index = scope.period.index_of(created)
        if index is None:
            continue
        requested[index] += 1
        if assigned is not None:
            samples["request_to_assignment"][index].append(_hours(assigned, created))
        if signed is not None:
            samples["request_to_report"][index].append(_hours(signed, created))
    durations = {
        measure: Durations(
            measure, str(MEASURES[measure][0]), tuple(spread(s, digits=HOURS_DIGITS) for s in per_month), spread([h for s in per_month for h in s], digits=HOURS_DIGITS),
        )
        for measure, per_month in samples.items()
    }
    return Group(key, label, tuple(requested), durations)


def _key(breakdown: str, row: tuple) -> tuple[str, str]:
    _created, _assigned, _signed, hospital_id, hospital_name, modality, urgency = row
    if breakdown == "hospital":
        return str(hospital_id), hospital_name
    if breakdown == "modality":
        return modality or NO_MODALITY, modality or NO_MODALITY
    return urgency, str(Urgency(urgency).label) if urgency in Urgency.values else urgency


def turnaround(scope: Scope) -> dict:
    """Every read of the scope together, and by hospital, modality and urgency."""
    rows = _rows(scope)
    by: dict[str, list[Group]] = {}
    for breakdown in BREAKDOWNS:
        grouped: dict[str, tuple[str, list]] = {}
        for row in rows:
            key, label = _key(breakdown, row)
            grouped.setdefault(key, (label, []))[1].append(row)
        order = list(Urgency.values) if breakdown == "urgency" else None
        keys = sorted(grouped, key=lambda k: (order.index(k) if order and k in order else 99, grouped[k][0]))
        by[breakdown] = [_group(scope, key, grouped[key][0], grouped[key][1]) for key in keys]
    return {"all": _group(scope, "all", "", rows), "by": by}


def page_figures(scope: Scope) -> dict:
    figures = turnaround(scope)
    overall = figures["all"]
    months = scope.period.months
    return {
        "requested": overall.requested,
        "measures": [overall.durations[m] for m in MEASURES],
        "counted": [counted for _label, counted in MEASURES.values()],
        "rows": [
            {"month": month, "requested": overall.requested_months[i], "spreads": [overall.durations[m].months[i] for m in MEASURES]}
            for i, month in enumerate(months)
        ],
        "overall": [overall.durations[m].overall for m in MEASURES],
        "chart": duration_bars(overall.durations, months, series=CHART_SERIES, shown=hours_minutes),
        "breakdowns": [
            {"key": key, "label": label, "heading": heading, "groups": [{"group": g, "spreads": [g.durations[m].overall for m in MEASURES]} for g in figures["by"][key]]}
            for key, (label, heading) in BREAKDOWNS.items()
        ],
    }


def _spread_rows(scope: Scope, breakdown: str, group: Group) -> Iterator[dict]:
    """Per measure, a row per month and one for the whole period, each with the reads requested
    then (the page's Requested column) beside the reads the measure counts."""
    for measure, result in group.durations.items():
        labelled = [(f"{month:%Y-%m}", requested, s) for month, requested, s in zip(scope.period.months, group.requested_months, result.months)]
        for month, requested, s in [*labelled, (ALL_MONTHS, group.requested, result.overall)]:
            yield {
                "month": month, "breakdown": breakdown, "key": group.key, "name": _text(group.label), "requested": requested, "measure": measure,
                "reads": s.count, "median_hours": _blank(s.median), "p90_hours": _blank(s.p90),
            }


def export_rows(scope: Scope) -> Iterator[dict]:
    """Per month and for the whole period: all reads, then by hospital, modality and urgency; the
    columns are `consults.statistics.EXPORT_COLUMNS["reads"]`."""
    figures = turnaround(scope)
    yield from _spread_rows(scope, "all", figures["all"])
    for breakdown, groups in figures["by"].items():
        for group in groups:
            yield from _spread_rows(scope, breakdown, group)
