"""Django's PostgreSQL backend, with a pooled connection checked before it is lent by its socket,
and cursors whose statements PostgreSQL plans once per connection.

With CONN_HEALTH_CHECKS, Django has psycopg_pool check every connection it lends by sending the
server an empty query: a round trip at the start of every request, which cost both processes
about 0.1 ms (a small DICOMweb request costs about 3 ms of server CPU, database included). A
connection the server ended while it sat in the pool (a restart, pg_terminate_backend, an idle
timeout) tells it by its socket: the server sends its last error and closes, so there is
something to read, where a connection in good order has nothing until it asks. So the server is
asked, as before, only when the socket has something to read; one that does not answer is
replaced by the pool, as before.

Django sends each query as text with its values written in, so PostgreSQL parses and plans it at
every run: for the series of a study (a join read at every QIDO-RS series request) that was
about 120 µs of the server's 200 µs, the rest being the index lookups and the answer.
`prepared_cursor()` gives a cursor that sends the values apart from the text and has psycopg
prepare each text at its first run on a connection (psycopg keeps up to 100 a connection, by
text). It is for the few queries of a fixed text that every request makes (`telemed.compiled`).
Behind a pooler in transaction mode, the pooler must keep protocol-level prepared statements
(PgBouncer 1.21 and later, `max_prepared_statements`).
"""
from __future__ import annotations

import select

from django.db.backends.postgresql import base, operations
from django.utils.asyncio import async_unsafe
from psycopg import errors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool


def lent_connection_alive(conn) -> None:
    """psycopg_pool's check (raise if the connection does not work), asking the server only when
    the connection is not plainly idle with nothing to read."""
    if not conn.closed and conn.pgconn.transaction_status == TransactionStatus.IDLE:
        waiting = select.poll()
        waiting.register(conn.fileno(), select.POLLIN)
        if not waiting.poll(0):  # nothing to read, no hang-up, no error
            return
    ConnectionPool.check_connection(conn)


class PreparingCursor(base.ServerBindingCursor):
    """Every statement is run prepared: parsed and planned at its first run on the connection."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        """The SQL with its values written in, for Django's query log, as Django writes it for its own
        server-side binding cursors (psycopg keeps no such text for a prepared statement)."""
        if isinstance(cursor, PreparingCursor):
            try:
                return self.compose_sql(sql, params)
            except errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    @async_unsafe
    def prepared_cursor(self):
        """A cursor like `cursor()` (logged, errors wrapped as Django's), whose statements are prepared."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            return self._prepare_cursor(PreparingCursor(self.connection))

    @property
    def pool(self):
        pool = super().pool
        # Django passes ConnectionPool.check_connection itself and takes no other check; the
        # pool keeps its check here (tests/test_postgres_backend.py holds it to that name).
        if pool is not None and pool._check is not None and pool._check is not lent_connection_alive:
            pool._check = lent_connection_alive
        return pool
