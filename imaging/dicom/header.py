"""Pure functions over pydicom datasets: read a header without pixels, check it, index it."""
from __future__ import annotations

import copy
import math
import os
import re
import struct
import zlib
from datetime import date
from pathlib import Path
from typing import BinaryIO

from pydicom.dataelem import RawDataElement
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _at_pixel_data, _read_command_set_elements, _read_file_meta_info, read_dataset, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID as UIDName
from pydicom.uid import AllTransferSyntaxes, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, PrivateTransferSyntaxes

from imaging.dicom.inflated import NOT_DEFLATED, InflatedDataSet, InflatedFile, InflationRefused
from imaging.dicom.reasons import Reason
from imaging.dicom.reasons import gettext_noop as _
from imaging.dicom.structure import INT32, NESTED_TOO_DEEPLY, PIXEL_DATA, StructureError, check_structure, found_encoding, pixel_bytes

UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
# Elements at least this long stay out of the stored DICOM JSON (they are bulk data).
BULK_DATA_THRESHOLD = 4096
LEFT_OUT_UNREAD = 1024 * 1024  # a longer value of any VR is bulk data in the indexed header
# What pydicom raises on bytes it cannot make sense of, besides InvalidDicomError: a short element
# header is a struct.error, a value in an unknown character set a LookupError, and so on.
UNREADABLE = (
    EOFError, OSError, ValueError, LookupError, TypeError, AttributeError, OverflowError, NotImplementedError, struct.error, BytesLengthException,
)

# The numbers the index keeps, and the range each may take: an IS (Integer String) fills a signed
# 32-bit column; counts are at least 0, and a Number of Frames, when present, at least 1 (PS3.3
# C.7.6.6). Anything else is refused, not cut: a file the index cannot describe is not stored.
NUMBERS = {
    "SeriesNumber": INT32,
    "InstanceNumber": INT32,
    "Rows": (0, INT32[1]),
    "Columns": (0, INT32[1]),
    "NumberOfFrames": (1, INT32[1]),
}
# Said by the server of a file it is sent, and by the upload page of a file it will not send.
NOT_PART10 = _("no DICOM file header (no 'DICM' after the 128-byte preamble): export it from the modality or PACS as a DICOM Part 10 file")
DA = re.compile(r"^[0-9]{8}$")
TM = re.compile(r"^([01][0-9]|2[0-3])([0-5][0-9](([0-5][0-9]|60)(\.[0-9]{1,6})?)?)?$")  # HH[MM[SS[.F{1,6}]]]


class HeaderError(ValueError):
    """The file is not a DICOM object this archive can index; its Reason (args[0]) says why."""


class UnsupportedTransferSyntax(HeaderError):
    """The file is encoded in a transfer syntax this archive does not know."""


def read_header(path: Path, *, inflated_limit: int, header_limit: int) -> Dataset:
    """The dataset up to the pixel data; large values are read only when asked for. The declared
    lengths of the whole file are checked (see imaging/dicom/structure.py), the pixel data unread.
    A deflated data set is refused if it would inflate beyond `inflated_limit` bytes, or its
    elements before the pixel data beyond `header_limit` (see imaging/dicom/inflated.py)."""
    try:
        with path.open("rb") as handle:
            dataset, stream = _read(handle, inflated_limit, header_limit)
            syntax = dataset.file_meta.TransferSyntaxUID
            pixels = check_structure(dataset, stream)
        if problem := _pixel_problem(dataset, pixels, native=not syntax.is_encapsulated):
            raise HeaderError(problem)
    except HeaderError:
        raise
    except (StructureError, InflationRefused) as exc:
        raise HeaderError(exc.args[0]) from None
    except InvalidDicomError:
        raise HeaderError(Reason(NOT_PART10)) from None
    except RecursionError:
        raise HeaderError(Reason(NESTED_TOO_DEEPLY)) from None
    except zlib.error:
        raise HeaderError(Reason(NOT_DEFLATED)) from None
    except UNREADABLE as exc:
        raise HeaderError(Reason(_("the header cannot be read: %(error)s"), error=str(exc)[:220])) from None
    return dataset


