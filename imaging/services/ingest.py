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
from imaging.services.storage import usage_add, usage_precheck
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
    OVER_QUOTA = "over_quota"  # the institution's storage quota has no room for it: nothing kept


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

    1. Spool and hash it; read the header only; check the UIDs and that the institution's quota
       has room (a duplicate always has).
    2. Save the bytes to storage under a new key.
    3. In one transaction: an identical instance → duplicate; otherwise count it against the
       quota under the usage row's lock (no room → refused, file deleted); the same UID with
       other bytes → conflict, kept as a RejectedInstance; otherwise index study, series and
       instance.
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
        if refusal := usage_precheck(institution=institution, size=size, sop_instance_uid=sop_uid, sha256=sha256):
            return IngestResult(Status.OVER_QUOTA, refusal, sop_uid, sop_class)
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
    if existing is not None and existing.sha256 == sha256:
        default_storage.delete(key)
        return IngestResult(Status.DUPLICATE, "already stored", sop_uid, sop_class, existing)
    study = Study.objects.filter(study_instance_uid=fields["study"]["study_instance_uid"]).first()
    series = Series.objects.filter(series_instance_uid=fields["series"]["series_instance_uid"]).first()
    problem = None
    if existing is None and study is not None and study.institution_id != institution.pk:
        problem = "this Study Instance UID belongs to a study of another institution"
    elif existing is None and series is not None and (study is None or series.study_id != study.pk):
        problem = "this Series Instance UID belongs to another study"
    elif refusal := usage_add(institution=institution, size=size, instances=0 if existing else 1):
        default_storage.delete(key)
        return IngestResult(Status.OVER_QUOTA, refusal, sop_uid, sop_class)
    if problem:
        default_storage.delete(key)
        return IngestResult(Status.INVALID, problem, sop_uid, sop_class)
    if existing is not None:
        reason = "an instance with this SOP Instance UID is already stored with different content"
        RejectedInstance.objects.create(institution=institution, sop_instance_uid=sop_uid, reason=reason, file=key, size=size, sha256=sha256, received_by=by)
        return IngestResult(Status.CONFLICT, reason, sop_uid, sop_class)
    if study is None:
        patient = Patient.objects.filter(institution=institution, mrn=fields["study"]["dicom_patient_id"]).first() if fields["study"]["dicom_patient_id"] else None
        study = Study.objects.create(institution=institution, patient=patient, **fields["study"])
    if series is None:
        series = Series.objects.create(study=study, **fields["series"])
    instance = Instance.objects.create(series=series, file=key, size=size, sha256=sha256, metadata=metadata, received_by=by, source=source, **fields["instance"])
    audit_record(actor=by, action="imaging.store", obj=instance, patient_id=study.patient_id, detail={"source": source, "study": study.study_instance_uid})
    return IngestResult(Status.STORED, "", sop_uid, sop_class, instance)
