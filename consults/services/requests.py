"""A clinic's consult request and the coordinator's triage of it."""
from __future__ import annotations

import hashlib
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.models import Attachment, Consult, Status, TimelineEntry, Urgency
from consults.services.experts import expert_refusal
from consults.services.lifecycle import board_groups, transition
from consults.services.notify import notify
from consults import events
from telemed import access
from telemed.accounts.models import Role, Specialty, User
from telemed.audit.services import audit_record, audited_get
from telemed.patients.models import Patient

CONSENT_RELATIONS = ("self", "guardian", "spouse", "child", "parent", "other")
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
ALLOWED_ATTACHMENT_TYPES = {"application/pdf", "image/jpeg", "image/png", "text/plain"}


def _clean_request(*, specialty, urgency, question, history, consent_signed_by, consent_relation, consent_signed_at, named_expert) -> None:
    errors = {}
    if specialty not in Specialty.values:
        errors["specialty"] = _("Choose the specialty you need.")
    if urgency not in Urgency.values:
        errors["urgency"] = _("Choose routine, urgent or emergency.")
    if not question.strip():
        errors["question"] = _("Write the clinical question the expert should answer.")
    if not history.strip():
        errors["history"] = _("Summarise the history so the expert can prepare.")
    if not consent_signed_by.strip():
        errors["consent_signed_by"] = _("No consult goes ahead without the patient's consent: give the name of who signed it.")
    if consent_relation not in CONSENT_RELATIONS:
        errors["consent_relation"] = _("Say who signed the consent: the patient, a guardian or a relative.")
    if consent_signed_at is None or consent_signed_at > timezone.now():
        errors["consent_signed_at"] = _("Enter when the consent was signed (not in the future).")
    if named_expert is not None:
        refusal = expert_refusal(named_expert, specialty if specialty in Specialty.values else None)
        if refusal:
            errors["named_expert"] = refusal
    if errors:
        raise ValidationError(errors)


def _store_attachment(consult: Consult, upload: UploadedFile, by: User) -> Attachment:
    if upload.size > MAX_ATTACHMENT_BYTES:
        raise ValidationError({"attachments": _("%(name)s is larger than 20 MB.") % {"name": upload.name}})
    if upload.content_type not in ALLOWED_ATTACHMENT_TYPES:
        raise ValidationError({"attachments": _("%(name)s is not a PDF, JPEG, PNG or text file.") % {"name": upload.name}})
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return Attachment.objects.create(
        consult=consult, file=upload, name=upload.name[:200], content_type=upload.content_type, size=upload.size,
        sha256=digest.hexdigest(), uploaded_by=by,
    )


def consult_request(
    *,
    by: User,
    patient: Patient,
    specialty: str,
    urgency: str,
    question: str,
    history: str,
    consent_signed_by: str,
    consent_relation: str,
    consent_signed_at: datetime | None,
    named_expert: User | None = None,
    preferred_times: str = "",
    attachments: list[UploadedFile] = (),
) -> Consult:
    """A clinic doctor asks for an expert consultation; the paired hospitals' boards see it at once.

    Files are written inside the transaction: if anything fails, the row is rolled back and the
    stored files are deleted, so nothing half-made remains.
    """
    if not access.patient_registration_institutions(by).filter(pk=patient.institution_id).exists():
        raise PermissionDenied(_("Only doctors of the patient's clinic can request a consult for them."))
    _clean_request(
        specialty=specialty, urgency=urgency, question=question, history=history, consent_signed_by=consent_signed_by,
        consent_relation=consent_relation, consent_signed_at=consent_signed_at, named_expert=named_expert,
    )
    stored: list[Attachment] = []
    try:
        with transaction.atomic():
            consult = Consult.objects.create(
                patient=patient, clinic=patient.institution, requested_by=by, specialty=specialty, urgency=urgency,
                question=question.strip(), history=history.strip(), preferred_times=preferred_times.strip()[:300],
                consent_signed_by=consent_signed_by.strip(), consent_relation=consent_relation, consent_signed_at=consent_signed_at,
                named_expert=named_expert,
            )
            for upload in attachments:
                stored.append(_store_attachment(consult, upload, by))
            TimelineEntry.objects.create(consult=consult, by=by, action="request", status=Status.REQUESTED)
            audit_record(actor=by, action="consult.request", obj=consult, patient_id=patient.pk, detail={"urgency": urgency})
            events.announce_after_commit(board_groups(consult), {"type": "live.board", "consult": str(consult.pk), "status": consult.status})
            from consults.services.urgent import urgent_offer_on_request  # urgent builds on this module

            consult = urgent_offer_on_request(consult=consult, by=by)
    except Exception:
        for attachment in stored:
            attachment.file.delete(save=False)
        raise
    return consult


