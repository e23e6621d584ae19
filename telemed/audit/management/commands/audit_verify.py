from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from telemed.audit.services import audit_verify


class Command(BaseCommand):
    help = "Verify the audit chain from the first event to the head; names the first broken link."

    def handle(self, *args, **options):
        started = time.perf_counter()
        result = audit_verify()
        elapsed = time.perf_counter() - started
        if not result.ok:
            raise CommandError(f"Audit chain BROKEN at event #{result.broken_seq}: {result.reason} ({result.checked} events before it are intact)")
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {result.checked} events verified in {elapsed:.2f} s."))
