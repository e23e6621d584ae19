from __future__ import annotations

import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from imaging.scp.server import build_ae, handlers, keep_titles_fresh


class Command(BaseCommand):
    help = "Run the DICOM C-ECHO / C-STORE SCP; registered nodes' instances go through the ingest service."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="0.0.0.0")
        parser.add_argument("--port", type=int, default=11112)
        parser.add_argument("--ae-title", default=settings.DICOM_AE_TITLE, help="default: DICOM_AE_TITLE (TELEMED)")

    def handle(self, *args, host, port, ae_title, **options):
        ae = build_ae(ae_title)
        stop = threading.Event()
        keep_titles_fresh(ae, stop)
        self.stdout.write(self.style.SUCCESS(f"DICOM SCP {ae_title} listening on {host}:{port} (Ctrl-C stops)"))
        try:
            ae.start_server((host, port), block=True, evt_handlers=handlers())
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
