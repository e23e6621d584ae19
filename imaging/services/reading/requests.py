"""A clinic asks one of its paired hospitals to read a study; it may cancel, the hospital may decline."""
from __future__ import annotations

from collections import Counter

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.models import Urgency
from consults.services.notify import lazy_format, notify
from imaging.models import OPEN_READ_STATUSES, ReadRequest, ReadStatus, Study
from imaging.services.reading import assignment
from imaging.services.reading.lifecycle import (
    coordinators_of,
    locked,
    read_label,
    read_link,
    record,
    status_label,
    transition,
)
from telemed import access
from telemed.accounts.models import Institution, User
from telemed.audit.services import audit_record, audited_get

# Series that hold no images to read: structured reports, presentation states, key objects…
NON_IMAGE_MODALITIES = {"SR", "PR", "KO", "SEG", "REG", "DOC", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "AU", "ECG"}


def paired_hospitals(clinic: Institution) -> QuerySet[Institution]:
    """The designated hospitals a clinic may ask: those it is paired with now (对口支援)."""
    return Institution.objects.filter(
        kind=Institution.Kind.HOSPITAL, is_active=True, clinic_pairings__clinic=clinic, clinic_pairings__ended_on__isnull=True
    ).distinct().order_by("name")


def study_examination(study: Study) -> tuple[str, str]:
    """The study's modality and body part: those of most of its images (non-image series left out)."""
    counts: Counter = Counter()
    for modality, body_part, images in study.series.values_list("modality", "body_part", "instance_count"):
        if modality.upper() not in NON_IMAGE_MODALITIES:
            counts[(modality.upper(), body_part.upper())] += images or 1
    if not counts:
        return "", ""
    return counts.most_common(1)[0][0]


def _clean_request(*, by: User, study: Study, hospital: Institution | None, question: str, urgency: str) -> None:
    if not access.patient_registration_institutions(by).filter(pk=study.institution_id).exists():
        raise PermissionDenied(_("Only doctors of the clinic that sent the study can ask for it to be read."))
    if study.patient_id is None:
        raise ValidationError(_("Match the study to a registered patient first: a report must belong to a patient."))
    errors = {}
    if hospital is None or not paired_hospitals(study.institution).filter(pk=hospital.pk).exists():
        errors["hospital"] = _("Choose one of the hospitals your clinic is paired with.")
    if not question.strip():
        errors["question"] = _("Write the clinical question the radiologist should answer.")
    if urgency not in Urgency.values:
        errors["urgency"] = _("Choose routine, urgent or emergency.")
    if errors:
        raise ValidationError(errors)
    if ReadRequest.objects.filter(study=study, status__in=OPEN_READ_STATUSES).exists():
        raise ValidationError(_("This study already has a read in progress; it can be read again once that one is signed or cancelled."))


@transaction.atomic
def read_request(*, by: User, study: Study, hospital: Institution | None, question: str, history: str = "", urgency: str = Urgency.ROUTINE) -> ReadRequest:
    """A clinic doctor asks a paired hospital to read one of the clinic's studies.

    1. Check who asks, the patient, the hospital, the question; one open read per study (also
       a database constraint, for two doctors asking at the same moment).
    2. Record it (timeline, audit).
    3. The hospital's rule assigns a radiologist at once, or its coordinators are told.
    """
    _clean_request(by=by, study=study, hospital=hospital, question=question, urgency=urgency)
    modality, body_part = study_examination(study)
    try:
        with transaction.atomic():
            read = ReadRequest.objects.create(
                study=study, patient_id=study.patient_id, clinic_id=study.institution_id, requested_by=by, hospital=hospital,
                modality=modality, body_part=body_part, question=question.strip(), history=history.strip(), urgency=urgency,
            )
    except IntegrityError:
        raise ValidationError(_("This study already has a read in progress; it can be read again once that one is signed or cancelled.")) from None
    record(read, by=by, action="request", detail={"hospital": str(hospital.pk), "urgency": urgency})
    if assignment.assign_automatically(read) is None:
        notify(
            coordinators_of(read), consult=None, link=read_link(read),
            title=lazy_format(gettext_lazy("%(urgency)s read request: %(exam)s"), urgency=Urgency(urgency).label, exam=read_label(read)),
            body=lazy_format(gettext_lazy("From %(clinic)s. Assign a radiologist."), clinic=read.clinic),
        )
    return read


def read_get(*, by: User, read_id) -> ReadRequest:
    """One read the person may see; anything else is a 404 (and a denied event if it exists)."""
    scope = access.visible_reads(by).select_related("study", "patient", "clinic", "hospital", "requested_by", "radiologist")
    return audited_get(scope, read_id, by=by, action="read.view", patient_path="patient_id", not_found=_("No read request found."))


def reads_of_study(*, by: User, study: Study) -> list[ReadRequest]:
    """The study's reads the person may see, newest first, audited under the study's patient."""
    reads = list(access.visible_reads(by).filter(study=study).select_related("hospital", "radiologist", "requested_by").order_by("-created_at"))
    if reads:
        audit_record(actor=by, action="read.list", obj=study, patient_id=study.patient_id, detail={"shown": [str(r.pk) for r in reads]})
    return reads


def _clean_reason(reason: str) -> str:
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason; the others are told it.")})
    return reason.strip()[:500]


@transaction.atomic
def read_cancel(*, by: User, read: ReadRequest, reason: str) -> ReadRequest:
    """The clinic withdraws its request while it is not signed; the radiologist loses the patient."""
    read = locked(read)
    if not access.is_read_clinic(by, read):
        raise PermissionDenied(_("Only doctors of the clinic that asked for the read can cancel it."))
    if not read.is_open:
        raise ValidationError(_("Only an open read can be cancelled; this one is %(status)s.") % {"status": status_label(read)})
    read.status_reason = _clean_reason(reason)
    told = [read.radiologist] if read.radiologist else coordinators_of(read)
    assignment.revoke_reader(read, by)
    transition(read, to=ReadStatus.CANCELLED, by=by, action="cancel", note=read.status_reason)
    notify(
        told, consult=None, link=read_link(read),
        title=lazy_format(gettext_lazy("Read request cancelled: %(exam)s"), exam=read_label(read)),
        body=lazy_format(gettext_lazy("%(clinic)s: %(reason)s"), clinic=read.clinic, reason=read.status_reason),
    )
    return read


@transaction.atomic
def read_decline(*, by: User, read: ReadRequest, reason: str) -> ReadRequest:
    """The hospital will not read it (outside its service, images not diagnostic…); the clinic is told why."""
    read = locked(read)
    if not (access.can_coordinate_read(by, read) or read.radiologist_id == by.pk):
        raise PermissionDenied(_("Only a coordinator of the hospital or the radiologist assigned can decline a read."))
    if read.status not in (ReadStatus.REQUESTED, ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS):
        raise ValidationError(_("Only a read not yet handed in can be declined; this one is %(status)s.") % {"status": status_label(read)})
    read.status_reason = _clean_reason(reason)
    assignment.revoke_reader(read, by)
    transition(read, to=ReadStatus.DECLINED, by=by, action="decline", note=read.status_reason)
    notify(
        [read.requested_by], consult=None, link=read_link(read),
        title=lazy_format(gettext_lazy("Read request declined: %(exam)s"), exam=read_label(read)),
        body=lazy_format(gettext_lazy("%(hospital)s: %(reason)s"), hospital=read.hospital, reason=read.status_reason),
    )
    return read
