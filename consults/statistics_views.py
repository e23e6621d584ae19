"""The coordinators' statistics page and its CSV exports (issue 11).

Only translation happens here: the filter form is validated, the selectors in
`consults/statistics.py` compute every figure and the charts' geometry, and each export is
recorded in the audit trail.
"""
from __future__ import annotations

import re
from datetime import date

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET

from consults import statistics
from telemed import access
from telemed.accounts.models import Institution
from telemed.audit.services import audit_record

MONTH = re.compile(r"(\d{4})-(\d{2})")
FIRST_YEAR, LAST_YEAR = 2000, 2100  # a typo like 0202-01 must not reach date arithmetic


class MonthField(forms.CharField):
    """A month as YYYY-MM (what <input type="month"> sends), cleaned to its first day."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM", "pattern": r"\d{4}-\d{2}"})

    def to_python(self, value) -> date | None:
        value = super().to_python(value).strip()
        if not value:
            return None
        match = MONTH.fullmatch(value)
        if not match or not 1 <= int(match[2]) <= 12:
            raise forms.ValidationError(_("Enter a month as YYYY-MM, for example 2026-03."), code="invalid")
        if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
            raise forms.ValidationError(
                _("Choose a month between %(first)s-01 and %(last)s-12.") % {"first": FIRST_YEAR, "last": LAST_YEAR}, code="invalid"
            )
        return date(int(match[1]), int(match[2]), 1)


class StatisticsFilterForm(forms.Form):
    since = MonthField(label=pgettext_lazy("month range", "From month"), required=False)
    until = MonthField(label=pgettext_lazy("month range", "To month"), required=False)
    hospital = forms.ModelChoiceField(
        label=gettext_lazy("Hospital"), queryset=Institution.objects.none(), required=False, empty_label=gettext_lazy("All your hospitals")
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hospital"].queryset = access.statistics_hospitals(user).order_by("name")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        data["since"], data["until"] = _with_defaults(data.get("since"), data.get("until"))
        if data["since"] > data["until"]:
            raise forms.ValidationError(_("'From month' must not be after 'To month'."))
        if statistics.months_between(data["since"], data["until"]) > statistics.MAX_MONTHS:
            raise forms.ValidationError(_("Choose at most %(n)s months.") % {"n": statistics.MAX_MONTHS})
        return data


def _with_defaults(since: date | None, until: date | None) -> tuple[date, date]:
    """A missing end of the range: twelve months back from 'to', up to this month from 'from',
    or the last twelve months when neither is given."""
    first, last = statistics.default_months(timezone.localdate())
    if since and until:
        return since, until
    if until:
        return statistics.add_months(until, 1 - statistics.DEFAULT_MONTHS), until
    if since:
        return since, max(since, last)
    return first, last


def require_reader(user) -> None:
    if not access.can_view_statistics(user):
        raise PermissionDenied


def filtered_scope(request: HttpRequest) -> tuple[StatisticsFilterForm, statistics.Scope | None]:
    """The validated filter and what it covers; no scope when the filter is wrong."""
    form = StatisticsFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    period = statistics.Period.of(data["since"], data["until"], timezone.get_current_timezone())
    return form, statistics.statistics_scope(request.user, period=period, hospital=data["hospital"])


@require_GET
def statistics_page(request: HttpRequest) -> HttpResponse:
    require_reader(request.user)
    form, scope = filtered_scope(request)
    context = {"form": form, "query": request.GET.urlencode(), "tables": statistics.EXPORT_TABLES}
    if scope is not None:
        from imaging import statistics as read_statistics

        context.update(statistics.page_figures(scope))
        context["reads"] = read_statistics.page_figures(scope)
    return render(request, "consults/statistics.html", context)


@require_GET
def statistics_export(request: HttpRequest, table: str) -> HttpResponse:
    require_reader(request.user)
    if table not in statistics.EXPORT_TABLES:
        raise Http404
    form, scope = filtered_scope(request)
    if scope is None:
        # A spreadsheet cannot show form errors: say plainly what to fix instead of exporting the wrong months.
        problems = [str(e) for errors in form.errors.values() for e in errors]
        return HttpResponse(_("The filter is not valid: %(problems)s") % {"problems": " ".join(problems)}, status=400, content_type="text/plain; charset=utf-8")
    months = scope.period.months
    detail = {"table": table, "since": f"{months[0]:%Y-%m}", "until": f"{months[-1]:%Y-%m}", "hospital": str(form.cleaned_data["hospital"].pk) if form.cleaned_data["hospital"] else ""}
    audit_record(actor=request.user, action="consult.statistics_export", detail=detail)
    response = HttpResponse(statistics.export_csv(table, scope), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="consult-{table}-{detail["since"]}-{detail["until"]}.csv"'
    return response
