"""Django's PostgreSQL backend, with a pooled connection checked before it is lent by its socket.

With CONN_HEALTH_CHECKS, Django has psycopg_pool check every connection it lends by sending the
server an empty query: a round trip at the start of every request, which cost both processes
about 0.1 ms (a small DICOMweb request costs about 3 ms of server CPU, database included). A
connection the server ended while it sat in the pool (a restart, pg_terminate_backend, an idle
timeout) tells it by its socket: the server sends its last error and closes, so there is
something to read, where a connection in good order has nothing until it asks. So the server is
asked, as before, only when the socket has something to read; one that does not answer is
replaced by the pool, as before.
"""
from __future__ import annotations

import select

from django.db.backends.postgresql import base
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


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        # Django passes ConnectionPool.check_connection itself and takes no other check; the
        # pool keeps its check here (tests/test_postgres_backend.py holds it to that name).
        if pool is not None and pool._check is not None and pool._check is not lent_connection_alive:
            pool._check = lent_connection_alive
        return pool
