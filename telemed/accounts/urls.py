from django.urls import path

from telemed.accounts import views

app_name = "accounts"
urlpatterns = [
    path("institutions/", views.institution_list, name="institutions"),
    path("institutions/new/", views.institution_create, name="institution_create"),
    path("institutions/<uuid:institution_id>/", views.institution_detail, name="institution"),
    path("institutions/<uuid:institution_id>/edit/", views.institution_edit, name="institution_edit"),
    path("pairings/", views.pairing_list, name="pairings"),
    path("pairings/<uuid:pairing_id>/end/", views.pairing_end, name="pairing_end"),
    path("people/", views.people_list, name="people"),
    path("people/new/", views.person_create, name="person_create"),
    path("people/new-device/", views.person_create, {"device": True}, name="device_create"),
    path("people/<uuid:user_id>/", views.person_detail, name="person"),
    path("people/<uuid:user_id>/roles/", views.person_membership_add, name="person_membership_add"),
    path("people/<uuid:user_id>/active/", views.person_set_active, name="person_set_active"),
    path("memberships/<uuid:membership_id>/end/", views.membership_end, name="membership_end"),
    path("qualifications/<uuid:qualification_id>/verify/", views.qualification_verify, name="qualification_verify"),
    path("profile/", views.profile, name="profile"),
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/<uuid:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
