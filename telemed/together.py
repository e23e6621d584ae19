"""Several SQL statements in one round trip to the database.

A STOW-RS request of one instance made twelve round trips inside its transaction, each a
statement Django sent, waited for and read back; the server's CPU went as much to the trips as
to the statements. On PostgreSQL, statements joined by semicolons travel as one simple query
(Django's psycopg cursor binds parameters on the client, so they may hold parameters) and come
back as one result each; each statement still runs on its own, in order, and in READ COMMITTED
with a snapshot of its own, exactly as if it had been sent alone. SQLite takes them one by one.
"""
from __future__ import annotations

from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Model
from django.db.models.sql import InsertQuery
from psycopg.pq import ExecStatus

Statement = tuple[str, Sequence]  # SQL with %s placeholders, and its parameters


def run_together(statements: Sequence[Statement], *, using: str = DEFAULT_DB_ALIAS) -> list[list[tuple]]:
    """Run `statements` in order, in one round trip where the database allows; the rows each
    returned (none for a statement that returns none). A failing statement raises, and those
    after it do not run."""
    connection = connections[using]
    results: list[list[tuple]] = []
    if not statements:
        return results
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            for sql, params in statements:
                cursor.execute(sql, params)
                results.append(cursor.fetchall() if cursor.description else [])
            return results
        cursor.execute("; ".join(sql for sql, _params in statements), [value for _sql, params in statements for value in params])
        raw = cursor.cursor  # psycopg's: its description builds a column object per column, each time
        for n in range(len(statements)):
            if n:
                raw.nextset()
            results.append(raw.fetchall() if raw.pgresult.status == ExecStatus.TUPLES_OK else [])
    return results


def update_statement(row: Model, fields: Sequence[str]) -> Statement:
    """The UPDATE of these fields of `row`, by its key, as `row.save(update_fields=fields)` writes
    them (without its signals and auto_now fields, as QuerySet.update)."""
    meta = row._meta
    connection = connections[router.db_for_write(type(row))]
    qn, columns = connection.ops.quote_name, [meta.get_field(name) for name in fields]
    return (
        f"UPDATE {qn(meta.db_table)} SET {', '.join(f'{qn(f.column)} = %s' for f in columns)} WHERE {qn(meta.pk.column)} = %s",
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in columns] + [meta.pk.get_db_prep_value(row.pk, connection)],
    )


def insert_statements(rows: Sequence[Model]) -> list[Statement]:
    """The INSERTs of these new rows of one model, as `bulk_create` writes them (auto_now_add
    fields set, no signals); `inserted` marks the rows saved once they ran. Only for a model whose
    key the row holds before it is saved (a UUID made by the model): nothing is read back."""
    if not rows:
        return []
    model, using = type(rows[0]), router.db_for_write(type(rows[0]))
    if any(row.pk is None for row in rows):
        raise ValueError(f"a {model.__name__} without its key cannot be inserted with other statements")
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    batch = max(connections[using].ops.bulk_batch_size(fields, rows), 1)  # SQLite's limit on parameters
    statements: list[Statement] = []
    for start in range(0, len(rows), batch):
        query = InsertQuery(model)
        query.insert_values(fields, rows[start:start + batch])
        statements += query.get_compiler(using=using).as_sql()
    return statements


def inserted(rows: Sequence[Model]) -> None:
    """Rows that `insert_statements` inserted are saved rows from now on, as bulk_create leaves them."""
    for row in rows:
        row._state.adding, row._state.db = False, router.db_for_write(type(row))
