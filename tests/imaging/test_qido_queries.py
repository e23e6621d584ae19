"""QIDO-RS below one study: its series are read with the study's row in one query, its instances
without reading the study again, and access is settled on that study before anything is answered.

Who asks: the north clinic doctor (their clinic's study); the south clinic doctor (another
alliance) must get 404 for it, with or without matches."""
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


def _imaging_queries(captured) -> list[str]:
    return [q["sql"] for q in captured if '"imaging_' in q["sql"]]


def test_the_series_of_a_study_are_found_with_the_study_in_one_query(cast):
    study = ct_study(cast.north, slices=3)
    with CaptureQueriesContext(connection) as captured:
        rows = query.series(study.study_instance_uid, _parsed("series"))
    assert len(captured) == 1 and '"imaging_study"' in captured[0]["sql"]
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
    assert query.series(study.study_instance_uid, _parsed("series", f"PatientID={study.dicom_patient_id}"))
    assert not query.series(study.study_instance_uid, _parsed("series", "PatientID=someone-else"))


def test_a_clinic_reading_the_series_of_its_own_study_costs_one_imaging_query(cast, client_for):
    study = ct_study(cast.north, slices=2)
    path = f"/dicomweb/studies/{study.study_instance_uid}/series"
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    client.get(path, HTTP_ACCEPT="application/dicom+json")  # the session and roles, read once
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, HTTP_ACCEPT="application/dicom+json")
    assert response.status_code == 200 and len(response.json()) == 1
    assert len(_imaging_queries(captured)) == 1


@pytest.mark.parametrize("below", ["series", "series?Modality=MR", "series/{series}/instances", "series/{series}/instances?InstanceNumber=999"])
def test_another_alliances_study_is_not_found_whether_or_not_anything_matches(cast, client_for, below):
    study = ct_study(cast.north, slices=2)
    path = f"/dicomweb/studies/{study.study_instance_uid}/" + below.format(series=study.series.get().series_instance_uid)
    response = client_for(cast.south[Role.CLINIC_DOCTOR]).get(path, HTTP_ACCEPT="application/dicom+json")
    assert response.status_code == 404
    assert "00080018" not in response.content.decode() and study.study_instance_uid not in response.content.decode()


def test_a_visible_study_without_a_match_answers_an_empty_list(cast, client_for):
    study = ct_study(cast.north, slices=2)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/dicomweb/studies/{study.study_instance_uid}/series?Modality=MR", HTTP_ACCEPT="application/dicom+json")
    assert response.status_code == 200 and response.json() == []
    missing = client_for(cast.north[Role.CLINIC_DOCTOR]).get("/dicomweb/studies/1.2.3.4.5/series", HTTP_ACCEPT="application/dicom+json")
    assert missing.status_code == 404


def test_a_series_that_is_not_in_the_study_is_not_found_like_a_study_that_is_not_there(cast, client_for):
    study = ct_study(cast.north, slices=2)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    below = f"/dicomweb/studies/{study.study_instance_uid}/series"
    assert client.get(f"{below}/1.2.3.4.5/instances", HTTP_ACCEPT="application/dicom+json").status_code == 404
    series = study.series.get().series_instance_uid
    assert client.get(f"{below}/{series}/instances?InstanceNumber=999", HTTP_ACCEPT="application/dicom+json").json() == []


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
