"""The critical-finding banner on every page of a clinic doctor whose clinic has one to acknowledge.

Only a count and a link: no patient data on every page (the read's page, which shows it, is audited).
"""
from __future__ import annotations

from telemed import access
from telemed.accounts.models import Role


def critical_findings(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not access.has_role(user, Role.CLINIC_DOCTOR):
        return {}
    from imaging.services.reading.critical import reads_awaiting_acknowledgement

    return {"critical_reads": reads_awaiting_acknowledgement(user)}
