"""Reminders before a consult, the urgent-request escalation, the tasks and the notification inbox.

The services take `now`, so each test sets the clock where it wants instead of waiting.
A consult booked two days ahead has both default reminders (24 h and 15 min before) for its
three participants: the lead expert, the requesting clinic doctor and the booking coordinator.
"""
from __future__ import annotations

import re
import threading
import zoneinfo
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.utils import timezone

from consults import tasks
from consults.models import Consult, Notification, OnDuty, Participant, Reminder, Status, Urgency
from consults.services import reminders
from consults.services.bookings import consult_book, consult_cancel, consult_reschedule
from consults.services.reminders import reminders_send_due
from consults.services.urgent import consult_accept_offer, urgent_escalate_due, urgent_offer
from telemed.accounts.models import Role, Specialty
from telemed.audit.models import AuditEvent
from tests.consults.factories import ConsultFactory, booked_consult, next_slot_start

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
QUARTER = timedelta(minutes=15)


def _people(cast):
    north = cast.north
    return {north[Role.SPECIALIST], north[Role.CLINIC_DOCTOR], north[Role.COORDINATOR]}


REMINDER_TITLE = re.compile(r"^Consult (in|today at|tomorrow at|on) ")


def _reminded(consult) -> list[tuple[str, str]]:
    """(username, title) of the reminders sent, leaving out the booking's own messages."""
    notes = Notification.objects.filter(consult=consult).values_list("user__username", "title")
    return sorted((user, title) for user, title in notes if REMINDER_TITLE.match(title))


# --- Sending --------------------------------------------------------------------------------------

