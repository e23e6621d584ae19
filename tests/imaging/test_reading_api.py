"""The reading REST API: the same services and rules as the pages; refusals are 4xx with reasons."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from imaging.models import CriticalAlert, ReadRequest, ReadStatus
from imaging.report_templates import install_shared_templates
from telemed.accounts.models import Role
from tests.imaging.reading_factories import FINDINGS, IMPRESSION, assigned_read, ct_study, requested_read, requires_verification, second_radiologist, signed_read

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user)
    return client


def test_a_read_goes_from_request_to_verified_report_through_the_api(cast):
    requires_verification(cast.north)
    verifier = second_radiologist(cast.north)
    study = ct_study(cast.north)
    doctor, coordinator, radiologist = cast.north[Role.CLINIC_DOCTOR], cast.north[Role.COORDINATOR], cast.north[Role.RADIOLOGIST]

    created = api(doctor).post("/api/v1/reads/", {"study": str(study.pk), "hospital": str(cast.north.hospital.pk), "question": "Pneumonia?", "urgency": "urgent"}, format="json")
    assert created.status_code == 201, created.json()
    read_id = created.json()["id"]
    assert created.json()["status"] == "requested" and created.json()["modality"] == "CT"

    assert [r["id"] for r in api(coordinator).get("/api/v1/reads/?view=pool").json()["results"]] == [read_id]
    assigned = api(coordinator).post(f"/api/v1/reads/{read_id}/assign/", {"radiologist": str(radiologist.pk)}, format="json")
    assert assigned.status_code == 200 and assigned.json()["radiologist"] == str(radiologist.pk)

    draft = api(radiologist).put(f"/api/v1/reads/{read_id}/report/", {"findings": FINDINGS, "impression": IMPRESSION, "critical": True, "critical_finding": "Large effusion."}, format="json")
    assert draft.status_code == 200 and draft.json()["signed_at"] is None
    assert api(doctor).get(f"/api/v1/reads/{read_id}/report/").status_code == 404
    alerts = api(doctor).get(f"/api/v1/reads/{read_id}/").json()["critical_alerts"]
    assert alerts[0]["finding"] == "Large effusion." and alerts[0]["acknowledged_at"] is None
    acknowledged = api(doctor).post(f"/api/v1/reads/{read_id}/acknowledge/", {"note": "Seen."}, format="json")
    assert acknowledged.status_code == 200 and acknowledged.json()["acknowledged_by"] == str(doctor.pk)

    assert api(radiologist).post(f"/api/v1/reads/{read_id}/sign/").json()["submitted_at"] is not None
    assert api(radiologist).post(f"/api/v1/reads/{read_id}/verify/", {}, format="json").status_code == 403
    verified = api(verifier).post(f"/api/v1/reads/{read_id}/verify/", {"impression": IMPRESSION + " Drain advised."}, format="json")
    assert verified.status_code == 200 and verified.json()["verifier"] == str(verifier.pk)

    report = api(doctor).get(f"/api/v1/reads/{read_id}/report/").json()
    assert report["impression"] == IMPRESSION + " Drain advised." and report["critical"] is True
    addendum = api(radiologist).post(f"/api/v1/reads/{read_id}/addenda/", {"text": "Compared with 2024."}, format="json")
    assert addendum.status_code == 201
    assert api(doctor).get(f"/api/v1/reads/{read_id}/report/").json()["addenda"][0]["text"] == "Compared with 2024."
    assert ReadRequest.objects.get(pk=read_id).status == ReadStatus.SIGNED


def test_refusals_are_4xx_with_a_reason(cast):
    read = requested_read(cast.north)
    doctor, coordinator, radiologist = cast.north[Role.CLINIC_DOCTOR], cast.north[Role.COORDINATOR], cast.north[Role.RADIOLOGIST]
    missing = api(doctor).post("/api/v1/reads/", {"study": str(read.study_id)}, format="json")
    assert missing.status_code == 400 and set(missing.json()) == {"hospital", "question"}
    twice = api(doctor).post("/api/v1/reads/", {"study": str(read.study_id), "hospital": str(cast.north.hospital.pk), "question": "Again?"}, format="json")
    assert twice.status_code == 400 and "already has a read in progress" in twice.json()["detail"][0]
    unpaired = api(doctor).post("/api/v1/reads/", {"study": str(ct_study(cast.north).pk), "hospital": str(cast.south.hospital.pk), "question": "?"}, format="json")
    assert unpaired.status_code == 400 and unpaired.json()["hospital"] == ["Choose one of the hospitals your clinic is paired with."]
    bad_uuid = api(doctor).post("/api/v1/reads/", {"study": "nope", "hospital": "nope", "question": "?"}, format="json")
    assert bad_uuid.status_code == 400 and set(bad_uuid.json()) == {"study", "hospital"}
    assert api(coordinator).post(f"/api/v1/reads/{read.pk}/assign/", {"radiologist": "8b0d7d1e-0000-4000-8000-000000000000"}, format="json").status_code == 404
    not_reader = api(coordinator).post(f"/api/v1/reads/{read.pk}/assign/", {"radiologist": str(cast.north[Role.SPECIALIST].pk)}, format="json")
    assert not_reader.status_code == 400 and "is not a radiologist of North Hospital" in not_reader.json()["radiologist"][0]
    assert api(doctor).post(f"/api/v1/reads/{read.pk}/assign/", {"radiologist": str(radiologist.pk)}, format="json").status_code == 403
    assert api(radiologist).put(f"/api/v1/reads/{read.pk}/report/", {"findings": FINDINGS}, format="json").status_code == 403
    assert api(doctor).post(f"/api/v1/reads/{read.pk}/cancel/", {}, format="json").json() == {"reason": ["This field is required."]}
    assert api(doctor).post(f"/api/v1/reads/{read.pk}/acknowledge/", {}, format="json").json() == {"detail": ["This read has no critical finding to acknowledge."]}
    assert api(doctor).post("/api/v1/reads/", "not json", content_type="application/json").status_code == 400


def test_draft_needs_findings_and_a_template_of_another_hospital_is_refused(cast):
    install_shared_templates()
    read = assigned_read(cast.north)
    radiologist = cast.north[Role.RADIOLOGIST]
    empty = api(radiologist).put(f"/api/v1/reads/{read.pk}/report/", {"findings": ""}, format="json")
    assert empty.status_code == 400 and empty.json() == {"findings": ["Write the findings; a draft cannot be saved without them."]}
    south = api(cast.south[Role.RADIOLOGIST]).get("/api/v1/report-templates/?modality=ct").json()["results"]
    assert {t["name"] for t in south} >= {"胸部CT平扫（正常）", "CT head, non-contrast (normal)"}
    from imaging.models import ReportTemplate

    foreign = ReportTemplate.objects.create(hospital=cast.south.hospital, modality="CT", body_part="CHEST", language="en", name="South only", findings="f", impression="i")
    refused = api(radiologist).put(f"/api/v1/reads/{read.pk}/report/", {"findings": FINDINGS, "template": str(foreign.pk)}, format="json")
    assert refused.status_code == 400 and refused.json() == {"template": ["This template is not available for this hospital."]}
    assert "South only" not in str(api(radiologist).get("/api/v1/report-templates/").json())


def test_signed_report_cannot_be_rewritten_through_the_api(cast):
    read = signed_read(cast.north)
    response = api(cast.north[Role.RADIOLOGIST]).put(f"/api/v1/reads/{read.pk}/report/", {"findings": "Rewritten."}, format="json")
    assert response.status_code == 400 and "add an addendum instead" in response.json()["detail"][0]


def test_radiologist_claims_hands_back_and_a_verifier_sends_back_through_the_api(cast):
    requires_verification(cast.north)
    read = requested_read(cast.north)
    radiologist = cast.north[Role.RADIOLOGIST]
    assert api(radiologist).post(f"/api/v1/reads/{read.pk}/claim/").json()["status"] == "assigned"
    assert api(radiologist).post(f"/api/v1/reads/{read.pk}/release/", {"reason": "Leave."}, format="json").json()["status"] == "requested"
    api(radiologist).post(f"/api/v1/reads/{read.pk}/claim/")
    api(radiologist).put(f"/api/v1/reads/{read.pk}/report/", {"findings": FINDINGS, "impression": IMPRESSION}, format="json")
    api(radiologist).post(f"/api/v1/reads/{read.pk}/sign/")
    returned = api(second_radiologist(cast.north)).post(f"/api/v1/reads/{read.pk}/return/", {"reason": "Measure the nodule."}, format="json")
    assert returned.status_code == 200 and returned.json()["submitted_at"] is None
    critical = api(radiologist).post(f"/api/v1/reads/{read.pk}/critical/", {"finding": "Pneumothorax."}, format="json")
    assert critical.status_code == 201 and CriticalAlert.objects.get().finding == "Pneumothorax."


def test_foreign_and_sibling_users_see_no_read_in_the_api(cast):
    read = signed_read(cast.north)
    for outsider in (cast.doc_n2, cast.south[Role.CLINIC_DOCTOR], cast.south[Role.COORDINATOR], cast.south[Role.RADIOLOGIST], cast.north[Role.SPECIALIST]):
        client = api(outsider)
        assert client.get("/api/v1/reads/?view=all").json()["results"] == []
        assert client.get(f"/api/v1/reads/{read.pk}/").status_code == 404
        assert client.get(f"/api/v1/reads/{read.pk}/report/").status_code == 404
        assert client.post(f"/api/v1/reads/{read.pk}/addenda/", {"text": "x"}, format="json").status_code == 404


def test_assigning_to_someone_outside_the_hospital_does_not_say_who_they_are(cast):
    read = requested_read(cast.north)
    outsider = cast.south[Role.RADIOLOGIST]
    response = api(cast.north[Role.COORDINATOR]).post(f"/api/v1/reads/{read.pk}/assign/", {"radiologist": str(outsider.pk)}, format="json")
    assert response.status_code == 404
    assert str(outsider) not in response.content.decode()
