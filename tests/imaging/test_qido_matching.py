"""QIDO-RS matching and answers: every malformed value is a 400 naming its parameter (never a
500), dates and times match as single values or ranges, a person name matches on any of its
component groups, parameters this archive does not support are ignored with a Warning, and
includefield adds what the index holds, and what it does not from the stored header of one
instance of each study or series (read only when asked for).

Who asks: the north clinic doctor (their clinic's studies); the south clinic doctor (another
alliance) finds nothing of them whatever the query."""
from __future__ import annotations

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from imaging.services.ingest import instance_ingest
from telemed.accounts.models import Role
from tests.imaging.corpus import bundled_as, ct_series
from tests.imaging.reading_factories import ct_study

pytestmark = pytest.mark.django_db

JSON = "application/dicom+json"


def _study_named(side, name: str, **kwargs):
    result = None
    for data in ct_series(slices=1, patient_id=side.patient.mrn, patient_name=name, **kwargs):
        result = instance_ingest(stream=io.BytesIO(data), institution=side.clinic, by=side[Role.CLINIC_DOCTOR], source="test")
    return result.instance.series.study


def _search(client, path: str, **params):
    return client.get(f"/dicomweb/{path}", params, HTTP_ACCEPT=JSON)


@pytest.mark.parametrize("path, params, named", [
    ("studies", {"StudyDate": "2026"}, "StudyDate"),
    ("studies", {"StudyDate": "2026-11-22"}, "StudyDate"),
    ("studies", {"StudyDate": "20261122\\20040119"}, "StudyDate"),
    ("studies", {"StudyDate": "20261301"}, "StudyDate"),
    ("studies", {"StudyTime": "2500"}, "StudyTime"),
    ("studies", {"StudyTime": "0930-10:00"}, "StudyTime"),
    ("series", {"SeriesNumber": "abc"}, "SeriesNumber"),
    ("series", {"SeriesNumber": "1\\2"}, "SeriesNumber"),
    ("series", {"SeriesNumber": "--5"}, "SeriesNumber"),
    ("series", {"SeriesNumber": "99999999999999999999"}, "SeriesNumber"),
    ("instances", {"InstanceNumber": "1.5"}, "InstanceNumber"),
    ("studies", {"offset": "9223372036854775808"}, "offset"),
    ("studies", {"offset": "-1"}, "offset"),
    ("studies", {"limit": "abc"}, "limit"),
    ("studies", {"fuzzymatching": "maybe"}, "fuzzymatching"),
])
def test_a_malformed_search_value_gets_a_400_naming_its_parameter(cast, client_for, path, params, named):
    ct_study(cast.north)
    response = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), path, **params)
    assert response.status_code == 400
    assert named in response.json()["detail"]


def test_a_malformed_value_below_a_study_gets_a_400_too(cast, client_for):
    study = ct_study(cast.north)
    response = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), f"studies/{study.study_instance_uid}/instances", InstanceNumber="x")
    assert response.status_code == 400 and "InstanceNumber" in response.json()["detail"]


