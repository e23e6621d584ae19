"""The menu each role sees, and the page each role lands on after signing in."""
from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from telemed import access
from telemed.accounts.models import Role


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    roles: frozenset[str]  # empty: everyone signed in


ALL_STAFF = frozenset()
NAV_ITEMS = (
    NavItem(_("Patients"), "patients:list", frozenset({Role.CLINIC_DOCTOR})),
    NavItem(_("Studies"), "imaging:studies", frozenset({Role.CLINIC_DOCTOR})),
    NavItem(_("Consult board"), "consults:board", frozenset({Role.COORDINATOR})),
    NavItem(_("Consultations"), "consults:list", frozenset({Role.CLINIC_DOCTOR, Role.COORDINATOR, Role.SPECIALIST})),
    NavItem(_("Experts"), "consults:directory", frozenset({Role.CLINIC_DOCTOR, Role.COORDINATOR})),
    NavItem(_("Referrals"), "consults:referral_list", frozenset({Role.CLINIC_DOCTOR, Role.COORDINATOR, Role.SPECIALIST})),
    NavItem(_("Institutions"), "accounts:institutions", frozenset({Role.COORDINATOR, Role.ADMINISTRATOR})),
    NavItem(_("Pairings"), "accounts:pairings", frozenset({Role.COORDINATOR, Role.ADMINISTRATOR})),
    NavItem(_("People"), "accounts:people", frozenset({Role.COORDINATOR, Role.ADMINISTRATOR})),
    NavItem(_("Statistics"), "consults:statistics", frozenset({Role.COORDINATOR, Role.ADMINISTRATOR})),
    NavItem(_("DICOM nodes"), "imaging:nodes", frozenset({Role.ADMINISTRATOR})),
    NavItem(_("Storage"), "imaging:storage", frozenset({Role.ADMINISTRATOR})),
    NavItem(_("Audit trail"), "audit:events", frozenset({Role.ADMINISTRATOR, Role.AUDITOR})),
    # Tokens, the calendar feed and the API docs are linked from the profile page.
    NavItem(_("My profile"), "accounts:profile", ALL_STAFF),
)

# The first role a user holds in this order decides their landing page.
LANDING = (
    (Role.CLINIC_DOCTOR, "patients:list"),
    (Role.COORDINATOR, "consults:board"),
    (Role.ADMINISTRATOR, "accounts:people"),
    (Role.AUDITOR, "audit:events"),
    (Role.SPECIALIST, "consults:list"),
    (Role.RADIOLOGIST, "accounts:profile"),
)


def nav_items(user) -> list[NavItem]:
    held = access.roles(user)
    return [item for item in NAV_ITEMS if not item.roles or item.roles & held or user.is_superuser]


def landing_url_name(user) -> str:
    held = access.roles(user)
    for role, url_name in LANDING:
        if role in held:
            return url_name
    if user.is_superuser:
        return "accounts:people"
    return "accounts:profile"
