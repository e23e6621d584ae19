from __future__ import annotations

from decimal import Decimal

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from imaging.models import DicomNode
from telemed.accounts.models import Institution, User

GB = 1024**3


class NodeForm(forms.Form):
    institution = forms.ModelChoiceField(label=_("Institution"), queryset=Institution.objects.none())
    kind = forms.ChoiceField(label=_("Kind"), choices=DicomNode.Kind.choices)
    # Longer than 16 on purpose: the service says what is wrong with a long title.
    ae_title = forms.CharField(label=_("AE title"), max_length=64, strip=False, help_text=_("As configured on the modality or PACS: at most 16 characters, A–Z, digits, spaces or ASCII punctuation."))
    host = forms.GenericIPAddressField(label=_("IP address"), help_text=_("The address its associations come from (after any NAT); associations from elsewhere are refused."))
    port = forms.IntegerField(label=_("Port"), required=False, min_value=1, max_value=65535, help_text=_("The port the node listens on, for the C-ECHO check; leave empty for a modality that only sends."))
    device = forms.ModelChoiceField(label=_("Device account"), required=False, queryset=User.objects.none(), empty_label=_("A new device account for this node"))
    description = forms.CharField(label=_("Description"), required=False, max_length=200)

    def __init__(self, *args, institutions=None, devices=None, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["institution"]
            self.fields["device"].required = True
            self.fields["device"].empty_label = None
        else:
            self.fields["institution"].queryset = institutions
        self.fields["device"].queryset = devices
        self.fields["device"].label_from_instance = lambda user: f"{user.full_name} ({user.username})"


class QuotaForm(forms.Form):
    quota_gb = forms.DecimalField(label=_("Quota (GB)"), required=False, min_value=Decimal(0), max_digits=12, decimal_places=3)

    def __init__(self, *args, default_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        default = filesizeformat(default_bytes) if default_bytes else _("no limit")
        self.fields["quota_gb"].help_text = _("Empty: the default (%(default)s). 0: no limit.") % {"default": default}

    def quota_bytes(self) -> int | None:
        value = self.cleaned_data["quota_gb"]
        return None if value is None else int(value * GB)
