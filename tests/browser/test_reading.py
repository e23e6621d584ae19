"""Remote reading end to end in headless Chromium over daphne and Redis: the clinic asks for a
read, the coordinator assigns it, the radiologist writes from a template and signs with a
critical finding, and the clinic doctor sees the alert arrive without a reload, reads the
report and acknowledges."""
from __future__ import annotations

import io
import re

import pytest

from imaging.models import CriticalAlert, ReadRequest, ReadStatus, Study
from imaging.report_templates import install_shared_templates
from imaging.services.ingest import instance_ingest
from imaging.services.reading.assignment import read_assign
from imaging.services.reading.requests import read_request
from telemed.accounts.demo import seed_demo
from telemed.accounts.models import Institution, User
from tests.browser.pages import signed_in
from tests.imaging.corpus import ct_series

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]




def _study() -> Study:
    doctor = User.objects.get(username="doc_qingshan")
    for data in ct_series(slices=3, patient_id="QS-0001", size=64):
        instance_ingest(stream=io.BytesIO(data), institution=doctor.memberships.get().institution, by=doctor, source="test")
    return Study.objects.get()


def test_radiologist_signs_a_report_and_the_clinic_doctor_sees_it(live_daphne, chromium):
    seed_demo()
    install_shared_templates()
    study = _study()
    sun = User.objects.get(username="dr_sun")
    clinic_context, clinic = signed_in(chromium, live_daphne, "doc_qingshan")
    coordinator_context, coordinator = signed_in(chromium, live_daphne, "coordinator")
    radiologist_context, radiologist = signed_in(chromium, live_daphne, "dr_sun")
    try:
        # The clinic asks from the study page.
        clinic.goto(f"{live_daphne}/imaging/studies/{study.pk}/")
        clinic.get_by_role("link", name="Request a read").click()
        clinic.locator("#id_urgency").select_option("urgent")
        clinic.locator("#id_question").fill("Chest pain and dyspnoea for two hours: pneumothorax?")
        clinic.locator("button[type=submit].primary").click()
        clinic.wait_for_url(re.compile(r"/imaging/reads/[0-9a-f-]+/$"))
        assert "Requested" in clinic.locator("h1").inner_text()
        read = ReadRequest.objects.get()

        # The coordinator assigns it from the list of reads waiting for a radiologist.
        coordinator.goto(live_daphne + "/imaging/reads/")
        coordinator.locator("#reads").get_by_role("link", name="王秀英").click()
        coordinator.locator("#id_radiologist").select_option(str(sun.pk))
        coordinator.get_by_role("button", name="Assign").click()
        assert "Assigned" in coordinator.locator("h1").inner_text()

        # The radiologist writes from a template, beside the images, and signs.
        radiologist.goto(live_daphne + "/imaging/reads/")
        radiologist.locator("#reads").get_by_role("link", name="王秀英").click()
        radiologist.get_by_role("link", name="Write the report").click()
        assert radiologist.locator("#open-viewer").get_attribute("href") == f"/imaging/studies/{study.pk}/view/"
        radiologist.locator("#template-choice").select_option(label="CT Chest · CT chest, non-contrast (normal)")
        radiologist.locator("#use-template").click()
        assert "The lungs are clear" in radiologist.locator("#id_findings").input_value()
        radiologist.locator("#id_findings").fill("Large right pneumothorax; the right lung is 40 % collapsed; mediastinum shifted to the left.")
        radiologist.locator("#id_impression").fill("Right tension pneumothorax.")
        radiologist.locator("#id_critical").check()
        radiologist.locator("#id_critical_finding").fill("Right tension pneumothorax: decompress now.")
        radiologist.locator("button[value=sign]").click()
        radiologist.wait_for_url(re.compile(r"/imaging/reads/[0-9a-f-]+/$"))
        assert "Report signed" in radiologist.locator("h1").inner_text()

        # The clinic doctor's open page shows the critical finding without a reload.
        clinic.locator(".critical-banner").wait_for()
        clinic.get_by_role("link", name="Open and acknowledge").click()
        assert "Right tension pneumothorax: decompress now." in clinic.locator("section.critical").inner_text()
        assert "Right tension pneumothorax." in clinic.locator("#report").inner_text()
        assert "Written and signed by 孙磊" in clinic.locator("#report").inner_text()
        clinic.locator("#id_note").fill("Patient sent to the emergency department by ambulance.")
        clinic.get_by_role("button", name="I have read it: acknowledge").click()
        clinic.wait_for_load_state()
        assert clinic.locator(".critical-banner").count() == 0
        assert "Acknowledged by 马春华" in clinic.locator("section.critical").inner_text()

        clinic.goto(f"{live_daphne}/imaging/studies/{study.pk}/")
        assert "Right tension pneumothorax." in clinic.locator("#reads").inner_text()
        clinic.goto(f"{live_daphne}/imaging/reads/{read.pk}/print/")
        assert "Remote imaging diagnosis report" in clinic.locator(".sheet").inner_text()
        assert "Right tension pneumothorax." in clinic.locator(".sheet").inner_text()  # the finding the clinic was told
        overflowing = clinic.evaluate("[...document.querySelectorAll('.sheet table.patient th')].filter((th) => th.scrollWidth > th.clientWidth).map((th) => th.textContent)")
        assert overflowing == []  # no label runs over its value

        read.refresh_from_db()
        assert read.status == ReadStatus.SIGNED
        assert CriticalAlert.objects.get(read=read).acknowledged_by.username == "doc_qingshan"
    finally:
        for context in (clinic_context, coordinator_context, radiologist_context):
            context.close()


