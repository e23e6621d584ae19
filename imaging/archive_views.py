"""Administrators' pages for the archive: DICOM nodes, and storage usage with quotas (which a
clinic's doctors also see for their clinic)."""
from __future__ import annotations

from itertools import groupby

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from imaging.forms import GB, NodeForm, QuotaForm
from imaging.services import nodes, storage
from telemed import access
from telemed.accounts.models import Role, User
from telemed.web.forms import call_service


def _manageable(request):
    institutions = access.manageable_institutions(request.user)
    if not institutions.exists():
        raise PermissionDenied
    return institutions


def _devices(institutions):
    return User.objects.filter(is_device=True, is_active=True, memberships__institution__in=institutions, memberships__role=Role.DEVICE).distinct()


def node_list(request):
    institutions = _manageable(request)
    found = access.manageable_dicom_nodes(request.user).select_related("institution", "device").order_by("institution__name", "ae_title")
    return render(request, "imaging/node_list.html", {
        "groups": [(institution, list(group)) for institution, group in groupby(found, key=lambda n: n.institution)],
        "without_nodes": institutions.filter(kind="clinic").exclude(dicom_nodes__isnull=False).order_by("name"),
        "our_title": settings.DICOM_AE_TITLE,
    })


def node_create(request):
    institutions = _manageable(request)
    initial = {"institution": request.GET.get("institution")} if request.GET.get("institution") else {}
    form = NodeForm(request.POST or None, institutions=institutions, devices=_devices(institutions), initial=initial)
    if request.method == "POST" and form.is_valid():
        node = call_service(form, lambda: nodes.node_create(by=request.user, **form.cleaned_data))
        if node:
            messages.success(request, _("%(title)s is registered; the DICOM listener accepts it within 30 seconds.") % {"title": node.ae_title})
            return redirect("imaging:nodes")
    return render(request, "form_page.html", {"form": form, "title": _("New DICOM node"), "cancel_url": reverse("imaging:nodes")})


def node_edit(request, node_id):
    node = get_object_or_404(access.manageable_dicom_nodes(request.user).select_related("institution"), pk=node_id)
    fields = ("kind", "ae_title", "host", "port", "device", "description")
    form = NodeForm(request.POST or None, devices=nodes.node_devices(node.institution), editing=True, initial={f: getattr(node, f) for f in fields})
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        if call_service(form, lambda: nodes.node_update(by=request.user, node=node, **changes)):
            messages.success(request, _("The changes were saved."))
            return redirect("imaging:nodes")
    title = _("Edit %(title)s (%(institution)s)") % {"title": node.ae_title, "institution": node.institution.name}
    return render(request, "form_page.html", {"form": form, "title": title, "cancel_url": reverse("imaging:nodes")})


@require_POST
def node_set_active(request, node_id):
    node = get_object_or_404(access.manageable_dicom_nodes(request.user), pk=node_id)
    active = request.POST.get("active") == "1"
    nodes.node_set_active(by=request.user, node=node, active=active)
    messages.success(request, (_("%(title)s can send again.") if active else _("%(title)s is disabled: its associations are refused.")) % {"title": node.ae_title})
    return redirect("imaging:nodes")


@require_POST
def node_echo(request, node_id):
    node = get_object_or_404(access.manageable_dicom_nodes(request.user), pk=node_id)
    try:
        outcome = nodes.node_echo(by=request.user, node=node)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        (messages.success if outcome.ok else messages.error)(request, nodes.echo_message(node, outcome))
    return redirect("imaging:nodes")


def storage_page(request):
    institutions = access.storage_institutions(request.user)
    if not institutions.exists():
        raise PermissionDenied
    manageable = set(access.manageable_institutions(request.user).values_list("pk", flat=True))
    default = settings.DICOM_DEFAULT_QUOTA_BYTES
    rows = [
        (usage, QuotaForm(default_bytes=default, prefix=str(usage.institution.pk), initial={"quota_gb": _gb(usage.institution.dicom_quota_bytes)}) if usage.institution.pk in manageable else None)
        for usage in storage.usage_list(institutions)
    ]
    return render(request, "imaging/storage.html", {"rows": rows, "default_quota": default})


@require_POST
def storage_quota(request, institution_id):
    institution = get_object_or_404(access.manageable_institutions(request.user), pk=institution_id)
    form = QuotaForm(request.POST, default_bytes=settings.DICOM_DEFAULT_QUOTA_BYTES, prefix=str(institution.pk))
    if form.is_valid() and call_service(form, lambda: storage.institution_set_quota(by=request.user, institution=institution, quota_bytes=form.quota_bytes())):
        messages.success(request, _("The quota of %(name)s was saved.") % {"name": institution.name})
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("imaging:storage")


def _gb(quota_bytes: int | None):
    return None if quota_bytes is None else round(quota_bytes / GB, 3)
