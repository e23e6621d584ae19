from django.urls import path

from imaging import archive_views, export_views, reading_views, upload, views

app_name = "imaging"
urlpatterns = [
    path("", views.study_list, name="studies"),
    path("studies/<uuid:study_id>/", views.study_detail, name="study"),
    path("studies/<uuid:study_id>/reconcile/", views.study_reconcile, name="reconcile"),
    path("studies/<uuid:study_id>/view/", views.study_viewer, name="viewer"),
    path("studies/<uuid:study_id>/export/", export_views.export_create, name="export_create"),
    path("exports/<uuid:export_id>/", export_views.export_detail, name="export"),
    path("exports/<uuid:export_id>/progress/", export_views.export_progress, name="export_progress"),
    path("exports/<uuid:export_id>/download/", export_views.export_download, name="export_download"),
    path("upload/", views.upload_page, name="upload"),
    path("upload/known/", upload.upload_known, name="upload_known"),
    path("upload/instance/", upload.upload_instance, name="upload_instance"),
    path("nodes/", archive_views.node_list, name="nodes"),
    path("nodes/new/", archive_views.node_create, name="node_create"),
    path("nodes/<uuid:node_id>/edit/", archive_views.node_edit, name="node_edit"),
    path("nodes/<uuid:node_id>/active/", archive_views.node_set_active, name="node_set_active"),
    path("nodes/<uuid:node_id>/echo/", archive_views.node_echo, name="node_echo"),
    path("storage/", archive_views.storage_page, name="storage"),
    path("storage/<uuid:institution_id>/quota/", archive_views.storage_quota, name="storage_quota"),
    # --- remote reading (reading_views.py) ---
    path("studies/<uuid:study_id>/read/", reading_views.read_new, name="read_new"),
    path("reads/", reading_views.read_list, name="reads"),
    path("reads/critical-banner/", reading_views.critical_banner, name="critical_banner"),
    path("reads/settings/", reading_views.reading_settings, name="reading_settings"),
    path("reads/settings/hospitals/<uuid:institution_id>/", reading_views.reading_policy, name="reading_policy"),
    path("reads/settings/hospitals/<uuid:institution_id>/readers/<uuid:user_id>/", reading_views.reading_reader, name="reading_reader"),
    path("reads/<uuid:read_id>/", reading_views.read_detail, name="read"),
    path("reads/<uuid:read_id>/assign/", reading_views.read_assign, name="read_assign"),
    path("reads/<uuid:read_id>/claim/", reading_views.read_claim, name="read_claim"),
    path("reads/<uuid:read_id>/release/", reading_views.read_release, name="read_release"),
    path("reads/<uuid:read_id>/decline/", reading_views.read_decline, name="read_decline"),
    path("reads/<uuid:read_id>/cancel/", reading_views.read_cancel, name="read_cancel"),
    path("reads/<uuid:read_id>/report/", reading_views.report_edit, name="report_edit"),
    path("reads/<uuid:read_id>/verify/", reading_views.report_verify, name="report_verify"),
    path("reads/<uuid:read_id>/print/", reading_views.report_print, name="report_print"),
    path("reads/<uuid:read_id>/addendum/", reading_views.report_addendum, name="report_addendum"),
    path("reads/<uuid:read_id>/critical/", reading_views.critical_raise, name="critical_raise"),
    path("reads/<uuid:read_id>/acknowledge/", reading_views.critical_acknowledge, name="critical_acknowledge"),
]
