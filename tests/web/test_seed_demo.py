from __future__ import annotations

import pytest
from django.core.management import call_command

from consults.models import AvailabilityRule, Consult
from telemed.accounts.models import Institution, User
from telemed.audit.services import audit_verify
from telemed.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_alliance_once_and_prints_every_login(capsys):
    call_command("seed_demo")
    counts = (User.objects.count(), Patient.objects.count(), Consult.objects.count(), AvailabilityRule.objects.count())
    call_command("seed_demo")
    assert (User.objects.count(), Patient.objects.count(), Consult.objects.count(), AvailabilityRule.objects.count()) == counts
    out = capsys.readouterr().out
    for login in ("admin", "auditor", "coordinator", "dr_zhang", "dr_sun", "doc_qingshan", "doc_hekou", "demo-pass-2026"):
        assert login in out
    assert Institution.objects.filter(kind="clinic").count() == 2
    assert Patient.objects.count() == 12
    states = set(Consult.objects.values_list("status", flat=True))
    assert {"requested", "needs_info", "triaged", "scheduled", "in_session", "opinion_pending", "completed", "declined", "cancelled"} <= states
    assert audit_verify().ok
