"""Two people of a booked consult meet through the relay in headless Chromium (fake camera and
microphone), over daphne and real Redis: each decodes the other's video and audio, chat arrives,
a reloaded page comes back, screen sharing reaches the other side, and an outsider is refused."""
from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import Client

from telemed.accounts.models import Role
from telemed.video.models import Attendance
from tests.consults.factories import booked_consult, starting_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _page_as(chromium, base, user):
    """A browser context signed in as `user` (the session made by Django's test client)."""
    client = Client()
    client.force_login(user)
    context = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": base}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def _join(page, url):
    page.goto(url)
    page.locator("#join").click()
    page.locator("#stage").wait_for(state="visible")


def _received(page, kind, field):
    return page.evaluate(
        """async ([kind, field]) => {
            const pc = window.telemedCall && window.telemedCall.pc;
            if (!pc) return 0;
            let total = 0;
            (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === kind) total += s[field] || 0; });
            return total;
        }""",
        [kind, field],
    )


def _rtp_stats(page) -> list:
    """The page's RTP statistics, for a failure message: what arrived, what was asked again."""
    return page.evaluate(
        """async () => {
            const pc = window.telemedCall && window.telemedCall.pc;
            if (!pc) return [];
            const keep = ["type", "kind", "packetsReceived", "packetsLost", "framesReceived", "framesDecoded", "framesDropped",
                          "keyFramesDecoded", "nackCount", "pliCount", "firCount", "framesEncoded", "framesSent",
                          "targetBitrate", "qualityLimitationReason", "retransmittedPacketsSent"];
            const out = [];
            (await pc.getStats()).forEach((s) => {
                if (s.type === "inbound-rtp" || s.type === "outbound-rtp") out.push(Object.fromEntries(keep.filter((k) => k in s).map((k) => [k, s[k]])));
            });
            return out;
        }"""
    )


def _decoding(page, kind, minimum=10, timeout=30):
    """Wait until the page has decoded `minimum` frames (video) or received samples (audio) through the relay."""
    field = "framesDecoded" if kind == "video" else "totalSamplesReceived"
    deadline = time.monotonic() + timeout
    while (seen := _received(page, kind, field)) < minimum:
        assert time.monotonic() < deadline, f"only {seen} {field} of {kind} after {timeout} s; {_rtp_stats(page)}"
        page.wait_for_timeout(200)
    return seen


def test_two_participants_see_and_hear_each_other_through_the_relay(live_daphne, chromium, cast):
    consult = starting_in(booked_consult(cast.north), 5)
    url = f"{live_daphne}/video/consults/{consult.pk}/"
    expert_context, expert = _page_as(chromium, live_daphne, cast.north[Role.SPECIALIST])
    doctor_context, doctor = _page_as(chromium, live_daphne, cast.north[Role.CLINIC_DOCTOR])
    outsider_context, outsider = _page_as(chromium, live_daphne, cast.south[Role.CLINIC_DOCTOR])
    try:
        _join(expert, url)
        _join(doctor, url)
        for page in (expert, doctor):
            _decoding(page, "video")
            _decoding(page, "audio", minimum=4800)
        assert expert.locator(".tile").count() == 2 and doctor.locator(".tile").count() == 2

        doctor.locator("#chat-text").fill("BP 150/95 this morning")
        doctor.locator("#chat-form button").click()
        expert.locator("#chat-log").get_by_text("BP 150/95 this morning").wait_for()

        # A reload mid-call: the page comes back into the same seat, nobody appears twice.
        doctor.reload()
        doctor.locator("#join").click()
        _decoding(doctor, "video")
        before = _received(expert, "video", "framesDecoded")
        _decoding(expert, "video", minimum=before + 10)
        assert expert.locator(".tile").count() == 2

        # Screen sharing: a second video track, renegotiated, shown on the other side.
        expert.locator("#share").click()
        doctor.locator(".tile video.screen:not([hidden])").wait_for(timeout=20_000)
        _decoding_screen = doctor.evaluate("""async () => {
            const pc = window.telemedCall.pc; const mids = Object.entries(window.telemedCall.tracks).filter(([, t]) => t.source === "screen").map(([m]) => m);
            return mids.length;
        }""")
        assert _decoding_screen == 1

        response = outsider.goto(url)
        assert response.status == 404
    finally:
        for context in (expert_context, doctor_context, outsider_context):
            context.close()
        _until_everyone_left(consult)


def _until_everyone_left(consult, timeout=10):
    """The server records the leaving after the pages close; wait, so the database is quiet for the next test."""
    deadline = time.monotonic() + timeout
    while Attendance.objects.filter(room__consult=consult, state__in=["waiting", "in_room"]).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
