from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from telemed.accounts.models import AccessToken, Role
from telemed.accounts.services.directory import user_set_active
from telemed.accounts.services.tokens import token_create, token_revoke
from telemed.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _soon(days=30):
    return timezone.now() + timedelta(days=days)


def _api(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")


def test_clinic_doctor_token_reads_their_own_patients_through_the_api(cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    _token, secret = token_create(owner=doctor, by=doctor, name="script", scopes=["api:read"], expires_at=_soon())
    response = _api(secret).get("/api/v1/patients/")
    assert response.status_code == 200
    names = {p["name"] for p in response.json()["results"]}
    assert cast.north.patient.name in names
    assert cast.south.patient.name not in names


def test_token_never_grants_more_than_its_owner_has(cast):
    coordinator = cast.north[Role.COORDINATOR]
    _token, secret = token_create(owner=coordinator, by=coordinator, name="script", scopes=["api:read", "api:write"], expires_at=_soon())
    assert _api(secret).get("/api/v1/patients/").json()["results"] == []
    assert _api(secret).get(f"/api/v1/patients/{cast.north.patient.pk}/").status_code == 404
    response = _api(secret).post("/api/v1/patients/", {"institution": str(cast.north.clinic.pk), "mrn": "X", "name": "X", "sex": "1", "birth_date": "1970-01-01"})
    assert response.status_code == 400


def test_token_scope_limits_what_it_can_do(cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    _token, dicom_only = token_create(owner=doctor, by=doctor, name="pacs", scopes=["dicom:write"], expires_at=_soon())
    assert _api(dicom_only).get("/api/v1/patients/").status_code == 403
    _token, read_only = token_create(owner=doctor, by=doctor, name="reader", scopes=["api:read"], expires_at=_soon())
    response = _api(read_only).patch(f"/api/v1/patients/{cast.north.patient.pk}/", {"name": "Changed"}, content_type="application/json")
    assert response.status_code == 403


@pytest.mark.parametrize("spoil", ["expired", "revoked", "owner_deactivated", "mangled"])
def test_unusable_tokens_are_refused_with_a_reason(cast, spoil):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    token, secret = token_create(owner=doctor, by=doctor, name="script", scopes=["api:read"], expires_at=_soon())
    if spoil == "expired":
        AccessToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif spoil == "revoked":
        token_revoke(token=token, by=doctor)
    elif spoil == "owner_deactivated":
        doctor.is_active = False
        doctor.save()
    else:
        secret = secret[:-2] + "xx"
    response = _api(secret).get("/api/v1/me/")
    assert response.status_code == 401
    assert "unknown, expired or revoked" in response.json()["detail"]
    assert AuditEvent.objects.filter(action="auth.token", outcome="failed").exists()


def test_a_token_remembered_after_use_is_refused_at_once_when_revoked(cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    token, secret = token_create(owner=doctor, by=doctor, name="pacs", scopes=["api:read"], expires_at=_soon())
    assert _api(secret).get("/api/v1/me/").status_code == 200  # now remembered for a few seconds
    token_revoke(token=token, by=doctor)
    assert _api(secret).get("/api/v1/me/").status_code == 401


def test_a_remembered_token_of_a_deactivated_person_is_refused_at_once(cast, django_capture_on_commit_callbacks):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    token, secret = token_create(owner=doctor, by=doctor, name="pacs", scopes=["api:read"], expires_at=_soon())
    assert _api(secret).get("/api/v1/me/").status_code == 200  # now remembered for a few seconds
    with django_capture_on_commit_callbacks(execute=True):
        user_set_active(by=cast.north[Role.ADMINISTRATOR], user=doctor, active=False)
    assert _api(secret).get("/api/v1/me/").status_code == 401


def test_only_a_hash_of_the_secret_is_stored(cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    token, secret = token_create(owner=doctor, by=doctor, name="script", scopes=["api:read"], expires_at=_soon())
    stored = AccessToken.objects.filter(pk=token.pk).values().get()
    assert secret not in str(stored)
    assert secret.startswith(f"tm_{token.prefix}_")


def test_administrator_issues_a_token_for_their_alliances_device(cast):
    admin = cast.north[Role.ADMINISTRATOR]
    token, _secret = token_create(owner=cast.pacs_n1, by=admin, name="CT PACS", scopes=["dicom:write"], expires_at=_soon())
    assert token.user == cast.pacs_n1 and token.created_by == admin
    assert AuditEvent.objects.filter(action="token.create", object_id=str(token.pk)).exists()


def test_administrator_of_another_alliance_cannot_issue_for_the_device(cast):
    with pytest.raises(PermissionDenied):
        token_create(owner=cast.pacs_n1, by=cast.south[Role.ADMINISTRATOR], name="x", scopes=["dicom:write"], expires_at=_soon())


def test_nobody_issues_a_token_for_another_person(cast):
    with pytest.raises(PermissionDenied):
        token_create(owner=cast.north[Role.CLINIC_DOCTOR], by=cast.north[Role.ADMINISTRATOR], name="x", scopes=["api:read"], expires_at=_soon())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"scopes": []}, "scopes"),
        ({"scopes": ["root"]}, "scopes"),
        ({"expires_at": timezone.now() - timedelta(days=1)}, "expires_at"),
        ({"expires_at": timezone.now() + timedelta(days=5000)}, "expires_at"),
        ({"name": "  "}, "name"),
    ],
)
def test_bad_token_requests_name_the_problem_and_create_nothing(cast, changes, field):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    request = {"name": "script", "scopes": ["api:read"], "expires_at": _soon()} | changes
    with pytest.raises(ValidationError) as caught:
        token_create(owner=doctor, by=doctor, **request)
    assert field in caught.value.message_dict
    assert not AccessToken.objects.exists()


def test_token_page_issues_shows_the_secret_once_and_revokes(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.post("/tokens/", {"name": "laptop script", "scopes": ["api:read"], "expires_on": (timezone.localdate() + timedelta(days=10)).isoformat()})
    assert response.status_code == 200
    token = AccessToken.objects.get()
    assert f"tm_{token.prefix}_" in response.content.decode()
    assert f"tm_{token.prefix}_" not in client.get("/tokens/").content.decode()
    client.post(f"/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_api_issues_and_revokes_tokens(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.post("/api/v1/tokens/", {"name": "api", "scopes": ["api:read"], "expires_at": _soon().isoformat()}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("tm_")
    assert _api(body["secret"]).get("/api/v1/me/").json()["username"] == cast.north[Role.CLINIC_DOCTOR].username
    assert client.delete(f"/api/v1/tokens/{body['id']}/").status_code == 204
    assert _api(body["secret"]).get("/api/v1/me/").status_code == 401
