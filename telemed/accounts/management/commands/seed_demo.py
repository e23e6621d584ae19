from django.core.management.base import BaseCommand

from telemed.accounts.demo import DEMO_PASSWORD, seed_demo
from telemed.accounts.models import Role
from telemed.audit.models import Channel
from telemed.audit.origin import Origin, origin_scope


class Command(BaseCommand):
    help = "Create the demo alliance (idempotent) and print every demo login."

    def handle(self, *args, **options):
        with origin_scope(Origin(channel=Channel.COMMAND)):
            people = seed_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo alliance ready. Every demo login's password is: {DEMO_PASSWORD}"))
        for person in people:
            self.stdout.write(f"  {person.username:<14} {Role(person.role).label:<28} {person.full_name}")
