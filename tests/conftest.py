"""Shared fixtures: the cast, clients signed in as anyone, a live daphne over Redis, Chromium."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cast import build_cast


def pytest_configure(config):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.exit("The tests run on PostgreSQL and Redis: use `make test`, which starts both.", returncode=2)


@contextmanager
def serving(application: str, env: dict[str, str], *, ready_path: str = "/", log: Path | None = None) -> Iterator[tuple[str, int]]:
    """Our server (`python -m telemed.web.server`) running `application` in a subprocess with
    `env` added to this one's: its base URL and pid, until the block ends. Its messages go to
    `log` if given (a pipe nobody reads fills up, and then every write to it, the relay's warnings
    included, blocks the server's event loop), and a server that does not start shows their end."""
    import subprocess
    import sys

    port = free_port()
    with (log.open("wb") if log else open(os.devnull, "wb")) as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "telemed.web.server", "-b", "127.0.0.1", "-p", str(port), application],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(base + ready_path, timeout=60, process=process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its log ends:\n{log.read_text(errors='replace')[-3000:]}" if log else str(exc)) from None
        yield base, process.pid
    finally:
        stop(process)


def stop(process) -> None:
    """End a server or worker subprocess: asked first, killed if it will not go in 10 s."""
    import subprocess

    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def proc_figure(pid: int, name: str, field: str) -> int:
    """A figure of a process from /proc/<pid>/<name> (status: "VmHWM", "VmRSS" in kB; io: "wchar"...)."""
    with open(f"/proc/{pid}/{name}") as figures:
        return next(int(line.split()[1]) for line in figures if line.startswith(field + ":"))


@pytest.fixture
def cast(db):
    return build_cast()


@pytest.fixture
def client_for(client):
    """client_for(user) → a test client signed in as that user."""
    from django.test import Client

    def make(user, language: str = "en"):
        c = Client(HTTP_ACCEPT_LANGUAGE=language)
        c.force_login(user)
        return c

    return make


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, *, timeout: float, process=None) -> None:
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered at {url} within {timeout} s")


def _test_database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@contextmanager
def _whole_app_served(django_db_blocker, tmp_path_factory, **settings: str) -> Iterator[str]:
    from django.conf import settings as django_settings

    with django_db_blocker.unblock():
        database_url = _test_database_url()
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "DATA_DIR": str(django_settings.DATA_DIR),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CHANNELS_PREFIX": f"telemed-test-{free_port()}",
        **settings,
    }
    log = tmp_path_factory.mktemp("live-daphne") / "daphne.log"
    with serving("telemed.asgi:application", env, ready_path="/healthz", log=log) as (base, _pid):
        yield base


@pytest.fixture(scope="session")
def live_daphne(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne serving the whole ASGI app over the test database and real Redis, in a subprocess.

    Tests that use it create their data with `transactional_db` so the server can see it.
    """
    with _whole_app_served(django_db_blocker, tmp_path_factory) as base:
        yield base


@pytest.fixture(scope="module")
def live_daphne_spooling_bodies(django_db_setup, django_db_blocker, tmp_path_factory):
    """The same, keeping no request body in memory (HTTP_BODY_MEMORY_MB=0): each goes to a
    temporary file, as a body beyond the process's budget does."""
    with _whole_app_served(django_db_blocker, tmp_path_factory, HTTP_BODY_MEMORY_MB="0") as base:
        yield base


@pytest.fixture(autouse=True)
def each_test_ends_in_the_default_language():
    """A request through the test client leaves its language active in the thread (the locale
    middleware activates it and nothing undoes it): after a test that asked in Chinese, the next
    test's services would label their figures in Chinese."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def live_daphne_done_before_the_flush(request):
    """After a test that drove the live server, the database is emptied (TRUNCATE) only once the
    server has finished what the browser last asked (a page's last request, a WebSocket closing):
    a TRUNCATE and a write still in flight can each hold a lock the other waits for (PostgreSQL
    then ends one as a deadlock, and the test errors at teardown)."""
    if not {"live_daphne", "live_daphne_spooling_bodies"} & set(request.fixturenames):
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so its flush comes after the wait below
    yield
    _wait_until_no_other_connection_is_busy()


def _wait_until_no_other_connection_is_busy(timeout: float = 10) -> None:
    import time

    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


CHROMIUM_FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, with fake camera and microphone (never a downloaded browser).

    Per module, not per session: Playwright's sync API keeps an event loop running in this
    thread while it is open, and the async tests that follow need the thread free of it.
    """
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # around it are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
