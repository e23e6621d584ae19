"""Critical findings (危急值): the clinic is alerted at once, must acknowledge, and is chased if it does not."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.utils import timezone

from consults.models import Notification
from imaging.models import CriticalAlert, ReadingPolicy, Report
from imaging.services.reading.critical import critical_acknowledge, critical_escalate_due, critical_raise
from imaging.services.reading.reports import report_save, report_submit
from imaging.tasks import escalate_unacknowledged_critical
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.accounts.factories import member
from tests.imaging.reading_factories import FINDINGS, IMPRESSION, assigned_read, requested_read, signed_read

pytestmark = pytest.mark.django_db

FINDING = "Large right pneumothorax with mediastinal shift."


def _alerted(cast):
    read = assigned_read(cast.north)
    report_save(by=cast.north[Role.RADIOLOGIST], read=read, findings=FINDINGS, critical_flag=True, critical_finding=FINDING)
    return read


def test_ticking_critical_in_the_draft_alerts_the_requesting_doctor_at_once(cast):
    read = _alerted(cast)
    alert = CriticalAlert.objects.get(read=read)
    assert alert.finding == FINDING and alert.acknowledged_at is None
    note = Notification.objects.get(user=cast.north[Role.CLINIC_DOCTOR])
    assert note.title == "Critical finding (危急值): CT Chest. Acknowledge now."
    assert FINDING in note.body and "within 10 minutes" in note.body
    assert cast.north.patient.name not in note.title + note.body
    assert read.timeline.filter(action="critical").exists()
    assert AuditEvent.objects.filter(action="read.critical", patient_id=read.patient_id).exists()


def test_critical_needs_the_words_the_clinic_is_told_and_cannot_be_withdrawn(cast):
    read = assigned_read(cast.north)
    radiologist = cast.north[Role.RADIOLOGIST]
    with pytest.raises(ValidationError) as refused:
        report_save(by=radiologist, read=read, findings=FINDINGS, critical_flag=True)
    assert refused.value.message_dict == {"critical_finding": ["Describe the critical finding: the clinic is alerted at once with these words."]}
    report_save(by=radiologist, read=read, findings=FINDINGS, critical_flag=True, critical_finding=FINDING)
    report_save(by=radiologist, read=read, findings=FINDINGS + " Chest drain advised.", critical_flag=True)  # no second alert
    assert CriticalAlert.objects.filter(read=read).count() == 1
    with pytest.raises(ValidationError, match="cannot be withdrawn"):
        report_save(by=radiologist, read=read, findings=FINDINGS, critical_flag=False)


def test_radiologist_reports_a_critical_finding_before_writing_and_the_draft_is_marked(cast):
    read = assigned_read(cast.north)
    critical_raise(by=cast.north[Role.RADIOLOGIST], read=read, finding=FINDING)
    report = report_save(by=cast.north[Role.RADIOLOGIST], read=read, findings=FINDINGS, critical_flag=True)
    assert report.critical
    with pytest.raises(ValidationError, match="still waiting for the clinic's acknowledgement"):
        critical_raise(by=cast.north[Role.RADIOLOGIST], read=read, finding="Another one.")


def test_only_the_radiologist_reading_it_reports_a_critical_finding(cast):
    read = assigned_read(cast.north)
    for person in (cast.north[Role.CLINIC_DOCTOR], cast.north[Role.COORDINATOR], cast.south[Role.RADIOLOGIST]):
        with pytest.raises(PermissionDenied):
            critical_raise(by=person, read=read, finding=FINDING)
    with pytest.raises(ValidationError, match="there is nothing to alert about"):
        critical_raise(by=cast.north[Role.RADIOLOGIST], read=_requested(cast), finding=FINDING)
    with pytest.raises(ValidationError) as refused:
        critical_raise(by=cast.north[Role.RADIOLOGIST], read=read, finding=" ")
    assert refused.value.message_dict == {"finding": ["Describe the critical finding: the clinic is alerted at once with these words."]}


def _requested(cast):
    from tests.imaging.reading_factories import ct_study
    from tests.patients.factories import PatientFactory

    other = PatientFactory(institution=cast.north.clinic, registered_by=cast.north[Role.CLINIC_DOCTOR])
    return requested_read(cast.north, study=ct_study(cast.north, patient=other))


def test_a_clinic_doctor_acknowledges_and_the_radiologist_is_told(cast):
    read = _alerted(cast)
    colleague = cast.north[Role.CLINIC_DOCTOR]
    for outsider in (cast.doc_n2, cast.north[Role.RADIOLOGIST], cast.south[Role.CLINIC_DOCTOR]):
        with pytest.raises(PermissionDenied):
            critical_acknowledge(by=outsider, read=read)
    alert = critical_acknowledge(by=colleague, read=read, note="Patient called back, sent to the emergency department.")
    assert alert.acknowledged_by == colleague and alert.acknowledged_at is not None
    note = Notification.objects.get(user=cast.north[Role.RADIOLOGIST], title__contains="acknowledged the critical finding")
    assert note.body == "Patient called back, sent to the emergency department."
    with pytest.raises(ValidationError, match="already acknowledged it at"):
        critical_acknowledge(by=colleague, read=read)


def test_a_read_without_a_critical_finding_has_nothing_to_acknowledge(cast):
    with pytest.raises(ValidationError, match="no critical finding to acknowledge"):
        critical_acknowledge(by=cast.north[Role.CLINIC_DOCTOR], read=signed_read(cast.north))


def test_a_finding_not_acknowledged_in_time_alerts_the_other_doctors_and_the_coordinators_once(cast):
    read = _alerted(cast)
    other_doctor = member(cast.north.clinic, Role.CLINIC_DOCTOR, full_name="North second clinic doctor")
    assert critical_escalate_due() == 0  # not yet due
    later = timezone.now() + timedelta(minutes=11)
    assert critical_escalate_due(now=later) == 1
    assert critical_escalate_due(now=later) == 0  # once only
    for person in (other_doctor, cast.north[Role.COORDINATOR]):
        note = Notification.objects.get(user=person, title="Critical finding not acknowledged: CT Chest")
        assert FINDING in note.body and str(cast.north[Role.CLINIC_DOCTOR]) in note.body
    assert not Notification.objects.filter(user=cast.north[Role.CLINIC_DOCTOR], title__contains="not acknowledged").exists()
    assert not Notification.objects.filter(user=cast.doc_n2).exists()
    assert CriticalAlert.objects.get(read=read).escalated_at == later
    assert AuditEvent.objects.filter(action="read.critical_escalate", actor_username="scheduler").count() == 1


def test_an_acknowledged_finding_is_never_escalated(cast):
    read = _alerted(cast)
    critical_acknowledge(by=cast.north[Role.CLINIC_DOCTOR], read=read)
    assert critical_escalate_due(now=timezone.now() + timedelta(hours=1)) == 0


def test_the_hospital_sets_its_own_time_to_acknowledge_and_the_server_a_default(cast):
    ReadingPolicy.objects.create(hospital=cast.north.hospital, critical_ack_minutes=3)
    read = _alerted(cast)
    alert = CriticalAlert.objects.get(read=read)
    assert timedelta(minutes=2, seconds=59) < alert.escalate_at - alert.raised_at < timedelta(minutes=3, seconds=1)
    with override_settings(READ_CRITICAL_ACK_MINUTES=30):
        south = assigned_read(cast.south)
        report_save(by=cast.south[Role.RADIOLOGIST], read=south, findings=FINDINGS, critical_flag=True, critical_finding=FINDING)
    south_alert = CriticalAlert.objects.get(read=south)
    assert south_alert.escalate_at - south_alert.raised_at > timedelta(minutes=29)


def test_beat_runs_the_escalation_every_minute_acknowledged_late():
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["imaging.tasks.escalate_unacknowledged_critical"] == timedelta(seconds=60)
    assert escalate_unacknowledged_critical.acks_late


def test_the_beat_task_escalates_what_is_due(cast):
    read = _alerted(cast)
    CriticalAlert.objects.filter(read=read).update(escalate_at=timezone.now() - timedelta(seconds=1))
    assert escalate_unacknowledged_critical() == 1
    assert AuditEvent.objects.get(action="read.critical_escalate").channel == "system"


def test_a_verifying_radiologist_may_report_a_critical_finding_too(cast):
    from tests.imaging.reading_factories import awaiting_verification

    read, verifier = awaiting_verification(cast.north)
    critical_raise(by=verifier, read=read, finding="Missed: rib fracture with pneumothorax.")
    assert Report.objects.get(read=read).critical  # the final report says the clinic was alerted
    assert CriticalAlert.objects.get(read=read).raised_by == verifier


def test_the_printed_report_tells_the_critical_finding_and_who_acknowledged_it(cast, client_for):
    read = _alerted(cast)
    report_save(by=cast.north[Role.RADIOLOGIST], read=read, findings=FINDINGS, impression=IMPRESSION, critical_flag=True, critical_finding=FINDING)
    report_submit(by=cast.north[Role.RADIOLOGIST], read=read)
    critical_acknowledge(by=cast.north[Role.CLINIC_DOCTOR], read=read, note="Sent to the emergency department.")
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/reads/{read.pk}/print/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert response.status_code == 200 and FINDING in page
    assert f"Acknowledged by {cast.north[Role.CLINIC_DOCTOR]}" in page and "Sent to the emergency department." in page
