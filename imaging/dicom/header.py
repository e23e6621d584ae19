"""Pure functions over pydicom datasets: read a header without pixels, check it, index it."""
from __future__ import annotations

import re
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
# Elements at least this long stay out of the stored DICOM JSON (they are bulk data).
BULK_DATA_THRESHOLD = 4096


class HeaderError(ValueError):
    """The file is not a DICOM object this archive can index; the message says why."""


def read_header(path: Path) -> Dataset:
    """The dataset up to the pixel data; large values are read only when asked for."""
    try:
        dataset = pydicom.dcmread(str(path), stop_before_pixels=True, defer_size=BULK_DATA_THRESHOLD)
    except InvalidDicomError:
        raise HeaderError("not a DICOM Part 10 file (no 'DICM' after the 128-byte preamble)") from None
    except RecursionError:
        raise HeaderError("sequences are nested too deeply to read") from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, NotImplementedError) as exc:
        raise HeaderError(f"the header cannot be read: {exc}"[:250]) from None
    if "TransferSyntaxUID" not in dataset.file_meta:
        raise HeaderError("the file meta information has no Transfer Syntax UID")
    return dataset


def uid_problems(dataset: Dataset) -> list[str]:
    problems = []
    for keyword in REQUIRED_UIDS:
        value = str(dataset.get(keyword, "") or "")
        if not value:
            problems.append(f"{keyword} is missing")
        elif len(value) > 64 or not UID.match(value):
            problems.append(f"{keyword} '{value[:70]}' is not a valid UID (digits and dots, at most 64 characters)")
    return problems


def _text(dataset: Dataset, keyword: str, limit: int) -> str:
    value = dataset.get(keyword, "")
    return ("" if value is None else str(value))[:limit]


def _number(dataset: Dataset, keyword: str) -> int | None:
    try:
        return int(dataset.get(keyword))
    except (TypeError, ValueError):
        return None


def index_fields(dataset: Dataset) -> dict:
    """What the archive's tables keep of a header, with the patient's name decoded by its charset."""
    return {
        "study": {
            "study_instance_uid": str(dataset.StudyInstanceUID),
            "dicom_patient_id": _text(dataset, "PatientID", 64),
            "dicom_patient_name": _text(dataset, "PatientName", 200),
            "patient_birth_date": _text(dataset, "PatientBirthDate", 8),
            "patient_sex": _text(dataset, "PatientSex", 16),
            "study_date": _text(dataset, "StudyDate", 8),
            "study_time": _text(dataset, "StudyTime", 16),
            "accession_number": _text(dataset, "AccessionNumber", 16),
            "study_id": _text(dataset, "StudyID", 16),
            "description": _text(dataset, "StudyDescription", 200),
            "referring_physician": _text(dataset, "ReferringPhysicianName", 200),
        },
        "series": {
            "series_instance_uid": str(dataset.SeriesInstanceUID),
            "modality": _text(dataset, "Modality", 16),
            "series_number": _number(dataset, "SeriesNumber"),
            "description": _text(dataset, "SeriesDescription", 200),
            "body_part": _text(dataset, "BodyPartExamined", 64),
        },
        "instance": {
            "sop_instance_uid": str(dataset.SOPInstanceUID),
            "sop_class_uid": str(dataset.SOPClassUID),
            "instance_number": _number(dataset, "InstanceNumber"),
            "transfer_syntax_uid": str(dataset.file_meta.TransferSyntaxUID),
            "rows": _number(dataset, "Rows"),
            "columns": _number(dataset, "Columns"),
            "number_of_frames": _number(dataset, "NumberOfFrames") or 1,
        },
    }


def json_metadata(dataset: Dataset) -> dict:
    """The header in the DICOM JSON model (PS3.18 F.2); bulk values are left out, not inlined."""
    return dataset.to_json_dict(bulk_data_threshold=BULK_DATA_THRESHOLD, bulk_data_element_handler=lambda element: "")
