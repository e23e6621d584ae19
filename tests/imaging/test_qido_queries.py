"""QIDO-RS below one study: the study, already looked up and checked, is not read again."""
from __future__ import annotations

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from imaging.dicomweb import query
from telemed.accounts.models import Role
from tests.imaging.reading_factories import ct_study

pytestmark = pytest.mark.django_db


def _parsed(level: str, params: str = ""):
    return query.parse(QueryDict(params), keys=query.keys_for(level))


def test_the_series_of_a_study_are_found_in_one_query_that_does_not_read_the_study_again(cast):
    study = ct_study(cast.north, slices=3)
    with CaptureQueriesContext(connection) as captured:
        rows = query.series(study, _parsed("series"))
    assert len(captured) == 1 and '"imaging_study"' not in captured[0]["sql"]
    assert [row.study for row in rows] == [study]
    assert rows[0].instance_count == 3


def test_the_instances_of_a_series_are_found_in_one_query_that_does_not_read_the_study_again(cast):
    study = ct_study(cast.north, slices=3)
    series_uid = study.series.get().series_instance_uid
    with CaptureQueriesContext(connection) as captured:
        rows = query.instances(study, _parsed("instance"), series_uid=series_uid)
    assert len(captured) == 1 and '"imaging_study"' not in captured[0]["sql"]
    assert len(rows) == 3
    assert {row.series.study for row in rows} == {study}
    assert [row.instance_number for row in rows] == sorted(row.instance_number for row in rows)


def test_a_search_below_a_study_still_matches_on_the_studys_keys(cast):
    study = ct_study(cast.north)
    assert query.series(study, _parsed("series", f"PatientID={study.dicom_patient_id}"))
    assert not query.series(study, _parsed("series", "PatientID=someone-else"))


@pytest.mark.parametrize("search", ["studies?PatientID=%00", "studies?PatientName=a%00*", "series?Modality=CT%00", "instances?SOPInstanceUID=%00", "studies?StudyDate=2020%00"])
def test_a_search_value_holding_a_nul_gets_a_400_with_its_reason_at_every_level(cast, client_for, search):
    ct_study(cast.north)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/dicomweb/{search}", HTTP_ACCEPT="application/dicom+json")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_a_search_refused_below_a_study_is_explained_in_the_users_language(cast, client_for):
    study = ct_study(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.get(f"/dicomweb/studies/{study.study_instance_uid}/series?Modality=%00", HTTP_ACCEPT="application/dicom+json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"] and "Modality" in response.json()["detail"]
    assert "DICOM" in response.json()["detail"] and "holds a" not in response.json()["detail"]
