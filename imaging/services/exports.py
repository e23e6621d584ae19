"""De-identified exports of a study for teaching: asked for on the study page, built by a Celery
task into a ZIP in storage, downloaded by the person who asked.

Who may ask is `access.exportable_studies`; the profile is `imaging/dicom/deidentify.py`.
"""
from __future__ import annotations

import io
import logging
import secrets
import tempfile
import uuid
import zipfile
from datetime import timedelta

import pydicom
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from imaging.dicom.deidentify import METHOD, UidMap, burned_in, deidentify
from imaging.dicom.inflated import InflatedFile, element_chunks, write_deflated
from imaging.models import Instance, Study, StudyExport
from imaging.selectors import INSTANCE_ORDER
from imaging.services.files import instance_file
from telemed import access
from telemed.accounts.models import User
from telemed.audit.models import Outcome
from telemed.audit.services import audit_record

logger = logging.getLogger(__name__)

# A running export whose worker has not moved it for this long was lost with the worker.
STALE_AFTER = timedelta(minutes=10)
# Images that often carry text burned into the pixels when they do not say otherwise.
BURN_PRONE_MODALITIES = {"US", "SC", "XC", "ES", "OT", "DOC", "SM"}


@transaction.atomic
def export_request(*, by: User, study: Study) -> StudyExport:
    """1. Check the user may export the study. 2. Queue the export under a new pseudonym.
    3. Audit the request. 4. After commit, hand it to a worker."""
    if not access.exportable_studies(by).filter(pk=study.pk).exists():
        raise PermissionDenied(_("Only the doctors of the clinic that sent the study and radiologists who can see it can export it."))
    export = StudyExport.objects.create(
        study=study, requested_by=by, pseudonym=f"TEACH-{secrets.token_hex(3).upper()}",
        total=Instance.objects.filter(series__study=study).count(),
    )
    audit_record(actor=by, action="imaging.export_request", obj=export, patient_id=study.patient_id, detail={"study": study.study_instance_uid, "pseudonym": export.pseudonym})
    from imaging.tasks import study_export_run

    transaction.on_commit(lambda: study_export_run.delay(str(export.pk)))
    return export


