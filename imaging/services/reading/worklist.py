"""The lists each role works from: radiologists (theirs, to verify, unassigned), coordinators (to
assign), clinics (their requests); most urgent first, then the longest waiting."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils.translation import gettext_lazy as _

from consults.models import URGENCY_RANK, Urgency
from imaging.models import OPEN_READ_STATUSES, ReadRequest, ReadStatus
from telemed import access
from telemed.accounts.models import Role, User
from telemed.audit.services import audit_record


@dataclass(frozen=True)
class View:
    key: str
    label: str
    roles: frozenset[str]


VIEWS = (
    View("mine", _("Assigned to me"), frozenset({Role.RADIOLOGIST})),
    View("verify", _("To verify"), frozenset({Role.RADIOLOGIST})),
    View("pool", _("Not assigned yet"), frozenset({Role.RADIOLOGIST, Role.COORDINATOR})),
    View("open", _("Open"), frozenset({Role.RADIOLOGIST, Role.COORDINATOR, Role.CLINIC_DOCTOR})),
    View("signed", _("Signed"), frozenset({Role.RADIOLOGIST, Role.COORDINATOR, Role.CLINIC_DOCTOR})),
    View("all", _("All"), frozenset({Role.RADIOLOGIST, Role.COORDINATOR, Role.CLINIC_DOCTOR})),
)


def views_for(user: User) -> list[View]:
    held = access.roles(user)
    return [view for view in VIEWS if view.roles & held]


def default_view(user: User, waiting: dict[str, int]) -> str:
    """A radiologist's own reads; but a verifier with none, what waits for her verification
    (`waiting`: waiting_counts, which the page shows anyway)."""
    held = access.roles(user)
    if Role.RADIOLOGIST in held:
        return "verify" if not waiting["mine"] and waiting["verify"] else "mine"
    if Role.COORDINATOR in held:
        return "pool"
    return "open"


def _urgency_rank():
    return Case(*(When(urgency=code, then=Value(rank)) for code, rank in URGENCY_RANK.items()), default=Value(9), output_field=IntegerField())


def worklist(*, by: User, view: str, urgency: str = "", modality: str = "", hospital=None) -> QuerySet[ReadRequest]:
    reads = access.visible_reads(by).select_related("patient", "clinic", "hospital", "radiologist", "study")
    if view == "mine":
        reads = reads.filter(radiologist=by, status__in=(ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS))
    elif view == "verify":
        reads = reads.filter(
            status=ReadStatus.AWAITING_VERIFICATION, hospital__in=access.institutions_with_role(by, Role.RADIOLOGIST)
        ).exclude(report__author=by)
    elif view == "pool":
        reads = reads.filter(status=ReadStatus.REQUESTED)
    elif view == "open":
        reads = reads.filter(status__in=OPEN_READ_STATUSES)
    elif view == "signed":
        reads = reads.filter(status=ReadStatus.SIGNED)
    if urgency in Urgency.values:
        reads = reads.filter(urgency=urgency)
    if modality:
        reads = reads.filter(modality=modality)
    if hospital is not None:
        reads = reads.filter(hospital=hospital)
    if view in ("signed", "all"):
        return reads.order_by("-created_at")
    return reads.annotate(rank=_urgency_rank()).order_by("rank", "created_at")


def waiting_counts(user: User) -> dict[str, int]:
    """How many reads wait in the radiologist's own lists, for the tabs' badges."""
    if Role.RADIOLOGIST not in access.roles(user):
        return {}
    return {key: worklist(by=user, view=key).count() for key in ("mine", "verify")}


def modalities_seen(by: User) -> list[str]:
    """The modalities of the reads the user sees, for the filter."""
    return sorted(set(access.visible_reads(by).exclude(modality="").values_list("modality", flat=True).distinct()))


def worklist_record(*, by: User, shown: list[ReadRequest]) -> None:
    audit_record(actor=by, action="read.list", detail={"shown": [str(r.pk) for r in shown]})
