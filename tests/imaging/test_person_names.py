"""DICOM person names (PN) as people write them: family name first, an ideographic group run
together, the group of the page's language first and the other in parentheses; on every page
that shows a name from a study."""
from __future__ import annotations

import io

import pydicom
import pytest

from imaging.dicom.names import person_name
from imaging.services.ingest import instance_ingest
from telemed.accounts.models import Role
from tests.imaging.corpus import ct_series, written


@pytest.mark.parametrize(("value", "chinese", "english"), [
    ("Zhang^Wei=张^伟", "张伟 (Zhang Wei)", "Zhang Wei (张伟)"),
    ("ZHANG^WEI=张^伟=zhang^wei", "张伟 (ZHANG WEI)", "ZHANG WEI (张伟)"),  # the phonetic group only says it again
    ("王^秀英", "王秀英", "王秀英"),  # Chinese characters in the first group, as Chinese modalities send them
    ("=张^伟", "张伟", "张伟"),
    ("==zhang^wei", "zhang wei", "zhang wei"),
    ("Doe^John^^Dr", "Dr Doe John", "Dr Doe John"),
    ("Wang^XiaoDong^^", "Wang XiaoDong", "Wang XiaoDong"),
    ("^^^", "", ""),
    ("=", "", ""),  # groups, all empty
    ("==", "", ""),
    ("", "", ""),
])
def test_a_person_name_is_written_family_name_first_in_the_readers_language_first(value, chinese, english):
    assert person_name(value, language="zh-hans") == chinese
    assert person_name(value, language="en") == english


@pytest.mark.django_db
def test_an_unmatched_studys_name_is_written_as_people_write_it_on_the_list_the_study_and_the_viewer(cast, client_for):
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1, patient_id="NOT-REGISTERED", patient_name="Zhang^Wei=张^伟", charset="ISO_IR 192")[0]))
    dataset.ReferringPhysicianName = "Li^Na=李^娜"
    data = written(dataset)
    doctor = cast.north[Role.CLINIC_DOCTOR]
    study = instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=doctor, source="test").instance.series.study
    for language, shown in (("en", "Zhang Wei (张伟)"), ("zh-hans", "张伟 (Zhang Wei)")):
        client = client_for(doctor, language=language)
        for url in ("/imaging/", f"/imaging/studies/{study.pk}/", f"/imaging/studies/{study.pk}/view/"):
            page = client.get(url).content.decode()
            assert shown in page, (language, url)
            assert "Zhang^Wei" not in page, (language, url)
    assert "李娜 (Li Na)" in client_for(doctor, language="zh-hans").get(f"/imaging/studies/{study.pk}/").content.decode()
