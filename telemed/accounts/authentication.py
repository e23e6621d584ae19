"""DRF authentication by personal access token (`Authorization: Bearer tm_…`) and scope checks."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from telemed.accounts.models import AccessToken
from telemed.accounts.services.tokens import token_authenticate
from telemed.audit.models import Outcome
from telemed.audit.services import audit_record


class AccessTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("The Authorization header must be 'Bearer <token>'."))
        raw = header[1].decode(errors="replace")
        found = token_authenticate(raw)
        if found is None:
            audit_record(actor=None, action="auth.token", outcome=Outcome.FAILED, detail={"prefix": raw[:11]})
            raise exceptions.AuthenticationFailed(_("This access token is unknown, expired or revoked."))
        return found

    def authenticate_header(self, request) -> str:
        return self.keyword


class UnparsedBodySessionAuthentication(authentication.SessionAuthentication):
    """Session authentication whose CSRF check leaves a body it cannot parse unread.

    DRF checks the CSRF token on its own request, whose POST parses the body with the view's
    parsers; a view that reads its body itself (STOW-RS, multipart/related) has none, so every
    signed-in POST there was refused with 415 before the token was looked at. Django's request
    does not parse such a body, so the token is taken from the X-CSRFToken header, as for an API
    call in JSON."""

    def enforce_csrf(self, request):
        return super().enforce_csrf(request._request)


class TokenScopePermission(permissions.BasePermission):
    """A token-authenticated request needs the view's read or write scope; a session needs none.

    Views name their scopes with `token_read_scope` / `token_write_scope`; the API defaults apply
    otherwise, so a DICOM-only token cannot read the patient list.
    """

    message = _("This access token's scopes do not allow this request.")

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            return True
        if request.method in permissions.SAFE_METHODS:
            needed = getattr(view, "token_read_scope", AccessToken.Scope.API_READ)
        else:
            needed = getattr(view, "token_write_scope", AccessToken.Scope.API_WRITE)
        return needed in token.scopes


class AccessTokenScheme(OpenApiAuthenticationExtension):
    """Describes token authentication in the OpenAPI schema."""

    target_class = AccessTokenAuthentication
    name = "accessToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "tm_<prefix>_<secret>",
            "description": "A personal access token, issued on the Access tokens page or by POST /api/v1/tokens/.",
        }
