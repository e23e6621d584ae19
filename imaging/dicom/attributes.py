"""A header in the DICOM JSON model as rows a person reads: tag, attribute name from pydicom's
data dictionary, VR and value, the items of a sequence below it one level deeper."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.datadict import dictionary_description
from pydicom.tag import Tag

PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")  # a Person Name's component groups in DICOM JSON (PS3.18 F.2.2)


@dataclass(frozen=True)
class AttributeRow:
    tag: str  # "(0010,0010)"; empty for a sequence item's row
    name: str  # "Patient's Name"; empty for a private or unknown tag
    vr: str
    value: str  # as sent, several values set apart by a backslash as in DICOM
    depth: int
    item: int | None = None  # the number of a sequence item (its row has no tag)
    binary: bool = False  # bulk or inline binary data: its bytes are not shown
    private: bool = False


def attribute_rows(metadata: dict, depth: int = 0) -> Iterator[AttributeRow]:
    """Every element of `metadata` (one data set in the DICOM JSON model) in tag order."""
    for key in sorted(metadata):
        element = metadata[key]
        vr = element.get("vr", "")
        tag = Tag(key)
        name = _name(tag)
        shown = f"({key[:4]},{key[4:]})"
        if vr == "SQ":
            yield AttributeRow(shown, name, vr, "", depth, private=tag.is_private)
            for number, item in enumerate(element.get("Value", []), start=1):
                yield AttributeRow("", "", "", "", depth + 1, item=number)
                yield from attribute_rows(item or {}, depth + 2)
            continue
        binary = "BulkDataURI" in element or "InlineBinary" in element
        yield AttributeRow(shown, name, vr, "" if binary else _value(element.get("Value", [])), depth, binary=binary, private=tag.is_private)


def attribute_groups(metadata: dict) -> list[list[AttributeRow]]:
    """The rows by top-level attribute: a sequence with all its items is one group (the viewer's
    filter shows a whole sequence when its name matches)."""
    groups: list[list[AttributeRow]] = []
    for row in attribute_rows(metadata):
        if row.depth == 0:
            groups.append([])
        groups[-1].append(row)
    return groups


def _name(tag) -> str:
    if tag.is_private:
        return ""
    try:
        return dictionary_description(tag)
    except KeyError:  # a public tag of a newer edition than pydicom's dictionary
        return ""


def _value(values: list) -> str:
    return "\\".join(_one(value) for value in values)


def _one(value) -> str:
    if isinstance(value, dict):  # a person name: its groups set apart by "=", as in DICOM
        return "=".join(value.get(group, "") for group in PN_GROUPS).rstrip("=")
    return "" if value is None else str(value)
