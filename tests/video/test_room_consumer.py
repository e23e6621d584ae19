"""The room's signalling WebSocket: who gets in, the lobby, host actions and bad messages (real Redis)."""
from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from consults.models import Consult, Participant, Status
from telemed.accounts.models import Role
from telemed.video.models import Attendance, ChatMessage
from telemed.video.routing import websocket_urlpatterns
from telemed.video.services.admission import Person, room_for
from telemed.video.services.invitations import invitation_create_guest, invitation_redeem
from telemed.video.services.tokens import join_token
from tests.consults.factories import booked_consult, starting_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    yield
    await database_sync_to_async(connections.close_all)()


@pytest_asyncio.fixture
async def cast():
    from tests.cast import build_cast

    return await database_sync_to_async(build_cast)()


def _soon_room(cast, minutes=10, hour=9):
    consult = starting_in(booked_consult(cast.north, hour=hour), minutes)
    return room_for(consult)


@pytest_asyncio.fixture
async def room(cast):
    return await database_sync_to_async(_soon_room)(cast)


class Socket:
    """A browser tab's WebSocket to one room."""

    def __init__(self, room, *, user=None, invitation=None):
        self.room = room
        self.person = Person(user=user, invitation=invitation)
        self.com = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/video/{room.pk}/")
        self.com.scope["user"] = user or AnonymousUser()
        self.com.scope["session"] = {"video_invitation": str(invitation.pk)} if invitation else {}

    async def open(self):
        connected, _ = await self.com.connect()
        assert connected
        return self

    async def join(self, token=None):
        if token is None:
            token = await database_sync_to_async(join_token)(self.room, self.person)
        await self.com.send_json_to({"type": "join", "token": token})
        return await self.com.receive_json_from(timeout=5)

    async def send(self, message):
        await self.com.send_json_to(message)

    async def next(self, kind, timeout=5):
        """The next message of this kind (roster updates and the like in between are skipped)."""
        while True:
            message = await self.com.receive_json_from(timeout=timeout)
            if message.get("kind") == kind:
                return message

    async def closed_with(self, timeout=5):
        while True:
            output = await self.com.receive_output(timeout=timeout)
            if output["type"] == "websocket.close":
                return output.get("code")

    async def close(self):
        await self.com.disconnect()


async def _joined(room, user):
    socket = await Socket(room, user=user).open()
    welcome = await socket.join()
    assert welcome["kind"] == "joined", welcome
    socket.welcome = welcome
    return socket


async def test_the_consults_expert_and_clinic_doctor_join_and_see_each_other(cast, room):
    expert = await _joined(room, cast.north[Role.SPECIALIST])
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        roster = await expert.next("roster")
        while len(roster["people"]) < 2:
            roster = await expert.next("roster")
        names = {p["name"]: p for p in roster["people"]}
        assert names[str(cast.north[Role.SPECIALIST])]["host"] is True
        assert expert.welcome["host"] is True and doctor.welcome["host"] is False  # each is told whether they host
        assert names[str(cast.north[Role.CLINIC_DOCTOR])]["institution"] == cast.north.clinic.name
        assert await database_sync_to_async(lambda: Consult.objects.get(pk=room.consult_id).status)() == Status.IN_SESSION
    finally:
        await expert.close()
        await doctor.close()


@pytest.mark.parametrize("who", ["foreign_doctor", "sibling_doctor", "foreign_coordinator"])
async def test_people_outside_the_consult_are_refused_with_a_reason(cast, room, who):
    user = {"foreign_doctor": cast.south[Role.CLINIC_DOCTOR], "sibling_doctor": cast.doc_n2, "foreign_coordinator": cast.south[Role.COORDINATOR]}[who]
    socket = await Socket(room, user=user).open()
    refused = await socket.join()
    assert refused["kind"] == "refused" and "not taking part" in refused["error"]
    assert await socket.closed_with() == 4403
    assert not await database_sync_to_async(Attendance.objects.filter(user=user).exists)()


async def test_a_coordinator_of_the_hospital_may_join_without_being_a_participant(cast, room):
    coordinator = await _joined(room, cast.north[Role.COORDINATOR])
    await coordinator.close()


async def test_an_anonymous_socket_is_closed_before_anything(room):
    com = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/video/{room.pk}/")
    com.scope["user"], com.scope["session"] = AnonymousUser(), {}
    connected, code = await com.connect()
    assert not connected and code == 4401


