"""The site's icon: pages link it, and /favicon.ico (asked for by browsers and tools that do not
read the page) leads to it rather than to a 404."""
from __future__ import annotations

import pytest
from django.templatetags.static import static

pytestmark = pytest.mark.django_db


def test_favicon_ico_leads_to_the_icon_without_signing_in(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == static("telemed/img/favicon.svg")


def test_pages_link_the_icon(client):
    assert f'<link rel="icon" href="{static("telemed/img/favicon.svg")}"' in client.get("/login/").content.decode()
