from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils import timezone

from telemed.accounts.models import LoginFailure, Role
from telemed.audit.models import AuditEvent, Outcome
from tests.accounts.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(client, username, password, ip="10.1.1.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_clinic_doctor_signs_in_and_lands_on_their_patients(cast):
    response = _sign_in(Client(), cast.north[Role.CLINIC_DOCTOR].username, TEST_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/patients/"
    event = AuditEvent.objects.get(action="auth.login")
    assert event.outcome == Outcome.SUCCESS
    assert event.actor_role == Role.CLINIC_DOCTOR
    assert event.institution_name == cast.north.clinic.name
    assert event.ip == "10.1.1.1"


@pytest.mark.parametrize(
    ("role", "landing"),
    [
        (Role.COORDINATOR, "/consults/board/"),
        (Role.ADMINISTRATOR, "/people/"),
        (Role.AUDITOR, "/audit/"),
        (Role.SPECIALIST, "/consults/"),
        (Role.RADIOLOGIST, "/imaging/reads/"),
    ],
)
def test_each_role_lands_on_a_working_page(cast, role, landing):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = _sign_in(client, cast.north[role].username, TEST_PASSWORD)
    assert response["Location"] == landing
    assert client.get(landing).status_code == 200


def test_wrong_password_is_refused_with_a_clear_message_and_recorded(cast):
    user = cast.north[Role.COORDINATOR]
    response = _sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), user.username, "wrong")
    assert response.status_code == 200
    assert "The user name or password is not correct" in response.content.decode()
    event = AuditEvent.objects.get(action="auth.login")
    assert (event.outcome, event.actor_id, event.actor_username) == (Outcome.FAILED, user.pk, user.username)


def test_wrong_password_message_is_in_chinese_for_a_chinese_browser(cast):
    response = _sign_in(Client(HTTP_ACCEPT_LANGUAGE="zh-CN"), cast.north[Role.COORDINATOR].username, "wrong")
    assert "用户名或密码不正确" in response.content.decode()


def test_unknown_user_is_refused_with_the_same_message(db):
    response = _sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), "nobody", "whatever")
    assert "The user name or password is not correct" in response.content.decode()
    assert AuditEvent.objects.get(action="auth.login").actor_username == "nobody"


def test_account_is_locked_after_repeated_failures_and_the_lockout_is_recorded(cast, settings):
    user = cast.north[Role.COORDINATOR]
    limit = settings.LOGIN_THROTTLE["per_account"]
    for attempt in range(limit):
        _sign_in(Client(), user.username, "wrong", ip=f"10.0.0.{attempt}")
    response = _sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), user.username, TEST_PASSWORD, ip="10.9.9.9")
    assert response.status_code == 429
    assert "Too many failed sign-ins for this account" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session
    assert AuditEvent.objects.filter(action="auth.lockout", actor=user).count() == 1
    assert AuditEvent.objects.filter(action="auth.login", outcome=Outcome.DENIED).count() == 1


def test_lock_lifts_after_the_window(cast, settings):
    user = cast.north[Role.COORDINATOR]
    for _ in range(settings.LOGIN_THROTTLE["per_account"]):
        _sign_in(Client(), user.username, "wrong")
    LoginFailure.objects.update(occurred_at=timezone.now() - settings.LOGIN_THROTTLE["window"] - timedelta(seconds=1))
    assert _sign_in(Client(), user.username, TEST_PASSWORD).status_code == 302


@override_settings(LOGIN_THROTTLE={"window": timedelta(minutes=15), "per_account": 5, "per_ip": 3})
def test_one_address_guessing_many_accounts_is_locked_out(cast):
    for name in ("a", "b", "c"):
        _sign_in(Client(), f"guess-{name}", "wrong", ip="203.0.113.7")
    response = _sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.north[Role.COORDINATOR].username, TEST_PASSWORD, ip="203.0.113.7")
    assert response.status_code == 429
    assert "from this network address" in response.content.decode()
    # The same account from another address still gets in.
    assert _sign_in(Client(), cast.north[Role.COORDINATOR].username, TEST_PASSWORD, ip="198.51.100.1").status_code == 302


def test_success_clears_the_accounts_failures(cast):
    user = cast.north[Role.COORDINATOR]
    _sign_in(Client(), user.username, "wrong")
    _sign_in(Client(), user.username, TEST_PASSWORD)
    assert not LoginFailure.objects.filter(username=user.username).exists()


def test_device_account_cannot_sign_in_with_a_password(cast):
    cast.pacs_n1.set_password(TEST_PASSWORD)
    cast.pacs_n1.save()
    assert _sign_in(Client(), cast.pacs_n1.username, TEST_PASSWORD).status_code == 200


def test_deactivated_user_cannot_sign_in(cast):
    user = cast.north[Role.COORDINATOR]
    user.is_active = False
    user.save()
    assert _sign_in(Client(), user.username, TEST_PASSWORD).status_code == 200


def test_every_page_but_login_and_health_requires_sign_in(db):
    client = Client()
    assert client.get("/patients/").status_code == 302
    assert client.get("/patients/")["Location"].startswith("/login/?next=")
    assert client.get("/audit/").status_code == 302
    assert client.get("/docs/api/").status_code == 302
    assert client.get("/api/v1/patients/").status_code in (401, 403)
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/login/").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_idle_session_expires(cast, client_for):
    client = client_for(cast.north[Role.COORDINATOR])
    assert client.get("/institutions/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get("/institutions/").status_code == 302


def test_session_expiry_is_renewed_by_activity(settings):
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_COOKIE_AGE == 30 * 60


def test_passwords_are_hashed_with_argon2():
    from telemed import settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    with override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS):
        assert make_password("x" * 12).startswith("argon2$")


def test_redirect_after_sign_in_stays_on_this_site(cast):
    response = Client().post(
        "/login/?next=https://evil.example/", {"username": cast.north[Role.COORDINATOR].username, "password": TEST_PASSWORD}
    )
    assert response["Location"] == "/consults/board/"


def test_sign_out_is_recorded(cast, client_for):
    client = client_for(cast.north[Role.COORDINATOR])
    assert client.post("/logout/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout").count() == 1
    assert client.get("/institutions/").status_code == 302


def test_language_choice_is_kept_for_the_next_sign_in(cast, client_for):
    user = cast.north[Role.COORDINATOR]
    client_for(user).post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    user.refresh_from_db()
    assert user.language == "zh-hans"
    response = _sign_in(Client(), user.username, TEST_PASSWORD)
    assert response.cookies["django_language"].value == "zh-hans"


def test_old_failures_are_pruned_by_the_hourly_task(cast, settings):
    from telemed.accounts.tasks import prune_login_failures

    LoginFailure.objects.create(username="old", ip="10.0.0.1")
    LoginFailure.objects.create(username="recent", ip="10.0.0.1")
    LoginFailure.objects.filter(username="old").update(occurred_at=timezone.now() - settings.LOGIN_THROTTLE["window"] - timedelta(minutes=1))
    assert prune_login_failures() == 1
    assert list(LoginFailure.objects.values_list("username", flat=True)) == ["recent"]
