"""Relay workers: rooms' media in `manage.py runrelay` processes, reached over the channel layer.

A server process asks with `WorkerMedia`: it looks up (or chooses) the room's worker, sends the
call to the worker's channel with a reply channel of its own, and waits for the answer. The
worker (`RelayWorkerLoop`) runs the calls on its `Relay` and sends the relay's events out the same
way the in-process relay does (media.deliver_event), so consumers cannot tell the difference.
"""
from __future__ import annotations

import asyncio
import logging
import socket

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from telemed.rtc import errors as relay_errors
from telemed.rtc.relay import Relay
from telemed.video.media import deliver_event, relay_config, start_recording, stop_recording
from telemed.video.services import placement
from telemed.video.services.records import record_relay_event

logger = logging.getLogger(__name__)

CALL_TIMEOUT = 20.0  # s; an answer needs ICE gathering on the worker, which takes a moment
ERRORS = {cls.__name__: cls for cls in (relay_errors.RoomFull, relay_errors.RoomClosed, relay_errors.UnknownParticipant,
                                        relay_errors.BadDescription, relay_errors.NegotiationConflict, relay_errors.NoOfferPending)}


class WorkerMedia:
    """The MediaLink of a server process when VIDEO_RELAY=workers."""

    async def _call(self, op: str, room_id: str, seat_id: str, **args):
        layer = get_channel_layer()
        try:
            channel = await database_sync_to_async(placement.room_worker)(room_id=room_id)
        except placement.NoRelayWorker as missing:
            raise relay_errors.RoomClosed(str(missing)) from None
        reply = await layer.new_channel()  # the default prefix: one receive loop serves every channel of this process
        await layer.send(channel, {"type": "relay.call", "op": op, "room": room_id, "seat": seat_id, "args": args, "reply": reply})
        try:
            answer = await asyncio.wait_for(layer.receive(reply), CALL_TIMEOUT)
        except asyncio.TimeoutError:
            raise relay_errors.RelayError(f"relay worker did not answer {op} in time") from None
        if "error" in answer:
            raise ERRORS.get(answer["error"], relay_errors.RelayError)(answer.get("message", ""))
        return answer.get("result")

    async def join(self, room_id, seat_id, sdp, sources):
        return await self._call("join", room_id, seat_id, sdp=sdp, sources=sources)

    async def renegotiate(self, room_id, seat_id, sdp, sources):
        return await self._call("renegotiate", room_id, seat_id, sdp=sdp, sources=sources)

    async def answer(self, room_id, seat_id, sdp):
        await self._call("answer", room_id, seat_id, sdp=sdp)

    async def ice(self, room_id, seat_id, candidate, mid):
        await self._call("ice", room_id, seat_id, candidate=candidate, mid=mid)

    async def audio_only(self, room_id, seat_id, on):
        await self._call("audio_only", room_id, seat_id, on=on)

    async def leave(self, room_id, seat_id, *, removed=False):
        await self._call("leave", room_id, seat_id, removed=removed)

    async def start_recording(self, room_id):
        await self._call("start_recording", room_id, "")

    async def stop_recording(self, room_id):
        return await self._call("stop_recording", room_id, "")


async def _run_op(relay: Relay, op: str, room_id: str, seat_id: str, args: dict):
    if op == "leave":
        room = relay.rooms.get(room_id)
        if room is not None:
            await (room.remove(seat_id) if args.get("removed") else room.leave(seat_id))
        return None
    if op == "start_recording":
        return await start_recording(relay, room_id)
    if op == "stop_recording":
        return await stop_recording(relay, room_id)
    room = relay.room(room_id)
    if op == "join":
        return await room.join(seat_id, args["sdp"], sources=args["sources"])
    if op == "renegotiate":
        return await room.renegotiate(seat_id, args["sdp"], sources=args["sources"])
    if op == "answer":
        return await room.accept_answer(seat_id, args["sdp"])
    if op == "ice":
        return await room.add_ice_candidate(seat_id, args["candidate"], args["mid"])
    if op == "audio_only":
        return room.set_audio_only(seat_id, bool(args["on"]))
    raise relay_errors.RelayError(f"unknown relay call {op!r}")


class RelayWorkerLoop:
    """One runrelay process: registers, beats, takes calls, sends events out."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or socket.gethostname()
        self.relay = Relay(relay_config())
        self.layer = get_channel_layer()

    async def run(self) -> None:
        self.channel = await self.layer.new_channel()
        self.worker = await database_sync_to_async(placement.worker_register)(name=self.name, channel=self.channel)
        tasks = [asyncio.create_task(self._beat()), asyncio.create_task(self._pump())]
        try:
            while True:
                try:
                    message = await self.layer.receive(self.channel)
                except (OSError, RedisError):
                    # Redis restarting or a slow link: the rooms' media goes on meanwhile.
                    logger.warning("channel layer unreachable; retrying", exc_info=True)
                    await asyncio.sleep(1)
                    continue
                if message.get("type") == "relay.call":
                    asyncio.create_task(self._serve(message))
        finally:
            for task in tasks:
                task.cancel()
            await self.relay.close()
            await database_sync_to_async(placement.worker_retire)(worker=self.worker)

    async def _serve(self, message: dict) -> None:
        try:
            result = await _run_op(self.relay, message["op"], message["room"], message["seat"], message.get("args", {}))
            answer = {"result": result}
        except relay_errors.RelayError as problem:
            answer = {"error": type(problem).__name__, "message": str(problem)}
        except Exception as problem:  # a bad call must not stop the worker's other rooms
            logger.exception("relay call %s failed", message.get("op"))
            answer = {"error": "RelayError", "message": str(problem)}
        await self.layer.send(message["reply"], answer)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(placement.HEARTBEAT.total_seconds())
            await database_sync_to_async(placement.worker_heartbeat)(worker=self.worker)

    async def _pump(self) -> None:
        while True:
            event = await self.relay.events.get()
            try:
                await deliver_event(event, record_relay_event)
            except Exception:
                logger.exception("relay event %r could not be delivered", event)
