"""Two senders of one institution at the same moment, each on its own connection: the rules hold
as if they had come one after the other (the usage row's lock makes them take turns, and what
the second looks up is read once it holds the lock, in the same round trip).

Who sends: the north clinic doctor, from two threads (two STOW-RS clients of one clinic).
"""
from __future__ import annotations

import io
import threading

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from imaging.models import Instance, RejectedInstance, Series, StorageUsage, Study
from imaging.services.ingest import Status, instances_ingest
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import changed, ct_series

pytestmark = pytest.mark.django_db(transaction=True)


def _at_once(cast, requests: list[list[bytes]]) -> list[list[str]]:
    """Each request's statuses, the requests sent together from threads of their own."""
    results: list[list[str] | None] = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def send(n: int) -> None:
        start.wait()
        try:
            streams = [io.BytesIO(data) for data in requests[n]]
            results[n] = [r.status for r in instances_ingest(streams=streams, institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")]
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _files_kept(cast) -> list[str]:
    folder = f"dicom/{cast.north.clinic.pk}"
    return default_storage.listdir(folder)[1] if default_storage.exists(folder) else []


def test_two_clients_storing_the_same_instance_at_once_store_it_once_and_the_other_is_told_it_is_stored(cast):
    [data] = ct_series(slices=1)
    results = _at_once(cast, [[data], [data]])
    assert sorted(r for [r] in results) == [Status.DUPLICATE, Status.STORED]
    assert Instance.objects.count() == 1 and len(_files_kept(cast)) == 1
    usage = StorageUsage.objects.get(institution=cast.north.clinic)
    assert (usage.bytes, usage.instances) == (Instance.objects.get().size, 1)


def test_two_clients_sending_one_new_study_at_once_make_one_study_and_one_series_with_every_instance_counted(cast):
    files = ct_series(slices=6)
    results = _at_once(cast, [files[:3], files[3:]])
    assert results == [[Status.STORED] * 3] * 2
    study, series = Study.objects.get(), Series.objects.get()
    assert (study.series_count, study.instance_count, study.modalities, series.instance_count) == (1, 6, ["CT"], 6)
    assert Instance.objects.count() == 6 and len(_files_kept(cast)) == 6
    assert StorageUsage.objects.get(institution=cast.north.clinic).instances == 6
    assert AuditEvent.objects.filter(action="imaging.store").count() == 2


def test_two_clients_sending_one_uid_with_different_content_at_once_store_one_and_keep_the_other_for_review(cast):
    [data] = ct_series(slices=1)
    other = changed(data, PatientName="Other^Content")
    results = _at_once(cast, [[data], [other]])
    assert sorted(r for [r] in results) == [Status.CONFLICT, Status.STORED]
    assert Instance.objects.count() == 1 and RejectedInstance.objects.count() == 1 and len(_files_kept(cast)) == 2
