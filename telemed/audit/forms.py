from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from telemed.audit.models import Outcome


class EventFilterForm(forms.Form):
    action = forms.CharField(label=_("Action"), required=False, help_text=_("The start of an action, for example: patient. or auth.login"))
    username = forms.CharField(label=_("User name"), required=False)
    patient = forms.UUIDField(label=_("Patient"), required=False)
    outcome = forms.ChoiceField(label=_("Outcome"), required=False, choices=[("", _("Any"))] + Outcome.choices)
    since = forms.DateField(label=pgettext_lazy("date range", "From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=pgettext_lazy("date range", "To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError(_("'From' must not be after 'To'."))
        return data
