"""Relay workers over real Redis: calls reach the room's worker and come back; rooms spread over
workers; a dead worker's rooms move to a live one."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from telemed.rtc.errors import UnknownParticipant
from telemed.video.models import RelayWorker, Room
from telemed.video.services import placement
from telemed.video.services.admission import room_for
from telemed.video.workers import RelayWorkerLoop, WorkerMedia
from tests.consults.factories import booked_consult

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    yield
    await database_sync_to_async(connections.close_all)()


@pytest_asyncio.fixture
async def workers():
    loops = [RelayWorkerLoop(f"worker-{n}") for n in range(2)]
    tasks = [asyncio.create_task(loop.run()) for loop in loops]
    while await database_sync_to_async(RelayWorker.objects.count)() < 2:
        await asyncio.sleep(0.05)
    yield loops
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _rooms(cast, count):
    return [room_for(booked_consult(cast.north, hour=9 + n)) for n in range(count)]


async def test_calls_reach_the_rooms_worker_again_and_again(workers):
    from tests.cast import build_cast

    cast = await database_sync_to_async(build_cast)()
    (room,) = await database_sync_to_async(_rooms)(cast, 1)
    media = WorkerMedia()
    for _ in range(3):
        await asyncio.wait_for(media.leave(str(room.pk), "nobody"), 5)
    with pytest.raises(UnknownParticipant):
        await asyncio.wait_for(media.audio_only(str(room.pk), "nobody", True), 5)


async def test_rooms_are_spread_over_the_live_workers(workers):
    from tests.cast import build_cast

    cast = await database_sync_to_async(build_cast)()
    rooms = await database_sync_to_async(_rooms)(cast, 2)
    channels = {await database_sync_to_async(placement.room_worker)(room_id=room.pk) for room in rooms}
    assert len(channels) == 2


async def test_a_silent_workers_rooms_move_to_a_live_one(workers):
    from tests.cast import build_cast

    cast = await database_sync_to_async(build_cast)()
    (room,) = await database_sync_to_async(_rooms)(cast, 1)
    first = await database_sync_to_async(placement.room_worker)(room_id=room.pk)
    await database_sync_to_async(RelayWorker.objects.filter(channel=first).update)(heartbeat_at=timezone.now() - timedelta(minutes=1))
    second = await database_sync_to_async(placement.room_worker)(room_id=room.pk)
    assert second != first
    assert await database_sync_to_async(lambda: Room.objects.get(pk=room.pk).relay_worker.channel)() == second
