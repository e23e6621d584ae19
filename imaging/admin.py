from django.contrib import admin

from imaging.models import DicomNode


@admin.register(DicomNode)
class DicomNodeAdmin(admin.ModelAdmin):
    """Operators see every node; alliance administrators register theirs at /imaging/nodes/,
    where the AE title rules and the audit trail apply."""

    list_display = ("ae_title", "kind", "host", "port", "institution", "device", "is_active")
    list_filter = ("is_active", "kind")
    search_fields = ("ae_title", "host", "description")
