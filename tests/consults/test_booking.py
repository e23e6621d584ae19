"""Booking: qualification rules, consult hours, consent, conflicts (in Python and in the database)."""
from __future__ import annotations

import threading
from datetime import time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections
from django.utils import timezone

from consults.models import Consult, Engagement, Participant, Reminder, Status
from consults.services.bookings import (
    BookingConflict,
    consult_book,
    consult_cancel,
    consult_reschedule,
)
from telemed.accounts.models import Role
from telemed.patients.models import PatientGrant
from tests.accounts.factories import (
    MembershipFactory,
    QualificationFactory,
    UserFactory,
)
from tests.consults.factories import (
    ConsultFactory,
    booked_consult,
    next_slot_start,
    weekday_hours,
)
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _expert(cast, **qualification):
    expert = UserFactory()
    MembershipFactory(user=expert, institution=cast.north.hospital, role=Role.SPECIALIST)
    QualificationFactory(user=expert, verified_by=cast.north[Role.ADMINISTRATOR], **qualification)
    weekday_hours(expert)
    return expert


def test_coordinator_books_a_qualified_expert_in_their_hours(cast):
    consult = booked_consult(cast.north)
    assert consult.status == Status.SCHEDULED
    assert consult.hospital == cast.north.hospital
    assert consult.ends_at - consult.starts_at == timedelta(minutes=30)
    assert Engagement.objects.get(consult=consult).expert == cast.north[Role.SPECIALIST]
    roles = dict(consult.participants.values_list("user__username", "role"))
    assert roles[cast.north[Role.SPECIALIST].username] == Participant.Role.LEAD_EXPERT
    assert roles[cast.north[Role.CLINIC_DOCTOR].username] == Participant.Role.CLINIC_DOCTOR
    assert PatientGrant.objects.filter(patient=consult.patient, user=cast.north[Role.SPECIALIST], source_id=consult.pk).exists()
    assert list(consult.timeline.values_list("action", flat=True)) == ["book"]


def test_booked_expert_sees_the_patient(cast, client_for):
    consult = booked_consult(cast.north)
    assert client_for(cast.north[Role.SPECIALIST]).get(f"/patients/{consult.patient.pk}/").status_code == 200


def test_mdt_books_several_experts_at_once(cast):
    second = _expert(cast, specialties=["infectious_disease"])
    consult = booked_consult(cast.north, experts=[cast.north[Role.SPECIALIST], second])
    assert consult.is_mdt
    assert Engagement.objects.filter(consult=consult).count() == 2


@pytest.mark.parametrize(
    ("qualification", "reason"),
    [
        ({"verified_at": None}, "no verified qualification"),
        ({"independent_practice_since": timezone.localdate() - timedelta(days=2 * 365)}, "remote consultations need at least 3"),
        ({"specialties": ["tcm"]}, "is not qualified in Respiratory medicine"),
    ],
)
def test_unqualified_expert_is_refused_with_the_reason(cast, qualification, reason):
    expert = _expert(cast, **qualification)
    consult = ConsultFactory(patient=cast.north.patient)
    with pytest.raises(ValidationError) as caught:
        consult_book(by=cast.north[Role.COORDINATOR], consult=consult, experts=[expert], starts_at=next_slot_start())
    assert reason in str(caught.value)
    consult.refresh_from_db()
    assert consult.status == Status.REQUESTED and not Engagement.objects.exists()


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (lambda: next_slot_start(hour=14), "does not hold consult hours"),
        (lambda: timezone.now() - timedelta(hours=1), "in the past"),
    ],
)
def test_booking_outside_hours_or_in_the_past_is_refused(cast, when, message):
    weekday_hours(cast.north[Role.SPECIALIST])
    consult = ConsultFactory(patient=cast.north.patient)
    with pytest.raises(ValidationError, match=message):
        consult_book(by=cast.north[Role.COORDINATOR], consult=consult, experts=[cast.north[Role.SPECIALIST]], starts_at=when())
    assert not Engagement.objects.exists()


def test_booking_without_consent_is_refused(cast):
    weekday_hours(cast.north[Role.SPECIALIST])
    consult = ConsultFactory(patient=cast.north.patient, consent_signed_by="")
    with pytest.raises(ValidationError, match="consent is not recorded"):
        consult_book(by=cast.north[Role.COORDINATOR], consult=consult, experts=[cast.north[Role.SPECIALIST]], starts_at=next_slot_start())


def test_overlapping_booking_gets_a_conflict_with_the_next_free_times(cast):
    first = booked_consult(cast.north)
    second = ConsultFactory(patient=PatientFactory(institution=cast.north.clinic))
    with pytest.raises(BookingConflict) as caught:
        consult_book(by=cast.north[Role.COORDINATOR], consult=second, experts=[cast.north[Role.SPECIALIST]], starts_at=first.starts_at + timedelta(minutes=15), minutes=30)
    conflict = caught.value
    assert "is already booked" in conflict.messages[0]
    assert conflict.suggestions and conflict.suggestions[0].starts_at >= first.ends_at
    second.refresh_from_db()
    assert second.status == Status.REQUESTED