def inflated_file(handle: BinaryIO, *, inflated_limit: int, header_limit: int) -> InflatedFile:
    """The deflated file in `handle` (a stored one: read_header took it) as the Explicit VR Little
    Endian file it inflates to, read in bounded memory (see InflatedFile). Raises what read_header
    turns into a HeaderError."""
    handle.seek(0)
    dataset, stream = _read(handle, inflated_limit, header_limit)
    meta = copy.deepcopy(dataset.file_meta)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    # The data set's UIDs, as pydicom's dcmwrite gives a file of any other syntax transcoded: a
    # sender may leave them out of the meta information, which pydicom then refuses to write.
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = dataset.SOPClassUID, dataset.SOPInstanceUID
    prefix = DicomBytesIO()
    prefix.write(dataset.preamble + b"DICM")
    write_file_meta_info(prefix, meta, enforce_standard=True)
    return InflatedFile(prefix.getvalue(), stream, header=dataset)


def _read(handle: BinaryIO, inflated_limit: int, header_limit: int) -> tuple[FileDataset, BinaryIO]:
    """What pydicom's dcmread(stop_before_pixels=True) reads, and the stream it stopped in (a
    deflated data set's inflated bytes); but a deflated data set is inflated as it is read, not
    whole, and the transfer syntax is checked before the data set is read."""
    preamble = read_preamble(handle, False)
    meta_start = handle.tell()
    meta = _read_file_meta_info(handle)
    if problem := _meta_length_problem(meta, meta_start, handle):
        raise HeaderError(problem)
    syntax = _transfer_syntax(meta)
    stream: BinaryIO = handle
    if syntax == DeflatedExplicitVRLittleEndian:
        stream = InflatedDataSet(handle, header_limit=header_limit, size_limit=inflated_limit)
    command_set = _read_command_set_elements(stream)
    read = read_dataset(stream, syntax.is_implicit_VR, syntax.is_little_endian, stop_when=_at_pixel_data, defer_size=BULK_DATA_THRESHOLD)
    if isinstance(stream, InflatedDataSet):
        stream.header_done()
    if problem := _encoding_problem(read, syntax):
        raise HeaderError(problem)
    read.update(command_set)
    dataset = FileDataset(stream, read, preamble, meta, syntax.is_implicit_VR, syntax.is_little_endian)
    dataset.set_original_encoding(syntax.is_implicit_VR, syntax.is_little_endian, read._character_set)
    return dataset, stream


def _meta_length_problem(meta: Dataset, start: int, handle: BinaryIO) -> Reason | None:
    """The File Meta Information Group Length counts the group's bytes after its own 12-byte
    element. pydicom reads the group to its end whatever it says; a reader that trusts it would
    start the data set elsewhere. `handle` stands where pydicom found the group's end."""
    declared, actual = meta.get("FileMetaInformationGroupLength"), handle.tell() - start - 12
    if declared is None or declared == actual:
        return None
    if isinstance(declared, int) and start + 12 + declared > os.fstat(handle.fileno()).st_size:
        return Reason(_("the file is truncated: it ends inside the file meta information"))
    return Reason(
        _("the File Meta Information Group Length says %(declared)s bytes, the group holds %(actual)d"),
        brief="(0002,0000) Group Length says %(declared)s bytes, the group holds %(actual)d", declared=declared, actual=actual,
    )


def _encoding_problem(dataset: Dataset, syntax: UIDName) -> Reason | None:
    """pydicom reads a data set in the VR encoding it finds (found_encoding), with a warning, so
    a file can hold implicit VR under an explicit syntax, or the reverse: stored, a reader that
    trusts the syntax could not read it. Items in implicit VR inside an explicit data set are
    allowed (PS3.5 6.2.2) and not refused."""
    found = found_encoding(dataset)
    if found is None or found[0] == syntax.is_implicit_VR:
        return None
    if found[0]:
        return Reason(_("the data set is in implicit VR, not explicit VR as its transfer syntax %(uid)s says"), uid=str(syntax))
    return Reason(_("the data set is in explicit VR, not implicit VR as its transfer syntax %(uid)s says"), uid=str(syntax))


