"""Refusal reasons: English for machines and records, translatable for people."""
from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext

from imaging.dicom.reasons import Reason, translated


def test_a_reason_is_its_english_text_wherever_a_string_goes():
    reason = Reason("transfer syntax %(uid)s is not supported", uid="1.2.3")
    assert reason == "transfer syntax 1.2.3 is not supported" and reason[:9] == "transfer " and f"{reason}" == reason


def test_a_reason_is_translated_with_its_values_and_joined_reasons_part_by_part():
    joined = Reason.joined([Reason("%(keyword)s is missing", keyword="SOPInstanceUID"), Reason("transfer syntax %(uid)s is not supported", uid="1.2.3")])
    assert joined == "SOPInstanceUID is missing; transfer syntax 1.2.3 is not supported"
    with translation.override("zh-hans"):
        assert translated(joined, gettext) == "缺少 SOPInstanceUID; 不支持传输语法 1.2.3"


def test_anything_else_is_given_back_as_it_is():
    assert translated("a reason from elsewhere", gettext) == "a reason from elsewhere"
