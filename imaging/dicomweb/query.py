"""QIDO-RS matching (PS3.18 8.3.4) as querysets over the archive's index.

Every query starts from the studies the user may see, or from one study: for series, named by
its UID, the caller settling access on the study row read with the answer; for instances, a
study the caller has already read and checked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext as _
from pydicom.datadict import tag_for_keyword

from imaging.models import Instance, Series, Study
from telemed.compiled import CompiledQuery

CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
MAX_LIMIT = 1000

# Matching keys by level: keyword → (path from the level's model, kind of matching).
STUDY_KEYS = {
    "PatientID": ("dicom_patient_id", "text"),
    "PatientName": ("dicom_patient_name", "name"),
    "StudyDate": ("study_date", "date"),
    "AccessionNumber": ("accession_number", "text"),
    "StudyID": ("study_id", "text"),
    "StudyInstanceUID": ("study_instance_uid", "uid"),
    "ReferringPhysicianName": ("referring_physician", "name"),
    "ModalitiesInStudy": ("modality", "series"),
}
SERIES_KEYS = {"Modality": ("modality", "list"), "SeriesInstanceUID": ("series_instance_uid", "uid"), "SeriesNumber": ("series_number", "number")}
# Study keys a series or instance query may also match on (Modality replaces ModalitiesInStudy).
_STUDY_KEYS_BELOW = {k: v for k, v in STUDY_KEYS.items() if k != "ModalitiesInStudy"}
INSTANCE_KEYS = {"SOPInstanceUID": ("sop_instance_uid", "uid"), "SOPClassUID": ("sop_class_uid", "uid"), "InstanceNumber": ("instance_number", "number")}


class QueryError(ValueError):
    """A query parameter this archive cannot match on or cannot read."""


@dataclass
class Query:
    filters: dict[str, str] = field(default_factory=dict)  # keyword → value
    limit: int = MAX_LIMIT
    offset: int = 0
    include: set[str] = field(default_factory=set)  # tags as 8 upper-case hex digits


def _keyword(name: str) -> str:
    """A keyword for a keyword or an 8-digit tag, as QIDO allows both."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        from pydicom.datadict import keyword_for_tag

        return keyword_for_tag(int(name, 16)) or name
    return name


def parse(params: QueryDict, *, keys: dict) -> Query:
    query = Query()
    for name in params:
        values = params.getlist(name)
        if name in CONTROL:
            continue
        keyword = _keyword(name)
        if keyword not in keys:
            raise QueryError(_("This search cannot match on '%(name)s' at this level.") % {"name": name[:64]})
        if any("\x00" in value for value in values):
            raise QueryError(_("The value of '%(name)s' holds a NUL character, which no DICOM value has.") % {"name": name[:64]})
        query.filters[keyword] = values[-1]
    for value in params.getlist("includefield"):
        for item in value.split(","):
            tag = tag_for_keyword(item.strip()) if not re.fullmatch(r"[0-9A-Fa-f]{8}", item.strip()) else int(item.strip(), 16)
            if tag is not None:
                query.include.add(f"{tag:08X}")
    query.limit, query.offset = _integer(params, "limit", MAX_LIMIT), _integer(params, "offset", 0)
    query.limit = min(query.limit, MAX_LIMIT)
    return query


