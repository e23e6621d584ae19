"""Typed readers for environment variables.

Settings come from the environment only; a value that cannot be understood stops the process at
start with a message naming the variable, instead of surfacing later as an odd failure.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int_list(name: str, default: list[int]) -> list[int]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} must be whole numbers separated by commas.") from None


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}.")
    return value


def env_ip_address(name: str) -> str:
    """An address other machines reach this one at (IPv4 or IPv6), or "" when unset."""
    raw = env_str(name)
    if not raw:
        return ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an IP address such as 203.0.113.10.") from None
    if address.is_unspecified or address.is_loopback or address.is_multicast or address.is_link_local:
        raise ImproperlyConfigured(f"{name}={raw!r} cannot be reached from another machine; give the address browsers reach this host at.")
    return str(address)


def secret_from_env_or_file(name: str, path: Path, *, nbytes: int = 48) -> str:
    """The secret named by the environment, else one generated once and kept beside the data.

    The embedded default needs no configuration yet keeps sessions valid across restarts; a
    production deployment passes the secret in the environment and never writes it to disk.
    """
    value = env_str(name)
    if value:
        if len(value) < 32:
            raise ImproperlyConfigured(f"{name} must be at least 32 characters long.")
        return value
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of the same start won the race
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
