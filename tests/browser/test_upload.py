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


def test_viewer_scrolls_changes_the_window_and_measures_in_mm(live_daphne, chromium):
    import io

    from imaging.services.ingest import instance_ingest
    from telemed.accounts.models import User

    seed_demo()
    doctor = User.objects.get(username="doc_qingshan")
    for data in ct_series(slices=5, patient_id="QS-0001", size=128):
        instance_ingest(stream=io.BytesIO(data), institution=doctor.memberships.get().institution, by=doctor, source="test")
    study = Study.objects.get()
    context = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(live_daphne + "/login/")
        page.locator("#id_username").fill("doc_qingshan")
        page.locator("#id_password").fill(DEMO_PASSWORD)
        page.locator("button[type=submit].primary").click()
        page.wait_for_load_state()
        page.goto(f"{live_daphne}/imaging/studies/{study.pk}/view/")
        page.get_by_role("button", name="English").click()  # the demo people prefer Chinese
        page.wait_for_load_state()
        page.wait_for_function("document.getElementById('image').complete && document.getElementById('image').naturalWidth === 128")
        assert page.locator("#position").inner_text() == "3 / 5"
        page.locator("#canvas").press("ArrowDown")
        assert page.locator("#position").inner_text() == "4 / 5"
        page.locator("[data-preset='-600,1500']").click()
        assert "window=-600%2C1500" in page.locator("#image").get_attribute("src")
        page.wait_for_function("document.getElementById('image').complete && document.getElementById('image').naturalWidth === 128")
        page.locator("#measure").click()
        box = page.locator("#image").bounding_box()
        page.mouse.click(box["x"] + 10, box["y"] + 10)
        page.mouse.click(box["x"] + 10 + box["width"] * 100 / 128, box["y"] + 10)
        assert page.locator("#distance").inner_text() == "70.0 mm"
        thumbnails = page.locator("#series-list img")
        assert thumbnails.count() == 1
    finally:
        context.close()
