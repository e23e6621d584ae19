"""A study's series and instance counts and its modalities are kept on its row as instances
arrive, and QIDO-RS and the study list read them from there.

Who sends: the north clinic doctor, for the north clinic.
"""
from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from imaging.dicomweb import query
from imaging.models import Series, Study
from imaging.services.ingest import Status
from telemed.access import visible_studies
from telemed.accounts.models import Role
from tests.imaging.corpus import changed, ct_series
from tests.imaging.test_ingest_together import _together as _send, _uid

pytestmark = pytest.mark.django_db

count_what_is_stored = importlib.import_module("imaging.migrations.0006_stored_counts").count_what_is_stored


def _counts(study_uid: str) -> tuple[int, int, list[str], dict[str, int]]:
    study = Study.objects.get(study_instance_uid=study_uid)
    return study.series_count, study.instance_count, study.modalities, {s.modality: s.instance_count for s in study.series.all()}


def _another_series(data: bytes, modality: str, n: int) -> bytes:
    return changed(data, Modality=modality, SeriesInstanceUID="1.2.826.0.1.3680043.99." + ".".join(str(ord(c)) for c in modality), SOPInstanceUID=f"1.2.826.0.1.3680043.99.7.{n}")


def test_counts_grow_with_each_request_and_a_resend_or_a_conflict_changes_nothing(cast):
    ct = ct_series(slices=3)
    study_uid = _uid(ct[0], "StudyInstanceUID")
    assert [r.status for r in _send(cast, ct[:2])] == [Status.STORED, Status.STORED]
    assert _counts(study_uid) == (1, 2, ["CT"], {"CT": 2})

    mr, pr = _another_series(ct[0], "MR", 1), _another_series(ct[0], "PR", 2)
    assert [r.status for r in _send(cast, [ct[2], pr, mr])] == [Status.STORED] * 3
    assert _counts(study_uid) == (3, 5, ["CT", "MR", "PR"], {"CT": 3, "MR": 1, "PR": 1})

    conflict = changed(ct[0], SeriesDescription="other content, same SOP Instance UID")
    assert [r.status for r in _send(cast, [ct[0], conflict])] == [Status.DUPLICATE, Status.CONFLICT]
    assert _counts(study_uid) == (3, 5, ["CT", "MR", "PR"], {"CT": 3, "MR": 1, "PR": 1})


def test_qido_answers_the_stored_counts_and_matches_modalities_in_study_without_repeating_a_study(cast):
    ct = ct_series(slices=2)
    _send(cast, [*ct, _another_series(ct[0], "MR", 1)])
    doctor = cast.north[Role.CLINIC_DOCTOR]
    found = query.studies(visible_studies(doctor), query.Query(filters={"ModalitiesInStudy": "CT,MR"}))
    assert [(s.series_count, s.instance_count, s.modalities) for s in found] == [(2, 3, ["CT", "MR"])]
    assert query.studies(visible_studies(doctor), query.Query(filters={"ModalitiesInStudy": "US"})) == []
    series = query.series(found[0].study_instance_uid, query.Query())
    assert sorted((s.modality, s.instance_count) for s in series) == [("CT", 2), ("MR", 1)]


def test_the_migration_counts_what_was_stored_before_it(cast):
    ct = ct_series(slices=2)
    _send(cast, [*ct, _another_series(ct[0], "MR", 1)])
    empty_study = Study.objects.create(institution=cast.north.clinic, study_instance_uid="1.2.3.4")
    Study.objects.update(series_count=0, instance_count=0, modalities=[])
    Series.objects.update(instance_count=0)

    count_what_is_stored(apps, None)
    assert _counts(_uid(ct[0], "StudyInstanceUID")) == (2, 3, ["CT", "MR"], {"CT": 2, "MR": 1})
    assert _counts(empty_study.study_instance_uid) == (0, 0, [], {})
