from django.contrib import admin

from imaging.models import DicomNode


@admin.register(DicomNode)
class DicomNodeAdmin(admin.ModelAdmin):
    """Operators register each clinic's modalities here until the administrators' page exists."""

    list_display = ("ae_title", "host", "institution", "device", "is_active")
    list_filter = ("is_active",)
    search_fields = ("ae_title", "host", "description")