def test_the_largest_offset_and_limit_answer_an_empty_page_and_a_clamped_one(cast, client_for):
    ct_study(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert _search(client, "studies", offset=str(2**63 - 1)).json() == []
    assert len(_search(client, "studies", limit="99999999999999999999999").json()) == 1


def test_an_integer_string_with_a_sign_or_spaces_matches_its_number(cast, client_for):
    ct_study(cast.north, slices=2)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert len(_search(client, "instances", InstanceNumber=" 1").json()) == 1  # "+1" in a URL
    assert len(_search(client, "instances", InstanceNumber="+2").json()) == 1
    assert _search(client, "instances", InstanceNumber="-1").json() == []


@pytest.mark.parametrize("value, found", [
    ("093000", True), ("0930", True), ("09", True), ("0930-1000", True), ("-0930", True), ("093000.0-", True),
    ("0931", False), ("1000-1100", False), ("-0929", False), ("093001-", False),
])
def test_study_time_matches_one_time_or_a_range(cast, client_for, value, found):
    ct_study(cast.north)  # the synthetic study was made at 093000
    response = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", StudyTime=value)
    assert response.status_code == 200 and len(response.json()) == (1 if found else 0)


def test_study_dates_match_one_date_or_a_range(cast, client_for):
    ct_study(cast.north)
    _study_named(cast.north, "Li^Lei", study_date="20040119")
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert len(_search(client, "studies", StudyDate="20040119").json()) == 1
    assert len(_search(client, "studies", StudyDate="20040101-20040131").json()) == 1
    assert len(_search(client, "studies", StudyDate="-20040131").json()) == 1
    assert len(_search(client, "studies", StudyDate="20040120-").json()) == 1


@pytest.mark.parametrize("dates, times, found", [
    ("20060705-20060707", "1000-1800", {"5 July 11:00", "6 July 08:00", "7 July 17:59"}),
    ("20060705-", "1000-", {"5 July 11:00", "6 July 08:00", "7 July 17:59", "7 July 19:00"}),
    ("-20060707", "-1800", {"5 July 09:00", "5 July 11:00", "6 July 08:00", "7 July 17:59"}),
    ("20060706", "0700-0900", {"6 July 08:00"}),
    ("20060705", "0900", {"5 July 09:00"}),
])
def test_a_date_and_a_time_asked_for_together_match_as_one_date_time_range(cast, client_for, dates, times, found):
    at = {"5 July 09:00": ("20060705", "0900"), "5 July 11:00": ("20060705", "110000"), "6 July 08:00": ("20060706", "0800"),
          "7 July 17:59": ("20060707", "175900.5"), "7 July 19:00": ("20060707", "1900")}
    studies = {}
    for label, (date, time) in at.items():
        study = _study_named(cast.north, "Li^Lei")
        type(study).objects.filter(pk=study.pk).update(study_date=date, study_time=time)
        studies[study.study_instance_uid] = label
    answer = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", StudyDate=dates, StudyTime=times).json()
    assert {studies[s["0020000D"]["Value"][0]] for s in answer} == found


@pytest.mark.parametrize("value", ["Wang^XiaoDong", "wang^xiaodong", "王^小东", "Wang^XiaoDong=王^小东", "W?ng*", "*小东", "王*"])
def test_a_person_name_matches_on_any_of_its_component_groups(cast, client_for, value):
    _study_named(cast.north, "Wang^XiaoDong=王^小东")
    found = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", PatientName=value).json()
    assert len(found) == 1


@pytest.mark.parametrize("value", ["Wang", "XiaoDong", "小东", "Wang^XiaoDong=李^雷", "Wang=*", "W?ng"])
def test_a_person_name_does_not_match_part_of_a_group_or_across_groups(cast, client_for, value):
    _study_named(cast.north, "Wang^XiaoDong=王^小东")
    assert _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", PatientName=value).json() == []


@pytest.mark.parametrize("value", ["Wang^XiaoDong", "wang^xiaodong^", "Wang*=王*", "=王^小东", "*=*^小东"])
def test_a_name_matches_without_the_empty_components_a_sender_left_and_group_by_group(cast, client_for, value):
    _study_named(cast.north, "Wang^XiaoDong^^=王^小东")
    assert len(_search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", PatientName=value).json()) == 1


def test_a_name_search_compares_the_indexed_groups_not_every_stored_name(cast, client_for):
    _study_named(cast.north, "Wang^XiaoDong=王^小东")
    with CaptureQueriesContext(connection) as queries:
        _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", PatientName="Wang*")
    (search,) = [q["sql"] for q in queries.captured_queries if "patient_name_alphabetic" in q["sql"] and "WHERE" in q["sql"]]
    assert "LIKE 'WANG%'" in search and "dicom_patient_name\" ~*" not in search


def test_studies_stored_before_the_name_index_are_indexed_by_the_migration(cast):
    from django.apps import apps
    from importlib import import_module

    study = _study_named(cast.north, "Li^Lei=李^雷")
    type(study).objects.filter(pk=study.pk).update(patient_name_alphabetic="", patient_name_ideographic="")
    import_module("imaging.migrations.0009_patient_name_groups").index_stored_names(apps, None)
    study.refresh_from_db()
    assert (study.patient_name_alphabetic, study.patient_name_ideographic, study.patient_name_phonetic) == ("LI^LEI", "李^雷", "")


def test_another_alliance_finds_no_study_by_any_group_of_its_patients_name(cast, client_for):
    _study_named(cast.north, "Wang^XiaoDong=王^小东")
    client = client_for(cast.south[Role.CLINIC_DOCTOR])
    for value in ("王^小东", "Wang*", "*"):
        assert _search(client, "studies", PatientName=value).json() == []
        assert _search(client, "series", PatientName=value).json() == []


@pytest.mark.parametrize("path", ["studies", "series"])
def test_a_person_name_is_answered_in_its_component_groups(cast, client_for, path):
    study = _study_named(cast.north, "Wang^XiaoDong=王^小东")
    answer = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), path, StudyInstanceUID=study.study_instance_uid).json()
    assert answer[0]["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小东"}]}


