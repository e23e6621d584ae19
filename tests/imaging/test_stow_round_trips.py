"""What a STOW-RS request costs the database: a fixed number of round trips, however many
instances it holds, and the fewest a modality sending one slice at a time can make (each query
is a round trip, and the server's CPU goes as much to the trips as to the statements)."""
from __future__ import annotations

import pytest
from django.test import Client

from imaging.models import Instance, StorageUsage
from telemed.accounts.models import Role
from tests.imaging.corpus import ct_series
from tests.imaging.test_dicomweb import _multipart, _token

pytestmark = pytest.mark.django_db

# The clinic with its usage (the quota's precheck); the usage locked with the lookups by UID;
# every row written with the audit chain's head locked; the audit event; the transaction's
# savepoint and its release (BEGIN and COMMIT outside a test).
ROUND_TRIPS = 6


def _stow(client: Client, files: list[bytes]) -> int:
    body, content_type = _multipart(files)
    return client.post("/dicomweb/studies", data=body, content_type=content_type, HTTP_ACCEPT="application/dicom+json").status_code


@pytest.mark.parametrize("count", [1, 5])
def test_a_stow_request_into_a_stored_series_makes_the_same_few_round_trips_for_any_count(cast, django_assert_num_queries, count):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {_token(cast.north[Role.CLINIC_DOCTOR])}")
    files = ct_series(slices=1 + count)
    assert _stow(client, files[:1]) == 200  # the series, and the token remembered
    with django_assert_num_queries(ROUND_TRIPS):
        assert _stow(client, files[1:]) == 200
    assert Instance.objects.count() == 1 + count
    assert StorageUsage.objects.get(institution=cast.north.clinic).instances == 1 + count


def test_the_quotas_precheck_reads_the_usage_with_the_clinic_and_still_refuses_before_writing(cast, django_assert_num_queries):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {_token(cast.north[Role.CLINIC_DOCTOR])}")
    files = ct_series(slices=2)
    assert _stow(client, files[:1]) == 200
    cast.north.clinic.dicom_quota_bytes = StorageUsage.objects.get(institution=cast.north.clinic).bytes + 10
    cast.north.clinic.save()
    # The clinic with its usage; whether the part is a copy of a stored instance (which a full
    # quota still acknowledges); the refused part's audit event. No usage read of its own, no
    # transaction: nothing was written.
    with django_assert_num_queries(4):
        assert _stow(client, files[1:]) == 409
    assert Instance.objects.count() == 1
