"""Pages for consult requests, the coordinator's board, booking, the expert directory and hours."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from consults import forms
from consults.models import OPEN_STATUSES, URGENCY_RANK, AvailabilityException, AvailabilityRule, Status
from consults.services import availability, bookings, requests, urgent
from consults.services.experts import expert_directory, expert_refusal
from telemed import access
from telemed.accounts.models import User
from telemed.audit.services import audit_record
from telemed.web.forms import NoFields, act_on, call_service, form_errors


def _consult_or_404(request, consult_id):
    return requests.consult_get(by=request.user, consult_id=consult_id)


def consult_list(request):
    consults = access.visible_consults(request.user).select_related("patient", "clinic", "hospital").order_by("-created_at")
    status = request.GET.get("status", "")
    if status in Status.values:
        consults = consults.filter(status=status)
    page = Paginator(consults, 25).get_page(request.GET.get("page"))
    audit_record(actor=request.user, action="consult.list", detail={"shown": [str(c.pk) for c in page.object_list]})
    return render(
        request,
        "consults/consult_list.html",
        {"page": page, "status": status, "statuses": Status.choices, "can_request": access.patient_registration_institutions(request.user).exists()},
    )


def consult_new(request):
    patients = access.visible_patients(request.user).filter(institution__in=access.patient_registration_institutions(request.user))
    if not access.patient_registration_institutions(request.user).exists():
        raise PermissionDenied
    experts = expert_directory(user=request.user)
    form = forms.ConsultRequestForm(request.POST or None, request.FILES or None, patients=patients, experts=experts, initial={"patient": request.GET.get("patient")})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        consult = call_service(form, lambda: requests.consult_request(by=request.user, **data))
        if consult:
            messages.success(request, _("The consult request was sent; the coordinators see it now."))
            return redirect("consults:detail", consult_id=consult.pk)
    return render(request, "consults/consult_form.html", {"form": form})


def consult_detail(request, consult_id):
    consult = _consult_or_404(request, consult_id)
    is_coordinator = access.can_coordinate(request.user, consult)
    is_clinic = access.patient_registration_institutions(request.user).filter(pk=consult.clinic_id).exists()
    return render(
        request,
        "consults/consult_detail.html",
        {
            "consult": consult,
            "participants": consult.participants.filter(removed_at__isnull=True).select_related("user"),
            "timeline": consult.timeline.select_related("by"),
            "attachments": consult.attachments.all(),
            "is_coordinator": is_coordinator,
            "is_clinic": is_clinic,
            "can_triage": is_coordinator and consult.status in (Status.REQUESTED,),
            "can_book": is_coordinator and consult.status in (Status.REQUESTED, Status.TRIAGED),
            "can_reschedule": is_coordinator and consult.status == Status.SCHEDULED,
            "can_cancel": (is_coordinator or is_clinic) and consult.status in (*OPEN_STATUSES, Status.SCHEDULED),
            "can_add_info": is_clinic and consult.status == Status.NEEDS_INFO,
            "can_offer": (is_coordinator or is_clinic) and consult.urgency in urgent.URGENT_LEVELS and consult.status in (Status.REQUESTED, Status.TRIAGED)
            and (consult.offered_to_id is None or consult.escalated_at is not None),
            "can_accept": consult.offered_to_id == request.user.pk and consult.status in OPEN_STATUSES,
            "consent_relation": dict(forms.CONSENT_CHOICES).get(consult.consent_relation, consult.consent_relation),
            "reason_form": forms.ReasonForm(),
            "question_form": forms.QuestionForm(),
            "answer_form": forms.AnswerForm(),
            "reschedule_form": forms.RescheduleForm(),
        },
    )


def _act(request, consult_id, form_class, call, done_message):
    consult = _consult_or_404(request, consult_id)
    act_on(request, form_class, lambda data: call(consult, data), done_message)
    return redirect("consults:detail", consult_id=consult.pk)


@require_POST
def consult_triage(request, consult_id):
    return _act(request, consult_id, NoFields, lambda c, d: requests.consult_triage(by=request.user, consult=c), _("Accepted for booking."))


@require_POST
def consult_ask_info(request, consult_id):
    return _act(request, consult_id, forms.QuestionForm, lambda c, d: requests.consult_ask_info(by=request.user, consult=c, **d), _("The clinic was asked for more information."))


@require_POST
def consult_add_info(request, consult_id):
    return _act(request, consult_id, forms.AnswerForm, lambda c, d: requests.consult_add_info(by=request.user, consult=c, **d), _("The information was added; the request is back on the board."))


@require_POST
def consult_decline(request, consult_id):
    return _act(request, consult_id, forms.ReasonForm, lambda c, d: requests.consult_decline(by=request.user, consult=c, **d), _("The request was declined; the clinic is told why."))


@require_POST
def consult_offer(request, consult_id):
    return _act(request, consult_id, NoFields, lambda c, d: urgent.urgent_offer(by=request.user, consult=c), _("The expert on duty was paged."))


@require_POST
def consult_accept_offer(request, consult_id):
    return _act(request, consult_id, NoFields, lambda c, d: urgent.consult_accept_offer(by=request.user, consult=c), _("You accepted the request; the coordinators will book it now."))


@require_POST
def consult_cancel(request, consult_id):
    return _act(request, consult_id, forms.ReasonForm, lambda c, d: bookings.consult_cancel(by=request.user, consult=c, **d), _("The consult was cancelled; everyone involved is told."))


@require_POST
def consult_reschedule(request, consult_id):
    return _act(request, consult_id, forms.RescheduleForm, lambda c, d: bookings.consult_reschedule(by=request.user, consult=c, **d), _("The consult was moved; everyone involved is told."))


def _matching_experts(request, consult):
    """Bookable experts of the coordinator's hospitals; the requested specialty's qualified ones first."""
    experts = access.bookable_experts_for(request.user).prefetch_related("qualifications")
    qualified = [e.pk for e in experts if not expert_refusal(e, consult.specialty)]
    return experts.annotate(
        fit=Case(When(pk__in=qualified, then=Value(0)), default=Value(1), output_field=IntegerField())
    ).order_by("fit", "full_name")


def consult_book(request, consult_id):
    consult = _consult_or_404(request, consult_id)
    if not access.can_coordinate(request.user, consult):
        raise PermissionDenied
    experts = _matching_experts(request, consult)
    form = forms.BookingForm(request.POST or None, experts=experts)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        booked = call_service(
            form, lambda: bookings.consult_book(by=request.user, consult=consult, experts=form.ordered_experts(), starts_at=data["starts_at"], minutes=data["minutes"])
        )
        if booked:
            messages.success(request, _("Booked; everyone involved is told and gets reminders."))
            return redirect("consults:detail", consult_id=consult.pk)
    offers = []
    for expert in experts[:12]:
        refusal = expert_refusal(expert, consult.specialty)
        slots = [] if refusal else bookings.earliest_slots(experts=[expert], limit=4)
        offers.append({"expert": expert, "refusal": refusal, "slots": slots})
    return render(request, "consults/consult_book.html", {"consult": consult, "form": form, "offers": offers})


def attachment_download(request, attachment_id):
    from consults.models import Attachment

    attachment = get_object_or_404(Attachment.objects.select_related("consult"), pk=attachment_id)
    consult = _consult_or_404(request, attachment.consult_id)
    audit_record(actor=request.user, action="consult.attachment_download", obj=attachment, patient_id=consult.patient_id)
    return FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.name, content_type=attachment.content_type)


# --- The coordinator's board ------------------------------------------------------------------

def _board_rows(request):
    hospitals = access.coordinated_hospitals(request.user)
    if not hospitals.exists():
        raise PermissionDenied
    waiting = access.visible_consults(request.user).filter(status__in=OPEN_STATUSES).select_related("patient", "clinic", "named_expert")
    rows = sorted(waiting, key=lambda c: (URGENCY_RANK[c.urgency], c.created_at))
    today_start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = (
        access.visible_consults(request.user)
        .filter(starts_at__gte=today_start, starts_at__lt=today_start + timedelta(days=1))
        .exclude(status=Status.CANCELLED)
        .select_related("patient", "clinic")
        .order_by("starts_at")
    )
    audit_record(actor=request.user, action="consult.board", detail={"shown": [str(c.pk) for c in rows]})
    return {"rows": rows, "today": today, "now": timezone.now()}


def board(request):
    return render(request, "consults/board.html", _board_rows(request))


def board_rows(request):
    return render(request, "consults/_board_rows.html", _board_rows(request))


# --- The expert directory and consult hours -----------------------------------------------------

def directory(request):
    hospitals = access.visible_institutions(request.user).filter(kind="hospital")
    form = forms.DirectoryFilterForm(request.GET or None, hospitals=hospitals)
    filters = form.cleaned_data if form.is_valid() else {}
    experts = expert_directory(
        user=request.user, specialty=filters.get("specialty", ""), hospital=filters.get("hospital"), title=filters.get("title", ""),
        language=filters.get("language", ""), query=filters.get("q", ""),
    )
    rows = [{"expert": e, "refusal": expert_refusal(e, filters.get("specialty") or None)} for e in experts]
    return render(request, "consults/directory.html", {"form": form, "rows": rows})


def _date_param(request, name: str):
    try:
        return datetime.strptime(request.GET.get(name, ""), "%Y-%m-%d").date()
    except ValueError:
        return None


def expert_calendar(request, user_id):
    """The week view, or with ?day= the day view, of an expert's free, booked and blocked time."""
    expert = get_object_or_404(expert_directory(user=request.user), pk=user_id)
    day = _date_param(request, "day")
    week = (day - timedelta(days=day.weekday())) if day else (_date_param(request, "week") or forms.default_week_start())
    days = [day] if day else [week + timedelta(days=i) for i in range(7)]
    start = timezone.make_aware(datetime.combine(days[0], time.min))
    cells = availability.calendar_cells(expert, start, start + timedelta(days=len(days)))
    by_day = {day: [c for c in cells if timezone.localtime(c.span.starts_at).date() == day] for day in days}
    can_edit = access.editable_experts(request.user).filter(pk=expert.pk).exists()
    return render(
        request,
        "consults/expert_calendar.html",
        {
            "expert": expert,
            "refusal": expert_refusal(expert),
            "days": [(day, by_day[day]) for day in days],
            "week": week,
            "day": day,
            "previous_week": week - timedelta(days=7),
            "next_week": week + timedelta(days=7),
            "can_edit": can_edit,
            "rules": expert.availability_rules.all() if can_edit else [],
            "exceptions": expert.availability_exceptions.filter(ends_at__gte=timezone.now()) if can_edit else [],
            "rule_form": forms.RuleForm(initial={"valid_from": timezone.localdate()}) if can_edit else None,
            "exception_form": forms.ExceptionForm() if can_edit else None,
        },
    )