def test_a_name_with_only_an_ideographic_group_is_answered_without_an_alphabetic_one(cast, client_for):
    study = _study_named(cast.north, "=王^小东=ワン^シャオドン")
    answer = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", StudyInstanceUID=study.study_instance_uid).json()
    assert answer[0]["00100010"]["Value"] == [{"Ideographic": "王^小东", "Phonetic": "ワン^シャオドン"}]


def test_an_unsupported_parameter_is_ignored_and_named_in_a_warning(cast, client_for):
    ct_study(cast.north)
    response = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", Foo="bar", PatientBirthDate="19560314")
    assert response.status_code == 200 and len(response.json()) == 1
    assert response["Warning"].startswith("299 http://testserver/dicomweb: ")
    assert "Foo" in response["Warning"] and "PatientBirthDate" in response["Warning"]
    assert "Warning" not in _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", PatientID=cast.north.patient.mrn)


def test_an_unsupported_parameter_with_a_name_outside_latin_1_still_gets_its_warning(cast, client_for):
    ct_study(cast.north)
    response = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", **{"姓名": "王"})
    assert response.status_code == 200 and "%E5%A7%93" in response["Warning"]


def test_an_includefield_that_names_no_attribute_is_named_in_a_warning(cast, client_for):
    ct_study(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = _search(client, "studies", includefield="NotAnAttribute,00100010")
    assert response.status_code == 200 and "includefield" in response["Warning"] and "NotAnAttribute" in response["Warning"]
    assert not _search(client, "studies", includefield="PatientName").has_header("Warning")


def test_fuzzy_matching_asked_for_is_refused_with_the_standards_warning(cast, client_for):
    ct_study(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = _search(client, "studies", fuzzymatching="true", PatientName="王^秀英")
    assert response.status_code == 200 and len(response.json()) == 1
    assert "The fuzzymatching parameter is not supported. Only literal matching has been performed." in response["Warning"]
    assert not _search(client, "studies", fuzzymatching="false").has_header("Warning")


def test_a_series_search_includes_the_studys_indexed_attributes_asked_for(cast, client_for):
    study = ct_study(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    plain = _search(client, "series").json()[0]
    assert "00081030" not in plain and "00080030" not in plain
    named = _search(client, "series", includefield="StudyDescription,00080030").json()[0]
    assert named["00081030"]["Value"] == [study.description] and named["00080030"]["Value"] == ["093000"]
    everything = _search(client, "series", includefield="all").json()[0]
    assert everything["00201208"]["Value"] == [study.instance_count]
    assert everything["00081190"]["Value"][0].endswith(study.series.get().series_instance_uid)  # the series' own URL


def test_a_referring_physician_is_matched_whatever_the_case_and_the_empty_components_at_the_end(cast, client_for):
    study = ct_study(cast.north)
    study.referring_physician = "Zhou^Min^^^=周^敏"
    study.save(update_fields=["referring_physician"])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for value in ("ZHOU^MIN", "zhou^min^", "周^敏", "Zh*^M?n", "ZHOU^MIN=周^敏", "=周^敏", "Zhou^Min^^="):
        assert len(_search(client, "studies", ReferringPhysicianName=value).json()) == 1, value
    for value in ("Zhou", "Zhou^Mi", "周", "Zhou^Min=王^敏"):
        assert _search(client, "studies", ReferringPhysicianName=value).json() == [], value
    study.referring_physician = "Zhou^Min"  # without an ideographic group: an empty one asked matches it
    study.save(update_fields=["referring_physician"])
    for value in ("Zhou^Min=", "zhou^min==", "Zhou^Min^^="):
        assert len(_search(client, "studies", ReferringPhysicianName=value).json()) == 1, value
    assert _search(client, "studies", ReferringPhysicianName="=周^敏").json() == []
    assert _search(client_for(cast.south[Role.CLINIC_DOCTOR]), "studies", ReferringPhysicianName="Zhou^Min").json() == []


def test_a_study_search_includes_attributes_the_index_does_not_hold_from_each_studys_own_header(cast, client_for):
    north = _study_named(cast.north, "Wang^Wei", institution_name="North clinic")
    other = _study_named(cast.north, "Li^Na", institution_name="North clinic, annex")
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    plain = _search(client, "studies").json()
    assert all("00080080" not in study for study in plain)
    named = {study["0020000D"]["Value"][0]: study for study in _search(client, "studies", includefield="InstitutionName,00180050").json()}
    assert named[north.study_instance_uid]["00080080"]["Value"] == ["North clinic"]
    assert named[other.study_instance_uid]["00080080"]["Value"] == ["North clinic, annex"]
    assert named[north.study_instance_uid]["00180050"] == north.series.get().instances.first().metadata["00180050"]


def test_a_series_search_includes_attributes_the_index_does_not_hold_from_its_header(cast, client_for):
    study = _study_named(cast.north, "Wang^Wei", institution_name="North clinic")
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    found = _search(client, f"studies/{study.study_instance_uid}/series", includefield="00080080,ConvolutionKernel").json()[0]
    assert found["00080080"]["Value"] == ["North clinic"] and found["00181210"]["Value"] == ["STANDARD"]


def test_an_attribute_no_header_holds_is_left_out_of_the_answer(cast, client_for):
    ct_study(cast.north)
    answer = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", includefield="00431028").json()[0]
    assert "00431028" not in answer and answer["00100010"]


@pytest.mark.parametrize("level", ["studies", "series", "instances"])
def test_every_search_answer_says_its_instances_are_online(cast, client_for, level):
    ct_study(cast.north)
    answer = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), level).json()[0]
    assert answer["00080056"] == {"vr": "CS", "Value": ["ONLINE"]}


def test_an_instance_search_with_includefield_all_answers_the_stored_header_without_bulk_data(cast, client_for):
    study = ct_study(cast.north, slices=1)
    instance = study.series.get().instances.get()
    instance.metadata["00091010"] = {"vr": "OB", "BulkDataURI": ""}  # as the ingest leaves a large binary value
    instance.save(update_fields=["metadata"])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    answer = _search(client, "instances", includefield="all").json()[0]
    assert answer["00280030"] == instance.metadata["00280030"] and answer["00100010"] == instance.metadata["00100010"]
    assert "00091010" not in answer and "00200013" in answer
    named = _search(client, "instances", includefield="00091010,00280030").json()[0]
    assert "00091010" not in named and "00280030" in named


def test_the_default_instance_search_does_not_read_the_stored_header(cast, client_for):
    ct_study(cast.north, slices=2)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    _search(client, "instances")
    with CaptureQueriesContext(connection) as captured:
        assert len(_search(client, "instances").json()) == 2
    assert not any('"imaging_instance"."metadata"' in q["sql"] for q in captured)


@pytest.mark.parametrize("accept", ["application/dicom+xml", 'multipart/related; type="application/dicom+xml"', "text/html"])
def test_a_search_or_metadata_asked_for_only_in_a_form_not_produced_gets_a_406(cast, client_for, accept):
    study = ct_study(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for path in ("/dicomweb/studies", f"/dicomweb/studies/{study.study_instance_uid}/metadata"):
        assert client.get(path, HTTP_ACCEPT=accept).status_code == 406


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", JSON, "application/dicom+xml, application/dicom+json;q=0.5"])
def test_a_search_or_metadata_asked_for_as_json_or_anything_is_answered_in_dicom_json(cast, client_for, accept):
    study = ct_study(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    for path in ("/dicomweb/studies", f"/dicomweb/studies/{study.study_instance_uid}/metadata"):
        response = client.get(path, **headers)
        assert response.status_code == 200 and response["Content-Type"] == JSON


def test_a_metadata_request_for_another_alliances_study_is_404_whatever_it_accepts(cast, client_for):
    study = ct_study(cast.north)
    client = client_for(cast.south[Role.CLINIC_DOCTOR])
    assert client.get(f"/dicomweb/studies/{study.study_instance_uid}/metadata", HTTP_ACCEPT="application/dicom+xml").status_code == 404


@pytest.mark.parametrize("tail", ["studies/abc", "studies/{study}/series/{series}/instances/{instance}/frames/abc", "nothing/here", "studies/{study}/bogus"])
def test_a_dicomweb_address_that_names_nothing_gets_a_json_404(cast, client_for, tail):
    study = ct_study(cast.north, slices=1)
    series = study.series.get()
    path = "/dicomweb/" + tail.format(study=study.study_instance_uid, series=series.series_instance_uid, instance=series.instances.get().sop_instance_uid)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_an_unknown_study_gets_a_json_404(cast, client_for):
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get("/dicomweb/studies/1.2.3.4.5/metadata")
    assert response.status_code == 404 and "detail" in response.json()


def test_an_address_that_names_nothing_still_asks_for_a_sign_in(client):
    assert client.get("/dicomweb/studies/abc").status_code in (401, 403)


def test_a_refused_date_is_explained_in_the_users_language(cast, client_for):
    ct_study(cast.north)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get("/dicomweb/studies", {"StudyDate": "2026"}, HTTP_ACCEPT=JSON, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400 and "StudyDate" in response.json()["detail"] and "日期" in response.json()["detail"]


def test_a_wild_card_matches_a_patient_id_with_regard_to_case_as_an_exact_value_does(cast, client_for):
    study = _study_named(cast.north, "Wang^XiaoDong")
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    mrn = study.dicom_patient_id
    assert len(_search(client, "studies", PatientID=mrn[:3] + "*").json()) == 1
    assert _search(client, "studies", PatientID=mrn[:3].lower() + "*").json() == [] == _search(client, "studies", PatientID=mrn.lower()).json()
    assert len(_search(client, "studies", PatientName="wang*").json()) == 1  # a person's name alone ignores case


@pytest.mark.parametrize("path, key", [("series", "Modality"), ("studies", "ModalitiesInStudy"), ("instances", "Modality")])
def test_a_modality_with_a_wild_card_matches_as_the_standard_allows_for_a_code_string(cast, client_for, path, key):
    ct_study(cast.north)
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert len(_search(client, path, **{key: "C*"}).json()) >= 1
    assert len(_search(client, path, **{key: "MR,?T"}).json()) >= 1
    assert _search(client, path, **{key: "c*"}).json() == [] == _search(client, path, **{key: "MR,X?"}).json()


def test_each_warning_is_quoted_so_that_a_client_can_tell_several_apart(cast, client_for):
    ct_study(cast.north)
    response = _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "studies", Foo="a", fuzzymatching="true", includefield="Nope")
    warnings = response["Warning"].split('", 299 ')
    assert len(warnings) == 3 and response["Warning"].startswith('299 http://testserver/dicomweb: "') and response["Warning"].endswith('"')


def test_an_instance_search_answers_its_character_set_and_counts_frames_of_images_only(cast, client_for):
    instance_ingest(stream=io.BytesIO(bundled_as("rtplan.dcm", patient_id=cast.north.patient.mrn)), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    ct_study(cast.north, slices=1)
    answers = {a["00080060"]["Value"][0]: a for a in _search(client_for(cast.north[Role.CLINIC_DOCTOR]), "instances").json()}
    assert {a["00080005"]["Value"][0] for a in answers.values()} == {"ISO_IR 192"}
    assert answers["CT"]["00280008"]["Value"] == [1] and "00280008" not in answers["RTPLAN"] and "00280010" not in answers["RTPLAN"]
