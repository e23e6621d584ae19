from __future__ import annotations

from telemed.audit.models import Outcome
from telemed.audit.origin import origin_from_request, origin_scope
from telemed.audit.services import audit_record


class AuditOriginMiddleware:
    """Sets the origin of every event recorded during the request, and records refusals (403)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with origin_scope(origin_from_request(request)):
            response = self.get_response(request)
            if response.status_code == 403:
                user = getattr(request, "user", None)
                audit_record(
                    actor=user if user is not None and user.is_authenticated else None,
                    action="request.denied",
                    outcome=Outcome.DENIED,
                    detail={"method": request.method, "path": request.path[:200]},
                )
        return response
