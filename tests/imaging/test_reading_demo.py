"""The reading part of the demo: a read in a different state on each demo study."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from imaging.models import CriticalAlert, ReadingPolicy, ReadRequest, ReportTemplate
from imaging.reading_demo import seed_reads
from imaging.services.ingest import instance_ingest
from telemed.accounts.demo import seed_demo
from telemed.accounts.models import User
from tests.imaging.corpus import ct_series
from telemed.audit.services import audit_verify

pytestmark = pytest.mark.django_db


def test_without_a_study_the_demo_sets_up_reading_and_makes_no_read():
    seed_demo()
    assert seed_reads() == 0
    assert ReportTemplate.objects.filter(hospital=None).count() == 16
    assert ReadingPolicy.objects.get(hospital__code="H-0001").requires_verification


def test_the_demo_reads_every_demo_study_once_in_a_different_state():
    call_command("seed_demo")
    states = dict(ReadRequest.objects.values_list("patient__mrn", "status"))
    assert states == {"QS-0001": "signed", "HK-0001": "awaiting_verification", "QS-0004": "requested", "HK-0003": "in_progress"}
    alert = CriticalAlert.objects.get()
    assert alert.read.patient.mrn == "HK-0003" and alert.acknowledged_at is None
    signed = ReadRequest.objects.get(patient__mrn="QS-0001").report
    assert (signed.author.username, signed.verifier.username, signed.addenda.count()) == ("dr_sun", "dr_qian", 1)
    call_command("seed_demo")
    assert ReadRequest.objects.count() == 4 and seed_reads() == 0
    assert audit_verify().ok


def test_only_the_demo_studies_present_get_a_read():
    seed_demo()
    doctor = User.objects.get(username="doc_qingshan")
    for data in ct_series(slices=1, patient_id="QS-0001"):
        instance_ingest(stream=io.BytesIO(data), institution=doctor.memberships.get().institution, by=doctor, source="test")
    assert seed_reads() == 1
    assert ReadRequest.objects.get().status == "signed"
