"""QIDO-RS matching (PS3.18 8.3.4) as querysets over the archive's index.

Every query starts from the studies the user may see, or from one study: for series, named by
its UID, the caller settling access on the study row read with the answer; for instances, a
study the caller has already read and checked.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from functools import reduce
from urllib.parse import quote

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import QueryDict
from django.utils.translation import gettext as _
from pydicom.datadict import tag_for_keyword

from imaging.dicom.header import NAME_GROUPS, is_date, is_time, matchable_name
from imaging.models import Instance, Series, Study
from telemed.compiled import CompiledQuery

# Query parameters that are not matching keys; the three flags ask for kinds of matching this
# archive does not do, which PS3.18 8.3.4.2, 8.3.4.5 and 8.3.4.6 answer with a Warning, not a 400.
FLAGS = {
    "fuzzymatching": "The fuzzymatching parameter is not supported. Only literal matching has been performed.",
    "emptyvaluematching": "The emptyvaluematching parameter is not supported. Empty Value Matching has not been performed.",
    "multiplevaluematching": "The multiplevaluematching parameter is not supported. Multiple Value Matching has not been performed.",
}
CONTROL = {"limit", "offset", "includefield", *FLAGS}
MAX_LIMIT = 1000
MAX_OFFSET = 2**63 - 1  # the largest OFFSET PostgreSQL and SQLite take
IS_RANGE = (-(2**31), 2**31 - 1)  # an Integer String's values (PS3.5 6.2), and the column's

# Matching keys by level: keyword → (path from the level's model, kind of matching).
STUDY_KEYS = {
    "PatientID": ("dicom_patient_id", "text"),
    "PatientName": ("patient_name", "name groups"),
    "StudyDate": ("study_date", "date"),
    "StudyTime": ("study_time", "time"),
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
    filters: dict[str, str] = field(default_factory=dict)  # keyword → value, checked by parse
    limit: int = MAX_LIMIT
    offset: int = 0
    include: set[str] = field(default_factory=set)  # tags as 8 upper-case hex digits
    include_all: bool = False  # includefield=all
    # PS3.18 8.3: parameters this archive does not support are ignored and named in a Warning
    # (English and ASCII: an HTTP header, read by programs).
    warnings: list[str] = field(default_factory=list)

    @property
    def wants_header(self) -> bool:
        """Whether the answer needs each instance's stored header (it is large: read only then)."""
        return self.include_all or bool(self.include)


