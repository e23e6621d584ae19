"""A read's states, the one function that moves it between them, and who is told about it."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.services.notify import lazy_format
from imaging.coded_values import body_part_words
from imaging.models import ReadEvent, ReadRequest, ReadStatus
from telemed.accounts.models import Role, User
from telemed.audit.services import audit_record

S = ReadStatus
# Which state may follow which; anything else is refused with the current state named. A state
# may follow itself where a coordinator reassigns the read without changing how far it got.
ALLOWED = {
    S.REQUESTED: {S.ASSIGNED, S.DECLINED, S.CANCELLED},
    S.ASSIGNED: {S.ASSIGNED, S.IN_PROGRESS, S.REQUESTED, S.DECLINED, S.CANCELLED},
    S.IN_PROGRESS: {S.IN_PROGRESS, S.AWAITING_VERIFICATION, S.SIGNED, S.REQUESTED, S.DECLINED, S.CANCELLED},
    S.AWAITING_VERIFICATION: {S.SIGNED, S.IN_PROGRESS, S.CANCELLED},
    S.SIGNED: set(),
    S.DECLINED: set(),
    S.CANCELLED: set(),
}
ENDED = (S.DECLINED, S.CANCELLED)
SCHEDULER = "scheduler"  # the audit trail's name for the background routines


def locked(read: ReadRequest) -> ReadRequest:
    """The read, row-locked for the caller's transaction, so two people acting at once queue up."""
    return ReadRequest.objects.select_for_update(of=("self",)).select_related("patient", "clinic", "hospital", "requested_by", "radiologist").get(pk=read.pk)


def status_label(read: ReadRequest) -> str:
    return str(ReadStatus(read.status).label).lower()


def transition(read: ReadRequest, *, to: str, by: User | None, action: str, note: str = "", fields: tuple[str, ...] = (), detail: dict | None = None) -> ReadRequest:
    """Move the read (locked by the caller) to `to`; the timeline and the audit trail follow."""
    if to not in ALLOWED[read.status]:
        raise ValidationError(
            _("This read is “%(current)s” and cannot become “%(next)s”.") % {"current": ReadStatus(read.status).label, "next": ReadStatus(to).label}
        )
    read.status = to
    if to in ENDED:
        read.ended_at = timezone.now()
    read.save(update_fields=["status", "status_reason", "ended_at", *fields])
    record(read, by=by, action=action, note=note, detail={"status": to, **(detail or {})})
    return read


def record(read: ReadRequest, *, by: User | None, action: str, note: str = "", detail: dict | None = None, obj=None) -> None:
    """A timeline entry and an audit event under the read's patient (a change that keeps the state, too)."""
    ReadEvent.objects.create(read=read, by=by, action=action, status=read.status, note=note[:500])
    audit_record(
        actor=by, username="" if by else SCHEDULER, action=f"read.{action}", obj=obj or read, patient_id=read.patient_id,
        detail={"read": str(read.pk), **(detail or {})},
    )


# --- Who is told ---------------------------------------------------------------------------------

def _members(institution_id, role: str):
    return User.objects.filter(
        memberships__institution_id=institution_id, memberships__role=role, memberships__is_active=True, is_active=True
    ).distinct()


def coordinators_of(read: ReadRequest) -> list[User]:
    return list(_members(read.hospital_id, Role.COORDINATOR))


def radiologists_of(hospital_id):
    return _members(hospital_id, Role.RADIOLOGIST)


def clinic_doctors_of(read: ReadRequest) -> list[User]:
    return list(_members(read.clinic_id, Role.CLINIC_DOCTOR))


def read_link(read: ReadRequest) -> str:
    return reverse("imaging:read", kwargs={"read_id": read.pk})


def read_label(read: ReadRequest) -> str:
    """What a notification names: the examination, never the patient (bodies go out by SMS too);
    the body part in words of the recipient's language, as notify() renders it in each one's."""
    part = body_part_words(read.body_part)
    if read.modality and part:
        return lazy_format("%(modality)s %(part)s", modality=read.modality, part=part)
    return read.modality or part or read.study.description or gettext_lazy("imaging study")
