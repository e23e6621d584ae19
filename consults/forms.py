from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consults.models import AvailabilityException, AvailabilityRule, Urgency
from consults.services.requests import CONSENT_RELATIONS
from telemed.accounts.models import Institution, Specialty, Title, User
from telemed.patients.models import Patient

CONSENT_CHOICES = list(
    zip(CONSENT_RELATIONS, [_("The patient"), _("Guardian"), _("Spouse"), _("Child"), _("Parent"), _("Other relative")])
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png,.txt"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, (list, tuple)):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)] if data else []


class ConsultRequestForm(forms.Form):
    patient = forms.ModelChoiceField(label=_("Patient"), queryset=Patient.objects.none())
    specialty = forms.ChoiceField(label=_("Specialty wanted"), choices=Specialty.choices)
    named_expert = forms.ModelChoiceField(label=_("A particular expert (optional)"), queryset=User.objects.none(), required=False)
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.ROUTINE)
    question = forms.CharField(label=_("Clinical question"), widget=forms.Textarea(attrs={"rows": 3}))
    history = forms.CharField(label=_("History summary"), widget=forms.Textarea(attrs={"rows": 5}))
    preferred_times = forms.CharField(label=_("Preferred times"), required=False, max_length=300, help_text=_("For example: weekday mornings."))
    attachments = MultipleFileField(label=_("Attachments"), required=False, help_text=_("PDF, JPEG, PNG or text; up to 20 MB each."))
    consent_signed_by = forms.CharField(label=_("Consent signed by"), max_length=120)
    consent_relation = forms.ChoiceField(label=_("The signer is"), choices=CONSENT_CHOICES)
    consent_signed_at = forms.DateTimeField(
        label=_("Consent signed at"), initial=lambda: timezone.localtime().strftime("%Y-%m-%dT%H:%M"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, patients=None, experts=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients
        self.fields["patient"].label_from_instance = lambda p: f"{p.name} · {p.mrn}"
        self.fields["named_expert"].queryset = experts


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class QuestionForm(forms.Form):
    question = forms.CharField(label=_("What should the clinic add?"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class AnswerForm(forms.Form):
    answer = forms.CharField(label=_("Information asked for"), widget=forms.Textarea(attrs={"rows": 3}))


class BookingForm(forms.Form):
    experts = forms.ModelMultipleChoiceField(
        label=_("Experts"), queryset=User.objects.none(), widget=forms.CheckboxSelectMultiple,
        help_text=_("Choose one expert, or several for a multidisciplinary (MDT) consult; the lead is chosen below."),
    )
    lead = forms.ModelChoiceField(label=_("Lead expert"), queryset=User.objects.none())
    starts_at = forms.DateTimeField(label=_("Starts at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    minutes = forms.IntegerField(label=_("Length (minutes)"), min_value=10, max_value=240, initial=30)

    def __init__(self, *args, experts=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["experts"].queryset = experts
        self.fields["lead"].queryset = experts

    def ordered_experts(self) -> list[User]:
        """The lead first: booking makes the first expert the lead."""
        lead = self.cleaned_data["lead"]
        return [lead] + [e for e in self.cleaned_data["experts"] if e.pk != lead.pk]


class RescheduleForm(forms.Form):
    starts_at = forms.DateTimeField(label=_("New start"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    reason = forms.CharField(label=_("Reason"), max_length=500)


class DirectoryFilterForm(forms.Form):
    specialty = forms.ChoiceField(label=_("Specialty"), required=False, choices=[("", _("Any specialty"))] + Specialty.choices)
    hospital = forms.ModelChoiceField(label=_("Hospital"), required=False, queryset=Institution.objects.none(), empty_label=_("Any hospital"))
    title = forms.ChoiceField(label=_("Title"), required=False, choices=[("", _("Any title"))] + Title.choices)
    language = forms.ChoiceField(
        label=_("Language"), required=False,
        choices=[("", _("Any language")), ("zh", _("Mandarin")), ("yue", _("Cantonese")), ("en", _("English")), ("ug", _("Uyghur")), ("bo", _("Tibetan"))],
    )
    q = forms.CharField(label=_("Name"), required=False, max_length=100)

    def __init__(self, *args, hospitals=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hospital"].queryset = hospitals


class RuleForm(forms.ModelForm):
    class Meta:
        model = AvailabilityRule
        fields = ["weekday", "starts", "ends", "valid_from", "valid_until"]
        widgets = {
            "starts": forms.TimeInput(attrs={"type": "time"}),
            "ends": forms.TimeInput(attrs={"type": "time"}),
            "valid_from": forms.DateInput(attrs={"type": "date"}),
            "valid_until": forms.DateInput(attrs={"type": "date"}),
        }


class ExceptionForm(forms.ModelForm):
    class Meta:
        model = AvailabilityException
        fields = ["kind", "starts_at", "ends_at", "reason"]
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }


def default_week_start():
    today = timezone.localdate()
    return today - timedelta(days=today.weekday())
