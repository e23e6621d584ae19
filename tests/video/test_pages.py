"""The room's pages: who gets the call page, the host's guest links, a guest's one-time link,
and what the consult page shows of the video session."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from telemed.video.models import Attendance, ChatMessage, Invitation
from telemed.video.services.admission import room_for
from tests.consults.factories import booked_consult, starting_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def consult(cast):
    return starting_in(booked_consult(cast.north), 10)


def _url(consult, suffix=""):
    return f"/video/consults/{consult.pk}/{suffix}"


def test_a_participant_gets_the_call_page_with_a_join_token(cast, client_for, consult):
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(consult))
    assert response.status_code == 200
    assert 'data-token="' in response.content.decode()
    assert "Invite a guest" not in response.content.decode()  # only the host invites


def test_the_host_sees_the_invitation_form(cast, client_for, consult):
    assert "Invite a guest" in client_for(cast.north[Role.SPECIALIST]).get(_url(consult)).content.decode()


@pytest.mark.parametrize("who", ["sibling", "foreign"])
def test_people_outside_the_consult_get_no_call_page(cast, client_for, consult, who):
    user = cast.doc_n2 if who == "sibling" else cast.south[Role.CLINIC_DOCTOR]
    assert client_for(user).get(_url(consult)).status_code == 404


def test_the_call_page_says_when_the_room_opens(cast, client_for):
    tomorrow = booked_consult(cast.north, hour=11)
    body = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(tomorrow)).content.decode()
    assert "The room opens at" in body and 'id="join" disabled' in body


def _invite(cast, client_for, consult, name="Li Fanyi"):
    response = client_for(cast.north[Role.SPECIALIST]).post(_url(consult, "invite/"), {"name": name, "role": "interpreter"})
    assert response.status_code == 200
    return re.search(r'value="(http://testserver/video/guest/[^"]+/)"', response.content.decode()).group(1).removeprefix("http://testserver")


def test_only_the_host_creates_guest_links(cast, client_for, consult):
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post(_url(consult, "invite/"), {"name": "X", "role": "family"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_a_guest_invitation_needs_a_name(cast, client_for, consult):
    response = client_for(cast.north[Role.SPECIALIST]).post(_url(consult, "invite/"), {"name": "", "role": "family"})
    assert response.status_code == 302 and not Invitation.objects.exists()


def test_a_guest_link_is_spent_by_the_first_browser_that_joins_and_only_then(cast, client_for, consult):
    link = _invite(cast, client_for, consult)
    guest, stranger = Client(), Client()
    preview = guest.get(link)  # a link preview in a chat app must not spend it
    assert preview.status_code == 200 and "You are invited" in preview.content.decode()
    assert guest.post(link).status_code == 302
    room_page = guest.get(link)
    assert room_page.status_code == 200 and 'data-token="' in room_page.content.decode()
    assert consult.patient.name not in room_page.content.decode()
    refused = stranger.post(link)
    assert refused.status_code == 403 and "already been used" in refused.content.decode()


def test_signed_in_people_cannot_take_a_guest_seat(cast, client_for, consult):
    link = _invite(cast, client_for, consult)
    assert client_for(cast.north[Role.COORDINATOR]).get(link).status_code == 403


def test_a_withdrawn_guest_link_lets_nobody_in(cast, client_for, consult):
    link = _invite(cast, client_for, consult)
    invitation = Invitation.objects.get()
    host = client_for(cast.north[Role.SPECIALIST])
    assert host.post(_url(consult, f"invitations/{invitation.pk}/revoke/")).status_code == 302
    response = Client().post(link)
    assert response.status_code == 403 and "withdrawn" in response.content.decode()
    assert AuditEvent.objects.filter(action="video.revoke_invitation").exists()


def test_an_unknown_guest_link_is_refused(consult):
    assert Client().post("/video/guest/not-a-real-secret/").status_code == 403


def test_the_consult_page_offers_the_room_and_shows_the_session_afterwards(cast, client_for, consult):
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert "Open the video room" in doctor.get(f"/consults/{consult.pk}/").content.decode()
    room = room_for(consult)
    stay = Attendance.objects.create(
        room=room, user=cast.north[Role.CLINIC_DOCTOR], state=Attendance.State.LEFT, joined_at=timezone.now(), left_at=timezone.now(),
        quality={"samples": 30, "rtt_ms": 42.0, "loss_pct": 0.4, "bitrate_in_kbps": 800, "bitrate_out_kbps": 650, "fps": 29.5,
                 "freezes": 1, "freeze_seconds": 0.6, "audio_only_seconds": 12},
    )
    ChatMessage.objects.create(room=room, attendance=stay, text="血压 150/95")
    body = doctor.get(f"/consults/{consult.pk}/").content.decode()
    assert "42 ms" in body and "0.4 %" in body and "800/650 kbit/s" in body and "血压 150/95" in body


def test_the_expert_directory_of_another_alliance_sees_no_room(cast, client_for, consult):
    assert "Open the video room" not in client_for(cast.doc_n2).get(f"/consults/{consult.pk}/").content.decode()