def consult_get(*, by: User, consult_id) -> Consult:
    """One consult the user may see, audited as an access to the patient's data."""
    scope = access.visible_consults(by).select_related("patient", "clinic", "hospital", "requested_by")
    return audited_get(scope, consult_id, by=by, action="consult.view", patient_path="patient_id", not_found=_("No consult found."))


def _locked(consult: Consult) -> Consult:
    return Consult.objects.select_for_update().get(pk=consult.pk)


def _require_coordinator(by: User, consult: Consult) -> None:
    if not access.can_coordinate(by, consult):
        raise PermissionDenied(_("Only a coordinator of the hospital handling this consult can do that."))


@transaction.atomic
def consult_triage(*, by: User, consult: Consult, note: str = "") -> Consult:
    consult = _locked(consult)
    _require_coordinator(by, consult)
    return transition(consult, to=Status.TRIAGED, by=by, action="triage", note=note)


def _tell_the_clinic(*, by: User, consult: Consult, to: str, action: str, text: str, title) -> Consult:
    """A coordinator's decision that the clinic must act on: the text is kept and sent to them."""
    consult = _locked(consult)
    _require_coordinator(by, consult)
    consult.status_reason = text.strip()[:500]
    transition(consult, to=to, by=by, action=action, note=text)
    notify([consult.requested_by], consult=consult, title=title, body=text.strip())
    return consult


@transaction.atomic
def consult_ask_info(*, by: User, consult: Consult, question: str) -> Consult:
    if not question.strip():
        raise ValidationError({"question": _("Say what information the clinic should add.")})
    return _tell_the_clinic(
        by=by, consult=consult, to=Status.NEEDS_INFO, action="ask_info", text=question,
        title=gettext_lazy("More information is needed for a consult request"),
    )


@transaction.atomic
def consult_add_info(*, by: User, consult: Consult, answer: str) -> Consult:
    """The clinic answers the coordinator's question; the request goes back on the board."""
    if not answer.strip():
        raise ValidationError({"answer": _("Write the information that was asked for.")})
    consult = _locked(consult)
    if not access.patient_registration_institutions(by).filter(pk=consult.clinic_id).exists():
        raise PermissionDenied(_("Only the requesting clinic can add information."))
    consult.history = f"{consult.history}\n\n{answer.strip()}"
    consult.status_reason = ""
    return transition(consult, to=Status.REQUESTED, by=by, action="add_info", note=answer, fields=("history",))


@transaction.atomic
def consult_decline(*, by: User, consult: Consult, reason: str) -> Consult:
    if not reason.strip():
        raise ValidationError({"reason": _("Give the clinic the reason for declining.")})
    return _tell_the_clinic(
        by=by, consult=consult, to=Status.DECLINED, action="decline", text=reason, title=gettext_lazy("A consult request was declined")
    )


def coordinators_of(consult: Consult) -> list[User]:
    from telemed.accounts.models import Pairing

    if consult.hospital_id:
        hospitals = [consult.hospital_id]
    else:
        hospitals = list(Pairing.objects.filter(clinic_id=consult.clinic_id, ended_on__isnull=True).values_list("hospital_id", flat=True))
    return list(User.objects.filter(memberships__institution_id__in=hospitals, memberships__role=Role.COORDINATOR, memberships__is_active=True, is_active=True).distinct())
