from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from telemed.accounts.models import Institution
from telemed.patients.models import Sex


class PatientForm(forms.Form):
    institution = forms.ModelChoiceField(label=_("Registered at"), queryset=Institution.objects.none(), empty_label=None)
    mrn = forms.CharField(label=_("Medical record number"), max_length=40)
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=120)
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices)
    birth_date = forms.DateField(label=_("Date of birth"), widget=forms.DateInput(attrs={"type": "date"}))
    national_id = forms.CharField(
        label=_("Resident ID number"),
        max_length=24,
        required=False,
        help_text=_("18 characters. Stored encrypted; pages show only the last four."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "text"}),
    )
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)

    def __init__(self, *args, institutions=None, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["institution"]
            self.fields["national_id"].help_text = _("Leave empty to keep the stored number; type a new one to replace it.")
        else:
            self.fields["institution"].queryset = institutions
