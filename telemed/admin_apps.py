from django.contrib.admin.apps import AdminConfig


class OperatorAdminConfig(AdminConfig):
    """Django's admin, with the operators-only site of `telemed.admin_site`."""

    default_site = "telemed.admin_site.OperatorAdminSite"
