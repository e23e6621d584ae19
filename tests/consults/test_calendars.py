"""Calendar feeds and .ics downloads, read back with icalendar as a calendar app would.

The feed is fetched without a session (calendar apps send none); its secret is the credential.
"""
from __future__ import annotations

import zoneinfo
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import timezone
from icalendar import Calendar

from consults.models import CalendarFeed, Consult, Participant
from consults.services.bookings import consult_cancel, consult_reschedule
from consults.services.calendar_feeds import calendar_feed_create, calendar_feed_revoke
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent, Outcome
from tests.consults.factories import ConsultFactory, booked_consult

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LONDON = zoneinfo.ZoneInfo("Europe/London")


def _fetch(secret: str, client: Client | None = None):
    return (client or Client()).get(f"/consults/calendar/feed/{secret}.ics")


def _events(response) -> list:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content).events


def _feed_of(user) -> str:
    return calendar_feed_create(user=user)[1]


# --- The feed -----------------------------------------------------------------------------------

def test_feed_holds_one_event_per_booked_consult_with_its_uid_sequence_and_times(cast):
    expert = cast.north[Role.SPECIALIST]
    first = booked_consult(cast.north, days_ahead=1)
    second = booked_consult(cast.north, days_ahead=2, hour=10)
    response = _fetch(_feed_of(expert))
    calendar = Calendar.from_ical(response.content)
    assert calendar["VERSION"] == "2.0" and calendar["METHOD"] == "PUBLISH" and calendar["PRODID"]
    assert [tz.tz_name for tz in calendar.timezones] == ["Asia/Shanghai"]
    events = {str(e["UID"]): e for e in _events(response)}
    assert set(events) == {f"consult-{first.pk}@telemed", f"consult-{second.pk}@telemed"}
    for consult in (first, second):
        event = events[f"consult-{consult.pk}@telemed"]
        assert event.sequence == 0
        assert event.start == consult.starts_at and event.end == consult.ends_at
        assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
        assert event.start.astimezone(SHANGHAI).hour == consult.starts_at.astimezone(SHANGHAI).hour
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["SUMMARY"]) == "Respiratory medicine consultation"
        assert str(event["URL"]) == f"http://testserver/consults/{consult.pk}/"
        assert event.DTSTAMP is not None


def test_feed_never_names_the_patient(cast):
    booked_consult(cast.north)
    body = _fetch(_feed_of(cast.north[Role.SPECIALIST])).content.decode()
    assert cast.north.patient.name not in body and cast.north.patient.mrn not in body


