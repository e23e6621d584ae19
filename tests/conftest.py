"""Shared fixtures: the cast, clients signed in as anyone, a live daphne over Redis, Chromium."""
from __future__ import annotations

import os

import pytest

from tests.cast import build_cast


def pytest_configure(config):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.exit("The tests run on PostgreSQL and Redis: use `make test`, which starts both.", returncode=2)


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
