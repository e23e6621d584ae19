"""Video rooms: who may be in them, who is, and what was said in them.

A room belongs to a consult (ward rounds will get rooms of their own). People with an account join
because of who they are (the consult's participants, its coordinator) or because the host invited
them; guests without an account hold a one-time link and wait in the lobby until admitted.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from consults.models import Consult


class RelayWorker(models.Model):
    """A `manage.py runrelay` process: the channel it listens on, and when it last said it was alive."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.name


class Room(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consult = models.OneToOneField(Consult, on_delete=models.CASCADE, related_name="room")
    created_at = models.DateTimeField(auto_now_add=True)
    # Paths the relay had to re-encode because a receiver could not decode the sender's codec.
    transcoding = models.JSONField(default=list, blank=True)
    # Who started the recording under way, if one is (the relay holds the files until it stops).
    recording_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # With relay workers, the one holding this room's media (a room lives on one worker).
    relay_worker = models.ForeignKey(RelayWorker, on_delete=models.SET_NULL, null=True, blank=True, related_name="rooms")

    def __str__(self) -> str:
        return str(self.consult)


class Invitation(models.Model):
    """The host lets in someone who is not a participant: a colleague, or a guest with a one-time link."""

    class GuestRole(models.TextChoices):
        INTERPRETER = "interpreter", _("Interpreter")
        FAMILY = "family", _("Family member")
        COLLEAGUE = "colleague", _("Colleague")
        OTHER = "other", _("Other")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    guest_name = models.CharField(_("name"), max_length=80, blank=True)
    guest_role = models.CharField(_("role"), max_length=12, choices=GuestRole.choices, default=GuestRole.OTHER)
    # SHA-256 of the one-time link's secret; the secret itself is shown once to the host.
    link_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)
    # The browser session that redeemed the link: the link is spent, this session keeps the seat.
    redeemed_by_session = models.CharField(max_length=64, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(user__isnull=False) | ~Q(guest_name=""), name="invitation_names_someone"),
        ]

    @property
    def display_name(self) -> str:
        return str(self.user) if self.user_id else self.guest_name


class Attendance(models.Model):
    """One person's stay in a room, from knocking (lobby) to leaving; reconnections stay one stay."""

    class State(models.TextChoices):
        WAITING = "waiting", _("Waiting in the lobby")
        IN_ROOM = "in_room", _("In the room")
        LEFT = "left", _("Left")
        REMOVED = "removed", _("Removed by the host")
        TURNED_AWAY = "turned_away", _("Not admitted")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="attendances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    invitation = models.ForeignKey(Invitation, on_delete=models.PROTECT, null=True, blank=True, related_name="attendances")
    state = models.CharField(max_length=12, choices=State.choices, default=State.WAITING)
    # The WebSocket currently holding the seat: a second tab or a reconnect takes it over.
    channel_name = models.CharField(max_length=200, blank=True)
    knocked_at = models.DateTimeField(auto_now_add=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    # The browser's own summary of its getStats (RTT, loss, bitrate, frame rate, freezes, audio-only time).
    quality = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(user__isnull=False) | Q(invitation__isnull=False), name="attendance_names_someone"),
            # One live seat per person and room: no ghosts after a reconnect or a second tab.
            models.UniqueConstraint(
                fields=["room", "user"], condition=Q(state__in=["waiting", "in_room"], user__isnull=False), name="one_live_seat_per_user"
            ),
            models.UniqueConstraint(
                fields=["room", "invitation"],
                condition=Q(state__in=["waiting", "in_room"], invitation__isnull=False),
                name="one_live_seat_per_guest",
            ),
        ]
        indexes = [models.Index(fields=["room", "state"])]

    @property
    def display_name(self) -> str:
        return str(self.user) if self.user_id else self.invitation.guest_name


class ChatMessage(models.Model):
    """In-call chat, kept with the consult."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    attendance = models.ForeignKey(Attendance, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=2000)
    sent_at = models.DateTimeField(auto_now_add=True, db_index=True)


class RecordingConsent(models.Model):
    """One person's consent to this consult's session being recorded (withdrawn by deleting it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="recording_consents")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    given_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consult", "user"], condition=Q(user__isnull=False), name="one_consent_per_user"),
            models.UniqueConstraint(fields=["consult", "invitation"], condition=Q(invitation__isnull=False), name="one_consent_per_guest"),
        ]


class Recording(models.Model):
    """One file of a participant's forwarded media, as sent, kept with the consult: microphone and
    camera together, or a screen share on its own. WebM (VP8, Opus) or, for an H.264 sender, MP4."""

    class Source(models.TextChoices):
        CAMERA = "camera", _("Camera and microphone")
        SCREEN = "screen", _("Screen share")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="recordings")
    attendance = models.ForeignKey(Attendance, on_delete=models.PROTECT, null=True, related_name="+")
    storage_key = models.CharField(max_length=300, unique=True)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    duration_seconds = models.FloatField()
    kinds = models.JSONField(default=list)
    # Which of the participant's tracks (another label than these is kept as the relay named it).
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.CAMERA)
    offset_seconds = models.FloatField(default=0.0)  # from the start of the recording to the file's first frame
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    stored_at = models.DateTimeField(auto_now_add=True)

    @property
    def media_type(self) -> str:
        return "video/mp4" if self.storage_key.endswith(".mp4") else "video/webm"
