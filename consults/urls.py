from django.urls import path

from consults import views

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
    # --- opinions and referrals ---
    # --- statistics ---
]
