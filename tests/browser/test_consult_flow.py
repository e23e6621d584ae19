"""End to end in headless Chromium over daphne and Redis: a clinic files a request, the board
shows it without a reload, the coordinator books an MDT consult, the experts see it."""
from __future__ import annotations

import re

import pytest
from django.utils import timezone

from consults.demo import seed_consults
from consults.models import Consult, Status
from telemed.accounts.demo import seed_demo
from telemed.accounts.models import User
from tests.browser.pages import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_request_appears_live_on_the_board_and_the_mdt_booking_reaches_the_experts(live_daphne, chromium):
    seed_demo()
    seed_consults()
    coordinator_context, board = signed_in(chromium, live_daphne, "coordinator")
    clinic_context, clinic = signed_in(chromium, live_daphne, "doc_qingshan")
    expert_context, expert = signed_in(chromium, live_daphne, "dr_chen")
    try:
        board.goto(live_daphne + "/consults/board/")
        board.wait_for_function("document.getElementById('livestate') && !document.getElementById('livestate').classList.contains('offline')")
        assert "陈小红" not in board.locator("#board").inner_text()

        clinic.goto(live_daphne + "/consults/new/")
        clinic.locator("#id_patient").select_option(label="陈小红 · QS-0005")
        clinic.locator("#id_specialty").select_option("critical_care")
        clinic.locator("#id_urgency").select_option("urgent")
        clinic.locator("#id_question").fill("Septic shock? Transfer needed?")
        clinic.locator("#id_history").fill("Fever 39.5, BP 85/50 after fluids.")
        clinic.locator("#id_consent_signed_by").fill("陈小红")
        clinic.locator("button[type=submit].primary").click()
        clinic.wait_for_url(re.compile(r"/consults/[0-9a-f-]+/$"))

        # No reload: the row arrives over the WebSocket.
        board.locator("#board").get_by_text("陈小红").wait_for()
        board.locator("#board").get_by_role("link", name="陈小红").click()
        board.get_by_role("link", name="Book").click()
        yang = User.objects.get(username="dr_yang")
        chen = User.objects.get(username="dr_chen")
        board.locator(f"input[name=experts][value='{yang.pk}']").check()
        board.locator(f"input[name=experts][value='{chen.pk}']").check()
        board.locator(f"button.slotpick[data-expert='{yang.pk}']").first.click()
        board.locator("#id_lead").select_option(str(yang.pk))
        board.locator("#booking-form button[type=submit]").click()
        board.wait_for_url(re.compile(r"/consults/[0-9a-f-]+/$"))
        assert "Scheduled" in board.locator("h1").inner_text()

        consult = Consult.objects.get(patient__mrn="QS-0005")
        assert consult.status == Status.SCHEDULED and consult.is_mdt

        expert.goto(live_daphne + "/consults/")
        assert "陈小红" in expert.locator("table").inner_text()
        starts = timezone.localtime(consult.starts_at)
        monday = starts.date() - timezone.timedelta(days=starts.weekday())
        expert.goto(f"{live_daphne}/consults/experts/{chen.pk}/?week={monday.isoformat()}")
        booked = expert.locator(".cell.booked", has_text=starts.strftime("%H:%M"))
        assert booked.count() >= 1
    finally:
        for context in (coordinator_context, clinic_context, expert_context):
            context.close()