def _keyword(name: str) -> str:
    """A keyword for a keyword or an 8-digit tag, as QIDO allows both."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        from pydicom.datadict import keyword_for_tag

        return keyword_for_tag(int(name, 16)) or name
    return name


def parse(params: QueryDict, *, keys: dict) -> Query:
    """The query, every value checked here, so that building the SQL cannot fail. Raises QueryError."""
    query = Query()
    ignored = []
    for name in params:
        values = params.getlist(name)
        if any("\x00" in value for value in values):
            raise QueryError(_("The value of '%(name)s' holds a NUL character, which no DICOM value has.") % {"name": name[:64]})
        if name in CONTROL or not name:  # Weasis sends "?&includefield=…"
            continue
        keyword = _keyword(name)
        if keyword not in keys:
            ignored.append(name)
            continue
        query.filters[keyword] = _checked(name, keys[keyword][1], values[-1])
    for flag, warning in FLAGS.items():
        if _flag(params, flag):
            query.warnings.append(warning)
    if ignored:
        names = ", ".join(quote(name[:64], safe="") for name in ignored[:20])
        query.warnings.append(f"The following query parameters are not supported and were ignored: {names}")
    _parse_include(params, query)
    query.limit = min(_integer(params, "limit", MAX_LIMIT), MAX_LIMIT)  # a larger limit is clamped, as PS3.18 8.3.4.4 allows
    query.offset = _integer(params, "offset", 0)
    if query.offset > MAX_OFFSET:
        raise QueryError(_("'%(name)s' must be a whole number from 0 to %(largest)d.") % {"name": "offset", "largest": MAX_OFFSET})
    return query


def _parse_include(params: QueryDict, query: Query) -> None:
    unknown = []
    for value in params.getlist("includefield"):
        for item in (item.strip() for item in value.split(",")):
            if item.lower() == "all":
                query.include_all = True
                continue
            tag = int(item, 16) if re.fullmatch(r"[0-9A-Fa-f]{8}", item) else tag_for_keyword(item)
            if tag is not None:
                query.include.add(f"{tag:08X}")
            elif item:
                unknown.append(item)
    if unknown:  # neither a tag nor a keyword: the sender should know why the attribute is absent
        names = ", ".join(quote(name[:64], safe="") for name in unknown[:20])
        query.warnings.append(f"The following includefield values are not DICOM attributes and were ignored: {names}")


def _flag(params: QueryDict, name: str) -> bool:
    value = params.get(name)
    if value in (None, "", "false"):
        return False
    if value != "true":
        raise QueryError(_("'%(name)s' must be true or false.") % {"name": name})
    return True


def _integer(params: QueryDict, name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isascii() or not raw.isdigit():
        raise QueryError(_("'%(name)s' must be a whole number.") % {"name": name})
    return int(raw) if len(raw) <= 20 else 10**20  # beyond any bound (and int() refuses thousands of digits)


DATE = r"\d{8}"
TIME = r"\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?"


def _checked(name: str, kind: str, value: str) -> str:
    """`value` as the matching of `kind` reads it, or QueryError naming the parameter and what it takes."""
    if value == "":
        return value  # universal matching
    if kind == "date" and not _is_range(value, DATE, is_date):
        raise QueryError(_(
            "'%(name)s' must be one date (YYYYMMDD) or one range of dates (YYYYMMDD-YYYYMMDD, either end may be left out); "
            "'%(value)s' is not, and a list of dates is not supported."
        ) % {"name": name[:64], "value": value[:64]})
    if kind == "time" and not _is_range(value, TIME, is_time):
        raise QueryError(_(
            "'%(name)s' must be one time (HH, HHMM, HHMMSS or HHMMSS.FFFFFF) or one range of times (such as 0930-1000, "
            "either end may be left out); '%(value)s' is not, and a list of times is not supported."
        ) % {"name": name[:64], "value": value[:64]})
    if kind == "number":
        # Leading and trailing spaces and a sign are allowed in an Integer String (PS3.5 6.2).
        number = value.strip()
        if not re.fullmatch(r"[+-]?\d{1,10}", number) or not IS_RANGE[0] <= int(number) <= IS_RANGE[1]:
            raise QueryError(_("'%(name)s' must be one whole number from %(low)d to %(high)d; '%(value)s' is not.") % {
                "name": name[:64], "value": value[:64], "low": IS_RANGE[0], "high": IS_RANGE[1],
            })
        return str(int(number))
    return value


def _is_range(value: str, one: str, valid) -> bool:
    """One value, or a range with either end left out; every value given is valid."""
    match = re.fullmatch(f"({one})?(-)?({one})?", value)
    if match is None or not (match[1] or match[3]) or (match[3] and not match[2]):
        return False
    return all(valid(part) for part in (match[1], match[3]) if part)


def _condition(path: str, kind: str, value: str) -> Q:
    """The condition for a value parse has checked."""
    if value == "":
        return Q()  # universal matching: the key is returned, not matched
    if kind == "series":  # a study with a matching series: a subquery, so no study comes twice
        return Q(pk__in=Series.objects.filter(_condition(path, "list", value)).values("study_id"))
    if kind == "uid":
        return Q(**{f"{path}__in": _listed(value)})
    if kind == "list":  # a code string: each listed value exact or with wild cards (PS3.4 C.2.2.2.4)
        exact = [v for v in _listed(value) if not _is_wild(v)]
        return reduce(operator.or_, (Q(**{f"{path}__regex": f"^{_pattern(v, '.')}$"}) for v in _listed(value) if _is_wild(v)), Q(**{f"{path}__in": exact}))
    if kind == "date":  # one date is compared whole: the indexed column holds nothing finer
        return _range_condition(path, value, str, str) if "-" in value else Q(**{path: value})
    if kind == "time":
        return _range_condition(path, value, _time_floor, _time_ceiling)
    if kind == "number":
        return Q(**{path: int(value)})
    if kind == "name groups":
        return _groups_condition(path, value)
    if kind == "name":  # only a person's name is matched without regard to case (PS3.4 C.2.2.2.1)
        return _name_condition(path, value)
    if _is_wild(value):
        return Q(**{f"{path}__regex": f"^{_pattern(value, '.')}$"})
    return Q(**{path: value})


def _listed(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,\\]", value) if v.strip()]


def _is_wild(value: str) -> bool:
    return "*" in value or "?" in value


def _pattern(value: str, any_character: str) -> str:
    """A DICOM wild card value (PS3.4 C.2.2.2.4) as a regular expression."""
    return "".join(f"{any_character}*" if c == "*" else any_character if c == "?" else re.escape(c) for c in value)


def _name_condition(path: str, value: str) -> Q:
    """A Person Name stored as one value ('Wang^XiaoDong=王^小东'), compared as a patient's name
    is (header.matchable_name): case ignored, and the empty components a sender may leave at a
    group's end. A value of one group matches any of the stored groups; a value of several
    matches each given group with its own (an empty one matches anything, and one at the end a
    stored name without that group too)."""
    given = value.split("=")
    while len(given) > 1 and not given[-1]:
        given.pop()
    groups = [f"{_pattern(matchable_name(group), '[^=]')}[ ^]*" if group else "[^=]*" for group in given]
    start = "^" if "=" in value else "^(.*=)?"
    return Q(**{f"{path}__iregex": start + "=".join(groups) + "(=.*)?$"})


def _groups_condition(path: str, value: str) -> Q:
    """A patient's name by its indexed component groups (`path`_alphabetic, …): a value of one
    group matches any of them ('王*' the ideographic, 'Wang*' the alphabetic); a value of several
    ('Wang^XiaoDong=王^小东') matches each given group with its own."""
    given = value.split("=")
    if len(given) == 1:
        return reduce(operator.or_, (_group_condition(f"{path}_{group}", value) for group in NAME_GROUPS))
    return reduce(operator.and_, (_group_condition(f"{path}_{group}", v) for group, v in zip(NAME_GROUPS, given) if v), Q())


def _group_condition(column: str, value: str) -> Q:
    """One group, compared as stored (header.matchable_name): a value without wild cards by
    equality, one with wild cards by the literal text before the first (a range of the column's
    index) and then by pattern."""
    value = matchable_name(value)
    if not _is_wild(value):
        return Q(**{column: value})
    condition = Q(**{f"{column}__regex": f"^{_pattern(value, '.')}$"})
    prefix = re.split(r"[*?]", value, maxsplit=1)[0]
    return Q(**{f"{column}__startswith": prefix}) & condition if prefix else condition


def _range_condition(path: str, value: str, floor, ceiling) -> Q:
    """One value or a range (PS3.4 C.2.2.2.5) compared as text: dates and times written as
    DICOM writes them sort as they follow each other. A range leaves out rows without a value."""
    start, dash, end = value.partition("-")
    if not dash:
        end = start
    condition = ~Q(**{path: ""})
    if start:
        condition &= Q(**{f"{path}__gte": floor(start)})
    if end:
        condition &= Q(**{f"{path}__lte": ceiling(end)})
    return condition


def _time_floor(value: str) -> str:
    """The earliest stored time a bound can mean: '093000' matches a stored '0930' too."""
    whole, _dot, fraction = value.partition(".")
    if fraction.strip("0"):
        return f"{whole}.{fraction.rstrip('0')}"
    while len(whole) > 2 and whole.endswith("00"):
        whole = whole[:-2]
    return whole


def _time_ceiling(value: str) -> str:
    """The latest stored time a bound can mean: '1000' is any time in that minute."""
    whole, _dot, fraction = value.partition(".")
    return whole + "5959"[len(whole) - 2:] + "." + fraction.ljust(6, "9")


def _date_time_condition(date_path: str, time_path: str, dates: str, times: str) -> Q:
    """A date and a time asked for together, matched as one date-time range (PS3.4 C.2.2.2.5.1):
    20060705-20060707 with 1000-1800 is from ten on 5 July to six on 7 July, not ten to six on
    each day. A one-value date is a range of one day, so one day's times match as they would alone."""
    first_day, dash, last_day = dates.partition("-")
    last_day = last_day if dash else first_day
    start, dash, end = times.partition("-")
    end = end if dash else start
    condition = ~Q(**{date_path: ""})
    if first_day:
        condition &= _date_time_bound(date_path, time_path, first_day, start and _time_floor(start), beyond="gt", within="gte")
    if last_day:
        condition &= _date_time_bound(date_path, time_path, last_day, end and _time_ceiling(end), beyond="lt", within="lte")
    return condition


