from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from telemed import access
from telemed.audit import selectors
from telemed.audit.forms import EventFilterForm
from telemed.audit.services import audit_record, audit_verify


def _events(request):
    if not access.can_audit(request.user):
        raise PermissionDenied
    form = EventFilterForm(request.GET or None)
    events = access.visible_audit_events(request.user)
    if form.is_valid():
        events = selectors.events_filter(events, form.cleaned_data)
    return form, events


def event_list(request, verification=None):
    form, events = _events(request)
    page = Paginator(events.order_by("-seq"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/event_list.html",
        {
            "form": form,
            "page": page,
            "chart": selectors.stacked_bars(selectors.events_per_day(events)),
            "query": request.GET.urlencode(),
            "verification": verification,
        },
    )


def _export(request, kind: str):
    form, events = _events(request)
    audit_record(actor=request.user, action="audit.export", detail={"format": kind, "filters": request.GET.dict()})
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    if kind == "csv":
        response = StreamingHttpResponse(selectors.export_csv(events), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(selectors.export_json(events), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{kind}"'
    return response


def export_csv(request):
    return _export(request, "csv")


def export_json(request):
    return _export(request, "json")


@require_POST
def verify(request):
    if not access.can_audit(request.user):
        raise PermissionDenied
    result = audit_verify()
    audit_record(actor=request.user, action="audit.verify", detail={"ok": result.ok, "checked": result.checked, "broken_seq": result.broken_seq})
    return event_list(request, verification=result)
