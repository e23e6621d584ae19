"""Registering the clinics' modalities and PACS (DICOM nodes), and checking one with C-ECHO.

Administrators of the alliance do this; every change is in the audit trail. The SCP re-reads the
active nodes every 30 seconds, so a registration or a disabling takes effect without a restart.
"""
from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from imaging.dicom.aetitle import ae_title_problem
from imaging.models import DicomNode
from imaging.scp.echo import EchoOutcome, echo
from telemed import access
from telemed.accounts.models import Institution, Role, User
from telemed.accounts.services.directory import user_create
from telemed.audit.models import Outcome
from telemed.audit.services import audit_record

AE_TITLE_PROBLEMS = {
    "empty": gettext_lazy("An AE title cannot be empty or only spaces."),
    "too_long": gettext_lazy("An AE title has at most 16 characters."),
    "backslash": gettext_lazy("An AE title cannot contain a backslash (\\)."),
    "characters": gettext_lazy("An AE title uses only letters A–Z, digits, spaces and ASCII punctuation; no Chinese characters or control characters."),
}
EDITABLE = ("kind", "ae_title", "host", "port", "description", "device")


def _require_admin_of(by: User, institution: Institution) -> None:
    if not access.manageable_institutions(by).filter(pk=institution.pk).exists():
        raise PermissionDenied(_("Only an administrator of this alliance can do that."))


def node_devices(institution: Institution):
    """Device accounts that may stand for a node of `institution`."""
    return User.objects.filter(
        is_device=True, is_active=True, memberships__institution=institution, memberships__role=Role.DEVICE, memberships__is_active=True
    ).distinct()


def _clean(node: DicomNode) -> None:
    node.ae_title = node.ae_title.strip(" ")
    errors = {}
    if problem := ae_title_problem(node.ae_title):
        errors["ae_title"] = AE_TITLE_PROBLEMS[problem]
    elif node.ae_title == settings.DICOM_AE_TITLE:
        errors["ae_title"] = _("%(title)s is this archive's own AE title; give the node its own.") % {"title": node.ae_title}
    elif DicomNode.objects.filter(ae_title=node.ae_title).exclude(pk=node.pk).exists():
        errors["ae_title"] = _("The AE title %(title)s is already used by another node of this archive; each node needs its own.") % {"title": node.ae_title}
    if node.port is not None and not 1 <= node.port <= 65535:
        errors["port"] = _("A port is a number from 1 to 65535.")
    if not node_devices(node.institution).filter(pk=node.device_id).exists():
        errors["device"] = _("Choose a device account of %(institution)s.") % {"institution": node.institution.name}
    if errors:
        raise ValidationError(errors)
    node.full_clean(exclude=["ae_title", "device"])


def _new_device(*, by: User, institution: Institution, ae_title: str) -> User:
    """A device account named after the node, so that what it sends is recorded under its own name."""
    base = "dicom-" + (re.sub(r"[^a-z0-9]+", "-", ae_title.lower()).strip("-") or "node")
    username, n = base, 1
    while User.objects.filter(username=username).exists():
        n += 1
        username = f"{base}-{n}"
    return user_create(by=by, username=username, full_name=f"{ae_title} · {institution.name}", institution=institution, role=Role.DEVICE, is_device=True)


@transaction.atomic
def node_create(
    *, by: User, institution: Institution, ae_title: str, host: str, port: int | None = None,
    kind: str = DicomNode.Kind.MODALITY, description: str = "", device: User | None = None,
) -> DicomNode:
    """Register a node; without a device account, one is made for it."""
    _require_admin_of(by, institution)
    node = DicomNode(institution=institution, ae_title=ae_title, host=host, port=port, kind=kind, description=description.strip())
    node.device = device if device is not None else _new_device(by=by, institution=institution, ae_title=ae_title.strip() or "node")
    _clean(node)
    node.save()
    audit_record(actor=by, action="dicom_node.create", obj=node, detail=_described(node))
    return node


@transaction.atomic
def node_update(*, by: User, node: DicomNode, **changes) -> DicomNode:
    _require_admin_of(by, node.institution)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(node, field, value.strip() if field == "description" else value)
    _clean(node)
    node.save()
    audit_record(actor=by, action="dicom_node.update", obj=node, detail={**_described(node), "fields": sorted(changes)})
    return node


@transaction.atomic
def node_set_active(*, by: User, node: DicomNode, active: bool) -> DicomNode:
    """Disabling keeps the node (and what it sent) but refuses its associations from now on."""
    _require_admin_of(by, node.institution)
    node.is_active = active
    node.save(update_fields=["is_active"])
    audit_record(actor=by, action="dicom_node.enable" if active else "dicom_node.disable", obj=node, detail=_described(node))
    return node


def node_echo(*, by: User, node: DicomNode, timeout: float = 5.0) -> EchoOutcome:
    """C-ECHO the node at its address and port as this archive's AE title; the outcome is audited."""
    _require_admin_of(by, node.institution)
    if node.port is None:
        raise ValidationError(_("Register the port %(title)s listens on before checking it.") % {"title": node.ae_title})
    outcome = echo(host=node.host, port=node.port, called_ae=node.ae_title, calling_ae=settings.DICOM_AE_TITLE, timeout=timeout)
    audit_record(
        actor=by, action="dicom_node.echo", obj=node, outcome=Outcome.SUCCESS if outcome.ok else Outcome.FAILED,
        detail={**_described(node), "result": outcome.code, "detail": outcome.detail, "ms": outcome.milliseconds},
    )
    return outcome


def echo_message(node: DicomNode, outcome: EchoOutcome) -> str:
    """The outcome in words an administrator can act on."""
    where = {"title": node.ae_title, "address": f"{node.host}:{node.port}", "ours": settings.DICOM_AE_TITLE}
    if outcome.ok:
        return _("%(title)s at %(address)s answered the C-ECHO in %(ms)d ms.") % {**where, "ms": outcome.milliseconds}
    if outcome.code == "no_connection":
        return _("Nothing answered at %(address)s: check the address and port, that the node is switched on and that no firewall is in between.") % where
    if outcome.code == "rejected" and outcome.rejected_by == (1, 3):
        return _("%(title)s refused the association because it does not know this archive's AE title %(ours)s: add %(ours)s to the node's list of known peers.") % where
    if outcome.code == "rejected" and outcome.rejected_by == (1, 7):
        return _("The node at %(address)s does not answer to the AE title %(title)s: check the AE title configured on the node.") % where
    if outcome.code == "rejected":
        return _("The node at %(address)s refused the association (%(detail)s).") % {**where, "detail": outcome.detail}
    if outcome.code == "status":
        return _("%(title)s answered the C-ECHO with a failure status (%(detail)s).") % {**where, "detail": outcome.detail}
    return _("%(title)s accepted the association but did not complete the C-ECHO.") % where


def _described(node: DicomNode) -> dict:
    return {"ae_title": node.ae_title, "host": node.host, "port": node.port, "kind": node.kind, "institution": str(node.institution_id), "active": node.is_active}
