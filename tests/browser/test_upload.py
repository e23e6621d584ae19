"""Uploading a folder of DICOM files in Chromium: progress, skipped non-DICOM files, resuming."""
from __future__ import annotations

import pytest

from imaging.models import Instance, Study
from telemed.accounts.demo import seed_demo
from tests.browser.pages import signed_in
from tests.imaging.corpus import ct_series

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _files(tmp_path, count):
    folder = tmp_path / "CT"
    paths = _written(folder, ct_series(slices=count, patient_id="QS-0001"))
    notes = folder / "README.txt"
    notes.write_text("scanner export notes")
    return paths, notes


def test_clinic_doctor_uploads_files_then_resumes_without_sending_them_again(live_daphne, chromium, tmp_path):
    seed_demo()
    paths, notes = _files(tmp_path, 8)
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    try:
        page.locator("#files").set_input_files(paths[:5] + [str(notes)])
        page.wait_for_function("document.getElementById('overall-bar').value === 6")
        assert "README.txt" in page.locator("#problem-list").text_content()
        assert Instance.objects.count() == 5

        # The tab is closed and the doctor chooses the whole folder again.
        page.reload()
        page.locator("#files").set_input_files(paths)
        page.wait_for_function("document.getElementById('overall-bar').value === 8")
        assert Instance.objects.count() == 8
        assert Instance.objects.filter(source="browser").count() == 8
        study = Study.objects.get()
        assert study.patient.mrn == "QS-0001"
        assert "8/8" in page.locator("#studies").inner_text()

        page.goto(live_daphne + "/imaging/")
        assert "胸部CT平扫" in page.locator("table").inner_text()
    finally:
        context.close()


def _written(folder, files: list[bytes]) -> list[str]:
    folder.mkdir()
    paths = []
    for n, data in enumerate(files, start=1):
        path = folder / f"IM{n:04d}.dcm"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def test_a_study_row_is_labelled_from_the_header_and_tells_stored_already_stored_and_refused_apart(live_daphne, chromium, tmp_path):
    seed_demo()
    files = ct_series(slices=3, patient_id="QS-0001", study_date="20261120")
    # The same instance UIDs with other pixels: the archive refuses it (it holds the first).
    conflicting = files[0][:-2] + bytes([files[0][-2] ^ 0xFF, files[0][-1]])
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/", viewport={"width": 375, "height": 667})
    try:
        page.locator("#files").set_input_files(_written(tmp_path / "first", files[:2]))
        page.wait_for_function("document.getElementById('overall-bar').value === 2")
        row = page.locator("#studies li")
        # Relabelled from the server's answer: the name decoded from GB18030, the date as the archive pages write it.
        assert row.locator(".name").inner_text() == "王秀英 · 胸部CT平扫 · 2026-11-20"
        assert row.locator(".count").inner_text() == "2/2 done"

        page.reload()
        page.locator("#files").set_input_files(_written(tmp_path / "again", [*files, conflicting]))
        page.wait_for_function("document.getElementById('overall-bar').value === 4")
        assert row.locator(".name").inner_text() == "王秀英 · 胸部CT平扫 · 2026-11-20"
        assert row.locator(".count").inner_text() == "4/4 done, 1 refused"
        assert row.locator(".outcomes").inner_text() == "1 stored · 2 already stored · 1 refused"
        row.get_by_role("link", name="1 refused").click()
        assert page.locator("#problem-list").is_visible()
        assert "IM0004.dcm: refused" in page.locator("#problem-list").inner_text()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
        assert Instance.objects.count() == 3
    finally:
        context.close()


def test_an_upload_stops_with_a_message_when_the_session_ends_and_an_html_answer_is_reported_per_file(live_daphne, chromium, tmp_path):
    from django.contrib.sessions.models import Session

    seed_demo()
    files = ct_series(slices=4, patient_id="QS-0001")
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    sent = []

    def answer(route):
        sent.append(route.request)
        if len(sent) == 1:  # a proxy's error page, not the application's JSON
            route.fulfill(status=400, content_type="text/html", body="<h1>Bad Request</h1>")
        else:  # the session expires while the upload runs: the next answer is the sign-in page
            Session.objects.all().delete()
            route.continue_()

    try:
        page.route("**/imaging/upload/instance/**", answer)
        page.evaluate("window.__errors = []; window.addEventListener('error', (e) => window.__errors.push(e.message)); window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)))")
        page.locator("#files").set_input_files(_written(tmp_path / "CT", files))
        stopped = page.locator("#upload-stopped")
        stopped.wait_for(state="visible")
        assert stopped.inner_text() == (
            "Your session has ended: sign in again and choose the folder again; files already stored will not be sent twice."
        )
        page.wait_for_function("document.getElementById('problem-list').textContent.includes(': refused: HTTP 400')")
        assert page.evaluate("window.__errors") == []
        assert not Instance.objects.exists()
    finally:
        context.close()
