"""Migration 0005: a radiologist's one profile becomes one per hospital where they are a radiologist."""
from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from imaging.models import ReaderProfile
from telemed.accounts.models import Role
from tests.accounts.factories import HospitalFactory, MembershipFactory, UserFactory

BEFORE = [("imaging", "0004_reading")]
AFTER = [("imaging", "0005_reader_profile_per_hospital")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True)
def test_each_profile_moves_to_every_hospital_where_its_user_is_a_radiologist_and_back():
    first, second, third = (HospitalFactory(name=name) for name in ("First", "Second", "Third"))
    reader, specialist = UserFactory(), UserFactory()
    MembershipFactory(user=reader, institution=first, role=Role.RADIOLOGIST)
    MembershipFactory(user=reader, institution=second, role=Role.RADIOLOGIST, is_active=False)  # kept for a role given back
    MembershipFactory(user=reader, institution=third, role=Role.SPECIALIST)
    MembershipFactory(user=specialist, institution=third, role=Role.SPECIALIST)
    try:
        old_profile = _migrate(BEFORE).get_model("imaging", "ReaderProfile")
        old_profile.objects.create(user_id=reader.pk, modalities=["CT"], accepts_automatic=False)
        old_profile.objects.create(user_id=specialist.pk, modalities=["MR"])

        _migrate(AFTER)
        moved = {(p.user_id, p.hospital_id): (p.modalities, p.accepts_automatic) for p in ReaderProfile.objects.all()}
        assert moved == {(reader.pk, first.pk): (["CT"], False), (reader.pk, second.pk): (["CT"], False)}

        back = _migrate(BEFORE).get_model("imaging", "ReaderProfile")
        assert [(p.user_id, p.modalities, p.accepts_automatic) for p in back.objects.all()] == [(reader.pk, ["CT"], False)]
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
