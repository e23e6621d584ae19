"""Pages for remote reading: the worklists, a read's page, the report editor, verification, the
printed report, the critical-finding banner and the hospital's reading settings.

Thin: each view loads through an audited service (`read_get`, `report_for`), calls one service to
change anything, and renders. The rules are in imaging/services/reading/.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from consults.models import Urgency
from imaging import reading_forms as rf
from imaging.models import ReadStatus
from imaging.services import studies
from imaging.services.reading import assignment, critical, reports, requests, worklist
from telemed import access
from telemed.accounts.models import Institution
from telemed.web.forms import NoFields, act_on, call_service, form_errors

PAGE_SIZE = 25


# --- Worklists ---------------------------------------------------------------------------------------

@require_safe
def read_list(request):
    views = worklist.views_for(request.user)
    if not views:
        raise PermissionDenied
    keys = [v.key for v in views]
    waiting = worklist.waiting_counts(request.user)
    view = request.GET.get("view") if request.GET.get("view") in keys else worklist.default_view(request.user, waiting)
    urgency = request.GET.get("urgency", "") if request.GET.get("urgency", "") in Urgency.values else ""
    modalities = worklist.modalities_seen(request.user)
    modality = request.GET.get("modality", "") if request.GET.get("modality", "") in modalities else ""
    reads = worklist.worklist(by=request.user, view=view, urgency=urgency, modality=modality)
    page = Paginator(reads, PAGE_SIZE).get_page(request.GET.get("page"))
    worklist.worklist_record(by=request.user, shown=list(page.object_list))
    query = urlencode({k: v for k, v in (("view", view), ("urgency", urgency), ("modality", modality)) if v})
    return render(request, "imaging/reads/list.html", {
        "page": page, "view": view, "urgency": urgency, "urgencies": Urgency.choices,
        "modality": modality, "modalities": modalities, "query_string": query, "now": timezone.now(),
        "can_configure": access.reading_hospitals(request.user).exists(),
        "tabs": [(v, waiting.get(v.key, 0)) for v in views],
    })


# --- Requesting --------------------------------------------------------------------------------------

def read_new(request, study_id):
    study = studies.study_get(by=request.user, study_id=study_id)
    if not access.patient_registration_institutions(request.user).filter(pk=study.institution_id).exists():
        raise PermissionDenied
    hospitals = requests.paired_hospitals(study.institution)
    form = rf.ReadRequestForm(request.POST or None, hospitals=hospitals)
    if request.method == "POST" and form.is_valid():
        read = call_service(form, lambda: requests.read_request(by=request.user, study=study, **form.cleaned_data))
        if read:
            messages.success(request, _("The read is requested; %(hospital)s is told now.") % {"hospital": read.hospital})
            return redirect("imaging:read", read_id=read.pk)
    modality, body_part = requests.study_examination(study)
    return render(request, "imaging/reads/request.html", {"study": study, "form": form, "modality": modality, "body_part": body_part, "hospitals": hospitals})


# --- A read's page -------------------------------------------------------------------------------------

def _controls(user, read, report) -> dict:
    coordinating = access.can_coordinate_read(user, read)
    assignable = read.status in (ReadStatus.REQUESTED, ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS)
    is_clinic = access.is_read_clinic(user, read)
    return {
        "is_clinic": is_clinic,
        "can_open_study": access.study_visible(user, read.study),
        "can_assign": coordinating and assignable,
        "can_claim": read.status == ReadStatus.REQUESTED and not assignment.reader_refusal(user, read.hospital),
        "can_release": read.radiologist_id == user.pk and read.status in (ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS),
        "can_decline": (coordinating or read.radiologist_id == user.pk) and assignable,
        "can_cancel": is_clinic and read.is_open,
        "can_write": reports.may_write(user, read),
        "can_verify": reports.may_verify(user, read, report),
        "can_add_addendum": reports.may_add_addendum(user, report),
        "can_raise": critical.may_raise(user, read) and not any(a.acknowledged_at is None for a in read.critical_alerts.all()),
        "can_print": report is not None and report.signed_at is not None,
    }


def read_detail(request, read_id):
    read = requests.read_get(by=request.user, read_id=read_id)
    report = reports.report_for(by=request.user, read=read)
    controls = _controls(request.user, read, report)
    context = {
        "read": read, "report": report, "alerts": critical.alerts_of(read),
        "timeline": read.timeline.select_related("by"), **controls,
        "reason_form": rf.ReasonForm(), "addendum_form": rf.AddendumForm(), "critical_form": rf.CriticalForm(), "ack_form": rf.AcknowledgeForm(),
    }
    if controls["can_assign"]:
        readers = assignment.readers_of(read.hospital)
        context["assign_form"] = rf.AssignForm(readers=readers, loads=assignment.open_loads(readers), initial={"radiologist": read.radiologist_id})
    return render(request, "imaging/reads/detail.html", context)


def _act(request, read_id, form_class, call: Callable, done: str):
    """A button or small form on the read's page: a refusal becomes a message there, never a 500."""
    read = requests.read_get(by=request.user, read_id=read_id)
    act_on(request, form_class, lambda data: call(read, data), done)
    return redirect("imaging:read", read_id=read.pk)


