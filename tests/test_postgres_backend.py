"""A pooled connection is checked before it is lent: by its socket while it is plainly in good
order, by a round trip to the server as soon as the socket has something to say."""
from __future__ import annotations

import select
import tempfile
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection
from psycopg.pq import Trace

from telemed.postgres.base import lent_connection_alive


@contextmanager
def _lent(pool):
    conn = pool.getconn()
    try:
        yield conn
    finally:
        pool.putconn(conn)


@contextmanager
def _sent_to_server(conn):
    """What the connection sends the server inside the block (libpq's protocol trace)."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        sent: list[str] = []
        try:
            yield sent
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            sent.extend(line for line in trace.read().splitlines() if line.startswith("F"))


@pytest.mark.django_db(transaction=True)
def test_the_pool_checks_connections_with_the_socket_check():
    # psycopg_pool keeps its check in a private attribute: an upgrade that renames it fails here
    assert connection.pool._check is lent_connection_alive


@pytest.mark.django_db(transaction=True)
def test_a_connection_in_good_order_is_lent_without_a_round_trip():
    with _lent(connection.pool) as conn:
        conn.execute("SELECT 1")
        with _sent_to_server(conn) as sent:
            lent_connection_alive(conn)
        assert sent == []


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_while_idle_fails_the_check():
    pool = connection.pool
    with _lent(pool) as ended, _lent(pool) as other:
        pid = ended.execute("SELECT pg_backend_pid()").fetchone()[0]
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        waiting = select.poll()
        waiting.register(ended.fileno(), select.POLLIN)
        assert waiting.poll(10_000), "the server did not end the connection"
        with pytest.raises(psycopg.OperationalError):
            lent_connection_alive(ended)


@pytest.mark.django_db(transaction=True)
def test_a_connection_with_something_to_read_is_asked_of_the_server():
    pool = connection.pool
    with _lent(pool) as conn, _lent(pool) as other:
        conn.execute("LISTEN telemed_check")
        other.execute("NOTIFY telemed_check")
        waiting = select.poll()
        waiting.register(conn.fileno(), select.POLLIN)
        assert waiting.poll(10_000), "the notification did not come"
        with _sent_to_server(conn) as sent:
            lent_connection_alive(conn)
        conn.execute("UNLISTEN *")
    assert sent, "the check should have asked the server"