async def test_a_token_for_another_room_is_refused(cast, room):
    other = await database_sync_to_async(_soon_room)(cast, 12, 10)
    socket = await Socket(room, user=cast.north[Role.SPECIALIST]).open()
    token = await database_sync_to_async(join_token)(other, socket.person)
    refused = await socket.join(token)
    assert refused["kind"] == "refused" and "another room" in refused["error"]


async def test_a_token_issued_to_someone_else_is_refused(cast, room):
    socket = await Socket(room, user=cast.north[Role.SPECIALIST]).open()
    token = await database_sync_to_async(join_token)(room, Person(user=cast.north[Role.CLINIC_DOCTOR]))
    refused = await socket.join(token)
    assert refused["kind"] == "refused" and "someone else" in refused["error"]


async def test_an_expired_or_forged_token_is_refused(cast, room):
    socket = await Socket(room, user=cast.north[Role.SPECIALIST]).open()
    with override_settings(VIDEO_JOIN_TOKEN_SECONDS=-1):
        refused = await socket.join()
    assert refused["code"] == 4408 and "expired" in refused["error"]
    forged = await Socket(room, user=cast.north[Role.SPECIALIST]).open()
    assert (await forged.join("x" * 80))["code"] == 4403


async def test_the_room_is_closed_before_its_time_and_after_the_session(cast):
    tomorrow = await database_sync_to_async(lambda: room_for(booked_consult(cast.north)))()
    early = await Socket(tomorrow, user=cast.north[Role.SPECIALIST]).open()
    refused = await early.join()
    assert refused["code"] == 4425 and "opens at" in refused["error"]
    await database_sync_to_async(Consult.objects.filter(pk=tomorrow.consult_id).update)(status=Status.COMPLETED)
    late = await Socket(tomorrow, user=cast.north[Role.SPECIALIST]).open()
    refused = await late.join()
    assert refused["code"] == 4410 and "ended" in refused["error"]


async def test_a_second_tab_takes_over_the_seat_without_a_ghost(cast, room):
    first = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    second = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        assert await first.closed_with() == 4409
        roster = await second.next("roster")
        assert [p["name"] for p in roster["people"]] == [str(cast.north[Role.CLINIC_DOCTOR])]
        await first.close()  # the old tab's disconnect must not free the seat the new tab holds
        await asyncio.sleep(0.2)
        live = await database_sync_to_async(Attendance.objects.filter(room=room, state=Attendance.State.IN_ROOM).count)()
        assert live == 1
    finally:
        await second.close()


def _guest(room, by):
    invitation, secret = invitation_create_guest(by=by, room=room, name="李翻译", role="interpreter")
    return invitation_redeem(secret=secret, session_key="guest-session")


async def test_a_guest_waits_in_the_lobby_until_the_host_admits_them(cast, room):
    host = await _joined(room, cast.north[Role.SPECIALIST])
    invitation = await database_sync_to_async(_guest)(room, cast.north[Role.SPECIALIST])
    guest = await Socket(room, invitation=invitation).open()
    try:
        lobby = await guest.join()
        assert lobby["kind"] == "lobby" and lobby["experts"][0]["state"] == "here"
        roster = await host.next("roster")
        while not any(p["state"] == "waiting" for p in roster["people"]):
            roster = await host.next("roster")
        waiting = next(p for p in roster["people"] if p["state"] == "waiting")
        assert waiting["name"] == "李翻译" and waiting["guest"]
        await host.send({"type": "admit", "seat": waiting["id"]})
        joined = await guest.next("joined")
        assert joined["seat"] == waiting["id"] and joined["host"] is False
    finally:
        await guest.close()
        await host.close()


async def test_only_the_host_can_admit_or_remove(cast, room):
    host = await _joined(room, cast.north[Role.SPECIALIST])
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        roster = await doctor.next("roster")
        host_seat = next(p["id"] for p in roster["people"] if p["host"])
        await doctor.send({"type": "remove", "seat": host_seat})
        error = await doctor.next("error")
        assert "Only the host" in error["error"]
    finally:
        await host.close()
        await doctor.close()


async def test_the_host_removes_someone_and_their_connection_closes_at_once(cast, room):
    host = await _joined(room, cast.north[Role.SPECIALIST])
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        seat = await database_sync_to_async(lambda: str(Attendance.objects.get(room=room, user=cast.north[Role.CLINIC_DOCTOR]).pk))()
        await host.send({"type": "remove", "seat": seat})
        assert await doctor.closed_with(timeout=5) == 4403
        state = await database_sync_to_async(lambda: Attendance.objects.get(pk=seat).state)()
        assert state == Attendance.State.REMOVED
    finally:
        await host.close()