def _transfer_syntax(meta: Dataset) -> UIDName:
    syntax = meta.get("TransferSyntaxUID")
    if syntax is None:
        raise HeaderError(Reason(_("the file meta information has no Transfer Syntax UID")))
    if syntax not in AllTransferSyntaxes and syntax not in PrivateTransferSyntaxes:
        raise UnsupportedTransferSyntax(Reason(_("transfer syntax %(uid)s is not supported"), uid=str(syntax)[:64]))
    # a private syntax's registered UID knows its encoding
    return next((known for known in PrivateTransferSyntaxes if known == syntax), syntax)


def _pixel_problem(dataset: Dataset, pixels: tuple[int, int | None] | None, *, native: bool) -> Reason | None:
    """A file cut short where an element ends looks whole: its pixel data is missing, or shorter
    than its header describes."""
    if pixels is None:
        # An image storage class, or the Image Pixel module's Type 1 elements, say there is an
        # image (a JPIP provider holds it elsewhere).
        is_image = "Image Storage" in UIDName(sent_text(dataset, "SOPClassUID")).name or all(k in dataset for k in ("Rows", "Columns", "BitsAllocated"))
        if is_image and "PixelDataProviderURL" not in dataset:
            return Reason(_("the file is truncated: it is an image but has no pixel data"))
        return None
    tag, length = pixels
    if tag == PIXEL_DATA and native and length is not None and (needed := pixel_bytes(dataset)) and length < needed:
        return Reason(
            _("the file is truncated: the pixel data holds %(length)d bytes, its rows, columns, samples, bits and frames need %(needed)d"),
            brief="truncated: the pixel data holds %(length)d bytes, %(needed)d needed", length=length, needed=needed,
        )
    return None


def _as_sent(dataset: Dataset, keyword: str):
    """The element as read, before pydicom converts it (None if absent)."""
    return dataset.get_item(keyword, keep_deferred=True) if keyword in dataset else None


def sent_text(dataset: Dataset, keyword: str) -> str:
    """The value as sent: pydicom strips a UID's leading spaces, which a UID may not have."""
    element = _as_sent(dataset, keyword)
    if element is None:
        return ""
    if isinstance(element, RawDataElement):
        if element.value is None:  # deferred: longer than any UID
            return "?" * element.length
        return element.value.decode("ascii", "replace").rstrip("\0 ")  # padding may trail, nothing may lead
    return str(element.value or "")


def _raw_vr(dataset: Dataset, keyword: str) -> str | None:
    """The VR the element was sent with (None for implicit VR), as read, not as the dictionary has it."""
    element = _as_sent(dataset, keyword)
    return element.VR if isinstance(element, RawDataElement) else None


def uid_problems(dataset: Dataset) -> list[Reason]:
    """Call before anything reads the UIDs, which pydicom then keeps stripped."""
    problems = []
    for keyword in REQUIRED_UIDS:
        value = sent_text(dataset, keyword)
        if (vr := _raw_vr(dataset, keyword)) not in (None, "UI", "UN"):  # None: implicit VR, the dictionary's UI
            problems.append(Reason(_("%(keyword)s is encoded as %(vr)s, not as a UID (UI)"), keyword=keyword, vr=vr[:2]))
        elif not value:
            problems.append(Reason(_("%(keyword)s is missing"), keyword=keyword))
        elif len(value) > 64 or not UID.match(value):
            problems.append(Reason(
                _("%(keyword)s '%(value)s' is not a valid UID (digits and dots, at most 64 characters)"),
                brief="%(keyword)s is not a valid UID: '%(value)s'", keyword=keyword, value=value[:70],
            ))
    return problems


def _text(dataset: Dataset, keyword: str, limit: int) -> str:
    value = dataset.get(keyword, "")
    return ("" if value is None else str(value))[:limit]


NAME_GROUPS = ("alphabetic", "ideographic", "phonetic")  # a Person Name's component groups, in order