@require_POST
def read_assign(request, read_id):
    read = requests.read_get(by=request.user, read_id=read_id)
    if not access.can_coordinate_read(request.user, read):
        raise PermissionDenied
    form = rf.AssignForm(request.POST, readers=assignment.radiologists_of_hospital(read.hospital))
    if form.is_valid() and call_service(form, lambda: assignment.read_assign(by=request.user, read=read, radiologist=form.cleaned_data["radiologist"])):
        messages.success(request, _("%(name)s has the read now and is told.") % {"name": form.cleaned_data["radiologist"]})
    else:
        messages.error(request, form_errors(form))
    return redirect("imaging:read", read_id=read.pk)


@require_POST
def read_claim(request, read_id):
    return _act(request, read_id, NoFields, lambda r, d: assignment.read_claim(by=request.user, read=r), _("The read is yours now."))


@require_POST
def read_release(request, read_id):
    return _act(request, read_id, rf.ReasonForm, lambda r, d: assignment.read_release(by=request.user, read=r, **d), _("You handed the read back."))


@require_POST
def read_decline(request, read_id):
    return _act(request, read_id, rf.ReasonForm, lambda r, d: requests.read_decline(by=request.user, read=r, **d), _("The read is declined; the clinic is told why."))


@require_POST
def read_cancel(request, read_id):
    return _act(request, read_id, rf.ReasonForm, lambda r, d: requests.read_cancel(by=request.user, read=r, **d), _("The read request is cancelled."))


@require_POST
def critical_raise(request, read_id):
    done = _("The clinic is alerted to the critical finding; you are told when they acknowledge it.")
    return _act(request, read_id, rf.CriticalForm, lambda r, d: critical.critical_raise(by=request.user, read=r, **d), done)


@require_POST
def critical_acknowledge(request, read_id):
    done = _("You acknowledged the critical finding; the radiologist is told.")
    return _act(request, read_id, rf.AcknowledgeForm, lambda r, d: critical.critical_acknowledge(by=request.user, read=r, **d), done)


@require_POST
def report_addendum(request, read_id):
    done = _("Your addendum is signed and added to the report; the clinic is told.")
    return _act(request, read_id, rf.AddendumForm, lambda r, d: reports.addendum_add(by=request.user, read=r, **d), done)


# --- Writing, verifying, printing ----------------------------------------------------------------------

def _report_initial(report, template) -> dict:
    if template is not None:
        return {"template": template.pk, "technique": template.technique, "findings": template.findings, "impression": template.impression,
                "critical": bool(report and report.critical)}
    if report is None:
        return {}
    return {"template": report.template_id, "technique": report.technique, "findings": report.findings, "impression": report.impression, "critical": report.critical}


def _save_report(request, form, read):
    """Save the draft; with "sign", sign it too (a refused signature keeps the saved draft)."""
    data = dict(form.cleaned_data)
    data["critical_flag"] = data.pop("critical")
    report = call_service(form, lambda: reports.report_save(by=request.user, read=read, **data))
    if report is None or request.POST.get("action") != "sign":
        return report
    signed = call_service(form, lambda: reports.report_submit(by=request.user, read=read))
    if signed is None:
        messages.warning(request, _("Your draft is saved but not signed yet: see below what is missing."))
    return signed


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _no_longer(request, read, refusal: ValidationError):
    """The editor or the verification of a read past that step (a bookmark, the back button):
    the read's page, with the service's reason (signed: add an addendum there). Anyone the
    service refuses outright gets its 403 (PermissionDenied) before this."""
    messages.warning(request, " ".join(refusal.messages))
    return redirect("imaging:read", read_id=read.pk)


def report_edit(request, read_id):
    """The editor: template picker, the fields, a link to the images; save the draft or sign."""
    read = requests.read_get(by=request.user, read_id=read_id)
    try:
        reports.require_writer(request.user, read)
    except ValidationError as refusal:
        return _no_longer(request, read, refusal)
    report = reports.report_for(by=request.user, read=read)
    templates = reports.templates_for(read, language=(get_language() or "").lower())
    picked = templates.filter(pk=_uuid(request.GET.get("template", ""))).first() if _uuid(request.GET.get("template", "")) else None
    form = rf.ReportForm(request.POST or None, templates=templates, initial=_report_initial(report, picked))
    if request.method == "POST" and form.is_valid():
        saved = _save_report(request, form, read)
        if saved is not None and not form.errors:
            read.refresh_from_db()
            if request.POST.get("action") != "sign":
                messages.success(request, _("Your draft is saved. Only you can see it until you sign it."))
                return redirect("imaging:report_edit", read_id=read.pk)
            if read.status == ReadStatus.AWAITING_VERIFICATION:
                messages.success(request, _("Your report is signed and handed to another radiologist for verification."))
            else:
                messages.success(request, _("Your report is signed; the clinic can read it now."))
            return redirect("imaging:read", read_id=read.pk)
    template_data = [{"id": str(t.pk), "technique": t.technique, "findings": t.findings, "impression": t.impression} for t in templates]
    alerted = read.critical_alerts.exists()
    return render(request, "imaging/reads/report_edit.html", {"read": read, "report": report, "form": form, "templates": templates, "template_data": template_data, "picked": picked, "alerted": alerted})


