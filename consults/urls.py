from django.urls import path

from consults import views

app_name = "consults"
urlpatterns = [
    # --- requests, board, booking, directory, availability (views.py) ---
    # --- calendars and reminders ---
    # --- opinions and referrals ---
    # --- statistics ---
]
