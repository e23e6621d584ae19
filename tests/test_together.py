"""Statements sent together run in order, each as if sent alone, in one round trip on PostgreSQL."""
from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from imaging.models import RejectedInstance, StorageUsage
from imaging.services.storage import usage_lock
from telemed.accounts.models import Role
from telemed.together import insert_statements, inserted, run_together, update_statement


@pytest.mark.django_db
def test_statements_run_together_return_the_rows_of_each_in_order(cast):
    clinic = cast.north.clinic
    StorageUsage.objects.create(institution=clinic, bytes=5, instances=1)
    usage = StorageUsage.objects.get(institution=clinic)
    usage.bytes, usage.instances = 7, 2
    with CaptureQueriesContext(connection) as captured:
        rows = run_together([
            update_statement(usage, ["bytes", "instances"]),
            ("SELECT bytes, instances FROM imaging_storageusage WHERE institution_id = %s", [clinic.pk.hex]),
            ("SELECT 1 WHERE 1 = 0", []),
        ])
    assert rows == [[], [(7, 2)], []]  # the second saw the first's change
    assert len(captured) == (1 if connection.vendor == "postgresql" else 3)


@pytest.mark.django_db
def test_nothing_to_run_makes_no_round_trip(db):
    with CaptureQueriesContext(connection) as captured:
        assert run_together([]) == []
    assert len(captured) == 0


@pytest.mark.django_db(transaction=True)
def test_statements_sent_with_the_usage_lock_see_what_its_holder_committed(cast):
    """They run once the lock is held: a sender that waited for it reads the rows the holder
    wrote before it let go, not what stood when the round trip was sent."""
    clinic = cast.north.clinic
    StorageUsage.objects.create(institution=clinic)
    held, seen = threading.Event(), []

    def waiter() -> None:
        try:
            held.wait(10)
            with transaction.atomic():
                usage = usage_lock(institution=clinic, then=[("SELECT bytes FROM imaging_storageusage WHERE institution_id = %s", [clinic.pk.hex])])
                seen.append((usage.used, usage.found))
        finally:
            connection.close()

    thread = threading.Thread(target=waiter)
    with transaction.atomic():
        usage = usage_lock(institution=clinic)
        usage.add(size=100, instances=1)
        usage.save()
        thread.start()
        held.set()
        thread.join(0.5)  # the waiter is blocked on the lock meanwhile
        assert thread.is_alive()
    thread.join(10)
    assert seen == [(100, [[(100,)]])]


@pytest.mark.django_db
def test_rows_inserted_with_other_statements_are_saved_rows_as_bulk_create_leaves_them(cast):
    clinic, sender = cast.north.clinic, cast.north[Role.CLINIC_DOCTOR]
    rows = [RejectedInstance(institution=clinic, sop_instance_uid=f"1.2.{n}", reason="r", file=f"f{n}", size=n, sha256="0" * 64, received_by=sender) for n in range(3)]
    StorageUsage.objects.create(institution=clinic)
    usage = usage_lock(institution=clinic)
    usage.add(size=3, instances=0)
    with CaptureQueriesContext(connection) as captured:
        run_together([*insert_statements(rows), *usage.saving()])
    inserted(rows)
    assert len(captured) == (1 if connection.vendor == "postgresql" else 2)
    assert sorted(RejectedInstance.objects.values_list("sop_instance_uid", flat=True)) == ["1.2.0", "1.2.1", "1.2.2"]
    assert all(not row._state.adding and row.created_at for row in rows)
    assert StorageUsage.objects.get(institution=clinic).bytes == 3


def test_a_row_whose_key_the_database_makes_is_not_inserted_with_other_statements(db):
    with pytest.raises(ValueError, match="without its key"):
        insert_statements([StorageUsage(institution=None)])
