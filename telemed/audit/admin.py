from django.contrib import admin

from telemed.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is append-only, even for operators."""

    list_display = ("seq", "occurred_at", "actor_username", "action", "outcome")
    list_filter = ("outcome", "channel")
    search_fields = ("actor_username", "action", "object_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