def test_reminders_are_sent_to_every_participant_when_due_and_not_before(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    assert Reminder.objects.filter(consult=consult).count() == 6
    assert reminders_send_due(now=consult.starts_at - DAY - timedelta(minutes=1)) == 0
    assert reminders_send_due(now=consult.starts_at - DAY) == 3
    assert {t for _u, t in _reminded(consult)} == {"Consult tomorrow at 09:00"}
    assert reminders_send_due(now=consult.starts_at - QUARTER) == 3
    assert {u for u, t in _reminded(consult) if t == "Consult in 15 minutes"} == {p.username for p in _people(cast)}
    assert not Reminder.objects.filter(consult=consult, sent_at__isnull=True).exists()


def test_running_twice_never_sends_twice(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    assert reminders_send_due(now=consult.starts_at - QUARTER) == 6  # both are due by then
    assert reminders_send_due(now=consult.starts_at - QUARTER) == 0
    assert reminders_send_due(now=consult.starts_at - timedelta(minutes=1)) == 0
    assert len(_reminded(consult)) == 6


def test_each_recipient_reads_the_time_in_their_own_zone(cast):
    expert = cast.north[Role.SPECIALIST]
    expert.time_zone = "Europe/London"
    expert.save(update_fields=["time_zone"])
    consult = booked_consult(cast.north, days_ahead=3)
    reminders_send_due(now=consult.starts_at - DAY)
    london = consult.starts_at.astimezone(zoneinfo.ZoneInfo("Europe/London"))
    expected = f"{london:%H:%M}"
    titles = dict(_reminded(consult))
    assert titles[expert.username].endswith(f"at {expected}")
    assert titles[cast.north[Role.CLINIC_DOCTOR].username].endswith("at 09:00")
    body = Notification.objects.get(consult=consult, user=expert, title=titles[expert.username]).body
    assert "Europe/London" in body and cast.north.patient.name not in body


def test_cancelled_consult_gets_no_reminder(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    consult_cancel(by=cast.north[Role.COORDINATOR], consult=consult, reason="patient recovered")
    assert reminders_send_due(now=consult.starts_at - QUARTER) == 0
    assert _reminded(consult) == []


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.COMPLETED, Status.DECLINED, Status.IN_SESSION])
def test_reminder_of_a_consult_no_longer_scheduled_is_dropped_unsent(cast, status):
    # Written around the services, as if the change raced the reminder: the sender checks again.
    consult = booked_consult(cast.north, days_ahead=2)
    Consult.objects.filter(pk=consult.pk).update(status=status)
    assert reminders_send_due(now=consult.starts_at - QUARTER) == 0
    assert not Reminder.objects.filter(consult=consult).exists()
    assert _reminded(consult) == []


def test_rescheduled_consult_is_reminded_for_the_new_time_only(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    old_start = consult.starts_at
    consult = consult_reschedule(by=cast.north[Role.COORDINATOR], consult=consult, starts_at=old_start + DAY, reason="expert in theatre")
    # A reminder of the old version that escaped the reschedule is stale by its sequence.
    Reminder.objects.create(consult=consult, user=cast.north[Role.SPECIALIST], minutes_before=15, sequence=0, due_at=old_start - QUARTER)
    assert reminders_send_due(now=old_start - QUARTER) == 0
    assert not Reminder.objects.filter(consult=consult, sequence=0).exists()
    assert reminders_send_due(now=consult.starts_at - DAY) == 3
    assert reminders_send_due(now=consult.starts_at - QUARTER) == 3
    assert set(Reminder.objects.filter(consult=consult).values_list("sequence", flat=True)) == {1}


def test_removed_participant_is_not_reminded(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    Participant.objects.filter(consult=consult, user=cast.north[Role.COORDINATOR]).update(removed_at=timezone.now())
    assert reminders_send_due(now=consult.starts_at - QUARTER) == 4
    assert cast.north[Role.COORDINATOR].username not in {u for u, _t in _reminded(consult)}


def test_late_reminder_for_a_consult_already_begun_is_dropped(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    assert reminders_send_due(now=consult.starts_at + timedelta(minutes=1)) == 0
    assert not Reminder.objects.filter(consult=consult).exists()


def test_a_crash_before_commit_loses_no_reminder(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    real_notify = reminders.notify
    calls = []

    def notify_then_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("database went away")
        return real_notify(*args, **kwargs)

    with mock.patch.object(reminders, "notify", notify_then_crash), pytest.raises(ConnectionError):
        reminders_send_due(now=consult.starts_at - QUARTER)
    assert _reminded(consult) == []
    assert Reminder.objects.filter(consult=consult, sent_at__isnull=True).count() == 6
    assert reminders_send_due(now=consult.starts_at - QUARTER) == 6


def test_reminder_emails_leave_only_after_commit(cast, django_capture_on_commit_callbacks):
    consult = booked_consult(cast.north, days_ahead=2)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reminders_send_due(now=consult.starts_at - DAY)
    assert mail.outbox == []
    for callback in callbacks:
        callback()
    assert sorted(m.subject for m in mail.outbox) == ["Consult tomorrow at 09:00"] * 3


def test_sending_is_recorded_in_the_audit_trail_with_the_patient(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    reminders_send_due(now=consult.starts_at - DAY)
    events = AuditEvent.objects.filter(action="consult.remind")
    assert events.count() == 3
    assert {e.patient_id for e in events} == {consult.patient_id}


def test_small_batches_still_send_everything_due(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    assert reminders_send_due(now=consult.starts_at - QUARTER, batch=4) == 6


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_send_the_same_reminder():
    from tests.cast import build_cast

    cast = build_cast()
    consults = [booked_consult(cast.north, days_ahead=2, hour=hour) for hour in (9, 10, 11)]
    now = consults[0].starts_at - timedelta(minutes=1)  # every 24 h reminder is due, and the first consult's 15 min ones
    barrier = threading.Barrier(4)
    results: list = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(reminders_send_due(now=now, batch=5))
        except Exception as exc:  # any error fails the assertion below
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 12  # (three consults + one) × three people, each once
    assert sum(len(_reminded(c)) for c in consults) == 12


# --- Tasks --------------------------------------------------------------------------------------

def test_beat_runs_both_tasks_often_and_they_are_acknowledged_late():
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["consults.tasks.send_due_reminders"] == timedelta(seconds=30)
    assert schedule["consults.tasks.escalate_unaccepted_urgent"] == timedelta(seconds=60)
    assert tasks.send_due_reminders.name == "consults.tasks.send_due_reminders"
    assert tasks.escalate_unaccepted_urgent.name == "consults.tasks.escalate_unaccepted_urgent"
    assert tasks.send_due_reminders.acks_late and tasks.escalate_unaccepted_urgent.acks_late


def test_reminder_task_called_directly_sends_what_is_due(cast):
    consult = booked_consult(cast.north, days_ahead=2)
    Reminder.objects.filter(consult=consult, minutes_before=1440).update(due_at=timezone.now() - timedelta(seconds=5))
    assert tasks.send_due_reminders() == 3
    assert tasks.send_due_reminders() == 0


# --- Urgent requests --------------------------------------------------------------------------------

def _urgent(cast, urgency=Urgency.URGENT, *, on_duty=True):
    north = cast.north
    if on_duty:
        now = timezone.now()
        OnDuty.objects.create(hospital=north.hospital, specialty=Specialty.RESPIRATORY, expert=north[Role.SPECIALIST], starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=8))
    return ConsultFactory(patient=north.patient, urgency=urgency)


def test_urgent_request_is_offered_to_the_expert_on_duty(cast):
    consult = urgent_offer(consult=_urgent(cast, Urgency.EMERGENCY), by=cast.north[Role.CLINIC_DOCTOR])
    expert = cast.north[Role.SPECIALIST]
    assert consult.offered_to == expert and consult.offered_at is not None and consult.escalated_at is None
    assert Notification.objects.filter(user=expert, consult=consult, title="Emergency Respiratory medicine consult request for you").exists()
    assert AuditEvent.objects.filter(action="consult.offer", patient_id=consult.patient_id).exists()
    assert list(consult.timeline.values_list("action", flat=True)) == ["offer"]


def test_unaccepted_offer_escalates_to_the_coordinators_once(cast):
    consult = urgent_offer(consult=_urgent(cast), by=cast.north[Role.COORDINATOR])
    deadline = consult.offered_at + timedelta(minutes=settings.URGENT_ESCALATION_MINUTES)
    assert urgent_escalate_due(now=deadline - timedelta(seconds=1)) == 0
    assert urgent_escalate_due(now=deadline) == 1
    assert urgent_escalate_due(now=deadline + timedelta(minutes=5)) == 0
    consult.refresh_from_db()
    assert consult.escalated_at == deadline
    coordinator = cast.north[Role.COORDINATOR]
    alerts = Notification.objects.filter(consult=consult, title__startswith="Urgent consult not accepted")
    assert list(alerts.values_list("user", flat=True)) == [coordinator.pk]
    assert cast.north.patient.name not in alerts.get().body
    assert AuditEvent.objects.filter(action="consult.escalate", patient_id=consult.patient_id).count() == 1


def test_accepted_offer_stops_the_escalation_and_asks_the_coordinators_to_book(cast):
    expert = cast.north[Role.SPECIALIST]
    consult = urgent_offer(consult=_urgent(cast), by=cast.north[Role.CLINIC_DOCTOR])
    consult = consult_accept_offer(by=expert, consult=consult)
    assert consult.status == Status.TRIAGED and consult.named_expert == expert and consult.offered_to is None
    assert urgent_escalate_due(now=timezone.now() + timedelta(hours=1)) == 0
    assert Notification.objects.filter(user=cast.north[Role.COORDINATOR], consult=consult, title__contains="accepted an urgent consult").exists()
    consult_book(by=cast.north[Role.COORDINATOR], consult=consult, experts=[expert], starts_at=_bookable(cast))


def _bookable(cast):
    from tests.consults.factories import weekday_hours

    weekday_hours(cast.north[Role.SPECIALIST])
    return next_slot_start()


def test_acceptance_after_the_escalation_still_counts(cast):
    consult = urgent_offer(consult=_urgent(cast), by=cast.north[Role.CLINIC_DOCTOR])
    urgent_escalate_due(now=consult.offered_at + timedelta(hours=1))
    consult = consult_accept_offer(by=cast.north[Role.SPECIALIST], consult=consult)
    assert consult.status == Status.TRIAGED


def test_routine_request_is_not_offered(cast):
    with pytest.raises(ValidationError, match="Only urgent and emergency requests"):
        urgent_offer(consult=_urgent(cast, Urgency.ROUTINE), by=cast.north[Role.CLINIC_DOCTOR])


def test_offer_with_nobody_on_duty_is_refused_with_the_reason(cast):
    with pytest.raises(ValidationError, match="No qualified Respiratory medicine expert is on duty"):
        urgent_offer(consult=_urgent(cast, on_duty=False), by=cast.north[Role.CLINIC_DOCTOR])


def test_second_offer_waits_for_the_first_until_it_escalates(cast):
    consult = urgent_offer(consult=_urgent(cast), by=cast.north[Role.CLINIC_DOCTOR])
    with pytest.raises(ValidationError, match="already offered"):
        urgent_offer(consult=consult, by=cast.north[Role.COORDINATOR])
    urgent_escalate_due(now=consult.offered_at + timedelta(hours=1))
    consult = urgent_offer(consult=consult, by=cast.north[Role.COORDINATOR])
    assert consult.escalated_at is None


def test_only_the_offered_expert_can_accept_and_only_once(cast):
    consult = urgent_offer(consult=_urgent(cast), by=cast.north[Role.CLINIC_DOCTOR])
    with pytest.raises(PermissionDenied):
        consult_accept_offer(by=cast.south[Role.SPECIALIST], consult=consult)
    consult_accept_offer(by=cast.north[Role.SPECIALIST], consult=consult)
    with pytest.raises(PermissionDenied):
        consult_accept_offer(by=cast.north[Role.SPECIALIST], consult=consult)


@pytest.mark.parametrize("asker", ["south coordinator", "sibling clinic doctor", "north specialist"])
def test_strangers_cannot_page_the_expert_on_duty(cast, asker):
    by = {"south coordinator": cast.south[Role.COORDINATOR], "sibling clinic doctor": cast.doc_n2, "north specialist": cast.north[Role.SPECIALIST]}[asker]
    consult = _urgent(cast)
    with pytest.raises(PermissionDenied):
        urgent_offer(consult=consult, by=by)
    consult.refresh_from_db()
    assert consult.offered_to is None


def test_cancelled_request_does_not_escalate(cast):
    consult = urgent_offer(consult=_urgent(cast), by=cast.north[Role.CLINIC_DOCTOR])
    consult_cancel(by=cast.north[Role.CLINIC_DOCTOR], consult=consult, reason="sent to the emergency room")
    assert urgent_escalate_due(now=timezone.now() + timedelta(hours=1)) == 0


def test_escalation_task_called_directly(cast):
    consult = urgent_offer(consult=_urgent(cast), by=cast.north[Role.CLINIC_DOCTOR])
    Consult.objects.filter(pk=consult.pk).update(offered_at=timezone.now() - timedelta(hours=1))
    assert tasks.escalate_unaccepted_urgent() == 1
    assert tasks.escalate_unaccepted_urgent() == 0


def test_each_recipient_gets_the_message_in_their_own_language(cast):
    # Only the specialty's name is in the catalogue yet; it shows that the title is rendered per recipient.
    expert = cast.north[Role.SPECIALIST]
    expert.language = "zh-hans"
    expert.save(update_fields=["language"])
    consult = urgent_offer(consult=_urgent(cast), by=cast.north[Role.CLINIC_DOCTOR])
    assert "呼吸内科" in Notification.objects.get(user=expert, consult=consult).title
    urgent_escalate_due(now=consult.offered_at + timedelta(hours=1))
    assert "Respiratory medicine" in Notification.objects.get(user=cast.north[Role.COORDINATOR], consult=consult).body



# --- The inbox ----------------------------------------------------------------------------------

def test_notifications_page_lists_the_users_own_and_marks_them_read(cast, client_for):
    booked_consult(cast.north, days_ahead=2)
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    page = doctor.get("/consults/notifications/")
    assert page.status_code == 200
    assert "Consult booked for" in page.content.decode()
    assert doctor.get("/consults/notifications/unread.json").json() == {"unread": 1}
    response = doctor.post("/consults/notifications/", {"shown_at": page.context["shown_at"]})
    assert response.status_code == 302
    assert doctor.get("/consults/notifications/unread.json").json() == {"unread": 0}
    assert client_for(cast.doc_n2).get("/consults/notifications/unread.json").json() == {"unread": 0}


def test_mark_all_read_leaves_what_arrived_after_the_page_was_shown(cast, client_for):
    consult = booked_consult(cast.north, days_ahead=2)
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    shown_at = doctor.get("/consults/notifications/").context["shown_at"]
    reminders_send_due(now=consult.starts_at - DAY)
    doctor.post("/consults/notifications/", {"shown_at": shown_at})
    assert doctor.get("/consults/notifications/unread.json").json() == {"unread": 1}


@pytest.mark.parametrize("shown_at", ["", "yesterday", "2024-13-45T99:00:00", "2024-01-01T00:00:00"])
def test_mark_all_read_with_an_unreadable_time_marks_everything_shown_until_now(cast, client_for, shown_at):
    booked_consult(cast.north, days_ahead=2)
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert doctor.post("/consults/notifications/", {"shown_at": shown_at}).status_code == 302
    assert doctor.get("/consults/notifications/unread.json").json() == {"unread": 0}

