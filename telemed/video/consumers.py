"""The signalling WebSocket of one room: a protocol adapter over the video services.

Every message is checked against its schema (protocol.py) before anything runs; services decide
who may do what; the group `video.room.<id>` carries changes to everyone connected.
"""
from __future__ import annotations

import asyncio
import logging
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

from telemed.video import protocol
from telemed.rtc import errors as relay_errors
from telemed.video.events import room_group
from telemed.video.media import media_link, seat_group
from telemed.video.models import Attendance, Room
from telemed.video.services import chat, recordings, records, seats
from telemed.video.services.admission import (
    CLOSE_FORBIDDEN,
    CLOSE_NO_ROOM,
    CLOSE_NOT_SIGNED_IN,
    CLOSE_REPLACED,
    JoinRefused,
    Person,
    person_for,
    room_get,
)
from telemed.video.services.roster import room_state, welcome
from telemed.video.services.tokens import check_join_token, join_token

logger = logging.getLogger(__name__)

CLOSE_TOO_BIG = 1009
GUEST_SESSION_KEY = "video_invitation"


def _language(scope, person: Person) -> str:
    """Errors in the person's language: their account's, else the language cookie, else the default."""
    if person.user is not None:
        return person.user.language
    cookie = scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME, "")
    return cookie if cookie in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


