from django.urls import path

from imaging import archive_views, export_views, upload, views

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
]
