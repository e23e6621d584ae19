from __future__ import annotations

import zoneinfo
from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import AccessToken, Department, Institution, Role, Specialty, Title, User

COMMON_TIME_ZONES = [
    "Asia/Shanghai",
    "Asia/Urumqi",
    "Asia/Hong_Kong",
    "Asia/Macau",
    "Asia/Taipei",
    "UTC",
]


class SignInForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class InstitutionForm(forms.ModelForm):
    class Meta:
        model = Institution
        fields = ["alliance", "kind", "name", "code", "region", "address", "phone"]

    def __init__(self, *args, alliances=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            del self.fields["alliance"], self.fields["kind"]
        else:
            self.fields["alliance"].queryset = alliances
            self.fields["alliance"].empty_label = None


class DepartmentForm(forms.Form):
    specialty = forms.ChoiceField(label=_("Specialty"), choices=Specialty.choices)
    name = forms.CharField(label=_("Name"), max_length=120)


class PairingForm(forms.Form):
    hospital = forms.ModelChoiceField(label=_("Hospital"), queryset=Institution.objects.none())
    clinic = forms.ModelChoiceField(label=_("Clinic"), queryset=Institution.objects.none())
    started_on = forms.DateField(label=_("Started on"), initial=timezone.localdate, widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args, institutions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hospital"].queryset = institutions.filter(kind=Institution.Kind.HOSPITAL, is_active=True)
        self.fields["clinic"].queryset = institutions.filter(kind=Institution.Kind.CLINIC, is_active=True)


class MembershipForm(forms.Form):
    """A role at one of the institutions the administrator manages, optionally in a department."""

    institution = forms.ModelChoiceField(label=_("Institution"), queryset=Institution.objects.none())
    role = forms.ChoiceField(label=_("Role"), choices=[c for c in Role.choices if c[0] != Role.DEVICE])
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.none(), required=False)

    def __init__(self, *args, institutions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = institutions
        self.fields["department"].queryset = Department.objects.filter(institution__in=institutions).select_related("institution")
        self.fields["department"].label_from_instance = lambda d: f"{d.institution.name} · {d.name}"


class PersonForm(MembershipForm):
    username = forms.CharField(label=_("User name"), max_length=150)
    full_name = forms.CharField(label=_("Full name"), max_length=120)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    password = forms.CharField(
        label=_("Initial password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 10 characters; the person should change it after signing in."),
    )

    field_order = ["username", "full_name", "email", "phone", "institution", "role", "department", "password"]


class DeviceForm(forms.Form):
    username = forms.CharField(label=_("Device name (user name)"), max_length=150, help_text=_("For example qingshan-ct-pacs."))
    full_name = forms.CharField(label=_("Description"), max_length=120, help_text=_("For example: CT scanner PACS, Qingshan clinic."))
    institution = forms.ModelChoiceField(label=_("Institution"), queryset=Institution.objects.none())

    def __init__(self, *args, institutions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = institutions


class QualificationForm(forms.Form):
    licence_number = forms.CharField(label=_("Licence number"), max_length=40)
    title = forms.ChoiceField(label=_("Professional title"), choices=Title.choices)
    specialties = forms.MultipleChoiceField(label=_("Specialties"), choices=Specialty.choices, widget=forms.CheckboxSelectMultiple)
    independent_practice_since = forms.DateField(label=_("In independent practice since"), widget=forms.DateInput(attrs={"type": "date"}))


class ProfileForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=120)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=[(tz, tz) for tz in COMMON_TIME_ZONES])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.initial.get("time_zone")
        if current and current not in COMMON_TIME_ZONES and current in zoneinfo.available_timezones():
            self.fields["time_zone"].choices = [(current, current)] + self.fields["time_zone"].choices


def _default_expiry():
    return (timezone.localdate() + timedelta(days=90)).isoformat()


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("Where the token is used, e.g. 'Qingshan CT PACS'."))
    scopes = forms.MultipleChoiceField(label=_("Scopes"), choices=AccessToken.Scope.choices, widget=forms.CheckboxSelectMultiple)
    expires_on = forms.DateField(label=_("Expires on"), initial=_default_expiry, widget=forms.DateInput(attrs={"type": "date"}))
    owner = forms.ModelChoiceField(label=_("For"), queryset=User.objects.none(), required=False, empty_label=_("Myself"))

    def __init__(self, *args, devices=None, **kwargs):
        super().__init__(*args, **kwargs)
        if devices is not None and devices.exists():
            self.fields["owner"].queryset = devices
        else:
            del self.fields["owner"]
