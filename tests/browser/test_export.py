"""A teaching export in Chromium: asked for on the study page, its progress followed while the
task runs, downloaded when ready; and the storage page on a phone-width screen."""
from __future__ import annotations

import io
import zipfile

import pytest

from imaging.models import StudyExport
from imaging.services.exports import export_run
from imaging.services.ingest import instance_ingest
from telemed.accounts.demo import seed_demo
from telemed.accounts.models import User
from tests.browser.pages import signed_in
from tests.imaging.corpus import ct_series

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clinic_doctor_exports_a_study_and_downloads_it_when_the_bar_is_full(live_daphne, chromium):
    seed_demo()
    doctor = User.objects.get(username="doc_qingshan")
    for data in ct_series(slices=4, patient_id="QS-0001"):
        instance_ingest(stream=io.BytesIO(data), institution=doctor.memberships.get().institution, by=doctor, source="test")
    context, page = signed_in(chromium, live_daphne, "doc_qingshan", at="/imaging/", viewport={"width": 390, "height": 844}, accept_downloads=True)
    try:
        page.get_by_role("link", name="胸部CT平扫").click()
        page.get_by_role("button", name="Export a de-identified copy for teaching").click()
        page.wait_for_url("**/imaging/exports/**")
        assert page.locator("#export-status").inner_text() == "Queued" and page.locator("#export-download").is_hidden()

        # No worker runs beside the test server: the test is the worker.
        export_run(export_id=StudyExport.objects.get().pk)
        page.wait_for_function("document.getElementById('export-bar').value === 100")
        assert page.locator("#export-count").inner_text() == "4/4" and page.locator("#export-status").inner_text() == "Ready"
        with page.expect_download() as download:
            page.get_by_role("link", name="Download the ZIP").click()
        archive = zipfile.ZipFile(download.value.path())
        assert len([n for n in archive.namelist() if n.endswith(".dcm")]) == 4
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()


def test_the_storage_page_fits_a_phone(live_daphne, chromium):
    seed_demo()
    context, page = signed_in(chromium, live_daphne, "admin", at="/imaging/storage/", viewport={"width": 390, "height": 844})
    try:
        assert page.locator("meter.usage").count() == 3
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
