"""Booking figures on PostgreSQL: latency p50/p95 and throughput with 1, 10 and 50 concurrent
clients, and the number of double bookings (which must be 0).

    bash scripts/with-services.sh .venv/bin/python bench/booking.py [--attempts 600]

Each client is a thread with its own database connection calling the booking service (the
code behind the page and the API) for a fresh consult, with an expert and a slot drawn at
random from a small pool, so that clients collide as coordinators racing for popular slots do.
"""
from __future__ import annotations

import argparse
import random
import threading
import time
from datetime import date, time as clock, timedelta

from _setup import percentile, scratch_database

EXPERTS = 10
SLOTS_PER_EXPERT = 20  # 08:00 to 18:00 in 30-minute slots
DAYS = 5  # so 600 attempts meet 1,000 slots: most succeed, some collide


def _world():
    """An alliance with one hospital, one clinic, a coordinator and EXPERTS experts open all day."""
    from django.utils import timezone

    from consults.models import AvailabilityRule
    from telemed.accounts.models import Alliance, Institution, Membership, Pairing, Qualification, Role, User
    from telemed.patients.models import Patient

    alliance = Alliance.objects.create(name="Bench alliance")
    hospital = Institution.objects.create(alliance=alliance, kind="hospital", name="Bench hospital", code="B-H")
    clinic = Institution.objects.create(alliance=alliance, kind="clinic", name="Bench clinic", code="B-C")
    Pairing.objects.create(hospital=hospital, clinic=clinic)
    coordinator = User.objects.create(username="bench-coordinator", full_name="Coordinator")
    Membership.objects.create(user=coordinator, institution=hospital, role=Role.COORDINATOR)
    doctor = User.objects.create(username="bench-doctor", full_name="Doctor")
    Membership.objects.create(user=doctor, institution=clinic, role=Role.CLINIC_DOCTOR)
    experts = []
    for n in range(EXPERTS):
        expert = User.objects.create(username=f"bench-expert-{n}", full_name=f"Expert {n}")
        Membership.objects.create(user=expert, institution=hospital, role=Role.SPECIALIST)
        Qualification.objects.create(
            user=expert, licence_number=f"B-{n}", title="chief", specialties=["respiratory"],
            independent_practice_since=date(2000, 1, 1), verified_by=coordinator, verified_at=timezone.now(),
        )
        for weekday in range(7):
            AvailabilityRule.objects.create(expert=expert, weekday=weekday, starts=clock(0), ends=clock(23, 30), valid_from=date(2020, 1, 1))
        experts.append(expert)
    patient = Patient.objects.create(institution=clinic, mrn="B-1", name="Bench patient", sex="1", birth_date=date(1960, 1, 1), registered_by=doctor)
    return coordinator, doctor, patient, experts


def _consults(count: int, patient, doctor) -> list:
    from django.utils import timezone

    from consults.models import Consult

    return Consult.objects.bulk_create(
        [
            Consult(
                patient=patient, clinic=patient.institution, requested_by=doctor, specialty="respiratory", question="q", history="h",
                consent_signed_by="p", consent_relation="self", consent_signed_at=timezone.now(),
            )
            for _ in range(count)
        ]
    )


def _run(clients: int, attempts: int, world) -> dict:
    from django.db import connections
    from django.utils import timezone

    from consults.services.bookings import BookingConflict, consult_book

    coordinator, doctor, patient, experts = world
    consults = _consults(attempts, patient, doctor)
    base = timezone.localtime(timezone.now() + timedelta(days=2)).replace(hour=8, minute=0, second=0, microsecond=0)
    queue = list(consults)
    lock = threading.Lock()
    latencies: list[float] = []
    outcome = {"booked": 0, "conflict": 0, "error": 0}
    errors: list[str] = []

    def client() -> None:
        rng = random.Random()
        while True:
            with lock:
                if not queue:
                    break
                consult = queue.pop()
            expert = rng.choice(experts)
            start = base + timedelta(days=rng.randrange(DAYS), minutes=30 * rng.randrange(SLOTS_PER_EXPERT))
            began = time.perf_counter()
            try:
                consult_book(by=coordinator, consult=consult, experts=[expert], starts_at=start)
                result = "booked"
            except BookingConflict:
                result = "conflict"
            except Exception as exc:  # counted and shown: the benchmark must not hide failures
                result = "error"
                with lock:
                    errors.append(repr(exc)[:200])
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                latencies.append(elapsed)
                outcome[result] += 1
        connections.close_all()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    for error in sorted(set(errors))[:3]:
        print("   error:", error)
    return {**outcome, "wall": wall, "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "attempts": len(latencies)}


def _double_bookings() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM consults_engagement a JOIN consults_engagement b
               ON a.expert_id = b.expert_id AND a.id < b.id AND a.released_at IS NULL AND b.released_at IS NULL
               AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at"""
        )
        return cursor.fetchone()[0]


def _clear_bookings() -> None:
    from consults.models import Consult, Engagement

    Engagement.objects.all().delete()
    Consult.objects.all().delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=600, help="booking attempts per concurrency level")
    args = parser.parse_args()
    vendor = scratch_database()
    if vendor != "postgresql":
        raise SystemExit("This benchmark measures PostgreSQL: run it under scripts/with-services.sh.")
    from django.test import override_settings

    world = _world()
    # E-mail and live pushes are not what is measured; the in-app notifications still are written.
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
        for clients in (1, 10, 50):
            _clear_bookings()
            r = _run(clients, args.attempts, world)
            print(
                f"{clients:>2} clients: {r['attempts']} attempts in {r['wall']:.1f} s; booked {r['booked']}, conflicts {r['conflict']}, errors {r['error']}; "
                f"latency p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms; {r['attempts'] / r['wall']:.0f} attempts/s, {r['booked'] / r['wall']:.0f} bookings/s; "
                f"double bookings: {_double_bookings()}"
            )


if __name__ == "__main__":
    main()
