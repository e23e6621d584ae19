"""Audit-chain figures: how fast events are appended (one and several writers) and verified.

Run on PostgreSQL and Redis started for the run (the same as the tests):
    bash scripts/with-services.sh .venv/bin/python bench/audit_chain.py [--events 20000]
or on the embedded default (SQLite):
    DATA_DIR=$(mktemp -d) .venv/bin/python bench/audit_chain.py --events 5000

Prints one line per figure. It uses a scratch database (PostgreSQL) or a scratch file (SQLite),
never the data of a running server.
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time

from _setup import scratch_database


def _append(count: int) -> float:
    from telemed.audit.services import audit_record

    started = time.perf_counter()
    for n in range(count):
        audit_record(actor=None, action="bench.event", detail={"n": n})
    return time.perf_counter() - started


def _append_concurrently(writers: int, per_writer: int) -> float:
    from django.db import connections

    def work():
        _append(per_writer)
        connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000, help="events appended by the single writer")
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()

    scratch_database()
    from telemed.audit.services import audit_verify

    latencies = []
    for _ in range(200):
        latencies.append(_append(1) * 1000)
    print(f"append, 1 writer, per event: median {statistics.median(latencies):.2f} ms, p90 {statistics.quantiles(latencies, n=10)[-1]:.2f} ms")

    elapsed = _append(args.events)
    print(f"append, 1 writer: {args.events} events in {elapsed:.1f} s = {args.events / elapsed:,.0f} events/s")

    per_writer = max(args.events // (args.writers * 4), 50)
    elapsed = _append_concurrently(args.writers, per_writer)
    total = args.writers * per_writer
    print(f"append, {args.writers} writers: {total} events in {elapsed:.1f} s = {total / elapsed:,.0f} events/s")

    started = time.perf_counter()
    result = audit_verify()
    elapsed = time.perf_counter() - started
    assert result.ok, result.reason
    print(f"verify: {result.checked} events in {elapsed:.2f} s = {result.checked / elapsed:,.0f} events/s")


if __name__ == "__main__":
    main()
