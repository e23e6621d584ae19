"""The audit trail: an append-only chain of events, each sealed with an HMAC of its predecessor.

`seq` numbers events without gaps, `prev_hash` links each to the one before and `hash` seals the
event's content with a key kept outside the database, so a person with write access to the
database alone can neither change, remove nor insert an event without the verifier noticing.
Triggers installed by the migrations refuse UPDATE and DELETE on the table as a first line.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class Outcome(models.TextChoices):
    SUCCESS = "success", _("Success")
    DENIED = "denied", _("Denied")
    FAILED = "failed", _("Failed")


class Channel(models.TextChoices):
    WEB = "web", _("Web page")
    API = "api", _("REST API")
    WEBSOCKET = "ws", _("WebSocket")
    DICOM = "dicom", _("DICOM")
    COMMAND = "cli", _("Command line")
    SYSTEM = "system", _("Background task")


class AuditEvent(models.Model):
    seq = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField(_("time"), db_index=True)
    # No database constraint: the trail outlives anything it mentions and is never cascaded.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
        verbose_name=_("who"),
    )
    actor_username = models.CharField(_("user name"), max_length=150, blank=True)
    actor_role = models.CharField(_("role"), max_length=64, blank=True)
    institution_id = models.UUIDField(null=True, db_index=True)
    institution_name = models.CharField(_("institution"), max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    patient_id = models.UUIDField(_("patient"), null=True, db_index=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    detail = models.JSONField(_("detail"), default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-seq"]
        indexes = [models.Index(fields=["actor", "occurred_at"], name="audit_actor_time")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"


class ChainHead(models.Model):
    """One row: the last event's number and hash. Writers lock it, so the chain never forks."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
