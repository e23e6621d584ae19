"""One ingest service behind every path (browser, STOW-RS, C-STORE).

A file and its rows land together or not at all: the bytes are spooled to a temporary file
(never held whole in memory, and written once: see `Spool`), checked, saved to storage under a
server-made key, and indexed in one transaction; if anything fails after the save, the stored
file is deleted again. On the filesystem storage the spooled file is moved into place rather
than copied.

The files of one STOW-RS request are indexed together, in one transaction of a few round trips
for the whole request (not ten for each file: see `_index_once`), and one audit event per study
lists the instances stored. The rules are applied to each file in the order sent, exactly as if they had come one by
one: a refused file is refused alone, with its reason, and the others still land. The browser
upload and C-STORE send one file at a time through the same code.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db import DataError, IntegrityError, transaction

from imaging.dicom.header import HeaderError, UnsupportedTransferSyntax, index_fields, json_metadata, read_header, sent_text, uid_problems
from imaging.dicom.reasons import Reason, gettext_noop
from imaging.models import Instance, RejectedInstance, Series, Study
from imaging.services.storage import usage_lock, usage_precheck
from telemed.accounts.models import Institution, User
from telemed.audit.services import audit_record
from telemed.compiled import CompiledQuery
from telemed.patients.models import Patient
from telemed.storage import directories_synced_once, written_out
from telemed.together import Statement, insert_statements, inserted, run_together, update_statement

PREAMBLE = 128
CHUNK = 1024 * 1024

logger = logging.getLogger(__name__)

CONFLICT_REASON = Reason(
    gettext_noop("an instance with this SOP Instance UID is already stored with different content"),
    brief="this SOP Instance UID is stored already, with other content",
)
# A UID of the file already names a study, series or instance the sender cannot add to: the one
# answer whoever holds it and whichever UID it is, so that it tells the sender no more than that
# the UIDs are taken (which any refusal must), never whose they are.
UID_TAKEN_REASON = Reason(gettext_noop("its UIDs are used by a study you cannot add to: send new UIDs"))
COUNTED = {Study: ["series_count", "instance_count", "modalities"], Series: ["instance_count"]}  # kept on the rows by ingest
AUDITED_UIDS = 100  # instance UIDs named in one audit event (the count says how many there were)


class Status:
    STORED = "stored"
    DUPLICATE = "duplicate"  # the same bytes were already stored: acknowledged, nothing new
    CONFLICT = "conflict"  # same SOP Instance UID, other bytes: refused and kept for review
    INVALID = "invalid"
    UNSUPPORTED = "unsupported"  # a transfer syntax the archive does not know
    OVER_QUOTA = "over_quota"  # the institution's storage quota has no room for it: nothing kept
    WRONG_STUDY = "wrong_study"  # not of the study the sender named (a STOW-RS study URL)


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


class Spool:
    """A file being received, written to disk as it comes: its preamble zeroed (no
    executable-in-DICOM polyglot survives), hashed and counted on the way. A sender's bytes are
    written once: STOW-RS's multipart reader writes each part straight into one of these, and it
    is then moved into storage.

    Beyond `DICOM_MAX_INSTANCE_BYTES` nothing more is kept and the file is refused as too large.
    """

    def __init__(self) -> None:
        self.file = TemporaryUploadedFile("instance.dcm", "application/dicom", 0, None)
        self._digest, self.size, self.too_large = hashlib.sha256(), 0, False

    def write(self, chunk: bytes | memoryview) -> None:
        if self.too_large or self.size + len(chunk) > settings.DICOM_MAX_INSTANCE_BYTES:
            self.too_large = True
            return
        if self.size < PREAMBLE:
            zeroed = min(PREAMBLE - self.size, len(chunk))
            self._append(b"\0" * zeroed)
            chunk = memoryview(chunk)[zeroed:]
        self._append(chunk)

    def _append(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        self._digest.update(data)
        self.file.write(data)

    def fill(self, stream: BinaryIO) -> None:
        while not self.too_large and (chunk := stream.read(CHUNK)):
            self.write(chunk)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def seek(self, offset: int) -> None:
        self.file.seek(offset)

    def write_out(self) -> None:
        """The whole file is here: where the storage can, its data starts going to disk now,
        while the next file's header is read, rather than when it is saved."""
        if start := getattr(default_storage, "write_out", None):
            start(self.file)
        else:
            self.file.flush()

    def close(self) -> None:
        written_out(self.file)
        self.file.close()  # deletes it, unless the storage moved it