def test_database_refuses_an_overlapping_engagement_written_around_the_service(cast):
    consult = booked_consult(cast.north)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Engagement.objects.create(expert=cast.north[Role.SPECIALIST], starts_at=consult.starts_at + timedelta(minutes=10), ends_at=consult.ends_at + timedelta(minutes=10))


def test_coordinator_of_another_alliance_cannot_book(cast):
    weekday_hours(cast.north[Role.SPECIALIST])
    consult = ConsultFactory(patient=cast.north.patient)
    with pytest.raises(PermissionDenied):
        consult_book(by=cast.south[Role.COORDINATOR], consult=consult, experts=[cast.north[Role.SPECIALIST]], starts_at=next_slot_start())


def test_reschedule_moves_the_engagement_and_bumps_the_sequence(cast):
    consult = booked_consult(cast.north)
    later = consult.starts_at + timedelta(days=1)
    consult_reschedule(by=cast.north[Role.COORDINATOR], consult=consult, starts_at=later, reason="expert in theatre")
    consult.refresh_from_db()
    assert consult.starts_at == later and consult.sequence == 1
    assert Engagement.objects.filter(consult=consult, released_at__isnull=True).get().starts_at == later
    assert set(Reminder.objects.filter(consult=consult).values_list("sequence", flat=True)) == {1}


def test_cancelled_consult_cannot_be_rescheduled_and_nothing_changes(cast):
    consult = booked_consult(cast.north)
    consult_cancel(by=cast.north[Role.COORDINATOR], consult=consult, reason="patient recovered")
    with pytest.raises(ValidationError, match="Only a scheduled consult can be rescheduled"):
        consult_reschedule(by=cast.north[Role.COORDINATOR], consult=consult, starts_at=consult.starts_at + timedelta(days=1), reason="x")
    consult.refresh_from_db()
    assert consult.status == Status.CANCELLED and consult.sequence == 1


def test_cancel_frees_the_time_and_ends_the_experts_access(cast, client_for):
    consult = booked_consult(cast.north)
    consult_cancel(by=cast.north[Role.CLINIC_DOCTOR], consult=consult, reason="patient transferred")
    assert not Engagement.objects.filter(released_at__isnull=True).exists()
    assert client_for(cast.north[Role.SPECIALIST]).get(f"/patients/{consult.patient.pk}/").status_code == 404
    again = ConsultFactory(patient=PatientFactory(institution=cast.north.clinic))
    consult_book(by=cast.north[Role.COORDINATOR], consult=again, experts=[cast.north[Role.SPECIALIST]], starts_at=consult.starts_at)


def test_expert_in_another_time_zone_is_booked_in_their_own_hours(cast):
    expert = cast.north[Role.SPECIALIST]
    weekday_hours(expert, starts=time(9), ends=time(10), zone="Europe/London")
    consult = ConsultFactory(patient=cast.north.patient)
    london_nine = next_slot_start(days_ahead=2, hour=9, zone="Europe/London")
    consult_book(by=cast.north[Role.COORDINATOR], consult=consult, experts=[expert], starts_at=london_nine)
    with pytest.raises(ValidationError):
        consult_book(by=cast.north[Role.COORDINATOR], consult=ConsultFactory(patient=PatientFactory(institution=cast.north.clinic)), experts=[expert], starts_at=next_slot_start(days_ahead=2, hour=9))


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_bookings_of_one_slot_leave_exactly_one_winner():
    from tests.cast import build_cast

    cast = build_cast()
    expert = cast.north[Role.SPECIALIST]
    weekday_hours(expert)
    coordinator = cast.north[Role.COORDINATOR]
    consults = [ConsultFactory(patient=PatientFactory(institution=cast.north.clinic, registered_by=cast.north[Role.CLINIC_DOCTOR])) for _ in range(50)]
    start = next_slot_start()
    barrier = threading.Barrier(len(consults))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(consult: Consult) -> None:
        try:
            barrier.wait()
            consult_book(by=coordinator, consult=consult, experts=[expert], starts_at=start)
            result = "booked"
        except BookingConflict:
            result = "conflict"
        except Exception as exc:  # anything else is a failure of the test
            result = f"error: {exc!r}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in consults]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(outcomes)) == ["booked", "conflict"], outcomes
    assert outcomes.count("booked") == 1
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM consults_engagement a JOIN consults_engagement b
               ON a.expert_id = b.expert_id AND a.id < b.id AND a.released_at IS NULL AND b.released_at IS NULL
               AND tstzrange(a.starts_at, a.ends_at, '[)') && tstzrange(b.starts_at, b.ends_at, '[)')"""
        )
        assert cursor.fetchone()[0] == 0
    assert Consult.objects.filter(status=Status.SCHEDULED).count() == 1
