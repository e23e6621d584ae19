"""In the embedded default a Celery worker takes tasks from files in DATA_DIR: no broker service."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(env, *args, timeout=120) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_worker_runs_a_task_queued_through_the_file_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="telemed.settings", DATA_DIR=str(tmp_path))
    _manage(env, "migrate", "--noinput")
    _manage(env, "shell", "--verbosity=0", "-c", "from telemed.audit.tasks import verify_audit_chain; verify_audit_chain.delay()")
    assert any((tmp_path / "celery-queue").iterdir()), "the task should wait in the file queue"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "telemed", "worker", "--pool=solo", "--loglevel=WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    count = "from telemed.audit.models import AuditEvent; print(AuditEvent.objects.filter(action='audit.verify').count())"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _manage(env, "shell", "--verbosity=0", "-c", count).strip() != "1":
            time.sleep(1)
        assert _manage(env, "shell", "--verbosity=0", "-c", count).strip() == "1"
    finally:
        worker.terminate()
        worker.wait(timeout=20)
