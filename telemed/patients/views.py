from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from telemed import access
from telemed.patients import services
from telemed.patients.forms import PatientForm
from telemed.web.forms import call_service

PAGE_SIZE = 25


def patient_list(request):
    query = request.GET.get("q", "")[:100]
    page = Paginator(services.patient_search(by=request.user, query=query), PAGE_SIZE).get_page(request.GET.get("page"))
    services.patient_list_record(by=request.user, shown=list(page.object_list), query=query)
    return render(
        request,
        "patients/patient_list.html",
        {"page": page, "query": query, "can_register": access.patient_registration_institutions(request.user).exists()},
    )


def patient_create(request):
    institutions = access.patient_registration_institutions(request.user)
    if not institutions.exists():
        raise PermissionDenied
    form = PatientForm(request.POST or None, institutions=institutions, initial={"institution": institutions.first()})
    if request.method == "POST" and form.is_valid():
        patient = call_service(form, lambda: services.patient_register(by=request.user, **form.cleaned_data))
        if patient:
            messages.success(request, _("%(name)s is registered.") % {"name": patient.name})
            return redirect("patients:detail", patient_id=patient.pk)
    return render(request, "form_page.html", {"form": form, "title": _("Register a patient"), "cancel_url": reverse("patients:list")})


def patient_detail(request, patient_id):
    patient = services.patient_get(by=request.user, patient_id=patient_id)
    can_edit = access.patient_registration_institutions(request.user).filter(pk=patient.institution_id).exists()
    grants = patient.grants.select_related("user").filter(revoked_at__isnull=True) if can_edit else []
    return render(request, "patients/patient_detail.html", {"patient": patient, "can_edit": can_edit, "grants": grants})


def patient_edit(request, patient_id):
    patient = services.patient_get(by=request.user, patient_id=patient_id)
    if not access.patient_registration_institutions(request.user).filter(pk=patient.institution_id).exists():
        raise PermissionDenied
    initial = {field: getattr(patient, field) for field in services.EDITABLE_FIELDS}
    form = PatientForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        national_id = data.pop("national_id") or None
        changes = {name: value for name, value in data.items() if name in form.changed_data}
        if call_service(form, lambda: services.patient_update(by=request.user, patient=patient, national_id=national_id, **changes)):
            messages.success(request, _("The changes were saved."))
            return redirect("patients:detail", patient_id=patient.pk)
    return render(
        request,
        "form_page.html",
        {"form": form, "title": _("Edit %(name)s") % {"name": patient.name}, "cancel_url": reverse("patients:detail", kwargs={"patient_id": patient.pk})},
    )


@require_POST
@never_cache
def patient_reveal_national_id(request, patient_id):
    patient, number = services.patient_reveal_national_id(by=request.user, patient_id=patient_id)
    return render(request, "patients/patient_detail.html", {"patient": patient, "can_edit": True, "revealed_national_id": number, "grants": []})
