"""The reading pages: request from the study, worklists, the read's page, editor, verification,
printing, the critical-finding banner and the reading settings."""
from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from imaging.models import CriticalAlert, ReadingPolicy, ReadRequest, ReadStatus, ReportTemplate, Study
from imaging.report_templates import install_shared_templates
from imaging.services.reading.critical import critical_raise
from imaging.services.reading.reports import report_submit
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.accounts.factories import HospitalFactory, MembershipFactory
from tests.imaging.reading_factories import (
    FINDINGS,
    IMPRESSION,
    assigned_read,
    awaiting_verification,
    ct_study,
    drafted_read,
    requested_read,
    second_radiologist,
    signed_read,
)
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


# --- Requesting ---------------------------------------------------------------------------------------

def test_clinic_doctor_requests_a_read_from_the_study_page(cast, client_for):
    study = ct_study(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    page = client.get(f"/imaging/studies/{study.pk}/").content.decode()
    assert f"/imaging/studies/{study.pk}/read/" in page and "No read has been requested for this study." in page
    form = client.get(f"/imaging/studies/{study.pk}/read/").content.decode()
    assert "North Hospital" in form and "<abbr title=\"Computed tomography\">CT</abbr> Chest" in form
    response = client.post(f"/imaging/studies/{study.pk}/read/", {"hospital": cast.north.hospital.pk, "urgency": "urgent", "question": "Pneumonia?", "history": ""}, follow=True)
    read = ReadRequest.objects.get()
    assert response.redirect_chain[-1][0] == f"/imaging/reads/{read.pk}/"
    assert "The read is requested; North Hospital is told now." in _messages(response)
    assert read.urgency == "urgent"
    study_page = client.get(f"/imaging/studies/{study.pk}/").content.decode()
    assert f"/imaging/studies/{study.pk}/read/" not in study_page  # one open read at a time


def test_request_form_shows_what_is_missing(cast, client_for):
    study = ct_study(cast.north)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post(f"/imaging/studies/{study.pk}/read/", {"hospital": cast.south.hospital.pk, "urgency": "routine", "question": ""})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Select a valid choice" in page  # a hospital not offered to the clinic
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post(f"/imaging/studies/{study.pk}/read/", {"hospital": cast.north.hospital.pk, "urgency": "routine", "question": " "})
    assert "Write the clinical question the radiologist should answer." in response.content.decode()
    assert not ReadRequest.objects.exists()


def test_only_the_sending_clinic_gets_the_request_form(cast, client_for):
    study = ct_study(cast.north)
    assert client_for(cast.doc_n2).get(f"/imaging/studies/{study.pk}/read/").status_code == 404
    assert client_for(cast.north[Role.COORDINATOR]).get(f"/imaging/studies/{study.pk}/read/").status_code == 404


# --- Worklists ----------------------------------------------------------------------------------------

def test_radiologist_worklist_puts_emergencies_first_then_the_oldest(cast, client_for):
    patients = [PatientFactory(institution=cast.north.clinic, registered_by=cast.north[Role.CLINIC_DOCTOR], name=f"Worklist patient {n}") for n in range(3)]
    routine_old = assigned_read(cast.north, study=ct_study(cast.north, patient=patients[0]))
    routine_new = assigned_read(cast.north, study=ct_study(cast.north, patient=patients[1]))
    emergency = assigned_read(cast.north, study=ct_study(cast.north, patient=patients[2]), urgency="emergency")
    page = client_for(cast.north[Role.RADIOLOGIST]).get("/imaging/reads/").content.decode()
    order = [m for m in re.findall(r"/imaging/reads/([0-9a-f-]{36})/", page)]
    assert order == [str(emergency.pk), str(routine_old.pk), str(routine_new.pk)]
    filtered = client_for(cast.north[Role.RADIOLOGIST]).get("/imaging/reads/?urgency=emergency").content.decode()
    assert "Worklist patient 2" in filtered and "Worklist patient 0" not in filtered
    assert AuditEvent.objects.filter(action="read.list", actor_username=cast.north[Role.RADIOLOGIST].username).count() == 2


def test_each_role_starts_on_its_own_list(cast, client_for):
    read = requested_read(cast.north)
    coordinator = client_for(cast.north[Role.COORDINATOR]).get("/imaging/reads/")
    assert coordinator.context["view"] == "pool" and read.patient.name in coordinator.content.decode()
    radiologist = client_for(cast.north[Role.RADIOLOGIST]).get("/imaging/reads/")
    assert radiologist.context["view"] == "mine" and read.patient.name not in radiologist.content.decode()
    clinic = client_for(cast.north[Role.CLINIC_DOCTOR]).get("/imaging/reads/")
    assert clinic.context["view"] == "open" and read.patient.name in clinic.content.decode()
    assert client_for(cast.north[Role.AUDITOR]).get("/imaging/reads/").status_code == 403


def test_bad_filters_are_ignored_not_errors(cast, client_for):
    requested_read(cast.north)
    response = client_for(cast.north[Role.COORDINATOR]).get("/imaging/reads/?view=bogus&urgency=soon&modality=%3Cscript%3E&page=x")
    assert response.status_code == 200 and response.context["view"] == "pool"


# --- The read's page and its buttons ---------------------------------------------------------------------

def test_coordinator_assigns_from_the_read_page(cast, client_for):
    read = requested_read(cast.north)
    client = client_for(cast.north[Role.COORDINATOR])
    page = client.get(f"/imaging/reads/{read.pk}/").content.decode()
    assert "Assign a radiologist" in page and "North radiologist (0 open)" in page
    response = client.post(f"/imaging/reads/{read.pk}/assign/", {"radiologist": cast.north[Role.RADIOLOGIST].pk}, follow=True)
    assert "North radiologist has the read now and is told." in _messages(response)
    assert ReadRequest.objects.get(pk=read.pk).radiologist == cast.north[Role.RADIOLOGIST]


def test_refusals_on_the_read_page_come_back_as_messages(cast, client_for):
    read = requested_read(cast.north)
    unverified = second_radiologist(cast.north)
    unverified.qualifications.update(verified_at=None)
    response = client_for(cast.north[Role.COORDINATOR]).post(f"/imaging/reads/{read.pk}/assign/", {"radiologist": unverified.pk}, follow=True)
    assert "has no verified qualification yet" in _messages(response)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).post(f"/imaging/reads/{read.pk}/cancel/", {"reason": ""}, follow=True)
    assert "Give a reason; the others are told it." in _messages(response)
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).post(f"/imaging/reads/{read.pk}/assign/", {"radiologist": unverified.pk}).status_code == 403
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/cancel/").status_code == 405


