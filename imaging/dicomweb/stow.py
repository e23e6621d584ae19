"""STOW-RS: store each part of a multipart/related body through the one ingest service."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from imaging.dicom.reasons import error_comment
from imaging.dicomweb.dicomjson import RETRIEVE_URL, element, instance_url
from imaging.dicomweb.multipart import Part
from imaging.services.ingest import IngestResult, Status, instances_ingest
from telemed.accounts.models import Institution, User

# PS3.18 Table 10.5.3-1 and PS3.4 Annex C status codes used in FailureReason (0008,1197).
OUT_OF_RESOURCES = 0xA700
DATA_SET_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122  # Referenced Transfer Syntax not supported
DUPLICATE_SOP_INSTANCE = 0x0111


@dataclass
class Outcome:
    stored: list[IngestResult] = field(default_factory=list)
    failed: list[tuple[str, str, int, str]] = field(default_factory=list)  # class, instance, code, reason

    @property
    def status_code(self) -> int:
        if not self.failed:
            return 200
        return 202 if self.stored else 409


def _failure_code(result: IngestResult) -> int:
    if result.status == Status.CONFLICT:
        return DUPLICATE_SOP_INSTANCE
    if result.status == Status.WRONG_STUDY:
        return DATA_SET_MISMATCH
    if result.status == Status.UNSUPPORTED:
        return TRANSFER_SYNTAX_NOT_SUPPORTED
    if result.status == Status.OVER_QUOTA or "larger than" in result.reason:
        return OUT_OF_RESOURCES
    return CANNOT_UNDERSTAND


def parts_store(*, parts: list[Part], institution: Institution, by: User, study_uid: str | None) -> Outcome:
    """Ingest every part together; a part of another study than `study_uid` or of another type is
    refused."""
    outcome, dicom = Outcome(), []
    for part in parts:
        if part.content_type not in ("", "application/dicom"):
            outcome.failed.append(("", "", CANNOT_UNDERSTAND, f"the part is not application/dicom but '{part.content_type[:40]}'"))
        elif part.too_large:
            limit = settings.DICOM_MAX_INSTANCE_BYTES // (1024 * 1024)
            outcome.failed.append(("", "", OUT_OF_RESOURCES, f"the part is larger than the {limit} MB allowed for one instance"))
        else:
            dicom.append(part.file)
    for result in instances_ingest(streams=dicom, institution=institution, by=by, source="stow", study_uid=study_uid):
        if result.ok:
            outcome.stored.append(result)
        else:
            outcome.failed.append((result.sop_class_uid, result.sop_instance_uid, _failure_code(result), result.reason))
    return outcome


def stow_response(outcome: Outcome, *, base_url: str, study_uid: str | None) -> dict:
    """The store instances response (PS3.18 10.5.3) in DICOM JSON."""
    body: dict = {}
    studies = {r.instance.series.study.study_instance_uid for r in outcome.stored}
    target = study_uid or (studies.pop() if len(studies) == 1 else None)
    if target and outcome.stored:  # nothing stored: there may be no such study to retrieve
        body[RETRIEVE_URL] = element("UR", f"{base_url}/studies/{target}")
    if outcome.stored:
        body["00081199"] = element("SQ", *[{
            "00081150": element("UI", r.sop_class_uid),
            "00081155": element("UI", r.sop_instance_uid),
            RETRIEVE_URL: element("UR", instance_url(r.instance, base_url=base_url)),
        } for r in outcome.stored])
    if outcome.failed:
        body["00081198"] = element("SQ", *[{
            "00081150": element("UI", sop_class),
            "00081155": element("UI", sop_instance),
            "00081197": element("US", code),
            "00000902": element("LO", error_comment(reason)),
        } for sop_class, sop_instance, code, reason in outcome.failed])
    return body
