from django.contrib import admin

from imaging.models import DicomNode, ReportTemplate


@admin.register(DicomNode)
class DicomNodeAdmin(admin.ModelAdmin):
    """Operators see every node; alliance administrators register theirs at /imaging/nodes/,
    where the AE title rules and the audit trail apply."""

    list_display = ("ae_title", "kind", "host", "port", "institution", "device", "is_active")
    list_filter = ("is_active", "kind")
    search_fields = ("ae_title", "host", "description")


@admin.register(ReportTemplate)
class ReportTemplateAdmin(admin.ModelAdmin):
    """Operators add a hospital's own report templates here; the shared ones come with migration 0004."""

    list_display = ("name", "modality", "body_part", "language", "hospital", "is_active")
    list_filter = ("modality", "language", "is_active")
    search_fields = ("name", "findings", "impression")
