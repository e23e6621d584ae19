"""Reads for tests: a real CT study ingested for a side's patient, requested, assigned, reported."""
from __future__ import annotations

import io

from imaging.models import ReadingPolicy, ReadRequest, Study
from imaging.services.ingest import instance_ingest
from imaging.services.reading.assignment import read_assign
from imaging.services.reading.reports import report_save, report_submit
from imaging.services.reading.requests import read_request
from telemed.accounts.models import Role
from tests.accounts.factories import MembershipFactory, QualificationFactory, UserFactory
from tests.imaging.corpus import ct_series

QUESTION = "Cough and fever for two weeks: pneumonia?"
FINDINGS = "Consolidation of the right lower lobe with air bronchograms. No effusion."
IMPRESSION = "Right lower lobe pneumonia."


def ct_study(side, *, patient=None, slices: int = 2) -> Study:
    """A chest CT the side's clinic sent, matched to its patient by Patient ID."""
    patient = patient or side.patient
    doctor = side[Role.CLINIC_DOCTOR]
    result = None
    for data in ct_series(slices=slices, patient_id=patient.mrn):
        result = instance_ingest(stream=io.BytesIO(data), institution=side.clinic, by=doctor, source="test")
    return result.instance.series.study


def requested_read(side, *, study=None, urgency: str = "routine", question: str = QUESTION) -> ReadRequest:
    return read_request(by=side[Role.CLINIC_DOCTOR], study=study or ct_study(side), hospital=side.hospital, question=question, history="Smoker, 68.", urgency=urgency)


def assigned_read(side, **kwargs) -> ReadRequest:
    read = requested_read(side, **kwargs)
    return read_assign(by=side[Role.COORDINATOR], read=read, radiologist=side[Role.RADIOLOGIST])


def drafted_read(side, **kwargs) -> ReadRequest:
    read = assigned_read(side, **kwargs)
    report_save(by=side[Role.RADIOLOGIST], read=read, findings=FINDINGS, impression=IMPRESSION)
    read.refresh_from_db()
    return read


def signed_read(side, **kwargs) -> ReadRequest:
    read = drafted_read(side, **kwargs)
    report_submit(by=side[Role.RADIOLOGIST], read=read)
    read.refresh_from_db()
    return read


def second_radiologist(side, *, username: str = ""):
    """Another verified radiologist of the side's hospital: the second reader."""
    person = UserFactory(full_name=f"{side.hospital.name} second radiologist", **({"username": username} if username else {}))
    MembershipFactory(user=person, institution=side.hospital, role=Role.RADIOLOGIST)
    QualificationFactory(user=person, verified_by=side[Role.ADMINISTRATOR], specialties=["radiology"])
    return person


def requires_verification(side) -> ReadingPolicy:
    policy, _created = ReadingPolicy.objects.update_or_create(hospital=side.hospital, defaults={"requires_verification": True})
    return policy


def awaiting_verification(side) -> tuple[ReadRequest, object]:
    """A read of a hospital that requires two-level sign-off, its report handed in by its
    author, and the second radiologist who may verify it."""
    requires_verification(side)
    verifier = second_radiologist(side)
    read = drafted_read(side)
    report_submit(by=side[Role.RADIOLOGIST], read=read)
    return read, verifier


def foreign_read_values(side) -> dict[str, str]:
    """For the access matrix: a signed read of `side` with a critical finding and an addendum."""
    from imaging.services.reading.critical import critical_raise
    from imaging.services.reading.reports import addendum_add

    read = signed_read(side)
    critical_raise(by=side[Role.RADIOLOGIST], read=read, finding="Tension pneumothorax on the right.")
    addendum_add(by=side[Role.RADIOLOGIST], read=read, text="Compared with no prior study.")
    return {"read_id": str(read.pk)}
