"""The production shape: two daphne processes and one relay worker over real Redis. The two
participants are connected to different servers; the call still goes through the one worker
that holds the room."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from telemed.accounts.models import Role
from telemed.video.models import RelayWorker, Room
from tests.browser.test_video_call import _decoding, _join, _page_as, _until_everyone_left
from tests.conftest import _test_database_url, free_port, serving, stop
from tests.consults.factories import booked_consult, starting_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def deployment(django_db_blocker):
    """Two servers and a relay worker sharing the test database and one channel-layer prefix."""
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(settings.DATA_DIR),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CHANNELS_PREFIX": f"telemed-workers-{free_port()}",
        "VIDEO_RELAY": "workers",
    }
    worker = subprocess.Popen([sys.executable, "manage.py", "runrelay", "--name", "relay-test"], env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with serving("telemed.asgi:application", env, ready_path="/healthz") as (first, _), serving("telemed.asgi:application", env, ready_path="/healthz") as (second, _):
            yield first, second
    finally:
        stop(worker)


def test_a_call_works_across_two_servers_through_one_relay_worker(deployment, chromium, cast):
    first, second = deployment
    consult = starting_in(booked_consult(cast.north), 5)
    expert_context, expert = _page_as(chromium, first, cast.north[Role.SPECIALIST])
    doctor_context, doctor = _page_as(chromium, second, cast.north[Role.CLINIC_DOCTOR])
    try:
        _join(expert, f"{first}/video/consults/{consult.pk}/")
        _join(doctor, f"{second}/video/consults/{consult.pk}/")
        for page in (expert, doctor):
            _decoding(page, "video")
            _decoding(page, "audio", minimum=4800)
        assert Room.objects.get(consult=consult).relay_worker == RelayWorker.objects.get(name="relay-test")
    finally:
        expert_context.close()
        doctor_context.close()
        _until_everyone_left(consult)
