"""Relay workers over real Redis: calls reach the room's worker (a `manage.py runrelay` process)
and come back; rooms spread over workers; a silent worker's rooms move to a live one."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone

from telemed.rtc.errors import UnknownParticipant
from telemed.video.models import RelayWorker, Room
from telemed.video.services import placement
from telemed.video.services.admission import room_for
from telemed.video.workers import WorkerMedia
from tests.conftest import _test_database_url, stop
from tests.consults.factories import booked_consult



@pytest_asyncio.fixture
async def _close_thread_connections():
    yield
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def worker_process(django_db_blocker):
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(settings.DATA_DIR), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    process = subprocess.Popen([sys.executable, "manage.py", "runrelay", "--name", "worker-test"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    stop(process)


def _rooms(cast, count):
    return [room_for(booked_consult(cast.north, hour=9 + n)) for n in range(count)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.usefixtures("_close_thread_connections")
async def test_calls_reach_the_rooms_worker_again_and_again(worker_process):
    from tests.cast import build_cast

    cast = await database_sync_to_async(build_cast)()
    (room,) = await database_sync_to_async(_rooms)(cast, 1)
    for _ in range(100):
        if await database_sync_to_async(RelayWorker.objects.filter(name="worker-test").exists)():
            break
        await asyncio.sleep(0.1)
    media = WorkerMedia()
    for _ in range(3):
        await asyncio.wait_for(media.leave(str(room.pk), "nobody"), 10)
    with pytest.raises(UnknownParticipant):
        await asyncio.wait_for(media.audio_only(str(room.pk), "nobody", True), 10)


def _two_workers():
    for n in range(2):
        placement.worker_register(name=f"worker-{n}", channel=f"specific.worker{n}!x")


@pytest.mark.django_db
def test_rooms_are_spread_over_the_live_workers(cast):
    _two_workers()
    rooms = _rooms(cast, 2)
    assert len({placement.room_worker(room_id=room.pk) for room in rooms}) == 2


@pytest.mark.django_db
def test_a_silent_workers_rooms_move_to_a_live_one(cast):
    _two_workers()
    (room,) = _rooms(cast, 1)
    first = placement.room_worker(room_id=room.pk)
    RelayWorker.objects.filter(channel=first).update(heartbeat_at=timezone.now() - timedelta(minutes=1))
    second = placement.room_worker(room_id=room.pk)
    assert second != first and Room.objects.get(pk=room.pk).relay_worker.channel == second


@pytest.mark.django_db
def test_no_live_worker_is_a_clear_refusal(cast):
    (room,) = _rooms(cast, 1)
    with pytest.raises(placement.NoRelayWorker, match="No video relay is running"):
        placement.room_worker(room_id=room.pk)