def test_user_in_london_sees_the_same_instants_in_their_own_zone(cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    doctor.time_zone = "Europe/London"
    doctor.save(update_fields=["time_zone"])
    consult = booked_consult(cast.north)
    response = _fetch(_feed_of(doctor))
    (event,) = _events(response)
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event.start == consult.starts_at
    assert (event.start.hour, event.start.minute) == (consult.starts_at.astimezone(LONDON).hour, 0)
    assert event.start.utcoffset() == consult.starts_at.astimezone(LONDON).utcoffset()
    assert [tz.tz_name for tz in Calendar.from_ical(response.content).timezones] == ["Europe/London"]


def test_cancelled_consult_stays_in_the_feed_as_cancelled_with_a_higher_sequence(cast):
    consult = booked_consult(cast.north)
    secret = _feed_of(cast.north[Role.SPECIALIST])
    consult_cancel(by=cast.north[Role.COORDINATOR], consult=consult, reason="patient recovered")
    (event,) = _events(_fetch(secret))
    assert str(event["UID"]) == f"consult-{consult.pk}@telemed"
    assert str(event["STATUS"]) == "CANCELLED"
    assert event.sequence == 1


def test_rescheduled_consult_keeps_its_uid_with_the_new_time_and_a_higher_sequence(cast):
    consult = booked_consult(cast.north)
    later = consult.starts_at + timedelta(days=1)
    consult_reschedule(by=cast.north[Role.COORDINATOR], consult=consult, starts_at=later, reason="expert in theatre")
    (event,) = _events(_fetch(_feed_of(cast.north[Role.SPECIALIST])))
    assert str(event["UID"]) == f"consult-{consult.pk}@telemed"
    assert event.sequence == 1 and event.start == later


def test_feed_leaves_out_other_peoples_consults_old_ones_and_those_the_user_left(cast):
    expert = cast.north[Role.SPECIALIST]
    kept = booked_consult(cast.north, days_ahead=1)
    old = booked_consult(cast.north, days_ahead=2)
    left = booked_consult(cast.north, days_ahead=3)
    foreign = booked_consult(cast.south)
    Consult.objects.filter(pk=old.pk).update(starts_at=timezone.now() - timedelta(days=31), ends_at=timezone.now() - timedelta(days=31) + timedelta(minutes=30))
    Participant.objects.filter(consult=left, user=expert).update(removed_at=timezone.now())
    uids = {str(e["UID"]) for e in _events(_fetch(_feed_of(expert)))}
    assert uids == {f"consult-{kept.pk}@telemed"}
    assert f"consult-{foreign.pk}@telemed" not in uids


def test_a_user_with_no_consults_gets_an_empty_valid_calendar(cast):
    response = _fetch(_feed_of(cast.doc_n2))
    assert _events(response) == []


# --- The feed's secret --------------------------------------------------------------------------

def test_only_the_hash_of_the_secret_is_kept(cast):
    feed, secret = calendar_feed_create(user=cast.north[Role.SPECIALIST])
    assert len(secret) >= 40
    assert not CalendarFeed.objects.filter(key_hash__contains=secret).exists()
    assert feed.key_hash != secret and len(feed.key_hash) == 64


def test_a_new_feed_revokes_the_old_one(cast):
    expert = cast.north[Role.SPECIALIST]
    old = _feed_of(expert)
    new = _feed_of(expert)
    assert _fetch(old).status_code == 404
    assert _fetch(new).status_code == 200
    assert CalendarFeed.objects.filter(user=expert, revoked_at__isnull=True).count() == 1


def test_revoked_feed_answers_404(cast):
    expert = cast.north[Role.SPECIALIST]
    feed, secret = calendar_feed_create(user=expert)
    calendar_feed_revoke(user=expert, feed=feed)
    assert _fetch(secret).status_code == 404


@pytest.mark.parametrize("key", ["unknown-key", "x" * 500, "%00", "a.b"])
def test_unknown_key_answers_404(cast, key):
    assert _fetch(key).status_code == 404


def test_feed_of_a_deactivated_user_answers_404(cast):
    expert = cast.north[Role.SPECIALIST]
    secret = _feed_of(expert)
    expert.is_active = False
    expert.save(update_fields=["is_active"])
    assert _fetch(secret).status_code == 404


def test_feed_opened_by_someone_else_signed_in_answers_404_and_is_recorded(cast, client_for):
    booked_consult(cast.north)
    secret = _feed_of(cast.north[Role.SPECIALIST])
    assert _fetch(secret, client_for(cast.north[Role.COORDINATOR])).status_code == 404
    assert AuditEvent.objects.filter(action="calendar.feed", outcome=Outcome.DENIED, actor_id=cast.north[Role.COORDINATOR].pk).exists()
    assert _fetch(secret, client_for(cast.north[Role.SPECIALIST])).status_code == 200


def test_each_fetch_is_one_audit_event_without_a_patient(cast):
    booked_consult(cast.north)
    expert = cast.north[Role.SPECIALIST]
    secret = _feed_of(expert)
    _fetch(secret)
    _fetch(secret)
    events = AuditEvent.objects.filter(action="calendar.feed", outcome=Outcome.SUCCESS)
    assert events.count() == 2
    assert {(e.actor_id, e.patient_id) for e in events} == {(expert.pk, None)}


def test_feed_answers_only_reads(cast):
    response = Client().post(f"/consults/calendar/feed/{_feed_of(cast.north[Role.SPECIALIST])}.ics")
    assert response.status_code == 405


def test_devices_cannot_have_a_feed(cast):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        calendar_feed_create(user=cast.pacs_n1)


def test_nobody_revokes_another_persons_feed(cast):
    from django.core.exceptions import PermissionDenied

    feed, secret = calendar_feed_create(user=cast.north[Role.SPECIALIST])
    with pytest.raises(PermissionDenied):
        calendar_feed_revoke(user=cast.north[Role.COORDINATOR], feed=feed)
    assert _fetch(secret).status_code == 200


# --- The calendar page --------------------------------------------------------------------------

def test_calendar_page_shows_the_address_once(cast, client_for):
    expert = client_for(cast.north[Role.SPECIALIST])
    assert "no calendar address yet" in expert.get("/consults/calendar/").content.decode()
    made = expert.post("/consults/calendar/")
    assert made.status_code == 200
    url = made.context["feed_url"]
    assert url.startswith("http://testserver/consults/calendar/feed/") and url in made.content.decode()
    assert made.context["webcal_url"].startswith("webcal://testserver/")
    assert Client().get(url.removeprefix("http://testserver")).status_code == 200
    again = expert.get("/consults/calendar/").content.decode()
    assert url not in again and "Your calendar address was made on" in again


def test_calendar_page_revokes_the_feed(cast, client_for):
    expert = client_for(cast.north[Role.SPECIALIST])
    url = expert.post("/consults/calendar/").context["feed_url"].removeprefix("http://testserver")
    response = expert.post("/consults/calendar/revoke/", follow=True)
    assert "was revoked" in response.content.decode()
    assert Client().get(url).status_code == 404
    assert "no calendar feed to revoke" in expert.post("/consults/calendar/revoke/", follow=True).content.decode()


def test_calendar_page_needs_a_signed_in_user():
    response = Client().get("/consults/calendar/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- One consult's .ics -------------------------------------------------------------------------

def test_participant_downloads_the_ics_of_one_consult_with_the_patients_name(cast, client_for):
    consult = booked_consult(cast.north)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/consults/{consult.pk}/invite.ics")
    assert response["Content-Disposition"].startswith("attachment;")
    (event,) = _events(response)
    assert str(event["UID"]) == f"consult-{consult.pk}@telemed"
    assert event.start == consult.starts_at and event.sequence == consult.sequence
    assert cast.north.patient.name in str(event["SUMMARY"])
    assert AuditEvent.objects.filter(action="consult.view", patient_id=consult.patient_id, actor_id=cast.north[Role.CLINIC_DOCTOR].pk).exists()


@pytest.mark.parametrize("who", ["sibling clinic doctor", "south specialist", "south coordinator"])
def test_another_users_consult_ics_answers_404(cast, client_for, who):
    consult = booked_consult(cast.north)
    user = {"sibling clinic doctor": cast.doc_n2, "south specialist": cast.south[Role.SPECIALIST], "south coordinator": cast.south[Role.COORDINATOR]}[who]
    response = client_for(user).get(f"/consults/{consult.pk}/invite.ics")
    assert response.status_code == 404
    assert cast.north.patient.name not in response.content.decode()


def test_ics_of_a_consult_not_yet_booked_answers_404(cast, client_for):
    consult = ConsultFactory(patient=cast.north.patient)
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/consults/{consult.pk}/invite.ics").status_code == 404


def test_ics_of_an_unknown_consult_answers_404(cast, client_for):
    import uuid

    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/consults/{uuid.uuid4()}/invite.ics").status_code == 404


# --- The template tag ---------------------------------------------------------------------------

def test_calendar_links_tag_offers_the_download_for_a_booked_consult(cast):
    template = Template("{% load calendar_tags %}{% consult_calendar_links consult %}")
    consult = booked_consult(cast.north)
    html = template.render(Context({"consult": consult}))
    assert f"/consults/{consult.pk}/invite.ics" in html and "/consults/calendar/" in html
    assert template.render(Context({"consult": ConsultFactory(patient=cast.north.patient)})).strip() == ""
