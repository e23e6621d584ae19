"""Refusal reasons: English for machines and records, translatable for people."""
from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext

from imaging.dicom.reasons import Reason, error_comment, translated


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


def test_an_error_comment_keeps_a_reasons_point_in_64_characters():
    """An Error Comment is an LO: a reason that would lose its point when cut there has a brief
    wording next to it; one still too long is cut at a word, or inside a long one (a UID)."""
    conflict = Reason("an instance with this SOP Instance UID is already stored with different content", brief="this SOP Instance UID is stored already, with other content")
    assert error_comment(conflict) == "this SOP Instance UID is stored already, with other content" and conflict.startswith("an instance")
    uid = "1.2.826.0.1.3680043.8.498." + "1" * 38
    invalid = Reason("%(keyword)s '%(value)s' is not a valid UID (digits and dots, at most 64 characters)", brief="%(keyword)s is not a valid UID: '%(value)s'", keyword="SOPInstanceUID", value=" " + uid)
    assert error_comment(invalid) == "SOPInstanceUID is not a valid UID: ' 1.2.826.0.1.3680043.8.49..."
    assert error_comment(Reason("%(keyword)s is missing", keyword="StudyInstanceUID")) == "StudyInstanceUID is missing"
    assert error_comment("the header cannot be read: " + "an unusually long explanation " * 3) == "the header cannot be read: an unusually long explanation an..."


def test_reasons_joined_keep_the_first_point_whole_in_an_error_comment_and_count_the_others():
    uid = "1.2.826.0.1.3680043.8.498." + "1" * 30
    invalid = Reason("%(keyword)s '%(value)s' is not a valid UID (digits and dots, at most 64 characters)", brief="%(keyword)s is not a valid UID: '%(value)s'", keyword="StudyInstanceUID", value="x" + uid[:12])
    missing = [Reason("%(keyword)s is missing", keyword=keyword) for keyword in ("SeriesInstanceUID", "SOPClassUID")]
    assert error_comment(Reason.joined([invalid, *missing])) == f"StudyInstanceUID is not a valid UID: 'x{uid[:12]}'; and 2 more"
    assert error_comment(Reason.joined(missing)) == "SeriesInstanceUID is missing; SOPClassUID is missing"
    assert error_comment(Reason.joined([*missing, invalid])) == "SeriesInstanceUID is missing; SOPClassUID is missing; and 1 more"
    assert Reason.joined([invalid, *missing]).startswith("StudyInstanceUID 'x1.2.826") and Reason.joined([invalid]) is invalid
