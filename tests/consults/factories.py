from __future__ import annotations

from datetime import date, time, timedelta

import factory
from django.utils import timezone

from consults.models import AvailabilityRule, Consult, Urgency
from consults.services.bookings import consult_book
from telemed.accounts.models import Role, Specialty
from tests.patients.factories import PatientFactory


class ConsultFactory(factory.django.DjangoModelFactory):
    """A requested consult; `patient.institution` is the requesting clinic."""

    class Meta:
        model = Consult

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda o: o.patient.institution)
    requested_by = factory.LazyAttribute(lambda o: o.patient.registered_by)
    specialty = Specialty.RESPIRATORY
    urgency = Urgency.ROUTINE
    question = "Persistent cough and fever for two weeks: pneumonia or tuberculosis?"
    history = "68-year-old, smoker, CT shows right lower lobe consolidation."
    consent_signed_by = factory.LazyAttribute(lambda o: o.patient.name)
    consent_relation = "self"
    consent_signed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))


def weekday_hours(expert, *, starts=time(9), ends=time(12), days=range(7), zone="Asia/Shanghai", since: date | None = None):
    """Consult hours every given weekday (every day by default), valid from `since` (default: a week ago)."""
    since = since or timezone.localdate() - timedelta(days=7)
    return [
        AvailabilityRule.objects.create(expert=expert, weekday=day, starts=starts, ends=ends, time_zone=zone, valid_from=since) for day in days
    ]


def next_slot_start(days_ahead: int = 1, hour: int = 9, zone: str = "Asia/Shanghai"):
    import zoneinfo
    from datetime import datetime

    local = zoneinfo.ZoneInfo(zone)
    day = timezone.now().astimezone(local).date() + timedelta(days=days_ahead)
    return datetime.combine(day, time(hour), local)


def booked_consult(side, *, days_ahead: int = 1, hour: int = 9, experts=None):
    """A consult of `side`'s clinic booked with `side`'s specialist (who gets daily hours 9–12)."""
    expert = side[Role.SPECIALIST]
    if not expert.availability_rules.exists():
        weekday_hours(expert)
    consult = ConsultFactory(patient=side.patient)
    return consult_book(by=side[Role.COORDINATOR], consult=consult, experts=experts or [expert], starts_at=next_slot_start(days_ahead, hour))