def _date_time_bound(date_path: str, time_path: str, day: str, time: str, *, beyond: str, within: str) -> Q:
    """One end of a date-time range: a day past it, or its own day within its time (the whole
    day when no time is given)."""
    if not time:
        return Q(**{f"{date_path}__{within}": day})
    return Q(**{f"{date_path}__{beyond}": day}) | Q(**{date_path: day, f"{time_path}__{within}": time})


# A date key and the time key that completes it into one date-time.
DATE_TIME_PAIRS = {"StudyDate": "StudyTime"}


def _matching(query: Query, keys: dict, prefix: str = "") -> Q:
    condition = Q()
    paired = {d: t for d, t in DATE_TIME_PAIRS.items() if d in keys and query.filters.get(d) and query.filters.get(t)}
    for date_key, time_key in paired.items():
        condition &= _date_time_condition(prefix + keys[date_key][0], prefix + keys[time_key][0], query.filters[date_key], query.filters[time_key])
    for keyword, value in query.filters.items():
        if keyword in keys and keyword not in paired and keyword not in paired.values():
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
    if not query.wants_header:  # the stored header is needed only for includefield
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


def first_headers(rows: list[Study] | list[Series]) -> dict:
    """The stored header of the first instance (by number) of each study or series in `rows`,
    by the row's key: where a search answer finds the attributes includefield names that the
    index does not hold. One query for the whole answer."""
    if not rows:
        return {}
    owner = "series__study" if isinstance(rows[0], Study) else "series"
    first = Instance.objects.filter(**{owner: OuterRef("pk")}).order_by("instance_number", "sop_instance_uid").values("pk")[:1]
    firsts = type(rows[0]).objects.filter(pk__in=[row.pk for row in rows]).annotate(first=Subquery(first)).values("first")
    return dict(Instance.objects.filter(pk__in=firsts).values_list(f"{owner}_id", "metadata"))


def keys_for(level: str) -> dict:
    return {"study": STUDY_KEYS, "series": {**SERIES_KEYS, **_STUDY_KEYS_BELOW}, "instance": {**INSTANCE_KEYS, **SERIES_KEYS, **_STUDY_KEYS_BELOW}}[level]
