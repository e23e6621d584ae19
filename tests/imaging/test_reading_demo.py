"""The reading part of the demo: reads in several states on whatever demo studies exist."""
from __future__ import annotations

import io

import pytest

from imaging.reading_demo import seed_reads
from imaging.models import CriticalAlert, ReadingPolicy, ReadRequest, ReportTemplate
from imaging.services.ingest import instance_ingest
from telemed.accounts.demo import seed_demo
from telemed.accounts.models import User
from telemed.audit.services import audit_verify
from tests.imaging.corpus import ct_series

pytestmark = pytest.mark.django_db


def _upload(username: str, mrn: str) -> None:
    doctor = User.objects.get(username=username)
    for data in ct_series(slices=1, patient_id=mrn):
        instance_ingest(stream=io.BytesIO(data), institution=doctor.memberships.get().institution, by=doctor, source="test")


def test_without_a_study_the_demo_sets_up_reading_and_makes_no_read():
    seed_demo()
    assert seed_reads() == 0
    assert ReportTemplate.objects.filter(hospital=None).count() == 16
    assert ReadingPolicy.objects.get(hospital__code="H-0001").requires_verification


def test_with_studies_the_demo_shows_every_state_once_and_only_once():
    seed_demo()
    for username, mrn in (("doc_qingshan", "QS-0001"), ("doc_hekou", "HK-0001"), ("doc_qingshan", "QS-0002")):
        _upload(username, mrn)
    assert seed_reads() == 5
    assert sorted(ReadRequest.objects.values_list("status", flat=True)) == ["awaiting_verification", "in_progress", "requested", "signed", "signed"]
    assert CriticalAlert.objects.filter(acknowledged_at__isnull=True).count() == 1
    assert seed_reads() == 0 and ReadRequest.objects.count() == 5
    assert audit_verify().ok


def test_with_one_study_the_demo_makes_a_signed_read_and_an_open_one():
    seed_demo()
    _upload("doc_qingshan", "QS-0001")
    assert seed_reads() == 2
    assert sorted(ReadRequest.objects.values_list("status", flat=True)) == ["awaiting_verification", "signed"]