@override_settings(VIDEO_RECHECK_SECONDS=1)
async def test_a_participant_taken_off_the_consult_loses_the_room_within_seconds(cast, room):
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    await database_sync_to_async(
        Participant.objects.filter(consult_id=room.consult_id, user=cast.north[Role.CLINIC_DOCTOR]).update
    )(removed_at=timezone.now())
    # The requesting doctor also sees the consult as its clinic's doctor; take the membership away too.
    await database_sync_to_async(cast.north[Role.CLINIC_DOCTOR].memberships.update)(is_active=False)
    assert await doctor.closed_with(timeout=5) == 4403


@override_settings(VIDEO_RECHECK_SECONDS=1)
async def test_an_admitted_guest_whose_invitation_is_withdrawn_loses_the_room_within_seconds(cast, room):
    host = await _joined(room, cast.north[Role.SPECIALIST])
    invitation = await database_sync_to_async(_guest)(room, cast.north[Role.SPECIALIST])
    guest = await Socket(room, invitation=invitation).open()
    try:
        await guest.join()
        seat = await database_sync_to_async(lambda: str(Attendance.objects.get(room=room, invitation=invitation).pk))()
        await host.send({"type": "admit", "seat": seat})
        await guest.next("joined")
        await database_sync_to_async(type(invitation).objects.filter(pk=invitation.pk).update)(revoked_at=timezone.now())
        assert await guest.closed_with(timeout=5) == 4403
    finally:
        await host.close()


@override_settings(VIDEO_RECHECK_SECONDS=1)
async def test_everyone_loses_the_room_within_seconds_once_the_consult_has_ended(cast, room):
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    await database_sync_to_async(Consult.objects.filter(pk=room.consult_id).update)(status=Status.COMPLETED)
    assert await doctor.closed_with(timeout=5) == 4403


async def test_chat_reaches_the_others_and_is_kept_with_the_consult(cast, room):
    expert = await _joined(room, cast.north[Role.SPECIALIST])
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        await doctor.send({"type": "chat", "text": "血压 150/95"})
        message = await expert.next("chat")
        assert message["text"] == "血压 150/95" and message["from"] == str(cast.north[Role.CLINIC_DOCTOR])
        assert await database_sync_to_async(ChatMessage.objects.filter(room=room).count)() == 1
    finally:
        await expert.close()
        await doctor.close()


async def test_chat_written_and_read_again_is_in_the_audit_trail(cast, room):
    from telemed.audit.models import AuditEvent

    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        await doctor.send({"type": "chat", "text": "请看第 42 层"})
        await doctor.next("chat")
    finally:
        await doctor.close()
    expert = await _joined(room, cast.north[Role.SPECIALIST])  # gets the history on joining
    await expert.close()
    events = await database_sync_to_async(lambda: list(AuditEvent.objects.filter(action__startswith="video.chat").values_list("action", "patient_id")))()
    patient = await database_sync_to_async(lambda: Consult.objects.get(pk=room.consult_id).patient_id)()
    assert sorted(events) == [("video.chat", patient), ("video.chat_read", patient)]


@pytest.mark.parametrize(
    "message, reason",
    [
        ([1, 2], "JSON object"),
        ({"type": "dance"}, "Unknown message type"),
        ({"type": "chat", "text": 5}, "wrong type"),
        ({"type": "chat", "text": "x" * 2001}, "too long"),
        ({"type": "mute", "audio": "yes", "video": False}, "wrong type"),
        ({"type": "chat", "text": "hi", "to": "everyone"}, "Unexpected fields"),
        ({"type": "remove", "seat": "not-a-seat"}, "No such person"),
        ({"type": "chat", "text": "   "}, "needs some text"),
    ],
)
async def test_a_malformed_message_gets_a_reason_and_the_call_goes_on(cast, room, message, reason):
    expert = await _joined(room, cast.north[Role.SPECIALIST])
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        await doctor.send(message)
        assert reason in (await doctor.next("error"))["error"]
        await doctor.send({"type": "chat", "text": "still here"})
        assert (await expert.next("chat"))["text"] == "still here"
    finally:
        await expert.close()
        await doctor.close()


async def test_text_that_is_not_json_or_too_big_is_handled(cast, room):
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    await doctor.com.send_to(text_data="{not json")
    assert "JSON object" in (await doctor.next("error"))["error"]
    await doctor.com.send_to(text_data="x" * (64 * 1024 + 1))
    assert await doctor.closed_with() == 1009


