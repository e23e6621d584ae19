"""De-identification for teaching: the DICOM PS3.15 Annex E Basic Application Level
Confidentiality Profile, applied to pydicom datasets. No Django here.

The profile's table (E.1-1: which attribute is removed, emptied, given a dummy value or a new UID)
comes from the dicom-anonymizer package, which generates it from the standard (the 2026c edition
here). Its own applier is not used: it acts on top-level attributes only, empties the UIDs that
reference other instances, and keeps one UID map for the whole process. Here:

- the table applies at every depth, inside sequences too;
- where the table allows several actions, the one that keeps every IOD valid is taken: Z/D, X/D
  and X/Z/D give a dummy value (D), X/Z empties (Z), X/Z/U* keeps the sequence and replaces the
  UIDs inside it (so a reference to another image of the study still points at it);
- a UID becomes `2.25.<hash of a per-export secret and the UID>`: the same original UID gets the
  same new UID in every file of one export, wherever it appears, and two exports share none;
- private attributes are removed, and the file meta information is rebuilt (it named the sending
  application);
- Patient's Name and Patient ID become the export's pseudonym (a dummy value the profile allows);
- pixel data is never touched: an image whose Burned In Annotation is YES must not go out under
  this profile (`burned_in` tells the caller, who leaves it out).
"""
from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable

from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

TABLE_EDITION = "dicomfields_2026c"
METHOD = "PS3.15 E Basic Application Level Confidentiality Profile"  # LO: at most 64 characters
PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
PATIENT_NAME, PATIENT_ID = 0x00100010, 0x00100020

# The table's categories, each resolved to one action (see the module docstring).
_RESOLVED = {
    "D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "D",
    "X_Z_TAGS": "Z", "X_D_TAGS": "D", "X_Z_D_TAGS": "D", "X_Z_U_STAR_TAGS": "U",
}


def _load_table() -> tuple[dict[int, str], list[tuple[int, int, int, int, str]]]:
    exact, masked = {}, []
    for category, tags in dicom_anonymization_database_selector(TABLE_EDITION).items():
        if category not in _RESOLVED:
            continue
        for tag in tags:
            if len(tag) == 2:
                exact[(tag[0] << 16) | tag[1]] = _RESOLVED[category]
            else:  # a repeating group such as (60xx,3000) Overlay Data
                masked.append((*tag, _RESOLVED[category]))
    return exact, masked


EXACT, MASKED = _load_table()

_DUMMY_TEXT = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"}
_DUMMY = {"DA": "19000101", "DT": "19000101000000", "TM": "000000", "AS": "000Y", "DS": "0", "IS": "0", "UR": "https://example.invalid/"}
_NUMBERS = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"}


def action_for(tag: int) -> str | None:
    """The profile's action for an attribute (D, Z, X or U), or None to keep it."""
    if (found := EXACT.get(tag)) is not None:
        return found
    group, element = tag >> 16, tag & 0xFFFF
    for g, e, group_mask, element_mask, action in MASKED:
        if group & group_mask == g & group_mask and element & element_mask == e & element_mask:
            return action
    return None


class UidMap:
    """Original UID → new UID, the same for one secret and never stored: consistent across all
    the files of an export without keeping a table, unrelated across exports.

    The new UID is under 2.25 (a UUID as an integer, PS3.5 B.2): the UUID's 122 free bits are a
    keyed hash of the original, so nobody without the secret can tell which UID it came from.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()

    def __call__(self, uid: str) -> str:
        if not uid:
            return uid
        digest = hmac.new(self.secret, str(uid).encode(), hashlib.sha256).digest()
        return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"


def burned_in(dataset: Dataset) -> str:
    """'yes', 'no', or 'unknown' (the flag is absent) for Burned In Annotation (0028,0301)."""
    value = str(dataset.get("BurnedInAnnotation", "") or "").strip().upper()
    return {"YES": "yes", "NO": "no"}.get(value, "unknown")


def deidentify(dataset: Dataset, *, uids: UidMap, pseudonym: str) -> Dataset:
    """Apply the profile to `dataset` in place and return it, ready to be written as Part 10."""
    transfer_syntax = dataset.file_meta.TransferSyntaxUID
    _clean(dataset, uids, pseudonym)
    dataset.PatientName = pseudonym
    dataset.PatientID = pseudonym
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = PROFILE_CODE
    dataset.DeidentificationMethodCodeSequence = Sequence([code])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    dataset.file_meta = meta
    return dataset


def _clean(dataset: Dataset, uids: UidMap, pseudonym: str) -> None:
    for tag in list(dataset.keys()):
        element = dataset[tag]
        if BaseTag(tag).is_private:
            del dataset[tag]
            continue
        action = action_for(int(tag))
        if int(tag) in (PATIENT_NAME, PATIENT_ID):
            element.value = pseudonym
        elif action == "X":
            del dataset[tag]
        elif action == "Z":
            element.value = Sequence() if element.VR == "SQ" else None
        elif action == "D" and element.VR == "SQ":
            for item in element.value:
                _dummy_everything(item, uids)
        elif action == "D" and element.VR != "UI":
            element.value = _dummy(element.VR)
        elif element.VR == "UI" and action in ("U", "D"):
            element.value = _new_uids(element.value, uids)
        elif element.VR == "SQ":
            for item in element.value:
                _clean(item, uids, pseudonym)


def _dummy_everything(dataset: Dataset, uids: UidMap) -> None:
    """A sequence the profile replaces with dummy content keeps its shape, none of its values."""
    for tag in list(dataset.keys()):
        element = dataset[tag]
        if BaseTag(tag).is_private:
            del dataset[tag]
        elif element.VR == "SQ":
            for item in element.value:
                _dummy_everything(item, uids)
        elif element.VR == "UI":
            element.value = _new_uids(element.value, uids)
        else:
            element.value = _dummy(element.VR)


def _new_uids(value, uids: UidMap):
    if isinstance(value, str):
        return uids(value)
    return [uids(v) for v in value] if isinstance(value, Iterable) else value


def _dummy(vr: str):
    if vr in _DUMMY_TEXT:
        return "ANONYMIZED"
    if vr in _DUMMY:
        return _DUMMY[vr]
    if vr in _NUMBERS:
        return 0
    return b"\0\0"  # OB, OW, OF, OD, OL, OV, UN: any even-length bytes are a valid dummy
