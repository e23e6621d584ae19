from __future__ import annotations

import pytest
from django.core.management import call_command

from telemed.accounts.models import Role

pytestmark = pytest.mark.django_db


def test_openapi_schema_generates_without_warnings(capsys, tmp_path):
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = (tmp_path / "schema.yml").read_text()
    assert "openapi: 3" in schema
    for path in ("/api/v1/patients/", "/api/v1/tokens/", "/api/v1/audit-events/", "/api/v1/me/"):
        assert path in schema


def test_signed_in_user_reads_the_api_docs_page(cast, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert client.get("/docs/api/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
