"""Forms for remote reading: they only shape input; the services in imaging/services/reading/ validate it."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from consults.models import Urgency
from imaging.models import ReadingPolicy, ReportTemplate
from telemed.accounts.models import Institution, User


def _text(label, rows: int = 4, help_text: str = "", required: bool = False) -> forms.CharField:
    # Not required here, mostly: the service says what is missing, in words a doctor can act on.
    return forms.CharField(label=label, required=required, help_text=help_text, widget=forms.Textarea(attrs={"rows": rows}))


class ReadRequestForm(forms.Form):
    hospital = forms.ModelChoiceField(label=_("Hospital"), queryset=Institution.objects.none(), help_text=_("One of the hospitals your clinic is paired with."))
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.ROUTINE)
    question = _text(_("Clinical question"), 3, _("What should the radiologist answer? For example: pneumonia? fracture?"))
    history = _text(_("Clinical history"), 4, _("Symptoms, relevant history and earlier examinations."))

    def __init__(self, *args, hospitals=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hospital"].queryset = hospitals
        if hospitals is not None and hospitals.count() == 1:
            self.fields["hospital"].initial = hospitals.first().pk


class RadiologistChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, loads=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loads = loads or {}

    def label_from_instance(self, person) -> str:
        return _("%(name)s (%(n)s open)") % {"name": person, "n": self.loads.get(person.pk, 0)}


class AssignForm(forms.Form):
    radiologist = RadiologistChoiceField(label=_("Radiologist"), queryset=User.objects.none())

    def __init__(self, *args, readers=(), loads=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["radiologist"]
        field.queryset = User.objects.filter(pk__in=[r.pk for r in readers]).order_by("full_name", "username")
        field.loads = loads or {}


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ReportForm(forms.Form):
    template = forms.ModelChoiceField(label=_("Template"), queryset=ReportTemplate.objects.none(), required=False, widget=forms.HiddenInput)
    technique = _text(_("Technique"), 2)
    findings = _text(pgettext_lazy("imaging report", "Findings"), 10, _("What the images show, region by region."))
    impression = _text(pgettext_lazy("imaging report", "Impression"), 4, _("The diagnosis, or the differential, and what to do next."))
    critical = forms.BooleanField(
        label=_("Critical finding (危急值)"), required=False,
        help_text=_("Ticking it and saving alerts the clinic at once; they must acknowledge it."),
    )
    critical_finding = _text(_("Critical finding, as the clinic is told"), 2)

    def __init__(self, *args, templates=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates if templates is not None else ReportTemplate.objects.none()


class VerifyForm(forms.Form):
    technique = _text(_("Technique"), 2)
    findings = _text(pgettext_lazy("imaging report", "Findings"), 10)
    impression = _text(pgettext_lazy("imaging report", "Impression"), 4)


class AddendumForm(forms.Form):
    text = _text(_("Addendum"), 4, _("Signed with your name as you save it; it cannot be changed afterwards."))


class CriticalForm(forms.Form):
    finding = _text(_("Critical finding"), 2, _("The clinic is alerted at once with these words and must acknowledge them."))


class AcknowledgeForm(forms.Form):
    note = forms.CharField(label=_("Note (optional)"), max_length=500, required=False, help_text=_("For example: patient called back, transferred to the emergency department."))


class PolicyForm(forms.Form):
    assignment = forms.ChoiceField(label=_("Assignment"), choices=ReadingPolicy.Assignment.choices, widget=forms.RadioSelect)
    requires_verification = forms.BooleanField(
        label=_("Two-level sign-off"), required=False,
        help_text=_("A second radiologist verifies every report (书写 → 审核) before the clinic sees it."),
    )
    critical_ack_minutes = forms.IntegerField(
        label=_("Minutes to acknowledge a critical finding"), required=False,
        help_text=_("After this long without an acknowledgement the clinic's other doctors and the coordinators are alerted. Empty: the server's default."),
    )


class ReaderProfileForm(forms.Form):
    modalities = forms.CharField(label=_("Modalities read"), required=False, max_length=200, help_text=_("DICOM codes separated by commas, such as CT, MR, DX; empty: every modality."))
    accepts_automatic = forms.BooleanField(label=_("Receives automatic assignments"), required=False)

    def clean_modalities(self) -> list[str]:
        return [code for code in self.cleaned_data["modalities"].replace("，", ",").replace(" ", ",").split(",") if code]
