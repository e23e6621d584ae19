from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telemed.video.workers import RelayWorkerLoop


class Command(BaseCommand):
    help = "Run a video relay worker: it takes rooms over the channel layer (Redis) and forwards their media."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="how operators see this worker (default: the host name)")

    def handle(self, *args, name, **options):
        if "InMemory" in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
            raise CommandError("Relay workers need a shared channel layer: set REDIS_URL (and VIDEO_RELAY=workers on the servers).")
        self.stdout.write(self.style.SUCCESS("Relay worker running (Ctrl-C stops)"))
        try:
            asyncio.run(RelayWorkerLoop(name).run())
        except KeyboardInterrupt:
            pass