class RoomConsumer(AsyncJsonWebsocketConsumer):
    room: Room | None = None
    person: Person | None = None
    seat: Attendance | None = None
    watch: asyncio.Task | None = None
    media_started = False

    async def connect(self):
        self.room = await database_sync_to_async(room_get)(self.scope["url_route"]["kwargs"]["room_id"])
        invitation_id = self.scope.get("session", {}).get(GUEST_SESSION_KEY)
        self.person = await database_sync_to_async(person_for)(self.scope.get("user"), invitation_id)
        if self.person is None:
            await self.close(code=CLOSE_NOT_SIGNED_IN)
            return
        if self.room is None:
            await self.close(code=CLOSE_NO_ROOM)
            return
        self.language = _language(self.scope, self.person)
        await self.accept()

    async def disconnect(self, code):
        if self.watch is not None:
            self.watch.cancel()
        if self.seat is not None:
            await self._leave_groups_of(self.seat)
            left = await database_sync_to_async(seats.seat_leave)(attendance_id=self.seat.pk, channel_name=self.channel_name)
            if left is not None:
                if self.media_started:
                    await media_link().leave(str(self.room.pk), str(self.seat.pk))
                if await database_sync_to_async(recordings.recording_left_running)(self.room):
                    await self._stop_recording_for("")
                await self._announce_roster()

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if bytes_data is not None or text_data is None or len(text_data) > protocol.MAX_MESSAGE_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        await super().receive(text_data=text_data, **kwargs)

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def receive_json(self, content, **kwargs):
        with translation.override(self.language):
            await self._handle(content)

    async def _handle(self, content):
        try:
            kind, fields = protocol.parse(content)
            if kind != "join" and kind != "ping" and self.seat is None:
                raise protocol.BadMessage(_("Join the room first."))
            await getattr(self, f"on_{kind}")(**fields)
        except (protocol.BadMessage, ValidationError) as problem:
            await self.send_json({"kind": "error", "error": _message(problem)})
        except relay_errors.RelayError as problem:
            logger.warning("room %s: relay refused %s: %s", self.room.pk, content.get("type"), problem)
            await self.send_json(_relay_problem(problem))
        except JoinRefused as refused:
            if self.seat is None:
                await self.send_json({"kind": "refused", "error": refused.message, "code": refused.code})
                await self.close(code=refused.code)
            else:
                await self.send_json({"kind": "error", "error": refused.message})

    # Client messages -------------------------------------------------------------------------

    async def on_ping(self):
        await self.send_json({"kind": "pong"})

    async def on_join(self, token):
        if self.seat is not None:
            raise protocol.BadMessage(_("You have already joined this room."))
        check_join_token(token, self.room, self.person)
        seat = await database_sync_to_async(seats.seat_take)(room=self.room, person=self.person, channel_name=self.channel_name)
        self.seat = seat.attendance
        if seat.replaced_channel:
            await self.channel_layer.send(seat.replaced_channel, {"type": "seat.replaced"})
        await self.channel_layer.group_add(room_group(self.room.pk), self.channel_name)
        await self.channel_layer.group_add(seat_group(self.seat.pk), self.channel_name)
        self.watch = asyncio.create_task(self._watch_access())
        state = await self._send_welcome()
        await self._to_room({"type": "room.roster", "state": state})
        if self.seat.state == Attendance.State.IN_ROOM:
            await self._stop_recording_unless_everyone_consents()

    async def on_leave(self):
        await self.close(code=1000)

    async def on_offer(self, sdp, sources):
        self._require_in_room()
        media, ids = media_link(), (str(self.room.pk), str(self.seat.pk))
        # The first offer of this connection joins the relay (replacing the seat's previous
        # connection there, if any: a reload or a dropped link); later offers renegotiate.
        if self.media_started:
            answer = await media.renegotiate(*ids, sdp, sources)
        else:
            answer = await media.join(*ids, sdp, sources)
            self.media_started = True
        await self.send_json({"kind": "answer", "sdp": answer})

    async def on_answer(self, sdp):
        self._require_media()
        await media_link().answer(str(self.room.pk), str(self.seat.pk), sdp)

    async def on_ice(self, candidate, mid):
        self._require_media()
        await media_link().ice(str(self.room.pk), str(self.seat.pk), candidate, mid or None)

    async def on_audio_only(self, on):
        self._require_media()
        await media_link().audio_only(str(self.room.pk), str(self.seat.pk), on)
        await self._to_room({"type": "room.audio_only", "seat": str(self.seat.pk), "on": on})

    async def on_stats(self, summary):
        await database_sync_to_async(records.quality_save)(attendance=self.seat, summary=summary)

    async def on_consent(self, on):
        await database_sync_to_async(recordings.consent_set)(room=self.room, person=self.person, given=on)
        if not on:
            await self._stop_recording_unless_everyone_consents()
        await self._announce_roster()

    async def on_record(self, on):
        if not on:
            if await database_sync_to_async(recordings.recording_may_stop)(by=self.person.user, room=self.room):
                await self._stop_recording_for("")
            return
        await database_sync_to_async(recordings.recording_may_start)(by=self.person.user, room=self.room)
        # The relay records first; if it cannot, or the room cannot be marked recording (a consent
        # withdrawn meanwhile), it stops again, and the files of that start are not kept.
        try:
            await media_link().start_recording(str(self.room.pk))
            await database_sync_to_async(recordings.recording_start)(by=self.person.user, room=self.room)
        except BaseException:
            await media_link().stop_recording(str(self.room.pk))
            raise
        await self._to_room({"type": "room.recording", "on": True, "reason": ""})

    async def _stop_recording_unless_everyone_consents(self) -> None:
        missing = await database_sync_to_async(recordings.unconsented_while_recording)(self.room)
        if missing is not None:
            await self._stop_recording_for(missing)

    async def _stop_recording_for(self, reason_name: str) -> None:
        """Stop the recording under way (the host asked, the room emptied, or someone withdrew or
        lacks consent); the process holding the relay stores its files and marks the room not recording."""
        await media_link().stop_recording(str(self.room.pk))
        await self._to_room({"type": "room.recording", "on": False, "reason": reason_name})

    async def on_mute(self, audio, video):
        await self._to_room({"type": "room.mute", "seat": str(self.seat.pk), "audio": audio, "video": video})

    async def on_chat(self, text):
        message = await database_sync_to_async(chat.chat_post)(attendance=self.seat, text=text)
        payload = await database_sync_to_async(chat.chat_payload)(message)
        await self._to_room({"type": "room.chat", "message": payload})

    async def on_admit(self, seat):
        seat = str(_uuid(seat))  # the form every connection compares its own seat with
        await database_sync_to_async(seats.seat_admit)(by=self.person.user, room=self.room, attendance_id=seat)
        await self._to_room({"type": "room.admitted", "seat": seat})
        await self._announce_roster()

    async def on_remove(self, seat):
        seat = str(_uuid(seat))
        await database_sync_to_async(seats.seat_remove)(by=self.person.user, room=self.room, attendance_id=seat)
        # Stop their media here as well: their own connection may sit on another server, or hang.
        await media_link().leave(str(self.room.pk), seat, removed=True)
        await self._to_room({"type": "room.removed", "seat": seat})
        await self._announce_roster()

    # Room events -----------------------------------------------------------------------------

    async def room_roster(self, event):
        await self.send_json({"kind": "roster", **event["state"]})

    async def room_chat(self, event):
        await self.send_json({"kind": "chat", **event["message"]})

    async def room_mute(self, event):
        await self.send_json({"kind": "mute", "seat": event["seat"], "audio": event["audio"], "video": event["video"]})

    async def room_recording(self, event):
        reason = _("Recording stopped: %(name)s has not consented.") % {"name": event["reason"]} if event["reason"] else ""
        await self.send_json({"kind": "recording", "on": event["on"], "reason": reason})

    async def room_audio_only(self, event):
        await self.send_json({"kind": "audio_only", "seat": event["seat"], "on": event["on"]})

    async def media_offer(self, event):
        await self.send_json({"kind": "offer", "sdp": event["sdp"], "tracks": event["tracks"]})

    async def room_admitted(self, event):
        if self.seat is not None and event["seat"] == str(self.seat.pk):
            self.seat = await database_sync_to_async(seats.seat_get)(attendance_id=self.seat.pk)
            await self._send_welcome()
            await self._stop_recording_unless_everyone_consents()

    async def room_removed(self, event):
        if self.seat is not None and event["seat"] == str(self.seat.pk):
            await self._drop(CLOSE_FORBIDDEN)

    async def seat_replaced(self, event):
        await self._drop(CLOSE_REPLACED)

    # Helpers ---------------------------------------------------------------------------------

    def _require_in_room(self) -> None:
        if self.seat.state != Attendance.State.IN_ROOM:
            raise protocol.BadMessage(_("Wait until the host lets you in."))

    def _require_media(self) -> None:
        if not self.media_started:
            raise protocol.BadMessage(_("Send your offer first."))

    async def _drop(self, code: int) -> None:
        """Lose the seat without leaving it: another connection holds it now (its media takes
        over the relay's place), or the host or a revocation took it away (media stops now)."""
        seat, self.seat = self.seat, None
        if seat is None:
            return
        await self._leave_groups_of(seat)
        if code != CLOSE_REPLACED and self.media_started:
            await media_link().leave(str(self.room.pk), str(seat.pk), removed=True)
        await self.close(code=code)

    async def _leave_groups_of(self, seat) -> None:
        await self.channel_layer.group_discard(room_group(self.room.pk), self.channel_name)
        await self.channel_layer.group_discard(seat_group(seat.pk), self.channel_name)

    async def _watch_access(self):
        """Re-check access every few seconds: a revoked person's media stops within seconds.

        Also hand the page a fresh join token now and then, so it can reconnect after a dropped
        link long after the page was loaded.
        """
        since_token = 0.0
        while self.seat is not None:
            await asyncio.sleep(settings.VIDEO_RECHECK_SECONDS)
            seat = self.seat
            if seat is not None and not await database_sync_to_async(seats.seat_still_allowed)(seat):
                await self._drop(CLOSE_FORBIDDEN)
                await self._announce_roster()
                return
            since_token += settings.VIDEO_RECHECK_SECONDS
            if since_token >= settings.VIDEO_JOIN_TOKEN_SECONDS / 2:
                since_token = 0.0
                await self.send_json({"kind": "token", "token": await database_sync_to_async(join_token)(self.room, self.person)})

    async def _send_welcome(self) -> dict:
        """Welcome this person; returns the room's state built for it, for announcing."""
        message, state = await database_sync_to_async(welcome)(self.room, self.person, self.seat)
        await self.send_json(message)
        return state

    async def _announce_roster(self):
        state = await database_sync_to_async(room_state)(self.room)
        await self.channel_layer.group_send(room_group(self.room.pk), {"type": "room.roster", "state": state})

    async def _to_room(self, event: dict):
        await self.channel_layer.group_send(room_group(self.room.pk), event)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise protocol.BadMessage(_("No such person in this room.")) from None


def _relay_problem(problem: relay_errors.RelayError) -> dict:
    if isinstance(problem, relay_errors.NegotiationConflict):
        # The relay's own offer is on its way: the browser answers it, then offers again.
        return {"kind": "offer_conflict"}
    reasons = {
        relay_errors.RoomFull: _("%(n)d people already send video in this room; you can still listen and chat.") % {"n": settings.VIDEO_MAX_PUBLISHERS},
        relay_errors.BadDescription: _("Your browser offered no audio or video format the relay can use. Update the browser or try another one."),
        relay_errors.RoomClosed: _("This room has closed."),
    }
    message = next((text for kind, text in reasons.items() if isinstance(problem, kind)), _("The media connection failed; try again."))
    return {"kind": "error", "error": message, "media": True}


def _message(problem) -> str:
    if isinstance(problem, ValidationError):
        return " ".join(problem.messages)
    return str(problem)
