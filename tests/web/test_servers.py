"""The server as deployed: daphne over Redis, and `make run` from this checkout."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_daphne_over_redis_reports_every_part_healthy(live_daphne):
    status, body = _get(live_daphne + "/healthz")
    health = json.loads(body)
    assert status == 200
    assert health["database"] == {"ok": True, "backend": "postgresql"}
    assert health["channel_layer"] == {"ok": True, "backend": "RedisChannelLayer"}
    assert health["storage"]["ok"] is True


@pytest.mark.slow
def test_make_run_serves_the_login_page_with_the_embedded_default(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DATA_DIR")}
    env["DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/login/", timeout=300, process=process)
        status, page = _get(f"http://127.0.0.1:{port}/login/")
        assert status == 200
        assert 'name="password"' in page
        _, body = _get(f"http://127.0.0.1:{port}/healthz")
        health = json.loads(body)
        assert health["status"] == "ok"
        assert health["database"]["backend"] == "sqlite"
        assert health["channel_layer"]["backend"] == "InMemoryChannelLayer"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    text = output.decode(errors="replace")
    assert "doc_qingshan" in text, "make run should print the demo logins"
    assert f"http://127.0.0.1:{port}/" in text, "make run should print the URL"
