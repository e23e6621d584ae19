"""The report: draft, the author's signature, verification by a second radiologist, final, addenda."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction

from consults.models import Notification
from imaging.models import ReadRequest, ReadStatus, Report, ReportAddendum, ReportTemplate
from imaging.report_templates import install_shared_templates
from imaging.services.reading.reports import (
    addendum_add,
    report_for,
    report_return,
    report_save,
    report_submit,
    report_verify,
    templates_for,
)
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.reading_factories import FINDINGS, IMPRESSION, assigned_read, awaiting_verification, drafted_read, requested_read, requires_verification, second_radiologist, signed_read

pytestmark = pytest.mark.django_db


def _status(read) -> str:
    return ReadRequest.objects.values_list("status", flat=True).get(pk=read.pk)


# --- Drafting and signing ---------------------------------------------------------------------------

def test_first_save_starts_the_read_and_only_the_author_sees_the_draft(cast):
    read = assigned_read(cast.north)
    report = report_save(by=cast.north[Role.RADIOLOGIST], read=read, findings=FINDINGS, technique="Non-contrast CT.")
    assert _status(read) == ReadStatus.IN_PROGRESS and report.impression == ""
    assert report_for(by=cast.north[Role.RADIOLOGIST], read=read) is not None
    for person in (cast.north[Role.CLINIC_DOCTOR], cast.north[Role.COORDINATOR], second_radiologist(cast.north)):
        assert report_for(by=person, read=read) is None
    assert AuditEvent.objects.filter(action="report.save", patient_id=read.patient_id).exists()


def test_only_the_radiologist_assigned_writes(cast):
    read = assigned_read(cast.north)
    for person in (second_radiologist(cast.north), cast.north[Role.COORDINATOR], cast.north[Role.CLINIC_DOCTOR]):
        with pytest.raises(PermissionDenied, match="Only the radiologist the read is assigned to"):
            report_save(by=person, read=read, findings=FINDINGS)
    assert not Report.objects.exists()


def test_nobody_writes_a_report_before_the_read_is_assigned(cast):
    read = requested_read(cast.north)
    with pytest.raises(PermissionDenied, match="Only the radiologist the read is assigned to"):
        report_save(by=cast.north[Role.RADIOLOGIST], read=read, findings=FINDINGS)


def test_a_draft_needs_findings_and_a_signature_needs_the_impression_too(cast):
    read = assigned_read(cast.north)
    radiologist = cast.north[Role.RADIOLOGIST]
    with pytest.raises(ValidationError) as refused:
        report_save(by=radiologist, read=read, findings="  ")
    assert refused.value.message_dict == {"findings": ["Write the findings; a draft cannot be saved without them."]}
    with pytest.raises(ValidationError, match="Write and save the report before signing it"):
        report_submit(by=radiologist, read=read)
    report_save(by=radiologist, read=read, findings=FINDINGS)
    with pytest.raises(ValidationError) as refused:
        report_submit(by=radiologist, read=read)
    assert refused.value.message_dict == {"impression": ["Write the impression (the diagnosis or the differential) before signing."]}
    assert _status(read) == ReadStatus.IN_PROGRESS


def test_without_two_level_sign_off_the_authors_signature_is_final_and_the_clinic_is_told(cast):
    read = signed_read(cast.north)
    report = read.report
    assert read.status == ReadStatus.SIGNED and read.signed_at == report.signed_at == report.submitted_at
    assert report.verifier is None
    assert report_for(by=cast.north[Role.CLINIC_DOCTOR], read=read) == report
    note = Notification.objects.get(user=cast.north[Role.CLINIC_DOCTOR], title__startswith="The imaging report is ready")
    assert note.link == f"/imaging/reads/{read.pk}/"
    assert list(read.timeline.values_list("action", flat=True)) == ["request", "assign", "start", "sign"]


# --- Two-level sign-off -------------------------------------------------------------------------------

def test_two_level_sign_off_waits_for_another_radiologist_then_the_clinic_sees_it(cast):
    read, verifier = awaiting_verification(cast.north)
    assert _status(read) == ReadStatus.AWAITING_VERIFICATION
    assert report_for(by=cast.north[Role.CLINIC_DOCTOR], read=read) is None
    assert report_for(by=verifier, read=read) is not None
    assert Notification.objects.filter(user=verifier, title="A report awaits verification: CT Chest").exists()
    assert not Notification.objects.filter(user=cast.north[Role.CLINIC_DOCTOR], title__contains="report").exists()

    report = report_verify(by=verifier, read=read)
    read.refresh_from_db()
    assert read.status == ReadStatus.SIGNED
    assert (report.author, report.verifier) == (cast.north[Role.RADIOLOGIST], verifier)
    assert report.submitted_at <= report.verified_at == report.signed_at == read.signed_at
    assert report_for(by=cast.north[Role.CLINIC_DOCTOR], read=read) == report
    assert Notification.objects.filter(user=cast.north[Role.RADIOLOGIST], title__startswith=f"{verifier} verified your report").exists()


def test_with_no_second_radiologist_the_coordinators_are_told_the_report_waits(cast):
    requires_verification(cast.north)
    read = drafted_read(cast.north)
    report_submit(by=cast.north[Role.RADIOLOGIST], read=read)
    assert Notification.objects.filter(user=cast.north[Role.COORDINATOR], title="A report awaits verification: CT Chest").exists()


def test_the_author_may_not_verify_his_own_report(cast):
    requires_verification(cast.north)
    read = drafted_read(cast.north)
    report_submit(by=cast.north[Role.RADIOLOGIST], read=read)
    with pytest.raises(PermissionDenied, match="You wrote this report; another radiologist of the hospital must verify it."):
        report_verify(by=cast.north[Role.RADIOLOGIST], read=read)
    for outsider in (cast.north[Role.COORDINATOR], cast.south[Role.RADIOLOGIST], cast.north[Role.SPECIALIST]):
        with pytest.raises(PermissionDenied):
            report_verify(by=outsider, read=read)
    assert _status(read) == ReadStatus.AWAITING_VERIFICATION


def test_the_database_refuses_a_verifier_who_is_the_author(cast):
    read = drafted_read(cast.north)
    with pytest.raises(IntegrityError), transaction.atomic():
        Report.objects.filter(pk=read.report.pk).update(verifier=read.report.author)


def test_verifier_corrects_the_text_and_the_change_is_recorded(cast):
    read, verifier = awaiting_verification(cast.north)
    report = report_verify(by=verifier, read=read, findings=FINDINGS, impression="Right lower lobe pneumonia; follow-up CT in 6 weeks.")
    assert report.impression == "Right lower lobe pneumonia; follow-up CT in 6 weeks."
    event = AuditEvent.objects.get(action="report.verify")
    assert event.detail["amended"] == ["impression"]


def test_verifier_sends_the_report_back_and_the_author_signs_again(cast):
    requires_verification(cast.north)
    verifier = second_radiologist(cast.north)
    author = cast.north[Role.RADIOLOGIST]
    read = drafted_read(cast.north)
    report_submit(by=author, read=read)
    with pytest.raises(ValidationError) as refused:
        report_return(by=verifier, read=read, reason="")
    assert refused.value.message_dict == {"reason": ["Say what the author should change."]}
    with pytest.raises(ValidationError, match="waits for verification"):
        report_save(by=author, read=read, findings="changed while waiting")
    report_return(by=verifier, read=read, reason="Describe the pleura.")
    assert _status(read) == ReadStatus.IN_PROGRESS
    assert Notification.objects.filter(user=author, body="Describe the pleura.").exists()
    report_save(by=author, read=read, findings=FINDINGS + " Pleura normal.", impression=IMPRESSION)
    report_submit(by=author, read=read)
    report_verify(by=verifier, read=read)
    assert _status(read) == ReadStatus.SIGNED


# --- A signed report is final --------------------------------------------------------------------------

def test_a_signed_report_cannot_be_changed_through_the_service(cast):
    read = signed_read(cast.north)
    with pytest.raises(ValidationError, match="can no longer be changed; add an addendum instead"):
        report_save(by=cast.north[Role.RADIOLOGIST], read=read, findings="Rewritten.")
    with pytest.raises(ValidationError):
        report_submit(by=cast.north[Role.RADIOLOGIST], read=read)
    assert Report.objects.get(pk=read.report.pk).findings == FINDINGS


def test_the_database_refuses_to_change_or_delete_a_signed_report_and_any_addendum(cast):
    read = signed_read(cast.north)
    addendum = addendum_add(by=cast.north[Role.RADIOLOGIST], read=read, text="No prior study to compare.")
    def sql(statement, pk):
        with connection.cursor() as cursor:
            cursor.execute(statement, [pk])

    for change in (
        lambda: Report.objects.filter(pk=read.report.pk).update(findings="Tampered."),
        # Plain SQL: the ORM would refuse the delete itself (protected foreign keys) before the database.
        lambda: sql("DELETE FROM imaging_report WHERE id = %s", read.report.pk),
        lambda: ReportAddendum.objects.filter(pk=addendum.pk).update(text="Tampered."),
        lambda: ReportAddendum.objects.filter(pk=addendum.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="final|append-only"), transaction.atomic():
            change()
    assert Report.objects.get(pk=read.report.pk).findings == FINDINGS


def test_the_database_still_lets_a_draft_change(cast):
    read = drafted_read(cast.north)
    assert Report.objects.filter(pk=read.report.pk).update(findings="Edited draft.") == 1


def test_author_or_verifier_adds_signed_addenda_and_the_clinic_is_told(cast):
    read, verifier = awaiting_verification(cast.north)
    with pytest.raises(ValidationError, match="Addenda are for signed reports"):
        addendum_add(by=cast.north[Role.RADIOLOGIST], read=read, text="Too early.")
    report_verify(by=verifier, read=read)
    addendum_add(by=cast.north[Role.RADIOLOGIST], read=read, text="Compared with the 2024 radiograph: new.")
    addendum_add(by=verifier, read=read, text="Agree.")
    with pytest.raises(PermissionDenied, match="Only the radiologist who wrote or verified the report"):
        addendum_add(by=second_radiologist(cast.north, username="third"), read=read, text="Me too.")
    with pytest.raises(ValidationError) as refused:
        addendum_add(by=verifier, read=read, text=" ")
    assert refused.value.message_dict == {"text": ["Write what you want to add to the signed report."]}
    assert [a.text for a in report_for(by=cast.north[Role.CLINIC_DOCTOR], read=read).addenda.all()] == ["Compared with the 2024 radiograph: new.", "Agree."]
    assert Notification.objects.filter(user=cast.north[Role.CLINIC_DOCTOR], title__startswith="An addendum to the imaging report").count() == 2


# --- Templates -------------------------------------------------------------------------------------------

def test_the_templates_made_for_the_reads_examination_come_first_then_the_others_each_in_the_readers_language_first(cast):
    install_shared_templates()
    read = assigned_read(cast.north)  # CT CHEST
    own = ReportTemplate.objects.create(hospital=cast.north.hospital, modality="ct", body_part="Chest", language="en", name="North CT chest", findings="f", impression="i")
    foreign = ReportTemplate.objects.create(hospital=cast.south.hospital, modality="CT", body_part="CHEST", language="en", name="South CT chest", findings="f", impression="i")
    templates = list(templates_for(read, language="zh-hans"))
    names = [t.name for t in templates]
    assert [t.name for t in templates if t.matching] == ["胸部CT平扫（正常）", "CT chest, non-contrast (normal)", own.name]
    others = [t for t in templates if not t.matching]
    assert templates[3:] == others  # after the matching ones
    languages = [t.language for t in others]
    assert languages == sorted(languages, key=lambda language: language != "zh-hans")  # the reader's language first
    assert names.index("头颅CT平扫（正常）") < names.index("胸部正位片（正常）")  # same modality before other modalities
    assert foreign.name not in names


def test_a_report_started_from_a_template_remembers_it_and_a_foreign_template_is_refused(cast):
    install_shared_templates()
    read = assigned_read(cast.north)
    template = ReportTemplate.objects.get(name="CT chest, non-contrast (normal)")
    report = report_save(by=cast.north[Role.RADIOLOGIST], read=read, findings=template.findings, impression=template.impression, template=template)
    assert report.template == template
    foreign = ReportTemplate.objects.create(hospital=cast.south.hospital, modality="CT", body_part="CHEST", language="en", name="South", findings="f", impression="i")
    with pytest.raises(ValidationError) as refused:
        report_save(by=cast.north[Role.RADIOLOGIST], read=read, findings="x", template=foreign)
    assert refused.value.message_dict == {"template": ["This template is not available for this hospital."]}
