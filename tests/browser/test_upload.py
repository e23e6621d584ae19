"""Uploading a folder of DICOM files in Chromium: progress, skipped non-DICOM files, resuming."""
from __future__ import annotations

import pytest

from imaging.models import Instance, Study
from telemed.accounts.demo import DEMO_PASSWORD, seed_demo
from tests.imaging.corpus import ct_series

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _files(tmp_path, count):
    folder = tmp_path / "CT"
    folder.mkdir()
    paths = []
    for n, data in enumerate(ct_series(slices=count, patient_id="QS-0001"), start=1):
        path = folder / f"IM{n:04d}.dcm"
        path.write_bytes(data)
        paths.append(path)
    notes = folder / "README.txt"
    notes.write_text("scanner export notes")
    return paths, notes


def test_clinic_doctor_uploads_files_then_resumes_without_sending_them_again(live_daphne, chromium, tmp_path):
    seed_demo()
    paths, notes = _files(tmp_path, 8)
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(live_daphne + "/login/")
        page.get_by_role("button", name="English").click()
        page.locator("#id_username").fill("doc_qingshan")
        page.locator("#id_password").fill(DEMO_PASSWORD)
        page.locator("button[type=submit].primary").click()
        page.wait_for_load_state()
        page.goto(live_daphne + "/imaging/upload/")
        page.get_by_role("button", name="English").click()
        page.wait_for_load_state()

        page.locator("#files").set_input_files([str(p) for p in paths[:5]] + [str(notes)])
        page.wait_for_function("document.getElementById('overall-bar').value === 6")
        assert "README.txt" in page.locator("#problem-list").text_content()
        assert Instance.objects.count() == 5

        # The tab is closed and the doctor chooses the whole folder again.
        page.reload()
        page.locator("#files").set_input_files([str(p) for p in paths])
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
