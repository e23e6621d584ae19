"""DICOM code strings shown as words of the reader's language: the body part examined, the
patient's sex as the study sent it, and a modality's name as the title of its code; a code we do
not know is shown as sent."""
from __future__ import annotations

import io

import pydicom
import pytest

from consults.models import Notification
from imaging.coded_values import body_part_words, modality_name, sex_words
from imaging.services.ingest import instance_ingest
from imaging.services.reading.assignment import read_assign
from telemed.accounts.models import Role, User
from tests.imaging.corpus import ct_series, written
from tests.imaging.reading_factories import requested_read

pytestmark = pytest.mark.django_db


def test_codes_become_words_and_an_unknown_code_stays_as_sent():
    from django.utils import translation

    with translation.override("zh-hans"):
        assert [body_part_words(code) for code in ("CHEST", "abdomen", "LSPINE", "ABDOMENPELVIS", "FOOBAR", "")] == ["胸部", "腹部", "腰椎", "腹部和盆腔", "FOOBAR", ""]
        assert [sex_words(code) for code in ("M", "F", "O", "X")] == ["男", "女", "其他", "X"]
        assert (modality_name("CT"), modality_name("ZZ")) == ("计算机断层扫描", "")
    with translation.override("en"):
        assert (body_part_words("CHEST"), body_part_words("WHOLEBODY"), sex_words("F"), modality_name("MR")) == ("Chest", "Whole body", "Female", "Magnetic resonance")


def _unmatched_study(cast, body_part: str):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1, patient_id="NOT-REGISTERED")[0]))
    dataset.BodyPartExamined = body_part
    return instance_ingest(stream=io.BytesIO(written(dataset)), institution=cast.north.clinic, by=doctor, source="test").instance.series.study


def test_the_study_page_names_the_body_part_the_sex_and_the_modality_in_the_readers_language(cast, client_for):
    study = _unmatched_study(cast, "CHEST")
    doctor = cast.north[Role.CLINIC_DOCTOR]
    chinese = client_for(doctor, language="zh-hans").get(f"/imaging/studies/{study.pk}/").content.decode()
    assert "<td>胸部</td>" in chinese and "· 女" in chinese and '<abbr title="计算机断层扫描">CT</abbr>' in chinese
    english = client_for(doctor).get(f"/imaging/studies/{study.pk}/").content.decode()
    assert "<td>Chest</td>" in english and "· Female" in english and '<abbr title="Computed tomography">CT</abbr>' in english
    assert "<td>CHEST</td>" not in chinese + english


def test_a_body_part_we_do_not_know_is_shown_as_sent(cast, client_for):
    study = _unmatched_study(cast, "TAIL")
    assert "<td>TAIL</td>" in client_for(cast.north[Role.CLINIC_DOCTOR], language="zh-hans").get(f"/imaging/studies/{study.pk}/").content.decode()


def test_the_read_pages_and_a_chinese_radiologists_notification_name_the_body_part_in_words(cast, client_for):
    read = requested_read(cast.north)
    radiologist = cast.north[Role.RADIOLOGIST]
    User.objects.filter(pk=radiologist.pk).update(language="zh-hans")
    radiologist.refresh_from_db()
    read_assign(by=cast.north[Role.COORDINATOR], read=read, radiologist=radiologist)
    assert Notification.objects.get(user=radiologist).title.endswith("CT 胸部")
    for url in (f"/imaging/reads/{read.pk}/", "/imaging/reads/?view=mine", f"/imaging/reads/{read.pk}/report/"):
        page = client_for(radiologist, language="zh-hans").get(url).content.decode()
        assert "胸部" in page and "CHEST" not in page, url
