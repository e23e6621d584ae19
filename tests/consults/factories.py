from __future__ import annotations

from datetime import date, time, timedelta

import factory
from django.utils import timezone

from consults.models import AvailabilityRule, Consult, Opinion, Urgency
from consults.services.bookings import consult_book
from consults.services.opinions import opinion_save, opinion_sign
from consults.services.sessions import consult_start_session
from telemed.accounts.models import Role, Specialty
from tests.accounts.factories import MembershipFactory, QualificationFactory, UserFactory
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


def starting_in(consult: Consult, minutes: int) -> Consult:
    """Move a booked consult's time close to now (the session opens 15 minutes before it)."""
    starts = timezone.now() + timedelta(minutes=minutes)
    Consult.objects.filter(pk=consult.pk).update(starts_at=starts, ends_at=starts + timedelta(minutes=30))
    consult.refresh_from_db()
    return consult


def consult_in_session(side, *, experts=None, days_ahead: int = 1) -> Consult:
    consult = starting_in(booked_consult(side, experts=experts, days_ahead=days_ahead), 10)
    return consult_start_session(by=side[Role.SPECIALIST], consult=consult)


def opinion_fields(**overrides) -> dict:
    fields = {
        "findings": "Right lower lobe consolidation with air bronchograms; no cavity.",
        "impression": "Community-acquired pneumonia; tuberculosis unlikely.",
        "recommendations": "Amoxicillin-clavulanate for 7 days; chest X-ray in 6 weeks.",
        "referral_advice": "none",
    }
    return fields | overrides


def signed_opinion(consult: Consult, author, **fields) -> Opinion:
    opinion = opinion_save(by=author, consult=consult, **opinion_fields(**fields))
    return opinion_sign(by=author, opinion=opinion)


def second_expert(cast):
    """Another verified North specialist (infectious disease), with consult hours, for MDT."""
    expert = UserFactory(full_name="North second expert")
    MembershipFactory(user=expert, institution=cast.north.hospital, role=Role.SPECIALIST)
    QualificationFactory(user=expert, verified_by=cast.north[Role.ADMINISTRATOR], specialties=["infectious_disease"])
    weekday_hours(expert)
    return expert


def foreign_opinion_values(side) -> dict[str, str]:
    """For the access matrix: a consult of `side` with a signed opinion and a referral made from it."""
    from consults.services.referrals import referral_create

    consult = consult_in_session(side, days_ahead=2)
    opinion = signed_opinion(consult, side[Role.SPECIALIST], referral_advice="up")
    referral = referral_create(
        by=side[Role.CLINIC_DOCTOR], consult=consult, direction="up", reason="Needs bronchoscopy.", contact=side[Role.COORDINATOR]
    )
    return {"opinion_id": str(opinion.pk), "referral_id": str(referral.pk)}
