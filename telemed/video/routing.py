from django.urls import path

from telemed.video.consumers import RoomConsumer

websocket_urlpatterns = [path("ws/video/<uuid:room_id>/", RoomConsumer.as_asgi())]
