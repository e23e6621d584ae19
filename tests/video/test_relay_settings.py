"""The relay's public address comes from the environment; a value that is no reachable address
stops the start."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import override_settings

from telemed.video.media import relay_config
from tests.web.test_settings import ROOT

SHOW = "import django; django.setup(); from django.conf import settings as s; print(s.VIDEO_RELAY_PUBLIC_IP or '-')"


def _start(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    clean.update(DJANGO_SETTINGS_MODULE="telemed.settings", DATA_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_by_default_the_relay_announces_only_its_own_addresses(tmp_path):
    result = _start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["-"]


def test_the_public_address_comes_from_the_environment_and_reaches_the_relay(tmp_path):
    result = _start(tmp_path, VIDEO_RELAY_PUBLIC_IP=" 203.0.113.7 ")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["203.0.113.7"]
    with override_settings(VIDEO_RELAY_PUBLIC_IP="203.0.113.7"):
        assert relay_config().public_address == "203.0.113.7"
    with override_settings(VIDEO_RELAY_PUBLIC_IP=""):
        assert relay_config().public_address is None


@pytest.mark.parametrize(("value", "message"), [
    ("relay.example.org", "VIDEO_RELAY_PUBLIC_IP='relay.example.org' is not an IP address"),
    ("203.0.113.7:3478", "is not an IP address"),
    ("0.0.0.0", "cannot be reached from another machine"),
    ("127.0.0.1", "cannot be reached from another machine"),
    ("fe80::1", "cannot be reached from another machine"),
])
def test_an_address_browsers_cannot_reach_stops_the_start(tmp_path, value, message):
    result = _start(tmp_path, VIDEO_RELAY_PUBLIC_IP=value)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and message in result.stderr
