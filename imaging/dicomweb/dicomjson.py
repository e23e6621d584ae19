"""DICOM JSON (PS3.18 F.2) for the archive's rows: studies, series and instances."""
from __future__ import annotations

from imaging.dicom import transfer
from imaging.dicom.attributes import PN_GROUPS
from imaging.models import Instance, Series, Study

RETRIEVE_URL = "00081190"
# Instance Availability: every stored instance is on the archive's own storage, at once.
AVAILABILITY = {"00080056": {"vr": "CS", "Value": ["ONLINE"]}}


def element(vr: str, *values) -> dict:
    kept = [v for v in values if v not in (None, "")]
    if vr == "PN":
        kept = [name for name in map(person_name, kept) if name]
    return {"vr": vr, "Value": kept} if kept else {"vr": vr}


def person_name(value) -> dict:
    """A Person Name as PS3.18 F.2.2 writes it: its '='-separated component groups, each under
    its own name ('Wang^XiaoDong=王^小东' → Alphabetic and Ideographic), empty groups left out."""
    return {group: text for group, text in zip(PN_GROUPS, str(value).split("=")) if text}


def study_attributes(study: Study, *, base_url: str) -> dict:
    """Study-level keys."""
    return {
        "00080005": element("CS", "ISO_IR 192"),
        "00080020": element("DA", study.study_date),
        "00080030": element("TM", study.study_time),
        "00080050": element("SH", study.accession_number),
        **AVAILABILITY,
        "00080061": element("CS", *study.modalities),
        "00080090": element("PN", study.referring_physician),
        "00081030": element("LO", study.description),
        RETRIEVE_URL: element("UR", f"{base_url}/studies/{study.study_instance_uid}"),
        "00100010": element("PN", study.dicom_patient_name),
        "00100020": element("LO", study.dicom_patient_id),
        "00100030": element("DA", study.patient_birth_date),
        "00100040": element("CS", study.patient_sex),
        "0020000D": element("UI", study.study_instance_uid),
        "00200010": element("SH", study.study_id),
        "00201206": element("IS", study.series_count),
        "00201208": element("IS", study.instance_count),
    }


def series_attributes(series: Series, *, base_url: str, include: set[str] = frozenset(), include_all: bool = False) -> dict:
    """Series-level keys with the study's identifying keys, and those of the study's keys the
    index holds that `include` names (all of them for includefield=all)."""
    study = series.study
    attributes = {
        tag: value for tag, value in study_attributes(study, base_url=base_url).items()
        if include_all or tag in include
    }
    attributes.update({
        "00080005": element("CS", "ISO_IR 192"),
        "00080020": element("DA", study.study_date),
        **AVAILABILITY,
        "00080060": element("CS", series.modality),
        "0008103E": element("LO", series.description),
        "00180015": element("CS", series.body_part),
        RETRIEVE_URL: element("UR", f"{base_url}/studies/{study.study_instance_uid}/series/{series.series_instance_uid}"),
        "00100010": element("PN", study.dicom_patient_name),
        "00100020": element("LO", study.dicom_patient_id),
        "0020000D": element("UI", study.study_instance_uid),
        "0020000E": element("UI", series.series_instance_uid),
        "00200011": element("IS", series.series_number),
        "00201209": element("IS", series.instance_count),
    })
    return attributes


def instance_url(instance: Instance, *, base_url: str) -> str:
    series = instance.series
    return f"{base_url}/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}/instances/{instance.sop_instance_uid}"


def instance_attributes(instance: Instance, *, base_url: str, include: set[str] = frozenset(), include_all: bool = False) -> dict:
    """Instance-level keys from the row, plus the `include` tags found in the stored header (all
    of it for includefield=all), its bulk data left out: a search answer carries no URIs to it."""
    series, study = instance.series, instance.series.study
    header = instance.metadata if include_all else {tag: instance.metadata[tag] for tag in include if tag in instance.metadata}
    attributes = _without_bulk_data(header)
    attributes.update({
        "00080005": element("CS", "ISO_IR 192"),
        "00080016": element("UI", instance.sop_class_uid),
        "00080018": element("UI", instance.sop_instance_uid),
        "00083002": element("UI", instance.transfer_syntax_uid),
        **AVAILABILITY,
        "00080060": element("CS", series.modality),
        RETRIEVE_URL: element("UR", instance_url(instance, base_url=base_url)),
        "00100020": element("LO", study.dicom_patient_id),
        "0020000D": element("UI", study.study_instance_uid),
        "0020000E": element("UI", series.series_instance_uid),
        "00200013": element("IS", instance.instance_number),
    })
    if instance.rows:  # an image: a report or a waveform has no frames to count
        attributes.update({
            "00280008": element("IS", instance.number_of_frames),
            "00280010": element("US", instance.rows),
            "00280011": element("US", instance.columns),
        })
    return attributes


def add_from_header(attributes: dict, header: dict | None, include: set[str]) -> None:
    """The attributes `include` names that a study or series answer does not hold, as the
    stored header of one of its instances (`query.first_headers`) has them, bulk data left out."""
    if header:
        attributes.update(_without_bulk_data({tag: header[tag] for tag in include - attributes.keys() if tag in header}))


def _without_bulk_data(elements: dict) -> dict:
    """The elements without those the stored header left out as bulk data, in sequences too."""
    kept = {}
    for tag, value in elements.items():
        if "BulkDataURI" in value:
            continue
        if value.get("vr") == "SQ" and value.get("Value"):
            value = {**value, "Value": [_without_bulk_data(item) for item in value["Value"]]}
        kept[tag] = value
    return kept


PIXEL_DATA = "7FE00010"
COMPRESSED_PIXELS = "OB"  # encapsulated pixel data is always OB


def _bulk_uris(elements: dict, url: str, prefix: str = "") -> dict:
    """The stored header with each left-out binary value pointing at the bulkdata resource."""
    answer = {}
    for tag, value in elements.items():
        if "BulkDataURI" in value:
            value = {**value, "BulkDataURI": f"{url}/bulkdata/{prefix}{tag}"}
        elif value.get("vr") == "SQ" and value.get("Value"):
            value = {**value, "Value": [_bulk_uris(item, url, f"{prefix}{tag}/{n}/") for n, item in enumerate(value["Value"])]}
        answer[tag] = value
    return answer


def _pixel_data_vr(instance: Instance) -> str:
    if transfer.media_type_of(instance.transfer_syntax_uid) != transfer.OCTET:
        return COMPRESSED_PIXELS
    bits = (instance.metadata.get("00280100") or {}).get("Value") or [8]
    return "OW" if bits[0] > 8 else "OB"


def instance_metadata(instance: Instance, *, base_url: str) -> dict:
    """The header as ingested, with BulkDataURIs for its large binary values and, for an image,
    its Pixel Data (read without pixels, the stored header has none)."""
    url = instance_url(instance, base_url=base_url)
    answer = _bulk_uris(instance.metadata, url)
    if instance.rows and instance.columns:
        answer[PIXEL_DATA] = {"vr": _pixel_data_vr(instance), "BulkDataURI": f"{url}/bulkdata/{PIXEL_DATA}"}
    answer[RETRIEVE_URL] = element("UR", url)
    return answer
