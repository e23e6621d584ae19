from django.urls import path

from telemed.video import views

app_name = "video"
urlpatterns = [
    path("consults/<uuid:consult_id>/", views.room_page, name="room"),
    path("consults/<uuid:consult_id>/invite/", views.invite_guest, name="invite_guest"),
    path("consults/<uuid:consult_id>/invitations/<uuid:invitation_id>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("guest/<str:secret>/", views.guest_entry, name="guest"),
    path("recordings/<uuid:recording_id>/", views.recording_play, name="recording"),
]