def report_verify(request, read_id):
    read = requests.read_get(by=request.user, read_id=read_id)
    report = reports.report_for(by=request.user, read=read)
    try:
        reports.require_verifier(request.user, read, report)
    except ValidationError as refusal:
        return _no_longer(request, read, refusal)
    form = rf.VerifyForm(request.POST or None, initial={"technique": report.technique, "findings": report.findings, "impression": report.impression})
    return_form = rf.ReasonForm(request.POST if request.POST.get("action") == "return" else None)
    if request.method == "POST" and request.POST.get("action") == "return":
        if return_form.is_valid() and call_service(return_form, lambda: reports.report_return(by=request.user, read=read, **return_form.cleaned_data)):
            messages.success(request, _("The report is sent back to %(name)s with your note.") % {"name": report.author})
            return redirect("imaging:read", read_id=read.pk)
    elif request.method == "POST" and form.is_valid():
        if call_service(form, lambda: reports.report_verify(by=request.user, read=read, **form.cleaned_data)):
            messages.success(request, _("The report is verified and final; the clinic can read it now."))
            return redirect("imaging:read", read_id=read.pk)
    return render(request, "imaging/reads/report_verify.html", {"read": read, "report": report, "form": form, "return_form": return_form})


@require_safe
def report_print(request, read_id):
    read = requests.read_get(by=request.user, read_id=read_id)
    report = reports.report_for(by=request.user, read=read)
    if report is None or report.signed_at is None:
        raise Http404(_("This read has no signed report yet."))
    return render(request, "imaging/reads/report_print.html", {
        "read": read, "report": report, "patient": read.patient, "printed_at": timezone.now(),
        "alerts": critical.alerts_of(read),
    })


@require_safe
def critical_banner(request):
    """The banner alone, for the page to refresh when a notification arrives over the live connection."""
    return render(request, "imaging/reads/_critical_banner.html")


# --- The hospital's reading settings --------------------------------------------------------------------

def _hospital_settings(hospital: Institution) -> dict:
    policy = assignment.policy_for(hospital)
    radiologists = assignment.radiologists_and_refusals(hospital)
    people = [person for person, _refusal in radiologists]
    profiles = assignment.profiles_of(hospital, people)
    loads = assignment.open_loads(people)
    rows = []
    for person, refusal in radiologists:
        profile = profiles.get(person.pk)
        initial = {"modalities": ", ".join(profile.modalities) if profile else "", "accepts_automatic": profile.accepts_automatic if profile else True}
        rows.append({"person": person, "refusal": refusal, "load": loads.get(person.pk, 0), "form": rf.ReaderProfileForm(initial=initial, prefix=f"{hospital.pk}-{person.pk}")})
    initial = {"assignment": policy.assignment, "requires_verification": policy.requires_verification, "critical_ack_minutes": policy.critical_ack_minutes}
    return {"hospital": hospital, "policy": policy, "form": rf.PolicyForm(initial=initial, prefix=str(hospital.pk)), "radiologists": rows}


@require_safe
def reading_settings(request):
    hospitals = access.reading_hospitals(request.user).order_by("name")
    if not hospitals.exists():
        raise PermissionDenied
    return render(request, "imaging/reads/settings.html", {"hospitals": [_hospital_settings(h) for h in hospitals], "default_minutes": settings.READ_CRITICAL_ACK_MINUTES})


@require_POST
def reading_policy(request, institution_id):
    hospital = get_object_or_404(access.reading_hospitals(request.user), pk=institution_id)
    form = rf.PolicyForm(request.POST, prefix=str(hospital.pk))
    if form.is_valid() and call_service(form, lambda: assignment.policy_update(by=request.user, hospital=hospital, **form.cleaned_data)):
        messages.success(request, _("How %(hospital)s reads is saved.") % {"hospital": hospital})
    else:
        messages.error(request, form_errors(form))
    return redirect("imaging:reading_settings")


@require_POST
def reading_reader(request, institution_id, user_id):
    hospital = get_object_or_404(access.reading_hospitals(request.user), pk=institution_id)
    radiologist = get_object_or_404(assignment.radiologists_of(hospital.pk), pk=user_id)
    form = rf.ReaderProfileForm(request.POST, prefix=f"{hospital.pk}-{radiologist.pk}")
    if form.is_valid() and call_service(form, lambda: assignment.reader_profile_update(by=request.user, hospital=hospital, radiologist=radiologist, **form.cleaned_data)):
        messages.success(request, _("What %(name)s reads is saved.") % {"name": radiologist})
    else:
        messages.error(request, form_errors(form))
    return redirect("imaging:reading_settings")
