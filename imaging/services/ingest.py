"""One ingest service behind every path (browser, STOW-RS, C-STORE).

A file and its rows land together or not at all: the bytes are spooled to a temporary file
(never held whole in memory), checked, saved to storage under a server-made key, and indexed
in one transaction; if anything fails after the save, the stored file is deleted again. On the
filesystem storage the spooled file is moved into place rather than copied.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db import IntegrityError, transaction

from imaging.dicom.header import HeaderError, index_fields, json_metadata, read_header, uid_problems
from imaging.models import Instance, RejectedInstance, Series, Study
from telemed.accounts.models import Institution, User
from telemed.audit.services import audit_record
from telemed.patients.models import Patient

PREAMBLE = 128
CHUNK = 1024 * 1024


class Status:
    STORED = "stored"
    DUPLICATE = "duplicate"  # the same bytes were already stored: acknowledged, nothing new
    CONFLICT = "conflict"  # same SOP Instance UID, other bytes: refused and kept for review
    INVALID = "invalid"


@dataclass(frozen=True)
class IngestResult:
    status: str
    reason: str = ""
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    instance: Instance | None = None

    @property
    def ok(self) -> bool:
        return self.status in (Status.STORED, Status.DUPLICATE)


def _spool(stream: BinaryIO, out: BinaryIO) -> tuple[str, int]:
    """Copy to disk with the preamble zeroed (no executable-in-DICOM polyglot survives); hash it."""
    digest, size = hashlib.sha256(), 0
    limit = settings.DICOM_MAX_INSTANCE_BYTES
    while chunk := stream.read(CHUNK):
        if size < PREAMBLE:
            keep = max(0, PREAMBLE - size)
            chunk = b"\0" * min(keep, len(chunk)) + chunk[keep:]
        size += len(chunk)
        if size > limit:
            raise HeaderError(f"the file is larger than the {limit // (1024 * 1024)} MB allowed for one instance")
        digest.update(chunk)
        out.write(chunk)
    out.flush()
    return digest.hexdigest(), size


def instance_ingest(*, stream: BinaryIO, institution: Institution, by: User, source: str) -> IngestResult:
    """Store one DICOM Part 10 object sent by `institution`.

    1. Spool and hash it; read the header only; check the UIDs.
    2. Save the bytes to storage under a new key.
    3. In one transaction: an identical instance → duplicate; the same UID with other bytes →
       conflict, kept as a RejectedInstance; otherwise index study, series and instance.
    4. On any failure after step 2, delete the saved file.
    """
    spooled = TemporaryUploadedFile("instance.dcm", "application/dicom", 0, None)
    try:
        try:
            sha256, size = _spool(stream, spooled)
            dataset = read_header(Path(spooled.temporary_file_path()))
        except HeaderError as exc:
            return IngestResult(Status.INVALID, str(exc))
        problems = uid_problems(dataset)
        sop_uid, sop_class = str(dataset.get("SOPInstanceUID", "")), str(dataset.get("SOPClassUID", ""))
        if problems:
            return IngestResult(Status.INVALID, "; ".join(problems), sop_uid[:64], sop_class[:64])
        fields = index_fields(dataset)
        try:
            metadata = json_metadata(dataset)
        except Exception as exc:  # pydicom raises many kinds for a malformed value
            return IngestResult(Status.INVALID, f"an element cannot be read: {exc}"[:250], sop_uid, sop_class)
        spooled.size = size
        spooled.seek(0)
        key = default_storage.save(f"dicom/{institution.pk}/{uuid.uuid4().hex}.dcm", spooled)
    finally:
        spooled.close()  # deletes the spooled file unless the storage moved it
    try:
        return _index(key=key, sha256=sha256, size=size, fields=fields, metadata=metadata, institution=institution, by=by, source=source)
    except BaseException:
        default_storage.delete(key)
        raise


def _index(*, key, sha256, size, fields, metadata, institution, by, source) -> IngestResult:
    for attempt in range(2):  # a concurrent sender of the same study may create it first
        try:
            with transaction.atomic():
                return _index_once(key, sha256, size, fields, metadata, institution, by, source)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _index_once(key, sha256, size, fields, metadata, institution, by, source) -> IngestResult:
    sop_uid, sop_class = fields["instance"]["sop_instance_uid"], fields["instance"]["sop_class_uid"]
    existing = Instance.objects.select_related("series__study").filter(sop_instance_uid=sop_uid).first()
    if existing is not None:
        if existing.sha256 == sha256:
            default_storage.delete(key)
            return IngestResult(Status.DUPLICATE, "already stored", sop_uid, sop_class, existing)
        reason = "an instance with this SOP Instance UID is already stored with different content"
        RejectedInstance.objects.create(institution=institution, sop_instance_uid=sop_uid, reason=reason, file=key, size=size, sha256=sha256, received_by=by)
        return IngestResult(Status.CONFLICT, reason, sop_uid, sop_class)
    series, study = _series_and_study(fields, institution)
    if study is None:
        default_storage.delete(key)
        return IngestResult(Status.INVALID, "this Study Instance UID belongs to a study of another institution", sop_uid, sop_class)
    if series is None:
        series, _ = Series.objects.get_or_create(series_instance_uid=fields["series"]["series_instance_uid"], defaults={**fields["series"], "study": study})
        if series.study_id != study.pk:
            default_storage.delete(key)
            return IngestResult(Status.INVALID, "this Series Instance UID belongs to another study", sop_uid, sop_class)
        series.study = study  # the same row: saves a query wherever the result is used
    instance = Instance.objects.create(series=series, file=key, size=size, sha256=sha256, metadata=metadata, received_by=by, source=source, **fields["instance"])
    audit_record(actor=by, action="imaging.store", obj=instance, patient_id=study.patient_id, detail={"source": source, "study": study.study_instance_uid})
    return IngestResult(Status.STORED, "", sop_uid, sop_class, instance)


def _series_and_study(fields: dict, institution: Institution) -> tuple[Series | None, Study | None]:
    """The stored series and study of an instance, with one query for every instance after a
    series' first; (None, study) while the series is new, (…, None) for another institution's."""
    series = Series.objects.select_related("study").filter(series_instance_uid=fields["series"]["series_instance_uid"]).first()
    if series is not None and series.study.study_instance_uid == fields["study"]["study_instance_uid"]:
        return series, (series.study if series.study.institution_id == institution.pk else None)
    return None, _study(fields["study"], institution)


def _study(fields: dict, institution: Institution) -> Study | None:
    """The study this instance belongs to, created on its first instance; None if another institution's."""
    study = Study.objects.filter(study_instance_uid=fields["study_instance_uid"]).first()
    if study is None:
        patient = Patient.objects.filter(institution=institution, mrn=fields["dicom_patient_id"]).first() if fields["dicom_patient_id"] else None
        return Study.objects.create(institution=institution, patient=patient, **fields)
    return study if study.institution_id == institution.pk else None
