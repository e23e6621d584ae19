"""Reading the audit trail: filtering, a per-day summary for the chart, and exports."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from telemed.audit.chain import SEALED_FIELDS
from telemed.audit.models import AuditEvent, Outcome

EXPORT_FIELDS = (*SEALED_FIELDS, "hash")


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def events_filter(events: QuerySet[AuditEvent], filters: dict) -> QuerySet[AuditEvent]:
    if filters.get("action"):
        events = events.filter(action__startswith=filters["action"])
    if filters.get("username"):
        events = events.filter(actor_username__iexact=filters["username"])
    if filters.get("patient"):
        events = events.filter(patient_id=filters["patient"])
    if filters.get("outcome"):
        events = events.filter(outcome=filters["outcome"])
    if filters.get("since"):
        events = events.filter(occurred_at__gte=_day_start(filters["since"]))
    if filters.get("until"):
        events = events.filter(occurred_at__lt=_day_start(filters["until"] + timedelta(days=1)))
    return events


def events_per_day(events: QuerySet[AuditEvent], *, days: int = 30) -> list[dict]:
    """Counts per local day and outcome for the last `days` days, oldest first, gaps filled."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    rows = (
        events.filter(occurred_at__gte=_day_start(first))
        .annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "outcome")
        .annotate(n=Count("seq"))
    )
    table = {first + timedelta(days=i): {o: 0 for o in Outcome.values} for i in range(days)}
    for row in rows:
        if row["day"] in table:
            table[row["day"]][row["outcome"]] = row["n"]
    return [{"day": day, **counts, "total": sum(counts.values())} for day, counts in table.items()]


def stacked_bars(per_day: list[dict], *, height: int = 80, bar_width: int = 8, gap: int = 2) -> dict:
    """Geometry of a stacked bar chart (success, denied, failed) for a server-drawn SVG."""
    peak = max((day["total"] for day in per_day), default=0) or 1
    bars = []
    for index, day in enumerate(per_day):
        y = float(height)
        rects = []
        for outcome in (Outcome.SUCCESS, Outcome.DENIED, Outcome.FAILED):
            h = round(day[outcome] / peak * height, 2)
            if h:
                y -= h
                rects.append({"outcome": outcome, "y": round(y, 2), "height": h})
        bars.append({"day": day["day"], "total": day["total"], "x": index * (bar_width + gap), "rects": rects})
    return {
        "bars": bars,
        "width": len(per_day) * (bar_width + gap),
        "height": height,
        "bar_width": bar_width,
        "peak": peak if any(day["total"] for day in per_day) else 0,
        "first": per_day[0]["day"] if per_day else None,
        "last": per_day[-1]["day"] if per_day else None,
    }


def _export_row(event: dict) -> dict:
    row = {name: event[name] for name in EXPORT_FIELDS}
    row["occurred_at"] = event["occurred_at"].isoformat(timespec="milliseconds")
    for name in ("actor_id", "institution_id", "patient_id"):
        row[name] = str(row[name]) if row[name] else ""
    return row


def _rows(events: QuerySet[AuditEvent]) -> Iterator[dict]:
    for event in events.order_by("seq").values(*EXPORT_FIELDS).iterator(chunk_size=2000):
        yield _export_row(event)


def export_csv(events: QuerySet[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    buffer.write("\ufeff")  # lets spreadsheet programs read the Chinese names as UTF-8
    writer.writeheader()
    for row in _rows(events):
        row["detail"] = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
        writer.writerow(row)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_json(events: QuerySet[AuditEvent]) -> Iterator[str]:
    yield "["
    for index, row in enumerate(_rows(events)):
        yield ("," if index else "") + json.dumps(row, ensure_ascii=False, sort_keys=True)
    yield "]\n"
