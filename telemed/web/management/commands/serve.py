"""Serve the whole product from one command: daphne (HTTP and WebSocket) and a Celery worker.

The worker runs with an embedded beat scheduler and, without REDIS_URL, shares the filesystem
broker in DATA_DIR with daphne, so background tasks run with no broker service. Stopping the
command (Ctrl-C or SIGTERM) stops both children.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run daphne and a Celery worker together (the embedded default of `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="Serve HTTP only; run workers elsewhere.")

    def handle(self, *args, host, port, no_worker, **options):
        python = sys.executable
        commands = [[python, "-m", "telemed.web.server", "-b", host, "-p", str(port), "telemed.asgi:application"]]
        if not no_worker:
            commands.append(
                [python, "-m", "celery", "-A", "telemed", "worker", "--beat", "--loglevel=INFO", "--concurrency=2",
                 "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME]
            )
        children = [subprocess.Popen(cmd, env=os.environ.copy()) for cmd in commands]
        self.stdout.write(self.style.SUCCESS(f"Serving on http://{host}:{port}/  (Ctrl-C stops)"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.5)
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [child for child in children if child.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            raise SystemExit(1)
