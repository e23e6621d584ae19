"""CORS for DICOMweb only: an external viewer (OHIF) on an allowed origin browses the archive with a
bearer token; other origins and other paths get no CORS headers, and cookies never cross."""
from __future__ import annotations

import http.server
import threading
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from telemed.accounts.models import Role
from telemed.accounts.services.tokens import token_create

VIEWER = "https://viewer.example.org"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def viewer_allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = [VIEWER]


def _token(user) -> str:
    return token_create(owner=user, by=user, name="viewer", scopes=["dicom:read"], expires_at=timezone.now() + timedelta(days=1))[1]


def _preflight(origin: str, path: str = "/dicomweb/studies"):
    return Client().options(path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, accept")


def test_preflight_from_the_allowed_viewer_is_answered_without_signing_in():
    response = _preflight(VIEWER)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == VIEWER
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert set(response["Access-Control-Allow-Methods"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert "Access-Control-Allow-Credentials" not in response


def test_preflight_from_another_origin_gets_no_permission():
    response = _preflight("https://elsewhere.example.com")
    assert "Access-Control-Allow-Origin" not in response


def test_the_viewer_reads_studies_with_a_bearer_token(cast):
    response = Client().get("/dicomweb/studies", HTTP_ORIGIN=VIEWER, HTTP_AUTHORIZATION=f"Bearer {_token(cast.north[Role.CLINIC_DOCTOR])}")
    assert response.status_code == 200 and response.json() == []
    assert response["Access-Control-Allow-Origin"] == VIEWER and {"Content-Type", "Warning"} <= set(response["Access-Control-Expose-Headers"].split(", "))
    assert "origin" in response["Vary"].lower()


def test_an_answer_to_another_origin_carries_no_permission(cast):
    response = Client().get("/dicomweb/studies", HTTP_ORIGIN="https://elsewhere.example.com", HTTP_AUTHORIZATION=f"Bearer {_token(cast.north[Role.CLINIC_DOCTOR])}")
    assert "Access-Control-Allow-Origin" not in response


def test_paths_outside_dicomweb_send_no_cors_headers(cast):
    for path in ("/api/v1/me/", "/imaging/", "/login/"):
        assert "Access-Control-Allow-Origin" not in _preflight(VIEWER, path), path
        response = Client().get(path, HTTP_ORIGIN=VIEWER, HTTP_AUTHORIZATION=f"Bearer {_token(cast.north[Role.CLINIC_DOCTOR])}")
        assert "Access-Control-Allow-Origin" not in response, path


def test_with_no_origin_configured_nobody_is_allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = []
    assert "Access-Control-Allow-Origin" not in _preflight(VIEWER)


@pytest.fixture
def viewer_page_server():
    """A second origin on this machine serving one page, as OHIF's host would."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><title>viewer</title><p id=out>waiting</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


FETCH = """async ([url, token]) => {
  try {
    const response = await fetch(url, {headers: {Authorization: `Bearer ${token}`, Accept: "application/dicom+json"}});
    return `${response.status} ${JSON.stringify(await response.json())}`;
  } catch (error) { return `blocked: ${error.name}`; }
}"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chromium_on_the_allowed_origin_browses_and_another_origin_is_blocked(live_server, chromium, viewer_page_server, settings, cast):
    from tests.imaging.test_dicomweb import Archive
    from tests.imaging.corpus import ct_series

    settings.CORS_ALLOWED_ORIGINS = [viewer_page_server]
    writer = token_create(owner=cast.north[Role.CLINIC_DOCTOR], by=cast.north[Role.CLINIC_DOCTOR], name="w", scopes=["dicom:write"], expires_at=timezone.now() + timedelta(days=1))[1]
    assert Archive(live_server.url + "/dicomweb", writer).stow(ct_series(slices=1)).status_code == 200
    token = _token(cast.north[Role.CLINIC_DOCTOR])
    page = chromium.new_page()
    try:
        page.goto(viewer_page_server + "/")
        answer = page.evaluate(FETCH, [live_server.url + "/dicomweb/studies", token])
        assert answer.startswith("200 ") and "MRN-CT-1" in answer
        settings.CORS_ALLOWED_ORIGINS = ["https://viewer.example.org"]
        assert page.evaluate(FETCH, [live_server.url + "/dicomweb/studies", token]) == "blocked: TypeError"
    finally:
        page.close()
