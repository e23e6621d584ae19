import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from telemed.accounts.models import Role
from tests.imaging.corpus import ct_series
from tests.imaging.test_dicomweb import _multipart, _token

pytestmark = pytest.mark.django_db

def test_probe(client, cast):
    tok = _token(cast.north[Role.CLINIC_DOCTOR])
    files = ct_series(slices=3)
    for i, f in enumerate(files):
        body, ct = _multipart([f])
        with CaptureQueriesContext(connection) as q:
            r = client.post("/dicomweb/studies", data=body, content_type=ct, HTTP_AUTHORIZATION=f"Bearer {tok}")
        assert r.status_code == 200
        if i == 2:
            for x in q.captured_queries:
                print(x["time"], x["sql"][:400])
