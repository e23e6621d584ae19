from django.urls import path

from imaging import upload, views

app_name = "imaging"
urlpatterns = [
    path("", views.study_list, name="studies"),
    path("studies/<uuid:study_id>/", views.study_detail, name="study"),
    path("studies/<uuid:study_id>/reconcile/", views.study_reconcile, name="reconcile"),
    path("studies/<uuid:study_id>/view/", views.study_viewer, name="viewer"),
    path("upload/", views.upload_page, name="upload"),
    path("upload/known/", upload.upload_known, name="upload_known"),
    path("upload/instance/", upload.upload_instance, name="upload_instance"),
]
