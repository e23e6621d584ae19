"""The qualification rule every remote service shares: a verified licence, three years of practice."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consults.services.experts import practice_refusal
from tests.accounts.factories import QualificationFactory, UserFactory

pytestmark = pytest.mark.django_db


def _practising(years: int, *, verified: bool = True):
    person = UserFactory(full_name="Dr Wang")
    since = timezone.localdate() - timedelta(days=365 * years + years // 4 + 1)
    QualificationFactory(user=person, independent_practice_since=since, verified_at=timezone.now() if verified else None)
    return person


def test_three_years_of_verified_practice_allow_every_service():
    person = _practising(3)
    assert practice_refusal(person, service="consultations") == practice_refusal(person, service="reads") == ""


def test_an_unverified_qualification_is_refused_alike_for_every_service():
    person = _practising(10, verified=False)
    reason = "Dr Wang has no verified qualification yet; an administrator must verify their licence first."
    assert practice_refusal(person, service="consultations") == practice_refusal(person, service="reads") == reason


@pytest.mark.parametrize(
    ("years", "service", "reason"),
    [
        (1, "consultations", "Dr Wang has 1 year of independent practice; remote consultations need at least 3."),
        (2, "consultations", "Dr Wang has 2 years of independent practice; remote consultations need at least 3."),
        (1, "reads", "Dr Wang has 1 year of independent practice; remote reads need at least 3."),
        (2, "reads", "Dr Wang has 2 years of independent practice; remote reads need at least 3."),
    ],
)
def test_too_few_years_are_refused_naming_the_service(years, service, reason):
    assert practice_refusal(_practising(years), service=service) == reason