def _editable_expert(request, user_id) -> User:
    return get_object_or_404(access.editable_experts(request.user), pk=user_id)


@require_POST
def hours_add(request, user_id):
    expert = _editable_expert(request, user_id)
    form = forms.RuleForm(request.POST, instance=AvailabilityRule(expert=expert))
    if form.is_valid() and call_service(form, lambda: availability.availability_rule_add(by=request.user, expert=expert, **form.cleaned_data)):
        messages.success(request, _("The consult hours were added."))
    else:
        messages.error(request, form_errors(form))
    return redirect("consults:expert", user_id=expert.pk)


@require_POST
def hours_remove(request, rule_id):
    rule = get_object_or_404(AvailabilityRule, pk=rule_id)
    _editable_expert(request, rule.expert_id)
    availability.availability_rule_remove(by=request.user, rule=rule)
    messages.success(request, _("The consult hours were removed."))
    return redirect("consults:expert", user_id=rule.expert_id)


@require_POST
def exception_add(request, user_id):
    expert = _editable_expert(request, user_id)
    form = forms.ExceptionForm(request.POST, instance=AvailabilityException(expert=expert, created_by=request.user))
    if form.is_valid() and call_service(form, lambda: availability.availability_exception_add(by=request.user, expert=expert, **form.cleaned_data)):
        messages.success(request, _("The change to the consult hours was saved."))
    else:
        messages.error(request, form_errors(form))
    return redirect("consults:expert", user_id=expert.pk)


@require_POST
def exception_remove(request, exception_id):
    exception = get_object_or_404(AvailabilityException, pk=exception_id)
    _editable_expert(request, exception.expert_id)
    availability.availability_exception_remove(by=request.user, exception=exception)
    return redirect("consults:expert", user_id=exception.expert_id)
