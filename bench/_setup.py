"""Shared start of every benchmark: Django settings and a scratch database.

On PostgreSQL (DATABASE_URL set, as under scripts/with-services.sh) the benchmark gets its own
database, telemed_bench, dropped and created afresh; on SQLite, a file in DATA_DIR.
"""
from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")
if os.environ.get("DATABASE_URL", "").startswith("postgres"):
    os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/telemed_bench"


def scratch_database() -> str:
    """Set Django up on an empty, migrated database; returns its vendor."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        import psycopg

        admin_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS telemed_bench")
            conn.execute("CREATE DATABASE telemed_bench")
    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}")
    return connection.vendor


def percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]
