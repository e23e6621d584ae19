"""Django's admin, for platform operators (superusers) only.

Alliance administrators work in the product's own pages, which are scoped to their alliance;
the Django admin is not, so a signed-in non-superuser gets a 403 instead of its login form.
"""
from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse


class OperatorAdminSite(admin.AdminSite):
    site_header = "Telemed operators"

    def has_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def admin_view(self, view, cacheable=False):
        wrapped = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return wrapped(request, *args, **kwargs)

        guarded.__dict__.update(wrapped.__dict__)
        return guarded

    @login_not_required
    def login(self, request, extra_context=None):
        """One sign-in page for everyone, so the throttle and the audit trail see every attempt."""
        if request.user.is_authenticated and not self.has_permission(request):
            raise PermissionDenied
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"), reverse("login"))
