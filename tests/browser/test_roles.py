"""Each demo role signs in through headless Chromium, switches language, and lands on its page."""
from __future__ import annotations

import pytest
from django.utils import translation

from telemed.accounts.demo import DEMO_PASSWORD, seed_demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# (demo login, the heading of the page that role lands on)
LANDINGS = [
    ("doc_qingshan", "Patients"),
    ("coordinator", "Consult board"),
    ("admin", "People"),
    ("auditor", "Audit trail"),
    ("dr_zhang", "Consultations"),
    ("dr_sun", "Imaging reads"),
]


def _chinese(text: str) -> str:
    with translation.override("zh-hans"):
        translated = translation.gettext(text)
    assert translated != text, f"{text!r} has no Chinese translation"
    return translated


@pytest.mark.parametrize(("username", "heading"), LANDINGS)
def test_demo_role_signs_in_switches_to_chinese_and_sees_its_landing_page(live_daphne, browser_page, username, heading):
    seed_demo()
    page = browser_page
    page.goto(live_daphne + "/")
    assert "/login/" in page.url
    page.get_by_role("button", name="English").click()
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    # The demo users prefer Chinese, and a saved preference wins at sign-in.
    assert page.locator("h1").first.inner_text().strip() == _chinese(heading)

    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator("h1").first.inner_text().strip() == heading

    page.get_by_role("button", name="简体中文").click()
    page.wait_for_load_state()
    assert page.locator("h1").first.inner_text().strip() == _chinese(heading)
    assert page.locator("html").get_attribute("lang") == "zh-hans"


def test_wrong_password_shows_a_clear_message_in_chinese(live_daphne, browser_page):
    seed_demo()
    page = browser_page
    page.goto(live_daphne + "/login/")
    page.get_by_role("button", name="简体中文").click()
    page.locator("#id_username").fill("coordinator")
    page.locator("#id_password").fill("not-the-password")
    page.locator("button[type=submit].primary").click()
    page.wait_for_load_state()
    assert _chinese("The user name or password is not correct. Both are case-sensitive.") in page.locator(".errors").inner_text()


def test_small_screen_shows_the_menu_behind_a_toggle(live_daphne, chromium):
    seed_demo()
    context = chromium.new_context(viewport={"width": 375, "height": 740}, locale="en-US")
    page = context.new_page()
    try:
        page.goto(live_daphne + "/login/")
        page.locator("#id_username").fill("coordinator")
        page.locator("#id_password").fill(DEMO_PASSWORD)
        page.locator("button[type=submit].primary").click()
        page.wait_for_load_state()
        nav = page.locator("nav.mainnav")
        assert not nav.is_visible()
        page.locator("label.nav-toggle-label").click()
        assert nav.is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways on a phone ({width}px)"
    finally:
        context.close()