async def test_nothing_but_join_is_accepted_before_joining(cast, room):
    socket = await Socket(room, user=cast.north[Role.SPECIALIST]).open()
    await socket.send({"type": "chat", "text": "hello"})
    assert "Join the room first" in (await socket.next("error"))["error"]
    await socket.close()


async def test_errors_speak_the_persons_language(cast, room):
    user = cast.south[Role.CLINIC_DOCTOR]
    await database_sync_to_async(type(user).objects.filter(pk=user.pk).update)(language="zh-hans")
    user.language = "zh-hans"
    socket = await Socket(room, user=user).open()
    refused = await socket.join()
    assert "您" in refused["error"] or "你" in refused["error"]


@override_settings(VIDEO_TURN_URLS=["turns:turn.example.cn:443?transport=tcp"], VIDEO_TURN_SECRET="shared-with-coturn", VIDEO_STUN_URLS=["stun:turn.example.cn:3478"])
async def test_admitted_people_get_time_limited_turn_credentials_and_lobby_guests_none(cast, room):
    import base64
    import hashlib
    import hmac
    import time

    host = await Socket(room, user=cast.north[Role.SPECIALIST]).open()
    welcome = await host.join()
    stun, turn = welcome["ice_servers"]
    assert stun == {"urls": ["stun:turn.example.cn:3478"]}
    expiry, who = turn["username"].split(":", 1)
    assert who == f"u:{cast.north[Role.SPECIALIST].pk}" and 0 < int(expiry) - time.time() <= 6 * 3600
    expected = base64.b64encode(hmac.new(b"shared-with-coturn", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected

    invitation = await database_sync_to_async(_guest)(room, cast.north[Role.SPECIALIST])
    guest = await Socket(room, invitation=invitation).open()
    lobby = await guest.join()
    assert lobby["kind"] == "lobby" and "ice_servers" not in lobby
    await guest.close()
    await host.close()


async def test_a_waiting_clinic_sees_the_expert_still_in_another_consult(cast, room):
    from consults.models import Consult

    other = await database_sync_to_async(_soon_room)(cast, 3, 10)
    await database_sync_to_async(Consult.objects.filter(pk=other.consult_id).update)(ends_at=timezone.now() + timezone.timedelta(minutes=12))
    busy = await _joined(other, cast.north[Role.SPECIALIST])  # starts that session
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        roster = await doctor.next("roster")
        expert = roster["experts"][0]
        assert expert["state"] == "in_another_consult" and 11 <= expert["wait_minutes"] <= 12
    finally:
        await busy.close()
        await doctor.close()


async def test_the_browsers_quality_summary_is_kept_and_bad_figures_are_refused(cast, room):
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        await doctor.send({"type": "stats", "summary": {"rtt_ms": 41.5, "loss_pct": 0.2, "fps": 29.7, "samples": 5}})
        await doctor.send({"type": "stats", "summary": {"rtt_ms": "fast"}})
        assert "statistics are not valid" in (await doctor.next("error"))["error"]
        seat = await database_sync_to_async(Attendance.objects.get)(room=room, user=cast.north[Role.CLINIC_DOCTOR])
        assert seat.quality == {"rtt_ms": 41.5, "loss_pct": 0.2, "fps": 29.7, "samples": 5}
    finally:
        await doctor.close()


async def test_media_messages_before_an_offer_or_from_the_lobby_are_refused(cast, room):
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    await doctor.send({"type": "answer", "sdp": "v=0"})
    assert "Send your offer first" in (await doctor.next("error"))["error"]
    invitation = await database_sync_to_async(_guest)(room, cast.north[Role.SPECIALIST])
    guest = await Socket(room, invitation=invitation).open()
    assert (await guest.join())["kind"] == "lobby"
    await guest.send({"type": "offer", "sdp": "v=0", "sources": {}})
    assert "Wait until the host lets you in" in (await guest.next("error"))["error"]
    await guest.close()
    await doctor.close()


async def test_an_offer_without_a_usable_codec_gets_a_reason(cast, room):
    doctor = await _joined(room, cast.north[Role.CLINIC_DOCTOR])
    try:
        await doctor.send({"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 120\r\na=rtpmap:120 FANCY/90000\r\n", "sources": {}})
        error = await doctor.next("error", timeout=20)
        assert error.get("media") and "no audio or video format" in error["error"]
    finally:
        await doctor.close()
