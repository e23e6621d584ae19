from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsultsConfig(AppConfig):
    name = "consults"
    verbose_name = _("Expert consultations")
