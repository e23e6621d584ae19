from django.urls import path

from consults import views
from consults import opinion_views
from consults import calendar_views
from consults import statistics_views

app_name = "consults"
urlpatterns = [
    # --- requests, board, booking, directory, availability (views.py) ---
    path("", views.consult_list, name="list"),
    path("new/", views.consult_new, name="new"),
    path("<uuid:consult_id>/", views.consult_detail, name="detail"),
    path("<uuid:consult_id>/triage/", views.consult_triage, name="triage"),
    path("<uuid:consult_id>/ask-info/", views.consult_ask_info, name="ask_info"),
    path("<uuid:consult_id>/add-info/", views.consult_add_info, name="add_info"),
    path("<uuid:consult_id>/decline/", views.consult_decline, name="decline"),
    path("<uuid:consult_id>/book/", views.consult_book, name="book"),
    path("<uuid:consult_id>/reschedule/", views.consult_reschedule, name="reschedule"),
    path("<uuid:consult_id>/cancel/", views.consult_cancel, name="cancel"),
    path("<uuid:consult_id>/offer/", views.consult_offer, name="offer"),
    path("<uuid:consult_id>/accept/", views.consult_accept_offer, name="accept"),
    path("attachments/<uuid:attachment_id>/", views.attachment_download, name="attachment"),
    path("board/", views.board, name="board"),
    path("board/rows/", views.board_rows, name="board_rows"),
    path("experts/", views.directory, name="directory"),
    path("experts/<uuid:user_id>/", views.expert_calendar, name="expert"),
    path("experts/<uuid:user_id>/hours/", views.hours_add, name="hours_add"),
    path("hours/<uuid:rule_id>/remove/", views.hours_remove, name="hours_remove"),
    path("experts/<uuid:user_id>/exceptions/", views.exception_add, name="exception_add"),
    path("exceptions/<uuid:exception_id>/remove/", views.exception_remove, name="exception_remove"),
    # --- calendars and reminders ---
    path("calendar/", calendar_views.calendar_page, name="calendar"),
    path("calendar/revoke/", calendar_views.calendar_revoke, name="calendar_revoke"),
    path("calendar/feed/<str:key>.ics", calendar_views.calendar_feed, name="calendar_feed"),
    path("<uuid:consult_id>/invite.ics", calendar_views.consult_invite, name="invite"),
    path("notifications/", calendar_views.notification_list, name="notifications"),
    path("notifications/unread.json", calendar_views.notification_unread, name="notifications_unread"),
    # --- opinions and referrals ---
    path("<uuid:consult_id>/session/start/", opinion_views.session_start, name="session_start"),
    path("<uuid:consult_id>/session/end/", opinion_views.session_end, name="session_end"),
    path("<uuid:consult_id>/opinion/", opinion_views.opinion_edit, name="opinion_edit"),
    path("<uuid:consult_id>/opinions/print/", opinion_views.opinions_print, name="opinions_print"),
    path("opinions/<uuid:opinion_id>/addendum/", opinion_views.addendum_add, name="addendum_add"),
    path("<uuid:consult_id>/referral/new/", opinion_views.referral_create, name="referral_create"),
    path("referrals/", opinion_views.referral_list, name="referral_list"),
    path("referrals/<uuid:referral_id>/", opinion_views.referral_detail, name="referral_detail"),
    # --- statistics ---
    path("statistics/", statistics_views.statistics_page, name="statistics"),
    path("statistics/<str:table>.csv", statistics_views.statistics_export, name="statistics_export"),
]