def matchable_name(group: str) -> str:
    """One component group as names are compared: case ignored, and without the empty components
    a sender may leave at its end ('Wang^XiaoDong^^' is 'Wang^XiaoDong', PS3.5 6.2.1)."""
    return group.rstrip("^ ").upper()


def name_groups(name: str) -> dict:
    """The Study columns that index a patient's name, one per component group."""
    groups = (name.split("=") + ["", ""])[:3]
    return {f"patient_name_{group}": matchable_name(value) for group, value in zip(NAME_GROUPS, groups)}


def is_date(value: str) -> bool:
    """A DICOM date (DA: YYYYMMDD) that names a day of the calendar."""
    try:
        return bool(DA.match(value)) and bool(date(int(value[:4]), int(value[4:6]), int(value[6:])))
    except ValueError:
        return False


def is_time(value: str) -> bool:
    """A DICOM time (TM: HH, HHMM, HHMMSS or HHMMSS.F to six digits) within a day."""
    return bool(TM.match(value))


def _date(dataset: Dataset, keyword: str) -> str:
    """A valid DA, or empty: the index answers queries in DICOM values (the file keeps what was sent)."""
    value = _text(dataset, keyword, 9).rstrip()
    return value if is_date(value) else ""


def _time(dataset: Dataset, keyword: str) -> str:
    value = _text(dataset, keyword, 17).rstrip()
    return value if is_time(value) else ""


def _number(dataset: Dataset, keyword: str) -> int | None:
    try:
        value = int(dataset.get(keyword))
    except (TypeError, ValueError):
        return None
    low, high = NUMBERS[keyword]
    if not low <= value <= high:
        raise HeaderError(Reason(_("%(keyword)s %(value)d is out of range (%(low)d to %(high)d)"), keyword=keyword, value=value, low=low, high=high))
    return value


def index_fields(dataset: Dataset) -> dict:
    """What the archive's tables keep of a header, with the patient's name decoded by its charset.
    Raises HeaderError for a number the index cannot hold."""
    patient_name = _text(dataset, "PatientName", 200)
    return {
        "study": {
            "study_instance_uid": str(dataset.StudyInstanceUID),
            "dicom_patient_id": _text(dataset, "PatientID", 64),
            "dicom_patient_name": patient_name,
            **name_groups(patient_name),
            "patient_birth_date": _date(dataset, "PatientBirthDate"),
            "patient_sex": _text(dataset, "PatientSex", 16),
            "study_date": _date(dataset, "StudyDate"),
            "study_time": _time(dataset, "StudyTime"),
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
    """The header in the DICOM JSON model (PS3.18 F.2); bulk values are left out, not inlined.
    A number that is not finite (a NaN or an infinity, which FD, FL and DS may hold) has no
    JSON form: it is kept as an empty value, and the file as sent."""
    # Dataset.to_json_dict, element by element, but a value longer than LEFT_OUT_UNREAD is left
    # out unread, as bulk data: read, a text was decoded and kept whatever its length (a 300 MB
    # text took 1.8 GB of memory).
    answer = {}
    for tag in dataset.keys():
        element = dataset.get_item(tag, keep_deferred=True)
        if isinstance(element, RawDataElement) and element.value is None and element.length > LEFT_OUT_UNREAD:
            vr = element.VR or (dictionary_VR(tag) if tag in DicomDictionary else "UN")  # None: implicit VR
            answer[f"{tag:08X}"] = {"vr": vr, "BulkDataURI": ""}
        else:
            value = dataset[tag].to_json_dict(bulk_data_element_handler=_left_out, bulk_data_threshold=BULK_DATA_THRESHOLD)
            answer[f"{tag:08X}"] = _finite(value) if value["vr"] in FLOATING_VRS else value
    return answer


FLOATING_VRS = {"DS", "FD", "FL", "SQ"}  # what may hold a number JSON cannot write (in a sequence, at any depth)


def _left_out(element) -> str:
    """A bulk value's URI in the stored header: none, the metadata resource writes it."""
    return ""


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
