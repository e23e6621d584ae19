from django.contrib import admin

from imaging.models import DicomNode, ReportTemplate


@admin.register(DicomNode)
class DicomNodeAdmin(admin.ModelAdmin):
    """Operators register each clinic's modalities here until the administrators' page exists."""

    list_display = ("ae_title", "host", "institution", "device", "is_active")
    list_filter = ("is_active",)
    search_fields = ("ae_title", "host", "description")


@admin.register(ReportTemplate)
class ReportTemplateAdmin(admin.ModelAdmin):
    """Operators add a hospital's own report templates here; the shared ones come with migration 0003."""

    list_display = ("name", "modality", "body_part", "language", "hospital", "is_active")
    list_filter = ("modality", "language", "is_active")
    search_fields = ("name", "findings", "impression")
