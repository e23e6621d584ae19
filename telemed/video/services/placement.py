"""Which relay worker holds which room: one worker per room, rooms spread over live workers."""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.video.models import RelayWorker, Room

# A worker beats every HEARTBEAT seconds; one silent for ALIVE_WITHIN is taken for dead.
HEARTBEAT = timedelta(seconds=5)
ALIVE_WITHIN = timedelta(seconds=15)


class NoRelayWorker(Exception):
    pass


def _alive():
    return RelayWorker.objects.filter(heartbeat_at__gte=timezone.now() - ALIVE_WITHIN)


def worker_register(*, name: str, channel: str) -> RelayWorker:
    return RelayWorker.objects.create(name=name, channel=channel, heartbeat_at=timezone.now())


def worker_heartbeat(*, worker: RelayWorker) -> None:
    RelayWorker.objects.filter(pk=worker.pk).update(heartbeat_at=timezone.now())


def worker_retire(*, worker: RelayWorker) -> None:
    """A worker stopping cleanly: its rooms go to others at their next call."""
    Room.objects.filter(relay_worker=worker).update(relay_worker=None)
    RelayWorker.objects.filter(pk=worker.pk).delete()


@transaction.atomic
def room_worker(*, room_id) -> str:
    """The channel of the worker holding the room, placing it on the least busy live worker first.

    1. Lock the room: two servers placing the same room at once agree on one worker.
    2. Keep its worker while that one is alive; otherwise choose the live worker with fewest rooms.
    """
    room = Room.objects.select_for_update(of=("self",)).select_related("relay_worker").get(pk=room_id)
    current = room.relay_worker
    if current is not None and current.heartbeat_at >= timezone.now() - ALIVE_WITHIN:
        return current.channel
    busy = Count("rooms", filter=Q(rooms__consult__status__in=["scheduled", "in_session"]))
    worker = _alive().annotate(busy=busy).order_by("busy", "started_at").first()
    if worker is None:
        raise NoRelayWorker(_("No video relay is running. Ask the operators to start one (manage.py runrelay)."))
    room.relay_worker = worker
    room.save(update_fields=["relay_worker"])
    return worker.channel
