"""Querysets of a fixed shape whose SQL Django builds once per process.

Django builds a queryset's SQL afresh each time it is evaluated: it resolves the lookups, the
joins of `select_related`, the columns and the ordering. For the few lookups that a viewer or
an archive client makes at every request (an instance by its three UIDs, one request for each
frame and image), building the queryset and its SQL took 0.46 ms of the 0.87 ms the whole
lookup cost; compiled once, the lookup costs 0.19 ms.

`CompiledQuery` has Django build the SQL once, from stand-in values whose places among the
parameters it notes, and from then on runs that SQL with the values given, prepared on
PostgreSQL (its server then plans it once per connection: the series of a study cost the
server 200 µs a run planned afresh, 77 µs prepared). Rows become models through Django's own
`ModelIterable`, exactly as the queryset's would.
"""
from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable
from django.db.models.sql.compiler import SQLCompiler


STAND_IN_UUIDS = 0x5354414E_442D494E << 64  # "STAND-IN": the UUIDs a query with UUID values is compiled with


@dataclass(frozen=True)
class _Compiled:
    compiler: SQLCompiler  # after as_sql: its select and klass_info say how rows become models
    sql: str
    params: tuple
    places: tuple[int, ...]  # where each value goes among `params`
    as_hex: bool = False  # UUID values go as their hex (a database without a UUID type: SQLite)


class _Prepared:
    """What `ModelIterable` reads of a queryset, with the compiled SQL as its query's."""

    _known_related_objects: dict = {}

    def __init__(self, model: type[Model], db: str, compiler: SQLCompiler) -> None:
        self.model, self.db, self.query, self._compiler = model, db, self, compiler

    def get_compiler(self, using: str | None = None) -> SQLCompiler:
        return self._compiler


class CompiledQuery:
    """`build(*values)` → a queryset whose shape depends on how many values there are, not on
    what they are (strings, each compared once: `filter(uid=value)`, `filter(uid__in=values)`;
    with `uuids`, UUIDs compared with UUID fields: `filter(pk__in=ids)`); calling this runs it for
    `values`. Each shape is compiled at its first call, for the database the queryset reads from
    then; past `SHAPES_KEPT` shapes, the queryset is run as it is."""

    SHAPES_KEPT = 64

    def __init__(self, build: Callable[..., QuerySet], *, uuids: bool = False) -> None:
        self._build, self._uuids = build, uuids
        self._compiled: dict[int, _Compiled] = {}  # by the number of values
        self._lock = threading.Lock()

    def __call__(self, *values: str) -> list[Model]:
        compiled = self._compiled.get(len(values)) or self._compile(len(values))
        if compiled is None:
            return list(self._build(*values))
        compiler = self._compiler(compiled)
        params = self._params(compiled, values)
        compiler.execute_sql = lambda *args, **kwargs: [_rows(compiler, compiled.sql, params)]
        return list(ModelIterable(_Prepared(compiler.query.model, compiler.using, compiler)))

    def statement(self, *values: str) -> tuple[str, tuple]:
        """The SQL and parameters of a call, to be run with other statements (telemed/together.py);
        `models` makes the rows it returned into models."""
        compiled = self._shape(len(values))
        return compiled.sql, self._params(compiled, values)

    def models(self, rows: list[tuple], *values: str) -> list[Model]:
        """The models of the rows that `statement(*values)` returned, as a call would make them."""
        compiler = self._compiler(self._shape(len(values)))
        compiler.execute_sql = lambda *args, **kwargs: [rows]  # one chunk, already fetched
        return list(ModelIterable(_Prepared(compiler.query.model, compiler.using, compiler)))

    def _shape(self, count: int) -> _Compiled:
        """Compiled for `count` values, and kept if there is room."""
        return self._compiled.get(count) or self._compile(count) or self._compiled_now(count)

    @staticmethod
    def _params(compiled: _Compiled, values: tuple[str, ...]) -> tuple:
        params = list(compiled.params)
        for place, value in zip(compiled.places, values, strict=True):
            params[place] = value.hex if compiled.as_hex else value
        return tuple(params)

    @staticmethod
    def _compiler(compiled: _Compiled) -> SQLCompiler:
        compiler = copy.copy(compiled.compiler)
        compiler.connection = connections[compiler.using]  # this thread's connection
        # How the connection converts the columns read: the same at every run, and asking every
        # column's field for them took Django 16 µs a run. Kept on the connection itself: they
        # hold it (the backend's converters are its methods), so a table of them kept anywhere
        # else kept every thread's connection open after the thread had ended.
        kept = compiler.connection.__dict__.setdefault("compiled_converters", {})
        converters = kept.get(compiled.sql)  # the same text reads the same columns
        if converters is None:
            columns = [column for column, _sql, _alias in compiler.select[:compiler.col_count]]
            converters = kept[compiled.sql] = compiler.get_converters(columns)
        compiler.get_converters = lambda expressions: converters
        return compiler

    def _compile(self, count: int) -> _Compiled | None:
        with self._lock:
            if count not in self._compiled:
                if len(self._compiled) >= self.SHAPES_KEPT:
                    return None
                self._compiled[count] = self._compiled_now(count)
            return self._compiled[count]

    def _compiled_now(self, count: int) -> _Compiled:
        if self._uuids:  # no key is one of these: uuid4 sets the variant bits (8 to b after the third dash)
            stand_ins: list = [uuid.UUID(int=STAND_IN_UUIDS + n) for n in range(count)]
        else:
            stand_ins = [f"\0stand-in {n}\0" for n in range(count)]  # no real value holds a NUL
        queryset = self._build(*stand_ins)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        params = list(params)
        as_hex = self._uuids and not compiler.connection.features.has_native_uuid_field
        placed = [s.hex if as_hex else s for s in stand_ins]
        if any(params.count(stand_in) != 1 for stand_in in placed):
            raise ValueError("a compiled query must use each of its values once, as a parameter")
        compiler.connection = None  # each run takes its own thread's (`_compiler`); this one's thread may end
        return _Compiled(compiler, sql, tuple(params), tuple(params.index(s) for s in placed), as_hex)

def _rows(compiler: SQLCompiler, sql: str, params: list) -> list[tuple]:
    """The rows of the compiled SQL, as `compiler.execute_sql()` reads them for `ModelIterable`:
    on PostgreSQL prepared, so that the server plans it once per connection and not at each run
    (telemed/postgres/base.py)."""
    connection = compiler.connection
    with getattr(connection, "prepared_cursor", connection.cursor)() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if compiler.has_extra_select:
        rows = [row[:compiler.col_count] for row in rows]
    return rows
