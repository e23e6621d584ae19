"""Signing in and out, with throttling of failed attempts per account and per IP address.

Throttling is written here rather than taken from django-axes because each account and each
address need their own limit (a clinic's doctors share one NAT address) and every failure and
lock-out must land in our own audit chain with the same origin data as every other event.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import LoginFailure, User
from telemed.audit.models import Outcome
from telemed.audit.origin import current_origin
from telemed.audit.services import audit_record


@dataclass(frozen=True)
class SignInResult:
    user: User | None
    error: str = ""
    locked: bool = False


def _failures_since(**lookup) -> int:
    since = timezone.now() - settings.LOGIN_THROTTLE["window"]
    return LoginFailure.objects.filter(occurred_at__gte=since, **lookup).count()


def _lock_reason(username: str, ip: str | None) -> str:
    limits = settings.LOGIN_THROTTLE
    minutes = int(limits["window"].total_seconds() // 60)
    if _failures_since(username=username) >= limits["per_account"]:
        return _("Too many failed sign-ins for this account. Wait %(minutes)d minutes and try again, or ask your administrator.") % {"minutes": minutes}
    if ip and _failures_since(ip=ip) >= limits["per_ip"]:
        return _("Too many failed sign-ins from this network address. Wait %(minutes)d minutes and try again.") % {"minutes": minutes}
    return ""


def _target(username: str) -> User | None:
    return User.objects.filter(username=username).first()


def signin_attempt(*, request, username: str, password: str) -> SignInResult:
    """Check the lock, then the password; record the outcome in the audit trail either way."""
    username = username.strip()[:150]
    ip = current_origin().ip
    target = _target(username)
    reason = _lock_reason(username, ip)
    if reason:
        audit_record(actor=target, action="auth.login", outcome=Outcome.DENIED, username=username, detail={"reason": "locked"})
        return SignInResult(None, reason, locked=True)
    user = authenticate(request, username=username, password=password)
    if user is None or user.is_device:
        LoginFailure.objects.create(username=username, ip=ip)
        audit_record(actor=target, action="auth.login", outcome=Outcome.FAILED, username=username, detail={"reason": "bad_credentials"})
        if _lock_reason(username, ip):
            audit_record(actor=target, action="auth.lockout", outcome=Outcome.DENIED, username=username)
        return SignInResult(None, _("The user name or password is not correct. Both are case-sensitive."))
    login(request, user)
    LoginFailure.objects.filter(username=username).delete()
    audit_record(actor=user, action="auth.login")
    return SignInResult(user)


def signout(*, request) -> None:
    if request.user.is_authenticated:
        audit_record(actor=request.user, action="auth.logout")
    logout(request)


def login_failures_prune() -> int:
    """Forget failures older than the throttle window; they no longer count (the audit trail keeps them)."""
    cutoff = timezone.now() - settings.LOGIN_THROTTLE["window"]
    deleted, _ = LoginFailure.objects.filter(occurred_at__lt=cutoff).delete()
    return deleted
