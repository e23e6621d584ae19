"""The host's invitations: a colleague with an account, or a guest with a one-time link."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.audit.services import audit_record
from telemed.video.models import Invitation, Room
from telemed.video.services.admission import JoinRefused, is_host


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _require_host(by, room: Room) -> None:
    if not is_host(by, room):
        raise JoinRefused(_("Only the host can invite people to this room."))


def _expiry():
    return timezone.now() + timedelta(hours=settings.VIDEO_GUEST_LINK_HOURS)


def _audit(by, room: Room, invitation: Invitation, action: str) -> None:
    audit_record(actor=by, action=action, obj=room.consult, patient_id=room.consult.patient_id, detail={"invitation": str(invitation.pk)})


@transaction.atomic
def invitation_create_guest(*, by, room: Room, name: str, role: str) -> tuple[Invitation, str]:
    """A one-time link for someone without an account. Returns the invitation and the link's secret (shown once)."""
    _require_host(by, room)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationError({"name": _("Give the guest's name (up to 80 characters) so the others know who is waiting.")})
    if role not in Invitation.GuestRole.values:
        raise ValidationError({"role": _("Choose the guest's role.")})
    secret = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        room=room, guest_name=name, guest_role=role, link_digest=_digest(secret), created_by=by, expires_at=_expiry()
    )
    _audit(by, room, invitation, "video.invite_guest")
    return invitation, secret


@transaction.atomic
def invitation_create_user(*, by, room: Room, user) -> Invitation:
    """Invite a colleague with an account: only someone the host can see (same alliance)."""
    _require_host(by, room)
    if not user.is_active or user.is_device:
        raise ValidationError({"user": _("This account cannot join video sessions.")})
    invitation, _created = Invitation.objects.update_or_create(
        room=room, user=user, revoked_at=None, defaults={"created_by": by, "expires_at": _expiry()}
    )
    _audit(by, room, invitation, "video.invite_user")
    return invitation


@transaction.atomic
def invitation_redeem(*, secret: str, session_key: str) -> Invitation:
    """Spend a guest link for one browser session; the same session may come back, no other can."""
    invitation = Invitation.objects.select_for_update().filter(link_digest=_digest(secret or "")).first()
    if invitation is None or invitation.revoked_at is not None:
        raise JoinRefused(_("This invitation link is not valid or has been withdrawn. Ask the host for a new one."))
    if invitation.redeemed_at is not None:
        if invitation.redeemed_by_session != session_key:
            raise JoinRefused(_("This invitation link has already been used. Ask the host for a new one."))
        return invitation
    if invitation.expires_at <= timezone.now():
        raise JoinRefused(_("This invitation link has expired. Ask the host for a new one."))
    invitation.redeemed_at, invitation.redeemed_by_session = timezone.now(), session_key
    invitation.save(update_fields=["redeemed_at", "redeemed_by_session"])
    return invitation


@transaction.atomic
def invitation_revoke(*, by, room: Room, invitation_id) -> Invitation:
    _require_host(by, room)
    invitation = Invitation.objects.select_for_update().filter(pk=invitation_id, room=room).first()
    if invitation is None:
        raise JoinRefused(_("No such invitation in this room."))
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        _audit(by, room, invitation, "video.revoke_invitation")
    return invitation
