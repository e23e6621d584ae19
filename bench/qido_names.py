"""QIDO-RS studies by Patient Name as an archive grows: the query a clinic doctor's search runs
(their visible studies, the name matched on any of its component groups), timed in-process.

    bash scripts/with-services.sh .venv/bin/python bench/qido_names.py [--sizes 20000,200000]

Study rows are bulk-inserted without series or files (only the names matter here), in one clinic,
names drawn from 400 family names and 50 given names in alphabetic and ideographic groups; each
figure is the median of 30 runs of the search, with the SQL built afresh each time as a request
builds it.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

from _setup import scratch_database

FAMILIES = [(f"F{n:03d}", chr(0x4E00 + n)) for n in range(400)]
GIVENS = [(f"G{n:04d}", chr(0x5000 + n) + chr(0x6000 + n)) for n in range(50)]
SEARCHES = {
    "exact alphabetic": "F123^G0045",
    "exact ideographic": f"{chr(0x4E00 + 123)}^{chr(0x5000 + 45)}{chr(0x6000 + 45)}",
    "family prefix, alphabetic": "F123^*",
    "family prefix, ideographic": f"{chr(0x4E00 + 123)}*",
    "contained (no prefix)": "*G0045",
}


def _clinic():
    from telemed.accounts.models import Alliance, Institution, Membership, Role, User

    alliance = Alliance.objects.create(name="Bench alliance")
    clinic = Institution.objects.create(alliance=alliance, kind="clinic", name="Bench clinic", code="B-C")
    doctor = User.objects.create(username="bench-doctor", full_name="Doctor")
    Membership.objects.create(user=doctor, institution=clinic, role=Role.CLINIC_DOCTOR)
    return clinic, doctor


def _grow(clinic, count: int, rng: random.Random) -> None:
    from imaging.dicom.header import name_groups
    from imaging.models import Study

    batch = []
    for _ in range(count):
        (family, family_ideo), (given, given_ideo) = rng.choice(FAMILIES), rng.choice(GIVENS)
        name = f"{family}^{given}={family_ideo}^{given_ideo}"
        batch.append(Study(institution=clinic, study_instance_uid=f"2.25.{rng.getrandbits(120)}", dicom_patient_name=name, **name_groups(name)))
    Study.objects.bulk_create(batch, batch_size=5000)


def _median_ms(doctor, value: str) -> tuple[float, int]:
    from django.http import QueryDict

    from imaging.dicomweb import query
    from telemed.access import visible_studies

    times, found = [], 0
    for _ in range(30):
        started = time.perf_counter()
        found = len(query.studies(visible_studies(doctor), query.parse(QueryDict(f"PatientName={value}&limit=1000"), keys=query.STUDY_KEYS)))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000", help="archive sizes in studies, comma-separated")
    args = parser.parse_args()
    scratch_database()
    from django.db import connection

    clinic, doctor = _clinic()
    rng, grown = random.Random(7), 0
    for size in (int(s) for s in args.sizes.split(",")):
        _grow(clinic, size - grown, rng)
        grown = size
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        for label, value in SEARCHES.items():
            ms, found = _median_ms(doctor, value)
            print(f"{size:>8} studies  {label:<28} {ms:8.2f} ms  ({found} found)")


if __name__ == "__main__":
    main()
