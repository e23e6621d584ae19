"""The live WebSocket: coordinators' boards and everyone's unread count, over real Redis."""
from __future__ import annotations

import os

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.test import override_settings

from consults.routing import websocket_urlpatterns
from telemed.accounts.models import Role
from tests.consults.factories import ConsultFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

REDIS_LAYER = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [os.environ["REDIS_URL"]], "prefix": "telemed-live-test"}}}


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    """The ORM calls above run in a worker thread whose connection would outlive the test database."""
    yield
    await database_sync_to_async(connections.close_all)()


def _communicator(user):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/live/")
    communicator.scope["user"] = user
    return communicator


async def _connect(user):
    communicator = _communicator(user)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["kind"] == "notify"
    return communicator


@override_settings(CHANNEL_LAYERS=REDIS_LAYER)
async def test_coordinator_board_hears_a_new_request_from_a_paired_clinic():
    from tests.cast import build_cast

    cast = await database_sync_to_async(build_cast)()
    communicator = await _connect(cast.north[Role.COORDINATOR])
    try:
        consult = await database_sync_to_async(_request)(cast)
        message = await communicator.receive_json_from(timeout=5)
        assert message == {"kind": "board", "consult": str(consult.pk), "status": "requested"}
    finally:
        await communicator.disconnect()


def _request(cast):
    from django.utils import timezone

    from consults.services.requests import consult_request

    return consult_request(
        by=cast.north[Role.CLINIC_DOCTOR], patient=cast.north.patient, specialty="respiratory", urgency="urgent",
        question="?", history="h", consent_signed_by="x", consent_relation="self", consent_signed_at=timezone.now(),
    )


@override_settings(CHANNEL_LAYERS=REDIS_LAYER)
async def test_coordinator_of_another_alliance_hears_nothing():
    from tests.cast import build_cast

    cast = await database_sync_to_async(build_cast)()
    communicator = await _connect(cast.south[Role.COORDINATOR])
    try:
        await database_sync_to_async(_request)(cast)
        assert await communicator.receive_nothing(timeout=1)
    finally:
        await communicator.disconnect()


@override_settings(CHANNEL_LAYERS=REDIS_LAYER)
async def test_unread_count_follows_new_notifications():
    from tests.cast import build_cast

    cast = await database_sync_to_async(build_cast)()
    doctor = cast.north[Role.CLINIC_DOCTOR]
    communicator = await _connect(doctor)
    try:
        consult = await database_sync_to_async(ConsultFactory)(patient=cast.north.patient)
        from consults.services.requests import consult_ask_info

        await database_sync_to_async(consult_ask_info)(by=cast.north[Role.COORDINATOR], consult=consult, question="CT report?")
        message = await communicator.receive_json_from(timeout=5)
        while message["kind"] != "notify":
            message = await communicator.receive_json_from(timeout=5)
        assert message == {"kind": "notify", "unread": 1}
    finally:
        await communicator.disconnect()


async def test_anonymous_connection_is_refused():
    communicator = _communicator(AnonymousUser())
    connected, code = await communicator.connect()
    assert not connected and code == 4401


@override_settings(CHANNEL_LAYERS=REDIS_LAYER)
async def test_malformed_messages_get_an_error_and_keep_the_connection():
    from tests.cast import build_cast

    cast = await database_sync_to_async(build_cast)()
    communicator = await _connect(cast.north[Role.CLINIC_DOCTOR])
    try:
        await communicator.send_to(text_data="{not json")
        assert (await communicator.receive_json_from(timeout=5))["kind"] == "error"
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from(timeout=5)) == {"kind": "pong"}
    finally:
        await communicator.disconnect()
