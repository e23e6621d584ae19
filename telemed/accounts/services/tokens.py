"""Personal access tokens for machine clients (a clinic's PACS, a DICOMweb viewer, scripts).

A token authenticates as its owner and is further narrowed by its scopes, so it can never do
more than the owner could. Only a SHA-256 of the secret is stored; the secret is shown once.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed import access
from telemed.accounts.models import AccessToken, User
from telemed.audit.services import audit_record

TOKEN_PREFIX = "tm_"
# Writing last_used_at on every request would turn each API read into a write; a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _check_may_issue(*, owner: User, by: User) -> None:
    if owner.pk == by.pk and not owner.is_device:
        return
    if owner.is_device and access.manageable_users(by).filter(pk=owner.pk).exists():
        return
    raise PermissionDenied(_("You can issue tokens for yourself; administrators can also issue them for their alliance's devices."))


def _clean_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(AccessToken.Scope.values))
    if unknown:
        raise ValidationError({"scopes": _("Unknown scope: %(scopes)s.") % {"scopes": ", ".join(unknown)}})
    if not scopes:
        raise ValidationError({"scopes": _("Choose at least one scope.")})
    return sorted(set(scopes))


def _clean_expiry(expires_at: datetime) -> datetime:
    now = timezone.now()
    if expires_at <= now:
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    longest = now + timedelta(days=settings.ACCESS_TOKEN_MAX_DAYS)
    if expires_at > longest:
        raise ValidationError(
            {"expires_at": _("A token may last at most %(days)d days.") % {"days": settings.ACCESS_TOKEN_MAX_DAYS}}
        )
    return expires_at


def token_create(*, owner: User, by: User, name: str, scopes: list[str], expires_at: datetime) -> tuple[AccessToken, str]:
    """Issue a token; returns it with its secret, which is not kept and cannot be shown again."""
    _check_may_issue(owner=owner, by=by)
    if not name.strip():
        raise ValidationError({"name": _("Give the token a name that says where it is used.")})
    scopes = _clean_scopes(scopes)
    expires_at = _clean_expiry(expires_at)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = AccessToken.objects.create(
            user=owner,
            name=name.strip()[:100],
            prefix=prefix,
            key_hash=_digest(raw),
            scopes=scopes,
            created_by=by,
            expires_at=expires_at,
        )
        audit_record(actor=by, action="token.create", obj=token, detail={"owner": str(owner.pk), "scopes": scopes})
    return token, raw


def token_revoke(*, token: AccessToken, by: User) -> AccessToken:
    if not access.visible_tokens(by).filter(pk=token.pk).exists():
        raise PermissionDenied(_("You cannot revoke this token."))
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.revoked_by = by
            token.save(update_fields=["revoked_at", "revoked_by"])
            audit_record(actor=by, action="token.revoke", obj=token)
        _recent.pop(token.key_hash, None)
    return token


def token_authenticate(raw: str) -> tuple[User, AccessToken] | None:
    """The owner and token for a presented secret, or None if unknown, expired, revoked or disabled.

    A PACS or a DICOMweb viewer sends many requests a second with one token, so a token found
    valid is trusted for ACCESS_TOKEN_CACHE_SECONDS without asking the database again, with
    its owner (and what the request caches on the owner: roles, the membership audit events
    name). Revoking, deactivating the owner or changing their memberships takes effect at once in
    the process that did it (`tokens_forget`), within that time in the others.
    """
    if not raw.startswith(TOKEN_PREFIX):
        return None
    digest, now = _digest(raw), timezone.now()
    found = _recent.get(digest)
    if found is None or found[0] <= time.monotonic():
        token = AccessToken.objects.select_related("user").filter(key_hash=digest).first()
        if token is None or token.revoked_at is not None or not token.user.is_active:
            return None
        found = _remember(digest, token)
    token = found[1]
    if token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token.user, token


def tokens_forget(*, user: User) -> None:
    """Drop this person's remembered tokens, when their rights change (deactivated, a
    membership ended or added): in this process at once, in the others within the cache time."""
    for digest, (_until, token) in list(_recent.items()):
        if token.user_id == user.pk:
            _recent.pop(digest, None)


# SHA-256 of the secret → (monotonic time the entry ends, the token with its owner).
_recent: dict[str, tuple[float, AccessToken]] = {}
MAX_REMEMBERED = 1000


def _remember(digest: str, token: AccessToken) -> tuple[float, AccessToken]:
    if len(_recent) >= MAX_REMEMBERED:
        _recent.clear()
    entry = (time.monotonic() + settings.ACCESS_TOKEN_CACHE_SECONDS, token)
    if settings.ACCESS_TOKEN_CACHE_SECONDS:
        _recent[digest] = entry
    return entry