def test_radiologist_takes_hands_back_and_declines_from_the_page(cast, client_for):
    read = requested_read(cast.north)
    client = client_for(cast.north[Role.RADIOLOGIST])
    assert "Take this read" in client.get(f"/imaging/reads/{read.pk}/").content.decode()
    assert "The read is yours now." in _messages(client.post(f"/imaging/reads/{read.pk}/claim/", follow=True))
    assert "You handed the read back." in _messages(client.post(f"/imaging/reads/{read.pk}/release/", {"reason": "Leave"}, follow=True))
    assert "The read is declined" in _messages(client_for(cast.north[Role.COORDINATOR]).post(f"/imaging/reads/{read.pk}/decline/", {"reason": "Wrong study."}, follow=True))
    assert ReadRequest.objects.get(pk=read.pk).status == ReadStatus.DECLINED


# --- Writing, signing, verifying, printing ----------------------------------------------------------------

def test_editor_offers_templates_beside_a_link_to_the_images(cast, client_for):
    install_shared_templates()
    read = assigned_read(cast.north)
    client = client_for(cast.north[Role.RADIOLOGIST])
    page = client.get(f"/imaging/reads/{read.pk}/report/").content.decode()
    assert f'href="/imaging/studies/{read.study_id}/view/"' in page
    data = json.loads(re.search(r'<script id="template-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    ct_chest = ReportTemplate.objects.get(name="CT chest, non-contrast (normal)")
    assert data[0]["id"] == str(ct_chest.pk)  # made for the examination, in the reader's language (English here)
    matching, others = page.index('<optgroup label="For this examination (CT Chest)">'), page.index('<optgroup label="Other templates">')
    assert matching < page.index("CT chest, non-contrast (normal)") < page.index("胸部CT平扫（正常）") < others < page.index("CT head, non-contrast (normal)")
    ReadRequest.objects.filter(pk=read.pk).update(body_part="KNEE")  # no template is made for a CT of the knee
    page = client.get(f"/imaging/reads/{read.pk}/report/").content.decode()
    assert '<optgroup label="No template is made for this examination; all templates">' in page and "Other templates" not in page
    filled = client.get(f"/imaging/reads/{read.pk}/report/?template={ct_chest.pk}").content.decode()
    assert "The lungs are clear, with no consolidation" in filled
    assert client.get(f"/imaging/reads/{read.pk}/report/?template=not-a-uuid").status_code == 200


def test_radiologist_saves_then_signs_and_the_clinic_reads_the_report_on_the_study_page(cast, client_for):
    read = assigned_read(cast.north)
    client = client_for(cast.north[Role.RADIOLOGIST])
    form = {"technique": "Non-contrast CT.", "findings": FINDINGS, "impression": "", "critical_finding": ""}
    response = client.post(f"/imaging/reads/{read.pk}/report/", {**form, "action": "sign"}, follow=True)
    assert "Your draft is saved but not signed yet" in _messages(response)
    assert "Write the impression (the diagnosis or the differential) before signing." in response.content.decode()
    response = client.post(f"/imaging/reads/{read.pk}/report/", {**form, "impression": IMPRESSION, "action": "sign"}, follow=True)
    assert "Your report is signed; the clinic can read it now." in _messages(response)
    clinic = client_for(cast.north[Role.CLINIC_DOCTOR])
    study_page = clinic.get(f"/imaging/studies/{read.study_id}/").content.decode()
    assert IMPRESSION in study_page and "Written and signed by North radiologist" in study_page
    assert AuditEvent.objects.filter(action="report.view", actor_username=cast.north[Role.CLINIC_DOCTOR].username).exists()
    printed = clinic.get(f"/imaging/reads/{read.pk}/print/").content.decode()
    assert "Remote imaging diagnosis report" in printed and IMPRESSION in printed and read.patient.mrn in printed


def test_nobody_but_the_radiologist_assigned_opens_the_editor(cast, client_for):
    read = assigned_read(cast.north)
    for person in (cast.north[Role.CLINIC_DOCTOR], cast.north[Role.COORDINATOR], second_radiologist(cast.north)):
        assert client_for(person).get(f"/imaging/reads/{read.pk}/report/").status_code == 403


def test_a_draft_does_not_print_and_is_not_shown_to_the_clinic(cast, client_for):
    read = drafted_read(cast.north)
    clinic = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert clinic.get(f"/imaging/reads/{read.pk}/print/").status_code == 404
    assert FINDINGS not in clinic.get(f"/imaging/reads/{read.pk}/").content.decode()
    assert FINDINGS in client_for(cast.north[Role.RADIOLOGIST]).get(f"/imaging/reads/{read.pk}/").content.decode()


def test_second_radiologist_verifies_on_the_verify_page(cast, client_for):
    read, verifier = awaiting_verification(cast.north)
    assert client_for(cast.north[Role.RADIOLOGIST]).get(f"/imaging/reads/{read.pk}/verify/").status_code == 403
    client = client_for(verifier)
    assert "To verify" in client.get("/imaging/reads/?view=verify").content.decode()
    assert read.patient.name in client.get("/imaging/reads/?view=verify").content.decode()
    response = client.post(f"/imaging/reads/{read.pk}/verify/", {"action": "return", "reason": ""})
    assert "Say what the author should change." in response.content.decode()
    response = client.post(f"/imaging/reads/{read.pk}/verify/", {"action": "verify", "technique": "", "findings": FINDINGS, "impression": IMPRESSION + " Follow up."}, follow=True)
    assert "The report is verified and final" in _messages(response)
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/").content.decode()
    assert "Verified and amended by North Hospital second radiologist" in page and "Follow up." in page


def test_author_adds_an_addendum_from_the_read_page(cast, client_for):
    read = signed_read(cast.north)
    response = client_for(cast.north[Role.RADIOLOGIST]).post(f"/imaging/reads/{read.pk}/addendum/", {"text": "No prior to compare."}, follow=True)
    assert "Your addendum is signed" in _messages(response)
    assert "No prior to compare." in client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/").content.decode()
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).post(f"/imaging/reads/{read.pk}/addendum/", {"text": "Me"}).status_code == 403
    assert read.report.addenda.count() == 1


# --- Critical findings ---------------------------------------------------------------------------------

def test_the_clinic_sees_a_banner_on_every_page_until_a_doctor_acknowledges(cast, client_for):
    read = assigned_read(cast.north)
    critical_raise(by=cast.north[Role.RADIOLOGIST], read=read, finding="Tension pneumothorax.")
    clinic = client_for(cast.north[Role.CLINIC_DOCTOR])
    for url in ("/patients/", "/consults/", "/imaging/"):
        page = clinic.get(url).content.decode()
        assert "A critical finding (危急值) waits for your clinic's acknowledgement." in page and f"/imaging/reads/{read.pk}/" in page
        assert read.patient.name not in page.split('id="critical-banner"')[1].split("</div>")[0]
    assert 'class="critical-banner"' not in client_for(cast.doc_n2).get("/patients/").content.decode()
    assert 'class="critical-banner"' in clinic.get("/imaging/reads/critical-banner/").content.decode()
    response = clinic.post(f"/imaging/reads/{read.pk}/acknowledge/", {"note": "Called the patient back."}, follow=True)
    assert "You acknowledged the critical finding" in _messages(response)
    assert 'class="critical-banner"' not in clinic.get("/patients/").content.decode()
    assert "Acknowledged by North clinic_doctor" in clinic.get(f"/imaging/reads/{read.pk}/").content.decode()
    assert CriticalAlert.objects.get().acknowledgement_note == "Called the patient back."


def test_radiologist_alerts_the_clinic_from_the_read_page(cast, client_for):
    read = assigned_read(cast.north)
    client = client_for(cast.north[Role.RADIOLOGIST])
    assert "Report a critical finding now" in client.get(f"/imaging/reads/{read.pk}/").content.decode()
    response = client.post(f"/imaging/reads/{read.pk}/critical/", {"finding": ""}, follow=True)
    assert "Describe the critical finding" in _messages(response)
    response = client.post(f"/imaging/reads/{read.pk}/critical/", {"finding": "Free air under the diaphragm."}, follow=True)
    assert "The clinic is alerted to the critical finding" in _messages(response)


# --- Viewer and settings ----------------------------------------------------------------------------------

def test_viewer_links_the_radiologist_back_to_the_report(cast, client_for):
    read = assigned_read(cast.north)
    page = client_for(cast.north[Role.RADIOLOGIST]).get(f"/imaging/studies/{read.study_id}/view/").content.decode()
    assert f"/imaging/reads/{read.pk}/report/" in page
    assert f"/imaging/reads/{read.pk}/report/" not in client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{read.study_id}/view/").content.decode()


def test_coordinator_sets_the_policy_and_a_radiologists_modalities(cast, client_for):
    client = client_for(cast.north[Role.COORDINATOR])
    page = client.get("/imaging/reads/settings/").content.decode()
    assert "North Hospital" in page and "North radiologist" in page and "South Hospital" not in page
    prefix = str(cast.north.hospital.pk)
    response = client.post(f"/imaging/reads/settings/hospitals/{prefix}/", {f"{prefix}-assignment": "least_loaded", f"{prefix}-requires_verification": "on", f"{prefix}-critical_ack_minutes": "5"}, follow=True)
    assert "How North Hospital reads is saved." in _messages(response)
    policy = ReadingPolicy.objects.get(hospital=cast.north.hospital)
    assert (policy.assignment, policy.requires_verification, policy.critical_ack_minutes) == ("least_loaded", True, 5)
    response = client.post(f"/imaging/reads/settings/hospitals/{prefix}/", {f"{prefix}-assignment": "least_loaded", f"{prefix}-critical_ack_minutes": "0"}, follow=True)
    assert "Give between 1 and 1440 minutes" in _messages(response)
    radiologist = cast.north[Role.RADIOLOGIST]
    url = f"/imaging/reads/settings/hospitals/{prefix}/readers/{radiologist.pk}/"
    response = client.post(url, {f"{prefix}-{radiologist.pk}-modalities": "ct, mr，DX"}, follow=True)
    assert "What North radiologist reads is saved." in _messages(response)
    profile = radiologist.reader_profiles.get(hospital=cast.north.hospital)
    assert profile.modalities == ["CT", "DX", "MR"] and not profile.accepts_automatic
    assert client_for(cast.north[Role.RADIOLOGIST]).get("/imaging/reads/settings/").status_code == 403
    assert client.post(f"/imaging/reads/settings/hospitals/{prefix}/readers/{cast.north[Role.SPECIALIST].pk}/", {}).status_code == 404
    assert client.post(f"/imaging/reads/settings/hospitals/{cast.south.hospital.pk}/readers/{cast.south[Role.RADIOLOGIST].pk}/", {}).status_code == 404


def test_an_administrator_of_two_hospitals_sets_a_shared_radiologists_profile_for_each(cast, client_for):
    second = HospitalFactory(alliance=cast.north.hospital.alliance, name="North Second Hospital")
    radiologist, administrator = cast.north[Role.RADIOLOGIST], cast.north[Role.ADMINISTRATOR]
    MembershipFactory(user=radiologist, institution=second, role=Role.RADIOLOGIST)
    MembershipFactory(user=administrator, institution=second, role=Role.ADMINISTRATOR)
    client = client_for(administrator)
    page = client.get("/imaging/reads/settings/").content.decode()
    for hospital in (cast.north.hospital, second):
        assert f'action="/imaging/reads/settings/hospitals/{hospital.pk}/readers/{radiologist.pk}/"' in page
        assert f'name="{hospital.pk}-{radiologist.pk}-modalities"' in page
    base = "/imaging/reads/settings/hospitals"
    client.post(f"{base}/{second.pk}/readers/{radiologist.pk}/", {f"{second.pk}-{radiologist.pk}-modalities": "CT", f"{second.pk}-{radiologist.pk}-accepts_automatic": "on"})
    client.post(f"{base}/{cast.north.hospital.pk}/readers/{radiologist.pk}/", {f"{cast.north.hospital.pk}-{radiologist.pk}-modalities": "MR"})
    assert {p.hospital: (p.modalities, p.accepts_automatic) for p in radiologist.reader_profiles.all()} == {second: (["CT"], True), cast.north.hospital: (["MR"], False)}
    page = client.get("/imaging/reads/settings/").content.decode()
    assert f'name="{second.pk}-{radiologist.pk}-modalities" value="CT"' in page


def test_the_settings_page_takes_as_many_queries_for_six_radiologists_as_for_two(cast, client_for):
    client = client_for(cast.north[Role.COORDINATOR])
    counts = {}
    for total, more in ((2, 1), (6, 4)):  # the cast's radiologist and `more` others
        for _ in range(more):
            second_radiologist(cast.north)
        with CaptureQueriesContext(connection) as captured:
            page = client.get("/imaging/reads/settings/").content.decode()
        assert page.count("North Hospital second radiologist") == total - 1
        counts[total] = len(captured)
    assert counts[2] == counts[6]


# --- What each page says (QA of the reading pages) ------------------------------------------------------

def test_the_coordinator_is_not_offered_a_study_they_cannot_open(cast, client_for):
    read = requested_read(cast.north)
    coordinator = client_for(cast.north[Role.COORDINATOR])
    page = coordinator.get(f"/imaging/reads/{read.pk}/").content.decode()
    assert f"/imaging/studies/{read.study_id}/" not in page and "Open the images" not in page
    assert coordinator.get(f"/imaging/studies/{read.study_id}/").status_code == 404
    clinic_page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/").content.decode()
    assert f'href="/imaging/studies/{read.study_id}/view/"' in clinic_page and f'href="/imaging/studies/{read.study_id}/"' in clinic_page


def test_the_timeline_says_what_happened_not_the_state_it_left(cast, client_for):
    read = drafted_read(cast.north)
    critical_raise(by=cast.north[Role.RADIOLOGIST], read=read, finding="Tension pneumothorax.")
    report_submit(by=cast.north[Role.RADIOLOGIST], read=read)
    client_for(cast.north[Role.RADIOLOGIST]).post(f"/imaging/reads/{read.pk}/addendum/", {"text": "Compared with 2024."})
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/").content.decode()
    timeline = re.findall(r"<strong>([^<]+)</strong>", page[page.index('class="timeline"'):])
    assert timeline == ["Read requested", "Radiologist assigned", "Reading started", "Critical finding raised", "Report signed", "Addendum added"]
    zh = client_for(cast.north[Role.CLINIC_DOCTOR], language="zh-hans").get(f"/imaging/reads/{read.pk}/").content.decode()
    assert "已上报危急值" in zh and "已添加补充意见" in zh


def test_a_verifiers_changes_are_named_on_the_read_the_clinics_study_page_and_the_print(cast, client_for):
    read, verifier = awaiting_verification(cast.north)
    client_for(verifier).post(f"/imaging/reads/{read.pk}/verify/", {"action": "verify", "technique": "", "findings": FINDINGS, "impression": IMPRESSION + " Follow up."})
    clinic = client_for(cast.north[Role.CLINIC_DOCTOR])
    for url in (f"/imaging/reads/{read.pk}/", f"/imaging/studies/{read.study_id}/", f"/imaging/reads/{read.pk}/print/"):
        page = clinic.get(url).content.decode()
        assert "Written by North radiologist on" in page and "Written and signed by" not in page, url
        assert "Verified and amended by North Hospital second radiologist on" in page and "(changed: impression)." in page, url
    zh = client_for(cast.north[Role.CLINIC_DOCTOR], language="zh-hans").get(f"/imaging/reads/{read.pk}/").content.decode()
    assert "审核并修改" in zh


def test_a_report_verified_as_written_still_says_written_and_signed(cast, client_for):
    read, verifier = awaiting_verification(cast.north)
    client_for(verifier).post(f"/imaging/reads/{read.pk}/verify/", {"action": "verify", "technique": "", "findings": FINDINGS, "impression": IMPRESSION})
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/").content.decode()
    assert "Written and signed by North radiologist" in page and "Verified by North Hospital second radiologist" in page and "amended" not in page


def test_the_clinics_study_page_names_who_requested_and_the_radiologist_apart(cast, client_for):
    read = assigned_read(cast.north)
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{read.study_id}/").content.decode()
    assert f"by {cast.north[Role.CLINIC_DOCTOR]}; radiologist: {cast.north[Role.RADIOLOGIST]}" in page


def test_study_dates_are_written_in_one_style_on_every_imaging_page_in_both_languages(cast, client_for):
    read = signed_read(cast.north)
    Study.objects.filter(pk=read.study_id).update(study_date="20261120", study_time="093000")
    doctor = cast.north[Role.CLINIC_DOCTOR]
    for language in ("en", "zh-hans"):
        clinic = client_for(doctor, language=language)
        study_page = clinic.get(f"/imaging/studies/{read.study_id}/").content.decode()
        assert "2026-11-20 09:30" in study_page and "20261120" not in study_page
        for url in ("/imaging/", f"/imaging/studies/{read.study_id}/view/", f"/imaging/reads/{read.pk}/", f"/imaging/reads/{read.pk}/print/"):
            page = clinic.get(url).content.decode()
            assert "2026-11-20" in page and "Nov. 20" not in page and "2026年11月20日" not in page, (language, url)


def test_the_editor_of_a_signed_report_leads_to_the_read_with_why_and_the_addendum_form(cast, client_for):
    read = signed_read(cast.north)
    response = client_for(cast.north[Role.RADIOLOGIST]).get(f"/imaging/reads/{read.pk}/report/", follow=True)
    assert response.redirect_chain == [(f"/imaging/reads/{read.pk}/", 302)]
    assert "can no longer be changed; add an addendum instead." in _messages(response)
    assert f'action="/imaging/reads/{read.pk}/addendum/"' in response.content.decode()
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/report/").status_code == 403


def test_the_verify_page_of_a_verified_report_leads_to_the_read_with_why(cast, client_for):
    read, verifier = awaiting_verification(cast.north)
    client = client_for(verifier)
    client.post(f"/imaging/reads/{read.pk}/verify/", {"action": "verify", "technique": "", "findings": FINDINGS, "impression": IMPRESSION})
    response = client.get(f"/imaging/reads/{read.pk}/verify/", follow=True)
    assert response.redirect_chain == [(f"/imaging/reads/{read.pk}/", 302)]
    assert "Only a report handed in for verification can be verified" in _messages(response)
    # Someone who may never verify there is refused alike, whatever the read's state.
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/verify/").status_code == 403


def test_a_verifier_with_nothing_assigned_starts_on_what_waits_for_her_with_a_count(cast, client_for):
    read, verifier = awaiting_verification(cast.north)
    response = client_for(verifier).get("/imaging/reads/")
    assert response.context["view"] == "verify" and read.patient.name in response.content.decode()
    assert re.search(r'To verify <span class="badge">1</span>', response.content.decode())
    author = client_for(cast.north[Role.RADIOLOGIST]).get("/imaging/reads/")
    assert author.context["view"] == "mine"


def test_a_page_under_imaging_reads_marks_only_imaging_reads_as_current(cast, client_for):
    read = signed_read(cast.north)
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/print/").content.decode()
    nav = page[page.index('class="mainnav"'):page.index("</nav>")]
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', nav) == ["/imaging/reads/"]


def test_the_examination_of_a_study_without_a_description_ends_in_no_separator_in_the_editor_and_the_verify_page(cast, client_for):
    read = assigned_read(cast.north)
    Study.objects.filter(pk=read.study_id).update(description="")
    editor = client_for(cast.north[Role.RADIOLOGIST]).get(f"/imaging/reads/{read.pk}/report/").content.decode()
    waiting, verifier = awaiting_verification(cast.north)
    Study.objects.filter(pk=waiting.study_id).update(description="")
    verify = client_for(verifier).get(f"/imaging/reads/{waiting.pk}/verify/").content.decode()
    for page in (editor, verify):
        examination = re.search(r"<dt>Examination</dt><dd>(.*?)</dd>", page, re.S)[1]
        assert " ".join(re.sub(r"<[^>]+>", " ", examination).split()) == "CT Chest"  # not 'CT Chest ·'
