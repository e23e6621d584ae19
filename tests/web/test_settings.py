"""Settings come from the environment; a bad value stops the start with a message naming it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.CELERY_BROKER_URL.split(':')[0], "
    "s.STORAGES['default']['BACKEND'], s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE)"
)


def _start(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    clean.update(DJANGO_SETTINGS_MODULE="telemed.settings", DATA_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_embedded_default_needs_no_external_service(tmp_path):
    result = _start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "filesystem",
        "telemed.storage.DurableFileSystemStorage",
        "False",
        "False",
    ]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_values_come_from_the_environment(tmp_path):
    result = _start(
        tmp_path,
        DATABASE_URL="postgres://u:p@db.internal:5432/telemed",
        REDIS_URL="redis://cache.internal:6379/0",
        FILE_STORAGE="s3",
        S3_BUCKET="studies",
        TLS="on",
        SECRET_KEY="x" * 50,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "telemed.postgres",  # Django's backend with a cheaper check of pooled connections
        "channels_redis.core.RedisChannelLayer",
        "redis",
        "storages.backends.s3.S3Storage",
        "True",
        "True",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL must start with redis://"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"SESSION_IDLE_MINUTES": "ten"}, "SESSION_IDLE_MINUTES='ten' is not a whole number"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 characters"),
        ({"FILE_STORAGE": "ftp"}, "FILE_STORAGE='ftp' must be one of: filesystem, s3"),
        ({"FILE_STORAGE": "s3"}, "FILE_STORAGE=s3 needs S3_BUCKET"),
    ],
)
def test_bad_setting_stops_the_start_with_a_clear_message(tmp_path, env, message):
    result = _start(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


@pytest.mark.django_db
def test_unknown_address_gets_a_404_page_in_the_users_language(cast, client_for):
    from telemed.accounts.models import Role

    response = client_for(cast.north[Role.CLINIC_DOCTOR], language="zh-hans").get("/no/such/page/")
    assert response.status_code == 404
    assert "页面" in response.content.decode()
