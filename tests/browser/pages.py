"""Steps every browser test takes: a demo person signed in, in English."""
from __future__ import annotations

from telemed.accounts.demo import DEMO_PASSWORD

DESKTOP = {"width": 1280, "height": 900}


def signed_in(chromium, base: str, username: str = "doc_qingshan", *, at: str | None = None, init_script: str = "", **context_options):
    """A new browser context with `username` signed in, on `at` if given, the page in English
    (the demo people prefer Chinese, and the choice is kept with them). `init_script` runs in
    every page before the page's own scripts; the context is a desktop's unless told otherwise."""
    context = chromium.new_context(locale="en-US", **({"viewport": DESKTOP} | context_options))
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(base + "/login/")
    page.get_by_role("button", name="English").click()
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(DEMO_PASSWORD)
    page.locator("button[type=submit].primary").click()
    page.wait_for_load_state()
    if at:
        page.goto(base + at)
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    return context, page
