from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = _("Remote imaging")
