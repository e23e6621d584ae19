"""What the storage quota costs at store time, with a counter per institution (what the ingest
service does) against a SUM over the institution's instances (what it would cost without one),
as the archive grows.

    bash scripts/with-services.sh .venv/bin/python bench/storage_usage.py [--sizes 10000,100000,300000]

Instance rows are bulk-inserted without files (only their sizes matter here); each figure is the
median of 50 runs in a transaction, as the ingest service runs it.
"""
from __future__ import annotations

import argparse
import statistics
import time
import uuid

from _setup import scratch_database


def _archive():
    from telemed.accounts.models import Alliance, Institution, User
    from imaging.models import Series, Study

    alliance = Alliance.objects.create(name="Bench alliance")
    clinic = Institution.objects.create(alliance=alliance, kind="clinic", name="Bench clinic", code="B-C")
    sender = User.objects.create(username="bench-ct", full_name="CT", is_device=True)
    study = Study.objects.create(institution=clinic, study_instance_uid="2.25.1")
    series = Series.objects.create(study=study, series_instance_uid="2.25.2")
    return clinic, sender, series


def _grow(series, sender, count: int) -> None:
    from imaging.models import Instance

    batch = [
        Instance(series=series, sop_instance_uid=f"2.25.{uuid.uuid4().int}", sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                 transfer_syntax_uid="1.2.840.10008.1.2.1", file="x", size=524_288, sha256="0" * 64, metadata={}, received_by=sender, source="bench")
        for _ in range(count)
    ]
    Instance.objects.bulk_create(batch, batch_size=5000)


def _count(usage) -> None:
    usage.add(size=524_288, instances=1)
    usage.save()


def _median_ms(call) -> float:
    from django.db import transaction

    times = []
    for _ in range(50):
        with transaction.atomic():
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,300000")
    args = parser.parse_args()
    scratch_database()
    from django.db.models import Sum

    from imaging.models import Instance
    from imaging.services.storage import storage_usage_recount, usage_lock

    clinic, sender, series = _archive()
    have = 0
    for target in (int(s) for s in args.sizes.split(",")):
        _grow(series, sender, target - have)
        have = target
        storage_usage_recount(institution=clinic)
        counter = _median_ms(lambda: _count(usage_lock(institution=clinic)))
        summed = _median_ms(lambda: Instance.objects.filter(series__study__institution=clinic).aggregate(b=Sum("size")))
        print(f"{target:>8} instances: quota check with the counter {counter:.2f} ms, with a SUM over the instances {summed:.2f} ms")


if __name__ == "__main__":
    main()
