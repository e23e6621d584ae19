from django.core.management.base import BaseCommand
from django.test import override_settings

from consults.demo import seed_consults
from imaging.demo import seed_imaging
from telemed.accounts.demo import DEMO_PASSWORD, seed_demo
from telemed.accounts.models import Role
from telemed.audit.models import Channel
from telemed.audit.origin import Origin, origin_scope


class Command(BaseCommand):
    help = "Create the demo alliance with its consults and studies (idempotent) and print every demo login."

    def handle(self, *args, **options):
        # The demo people's addresses are invented: their booking notifications are not e-mailed.
        with origin_scope(Origin(channel=Channel.COMMAND)), override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
            people = seed_demo()
            seed_consults()
            seed_imaging()
        self.stdout.write(self.style.SUCCESS(f"Demo alliance ready. Every demo login's password is: {DEMO_PASSWORD}"))
        for person in people:
            self.stdout.write(f"  {person.username:<14} {Role(person.role).label:<28} {person.full_name}")
