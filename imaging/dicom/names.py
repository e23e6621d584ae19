"""A DICOM person name (PN: "Zhang^Wei=张^伟") as people write it.

Family name first in every group, as Chinese hospitals write names, romanised ones too ("Zhang
Wei"); an ideographic group runs its components together ("张伟"). When a name has an ideographic
and an alphabetic group, the one a page's language reads comes first and the other follows in
parentheses: "张伟 (Zhang Wei)" in Chinese, "Zhang Wei (张伟)" in English.
"""
from __future__ import annotations

import re

from pydicom.valuerep import PersonName

# Han, kana and Hangul: a group written in them is ideographic whichever group the sender used
# (a Chinese modality often puts 张^伟 in the first, "alphabetic", group).
_IDEOGRAPHIC = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _written(group: str) -> str:
    """One component group: prefix, family, given, middle, suffix."""
    name = PersonName(group)
    parts = [name.name_prefix, name.family_name, name.given_name, name.middle_name, name.name_suffix]
    parts = [part.strip() for part in parts if part.strip()]
    return ("" if is_ideographic(group) else " ").join(parts)


def is_ideographic(text: str) -> bool:
    return bool(_IDEOGRAPHIC.search(text))


def person_name(value: str, *, language: str) -> str:
    """`value` as the reader of `language` ("zh-hans", "en") writes it; the phonetic group only
    when the name has no other."""
    if not value:
        return ""
    # pydicom drops empty trailing groups ("=" has none): each one missing is empty.
    alphabetic, ideographic, phonetic = (PersonName(value).components + ("", "", ""))[:3]
    groups = [w for w in dict.fromkeys(_written(g) for g in (alphabetic, ideographic)) if w] or [w for w in [_written(phonetic)] if w]
    if not groups:
        return ""
    chinese_first = language.lower().startswith("zh")
    groups.sort(key=lambda written: is_ideographic(written) != chinese_first)
    first, *others = groups
    return f"{first} ({'; '.join(others)})" if others else first