@dataclass
class _Received:
    """A file spooled and checked, on its way to storage and the index."""

    spool: Spool
    fields: dict
    metadata: dict
    key: str = ""  # its storage key, once saved

    @property
    def sop_uid(self) -> str:
        return self.fields["instance"]["sop_instance_uid"]

    @property
    def size(self) -> int:
        return self.spool.size

    @property
    def sha256(self) -> str:
        return self.spool.sha256

    def result(self, status: str, reason: str = "", instance: Instance | None = None) -> IngestResult:
        return IngestResult(status, reason, self.sop_uid, self.fields["instance"]["sop_class_uid"], instance)


def _receive(stream: BinaryIO | Spool, study_uid: str | None) -> _Received | IngestResult:
    """Spool one file (unless it came spooled) and read its header: what indexing needs, or why
    it is refused."""
    spool = stream if isinstance(stream, Spool) else Spool()
    try:
        if spool is not stream:
            spool.fill(stream)
        if spool.too_large:
            raise HeaderError(Reason(gettext_noop("the file is larger than the %(limit)d MB allowed for one instance"), limit=settings.DICOM_MAX_INSTANCE_BYTES // (1024 * 1024)))
        spool.write_out()
        dataset = read_header(
            Path(spool.file.temporary_file_path()), inflated_limit=settings.DICOM_MAX_INSTANCE_BYTES, header_limit=settings.DICOM_MAX_INFLATED_HEADER_BYTES,
        )
    except HeaderError as exc:
        spool.close()
        return IngestResult(Status.UNSUPPORTED if isinstance(exc, UnsupportedTransferSyntax) else Status.INVALID, exc.args[0])
    except BaseException:  # a stream that fails to read, a full disk: no spooled file left behind
        spool.close()
        raise
    problems = uid_problems(dataset)  # first: reading a UID strips what makes it invalid
    sop_uid, sop_class = sent_text(dataset, "SOPInstanceUID"), sent_text(dataset, "SOPClassUID")  # read as sent: they may be refused
    refusal = None
    if problems:
        refusal = IngestResult(Status.INVALID, Reason.joined(problems), sop_uid[:64], sop_class[:64])
    elif study_uid is not None and str(dataset.StudyInstanceUID) != study_uid:
        refusal = IngestResult(Status.WRONG_STUDY, Reason(gettext_noop("the Study Instance UID differs from the study in the URL")), sop_uid, sop_class)
    else:
        try:
            return _Received(spool, index_fields(dataset), json_metadata(dataset))
        except HeaderError as exc:
            refusal = IngestResult(Status.INVALID, exc.args[0], sop_uid, sop_class)
        except Exception as exc:  # pydicom raises many kinds for a malformed value
            refusal = IngestResult(Status.INVALID, Reason(gettext_noop("an element cannot be read: %(error)s"), error=str(exc)[:220]), sop_uid, sop_class)
    spool.close()
    return refusal


def instance_ingest(*, stream: BinaryIO, institution: Institution, by: User, source: str) -> IngestResult:
    """Store one DICOM Part 10 object sent by `institution` (see `instances_ingest`)."""
    return instances_ingest(streams=[stream], institution=institution, by=by, source=source)[0]


def instances_ingest(
    *, streams: Iterable[BinaryIO | Spool], institution: Institution, by: User, source: str, study_uid: str | None = None
) -> list[IngestResult]:
    """Store DICOM Part 10 objects sent together by `institution`: one result each, in order.

    1. Spool and hash each (unless it came spooled); read the header only; check the UIDs, and
       that it is of `study_uid` when the sender named a study.
    2. Check that the institution's quota has room for them (a duplicate always has); save the
       bytes of each to storage under a new key.
    3. In one transaction, each in the order sent: an identical instance (stored before, or
       earlier in this request) → duplicate; otherwise count it against the quota under the usage
       row's lock (no room → refused); the same UID with other bytes → conflict, kept as a
       RejectedInstance; otherwise index study, series and instance. One audit event per study.
    4. Delete the saved files that are not kept; all of them if step 3 fails.
    """
    results: list[IngestResult | _Received] = []
    try:
        for stream in streams:
            results.append(_receive(stream, study_uid))
        received = [n for n, r in enumerate(results) if isinstance(r, _Received)]
        refusals = usage_precheck(institution=institution, files=[(results[n].size, results[n].sop_uid, results[n].sha256) for n in received])
        with directories_synced_once():
            for n, refusal in zip(received, refusals):
                r = results[n]
                if refusal:
                    r.spool.close()
                    results[n] = r.result(Status.OVER_QUOTA, refusal)
                    continue
                r.spool.file.size = r.size
                r.spool.seek(0)
                r.key = default_storage.save(f"dicom/{institution.pk}/{uuid.uuid4().hex}.dcm", r.spool.file)
    except BaseException:
        for r in results:
            if isinstance(r, _Received) and r.key:
                default_storage.delete(r.key)
        raise
    finally:
        for r in results:
            if isinstance(r, _Received):
                r.spool.close()
    saved = [r for r in results if isinstance(r, _Received)]
    if saved:
        indexed = iter(_index(saved, institution=institution, by=by, source=source))
        results = [next(indexed) if isinstance(r, _Received) else r for r in results]
    return results


def _index(received: list[_Received], *, institution: Institution, by: User, source: str) -> list[IngestResult]:
    try:
        results, unkept = _index_together(received, institution, by, source)
    except DataError as exc:
        if len(received) > 1:  # one file holds a value the database refuses: index them one by one to refuse it alone
            return _index_one_by_one(received, institution=institution, by=by, source=source)
        logger.warning("a DICOM file with a value the database refuses: %s", exc)
        results, unkept = [received[0].result(Status.INVALID, Reason(gettext_noop("a value cannot be indexed (a NUL character, or a number out of range)")))], [received[0].key]
    except BaseException:
        for r in received:
            default_storage.delete(r.key)
        raise
    for key in unkept:
        default_storage.delete(key)
    return results


def _index_together(received: list[_Received], institution: Institution, by: User, source: str) -> tuple[list[IngestResult], list[str]]:
    for attempt in range(2):  # a concurrent sender of the same study may create it first
        try:
            with transaction.atomic():
                return _index_once(received, institution, by, source)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _index_one_by_one(received: list[_Received], *, institution: Institution, by: User, source: str) -> list[IngestResult]:
    results: list[IngestResult] = []
    try:
        for r in received:
            results += _index([r], institution=institution, by=by, source=source)
    except BaseException:
        for r in received[len(results):]:
            default_storage.delete(r.key)
        raise
    return results


# The rows a request's files may join or repeat, looked up by UID (see telemed/compiled.py: a
# sender of one file at a time spent 0.6 ms of CPU building each of these for each file).
_instances_by_uid = CompiledQuery(lambda *uids: Instance.objects.select_related("series__study").defer("metadata").filter(sop_instance_uid__in=uids))
_studies_by_uid = CompiledQuery(lambda *uids: Study.objects.filter(study_instance_uid__in=uids))
_series_by_uid = CompiledQuery(lambda *uids: Series.objects.filter(series_instance_uid__in=uids))


def _index_once(received: list[_Received], institution: Institution, by: User, source: str) -> tuple[list[IngestResult], list[str]]:
    """The rules of step 3 over rows looked up once for the whole request; the planned rows
    join the lookups as they are decided, so a later file sees the earlier ones. The usage lock
    comes first: a concurrent sender of the same institution has then committed all its rows, or
    none, when they are looked up (the lookups travel with the lock and run once it is held).

    Round trips on PostgreSQL (telemed/together.py): the lock with the lookups; every row written
    with the audit chain head's lock; the audit event; a new study's patient match, if any.
    A one-instance STOW-RS request makes 6 queries in all (its institution, BEGIN and COMMIT
    counted; 14 before this shape), whatever the number of instances, and took 30 % less CPU
    in-process (bench/stow.py, tests/imaging/test_stow_round_trips.py)."""
    lookups = [
        (_instances_by_uid, sorted({r.sop_uid for r in received})),
        (_studies_by_uid, sorted({r.fields["study"]["study_instance_uid"] for r in received})),
        (_series_by_uid, sorted({r.fields["series"]["series_instance_uid"] for r in received})),
    ]
    usage = usage_lock(institution=institution, then=[lookup.statement(*uids) for lookup, uids in lookups])
    found = [lookup.models(rows, *uids) for (lookup, uids), rows in zip(lookups, usage.found)]
    known = {i.sop_instance_uid: i for i in found[0]}
    studies = {s.study_instance_uid: s for s in found[1]}
    series_of = {s.series_instance_uid: s for s in found[2]}
    new: dict[type, list] = {Study: [], Series: [], Instance: [], RejectedInstance: []}
    stored: dict[Study, list[str]] = {}
    grown: set[Study | Series] = set()  # whose counts this request changes
    results, unkept = [], []
    reviewed: set[tuple[str, str]] = set()  # conflicting files kept for review by this request
    for r in received:
        existing = known.get(r.sop_uid)
        if existing is not None and existing.series.study.institution_id != institution.pk:
            # Neither acknowledged nor kept: the sender would be pointed to a study it cannot see.
            unkept.append(r.key)
            results.append(r.result(Status.INVALID, UID_TAKEN_REASON))
            continue
        if existing is not None and existing.sha256 == r.sha256:
            unkept.append(r.key)
            results.append(r.result(Status.DUPLICATE, Reason(gettext_noop("already stored")), existing))
            continue
        if existing is not None and _kept_for_review(r, institution, reviewed):
            unkept.append(r.key)
            results.append(r.result(Status.CONFLICT, CONFLICT_REASON))
            continue
        study = studies.get(r.fields["study"]["study_instance_uid"])
        series = series_of.get(r.fields["series"]["series_instance_uid"])
        problem = None
        if existing is None and study is not None and study.institution_id != institution.pk:
            problem = UID_TAKEN_REASON
        elif existing is None and series is not None and (study is None or series.study_id != study.pk):
            # rare: the series' study is read only here
            problem = Reason(gettext_noop("this Series Instance UID belongs to another study")) if series.study.institution_id == institution.pk else UID_TAKEN_REASON
        elif refusal := usage.add(size=r.size, instances=0 if existing else 1):
            unkept.append(r.key)
            results.append(r.result(Status.OVER_QUOTA, refusal))
            continue
        if problem:
            unkept.append(r.key)
            results.append(r.result(Status.INVALID, problem))
            continue
        if existing is not None:
            reviewed.add((r.sop_uid, r.sha256))
            new[RejectedInstance].append(RejectedInstance(institution=institution, sop_instance_uid=r.sop_uid, reason=CONFLICT_REASON, file=r.key, size=r.size, sha256=r.sha256, received_by=by))
            results.append(r.result(Status.CONFLICT, CONFLICT_REASON))
            continue
        if study is None:
            study = studies[r.fields["study"]["study_instance_uid"]] = _new_study(r.fields["study"], institution)
            new[Study].append(study)
        if series is None:
            series = series_of[r.fields["series"]["series_instance_uid"]] = Series(study=study, **r.fields["series"])
            new[Series].append(series)
            _count_series(study, series)
        series.study = study  # the response names each instance's study: no query per request for it
        instance = known[r.sop_uid] = Instance(series=series, file=r.key, size=r.size, sha256=r.sha256, metadata=r.metadata, received_by=by, source=source, **r.fields["instance"])
        new[Instance].append(instance)
        series.instance_count += 1
        study.instance_count += 1
        grown.update((study, series))
        stored.setdefault(study, []).append(r.sop_uid)
        results.append(r.result(Status.STORED, "", instance))
    # Every row written goes in one round trip (the new rows, the grown counts, the usage), which
    # also locks the audit chain's head for the first study's event.
    writes = [
        *(statement for rows in new.values() for statement in insert_statements(rows)),
        *_count_updates(grown - set(new[Study]) - set(new[Series])), *usage.saving(),
    ]
    for study, instances in stored.items():
        audit_record(actor=by, action="imaging.store", obj=study, patient_id=study.patient_id, sent_with=writes, detail={
            "source": source, "study": study.study_instance_uid, "count": len(instances),
            "instances": instances[:AUDITED_UIDS],  # an event stays small however large the study
        })
        writes = []
    run_together(writes)  # nothing stored to audit: the rejected copies kept and their usage
    for rows in new.values():
        inserted(rows)
    return results, unkept


def _kept_for_review(r: _Received, institution: Institution, reviewed: set[tuple[str, str]]) -> bool:
    """These conflicting bytes are kept for review already (earlier in this request, or before):
    one copy is enough. Asked only of a conflict, which is rare."""
    return (r.sop_uid, r.sha256) in reviewed or RejectedInstance.objects.filter(institution=institution, sop_instance_uid=r.sop_uid, sha256=r.sha256).exists()


def _count_series(study: Study, series: Series) -> None:
    study.series_count += 1
    if series.modality and series.modality not in study.modalities:
        study.modalities = sorted([*study.modalities, series.modality])


def _count_updates(rows: set[Study | Series]) -> list[Statement]:
    """The counts of studies and series that were stored before and grew, an UPDATE by key for
    each, sent with the usage's in one round trip (bulk_update's CASE per field made a
    one-instance STOW-RS cost 13.7 ms of server CPU instead of 12.5). Every writer of a study's
    rows holds its institution's usage lock, so counts read under it cannot be stale."""
    return [update_statement(row, COUNTED[type(row)]) for row in rows]


def _new_study(fields: dict, institution: Institution) -> Study:
    """A study's first instance: matched to a patient of the sending clinic by Patient ID."""
    patient_id = fields["dicom_patient_id"]
    patient = Patient.objects.filter(institution=institution, mrn=patient_id).first() if patient_id else None
    return Study(institution=institution, patient=patient, **fields)