def _integer(params: QueryDict, name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit():
        raise QueryError(_("'%(name)s' must be a whole number.") % {"name": name})
    return int(raw)


def _condition(path: str, kind: str, value: str) -> Q:
    if value == "":
        return Q()  # universal matching: the key is returned, not matched
    if kind == "series":  # a study with a matching series: a subquery, so no study comes twice
        return Q(pk__in=Series.objects.filter(_condition(path, "list", value)).values("study_id"))
    if kind in ("uid", "list"):
        return Q(**{f"{path}__in": [v.strip() for v in re.split(r"[,\\]", value) if v.strip()]})
    if kind == "date":
        return _date_condition(path, value)
    if kind == "number":
        if not value.lstrip("-").isdigit():
            raise QueryError(_("'%(value)s' is not a number.") % {"value": value[:64]})
        return Q(**{path: int(value)})
    if "*" in value or "?" in value:
        pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
        return Q(**{f"{path}__iregex": f"^{pattern}$"})
    return Q(**{f"{path}__iexact" if kind == "name" else path: value})


def _date_condition(path: str, value: str) -> Q:
    if not re.fullmatch(r"\d{8}|\d{8}-|-\d{8}|\d{8}-\d{8}", value):
        raise QueryError(_("'%(value)s' is not a date (YYYYMMDD) or a range of dates (YYYYMMDD-YYYYMMDD).") % {"value": value[:64]})
    if "-" not in value:
        return Q(**{path: value})
    start, end = value.split("-")
    condition = ~Q(**{path: ""})
    if start:
        condition &= Q(**{f"{path}__gte": start})
    if end:
        condition &= Q(**{f"{path}__lte": end})
    return condition


def _matching(query: Query, keys: dict, prefix: str = "") -> Q:
    condition = Q()
    for keyword, value in query.filters.items():
        if keyword in keys:
            path, kind = keys[keyword]
            condition &= _condition(prefix + path, kind, value)
    return condition


def studies(visible: QuerySet[Study], query: Query) -> list[Study]:
    found = visible.filter(_matching(query, STUDY_KEYS)).order_by("-study_date", "study_instance_uid")
    return list(found[query.offset:query.offset + query.limit])


def _under(scope: QuerySet[Study] | Study | str, path: str) -> Q:
    """Rows below `scope`: the studies the user may see, one study whose access is settled, or
    the study of a Study Instance UID, whose access the caller settles on the study read with
    the rows."""
    if isinstance(scope, str):
        return Q(**{f"{path}__study_instance_uid": scope})
    return Q(**{path: scope}) if isinstance(scope, Study) else Q(**{f"{path}__in": scope})


def series(scope: QuerySet[Study] | str, query: Query) -> list[Series]:
    """The matching series under `scope`, each with its study read in the same query (a study has
    a few series, so its row is built a few times); below one study (its UID), ordered by number.
    All the series of one study, what a viewer asks for as it opens a study, by SQL built once."""
    if isinstance(scope, str) and query == Query():
        return _all_series_of_study(scope)
    return list(_series(scope, query))


def _series(scope: QuerySet[Study] | str, query: Query) -> QuerySet[Series]:
    one = isinstance(scope, str)
    condition = _matching(query, SERIES_KEYS) & _matching(query, _STUDY_KEYS_BELOW, "study__")
    found = Series.objects.filter(_under(scope, "study")).filter(condition).select_related("study")
    order = ("series_number", "series_instance_uid") if one else ("study__study_instance_uid", "series_number", "series_instance_uid")
    return found.order_by(*order)[query.offset:query.offset + query.limit]


_all_series_of_study = CompiledQuery(lambda study_uid: _series(study_uid, Query()))


def instances(scope: QuerySet[Study] | Study, query: Query, *, series_uid: str | None = None) -> list[Instance]:
    """The matching instances under `scope`, each with its series and study. Below one study,
    the caller reads and checks the study first: read with every instance, its row would be
    built 125 times for a 125-slice series (2.7 ms more than the query it saves)."""
    one = isinstance(scope, Study)
    found = Instance.objects.filter(_under(scope, "series__study")).select_related("series" if one else "series__study")
    if not query.include:  # the stored header is needed only for includefield
        found = found.defer("metadata")
    if series_uid:
        found = found.filter(series__series_instance_uid=series_uid)
    found = found.filter(_matching(query, INSTANCE_KEYS) & _matching(query, SERIES_KEYS, "series__") & _matching(query, _STUDY_KEYS_BELOW, "series__study__"))
    order = ("series__series_instance_uid", "instance_number", "sop_instance_uid")
    rows = list(found.order_by(*order if one else ("series__study__study_instance_uid", *order))[query.offset:query.offset + query.limit])
    if one:
        for row in rows:
            row.series.study = scope
    return rows


def keys_for(level: str) -> dict:
    return {"study": STUDY_KEYS, "series": {**SERIES_KEYS, **_STUDY_KEYS_BELOW}, "instance": {**INSTANCE_KEYS, **SERIES_KEYS, **_STUDY_KEYS_BELOW}}[level]