def test_study_pages_with_long_uids_do_not_scroll_sideways_on_a_phone(live_daphne, chromium):
    seed_demo()
    study = _study()
    doctor = User.objects.get(username="doc_qingshan")
    # A study whose Patient ID matches nobody and without a description: its UID is what names it.
    for data in ct_series(slices=1, patient_id="NOBODY-1", description="", size=64):
        instance_ingest(stream=io.BytesIO(data), institution=doctor.memberships.get().institution, by=doctor, source="test")
    context, page = signed_in(chromium, live_daphne, viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    try:
        for path in (f"/imaging/studies/{study.pk}/", "/imaging/"):
            page.goto(live_daphne + path)
            assert page.evaluate("document.scrollingElement.scrollWidth") <= 375, path
            header = page.locator(".topbar .tools")
            assert header.evaluate("(tools) => tools.getBoundingClientRect().height") < 48, path  # one line: languages, bell, name, sign out
        assert Study.objects.get(description="").study_instance_uid in page.content()  # /imaging/, the unmatched row
    finally:
        context.close()


@pytest.mark.parametrize("width, height", [(1366, 800), (375, 740)])
def test_the_report_editor_offers_the_studys_templates_first_and_fits_the_screen(live_daphne, chromium, width, height):
    seed_demo()
    install_shared_templates()
    study = _study()
    read = read_request(by=User.objects.get(username="doc_qingshan"), study=study, hospital=Institution.objects.get(code="H-0001"), question="Pneumonia?")
    read_assign(by=User.objects.get(username="coordinator"), read=read, radiologist=User.objects.get(username="dr_sun"))
    context, page = signed_in(chromium, live_daphne, "dr_sun", at=f"/imaging/reads/{read.pk}/report/", viewport={"width": width, "height": height})
    try:
        groups = page.locator("#template-choice optgroup")
        assert groups.first.get_attribute("label") == "For this examination (CT Chest)"
        assert groups.nth(1).get_attribute("label") == "Other templates"
        assert page.locator("#template-choice").evaluate("(select) => select.selectedOptions[0].textContent") == "CT Chest · CT chest, non-contrast (normal)"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()