def export_run(*, export_id) -> StudyExport:
    """Build the ZIP; safe to run twice (a task may be delivered again).

    1. Claim: queued, or running but stale, becomes running; anything else is left alone.
    2. Write each instance de-identified into a temporary ZIP, counting progress as it goes.
    3. Save the ZIP under a new key and mark the export ready, in one transaction with its audit
       event; if that fails, the saved file is deleted. Any failure marks the export failed.
    """
    now = timezone.now()
    claimed = StudyExport.objects.filter(pk=export_id).filter(
        Q(status=StudyExport.Status.QUEUED) | Q(status=StudyExport.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    ).update(status=StudyExport.Status.RUNNING, heartbeat_at=now, done=0)
    export = StudyExport.objects.select_related("study", "requested_by").get(pk=export_id)
    if not claimed:
        return export
    try:
        with tempfile.TemporaryFile() as spool:
            written, warnings = _write_zip(export, spool)
            if not written:
                raise ExportRefused("all_burned_in")
            spool.seek(0)
            key = default_storage.save(f"exports/{uuid.uuid4().hex}.zip", File(spool))
        try:
            _finish(export, key=key, written=written, warnings=warnings)
        except BaseException:
            default_storage.delete(key)
            raise
    except ExportRefused as exc:
        _fail(export, exc.code, exc)
    except Exception as exc:  # an unreadable file, storage down: the page says so, the log says why
        logger.exception("export %s failed", export.pk)
        _fail(export, "failed", exc)
    export.refresh_from_db()
    return export


class ExportRefused(Exception):
    """A reason the person can act on; the page words it in their language from the code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _write_zip(export: StudyExport, spool) -> tuple[int, list[dict]]:
    instances = Instance.objects.filter(series__study=export.study).select_related("series").order_by(*INSTANCE_ORDER)
    uids = UidMap(secrets.token_hex(16))  # never stored: nothing links the export back to the study
    written, burned, unknown, series_folders = 0, 0, 0, {}
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
        for done, instance in enumerate(instances, start=1):
            with instance_file(instance) as source:
                dataset, pixels_at = _read(instance, source)
                flag = burned_in(dataset)
                if flag == "yes":
                    burned += 1
                else:
                    if flag == "unknown" and str(dataset.get("Modality", "")) in BURN_PRONE_MODALITIES:
                        unknown += 1
                    folder = series_folders.setdefault(instance.series_id, f"S{len(series_folders) + 1:03d}")
                    written += 1
                    with archive.open(f"{export.pseudonym}/{folder}/IM{written:05d}.dcm", "w", force_zip64=True) as entry:
                        _write(entry, deidentify(dataset, uids=uids, pseudonym=export.pseudonym), source, pixels_at)
            StudyExport.objects.filter(pk=export.pk).update(done=done, heartbeat_at=timezone.now())
        warnings = ([{"code": "burned_in", "count": burned}] if burned else []) + ([{"code": "burned_in_unknown", "count": unknown}] if unknown else [])
        archive.writestr(f"{export.pseudonym}/README.txt", _readme(export, written, warnings))
    return written, warnings


def _read(instance: Instance, source) -> tuple[pydicom.Dataset, int]:
    """The instance's data set, and where its pixel data starts in `source`. A deflated one is read
    to its pixel data only, from the file it inflates to (services/files.py), and names the
    syntax it is written in again: read whole, a 0.9 MB file held the 900 MB it inflates to,
    several times."""
    inflated = isinstance(source, InflatedFile)
    dataset = pydicom.dcmread(source, stop_before_pixels=inflated)
    if inflated:
        dataset.file_meta.TransferSyntaxUID = instance.transfer_syntax_uid
    return dataset, source.tell()


def _write(out, dataset: pydicom.Dataset, source, pixels_at: int) -> None:
    """The de-identified instance as a Part 10 file in its stored syntax; a deflated one's pixel
    data is copied through from `source` a block at a time (what may follow it, a padding or the
    digital signatures the profile removes, is left out)."""
    if isinstance(source, InflatedFile):
        write_deflated(out, dataset, element_chunks(source, pixels_at))
    else:
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        out.write(buffer.getvalue())


def _readme(export: StudyExport, written: int, warnings: list[dict]) -> str:
    lines = [
        f"Teaching case {export.pseudonym}: {written} DICOM images.",
        f"De-identified with the {METHOD} (DICOM PS3.15 Annex E).",
        "Names, identifiers, dates and private attributes are removed or replaced; every UID is new,",
        "consistent within this export only. Pixel data is unchanged.",
    ]
    for warning in warnings:
        if warning["code"] == "burned_in":
            lines.append(f"Left out: {warning['count']} images with text burned into the pixels (Burned In Annotation = YES).")
        else:
            lines.append(f"Check before sharing: {warning['count']} images do not say whether text is burned into the pixels.")
    return "\n".join(lines) + "\n"


@transaction.atomic
def _finish(export: StudyExport, *, key: str, written: int, warnings: list[dict]) -> None:
    size = default_storage.size(key)
    StudyExport.objects.filter(pk=export.pk).update(
        status=StudyExport.Status.DONE, file=key, size=size, warnings=warnings, done=export.total, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    audit_record(
        actor=export.requested_by, action="imaging.export_create", obj=export, patient_id=export.study.patient_id,
        detail={"study": export.study.study_instance_uid, "pseudonym": export.pseudonym, "images": written, "warnings": warnings},
    )


@transaction.atomic
def _fail(export: StudyExport, code: str, exc: Exception) -> None:
    StudyExport.objects.filter(pk=export.pk).update(status=StudyExport.Status.FAILED, error=code, finished_at=timezone.now())
    audit_record(
        actor=export.requested_by, action="imaging.export_create", obj=export, patient_id=export.study.patient_id,
        outcome=Outcome.FAILED, detail={"study": export.study.study_instance_uid, "error": f"{type(exc).__name__}: {exc}"[:300]},
    )


def export_download_record(*, by: User, export: StudyExport) -> None:
    audit_record(actor=by, action="imaging.export_download", obj=export, patient_id=export.study.patient_id, detail={"pseudonym": export.pseudonym})
