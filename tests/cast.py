"""The cast of test users: two alliances that must never see into each other.

Alliance "North" is home; alliance "South" is the foreigner of every access test.

North
  north_hospital (designated hospital), paired with both North clinics
    admin_n      administrator: manages North's institutions, people, devices; reads North's audit trail
    auditor_n    auditor: reads North's audit trail, nothing else
    coord_n      coordinator: reads North's directory (institutions, pairings, people), no patients
    expert_n     specialist (respiratory, verified, 10+ years): sees a patient only through a grant
    rad_n        radiologist: the same, through read requests later
  clinic_n1 (grassroots clinic)
    doc_n1       clinic doctor: registers and sees clinic_n1's patients (patient_n1, patient_n1b)
    pacs_n1      device account (a PACS): tokens only, no password sign-in
  clinic_n2 (grassroots clinic, North too)
    doc_n2       clinic doctor of the sibling clinic: must NOT see clinic_n1's patients

South (a second alliance with the same roles): admin_s, auditor_s, coord_s, expert_s, rad_s
  south_hospital, clinic_s1 with doc_s1 and patient_s1
"""
from __future__ import annotations

from dataclasses import dataclass

from telemed.accounts.models import Institution, Pairing, Role, User
from telemed.patients.models import Patient
from tests.accounts.factories import AllianceFactory, HospitalFactory, InstitutionFactory, QualificationFactory, member
from tests.patients.factories import PatientFactory

ROLES = (Role.ADMINISTRATOR, Role.AUDITOR, Role.COORDINATOR, Role.SPECIALIST, Role.RADIOLOGIST, Role.CLINIC_DOCTOR)


@dataclass
class Side:
    hospital: Institution
    clinic: Institution
    clinic2: Institution | None
    people: dict[str, User]  # by role
    patient: Patient

    def __getitem__(self, role: str) -> User:
        return self.people[role]


@dataclass
class Cast:
    north: Side
    south: Side
    doc_n2: User
    pacs_n1: User
    patient_n1b: Patient


def _side(prefix: str, *, with_sibling: bool) -> Side:
    alliance = AllianceFactory(name=f"{prefix.title()} alliance")
    hospital = HospitalFactory(alliance=alliance, name=f"{prefix.title()} Hospital")
    clinic = InstitutionFactory(alliance=alliance, name=f"{prefix.title()} Clinic One")
    clinic2 = InstitutionFactory(alliance=alliance, name=f"{prefix.title()} Clinic Two") if with_sibling else None
    for c in filter(None, (clinic, clinic2)):
        Pairing.objects.create(hospital=hospital, clinic=c)
    short = prefix[0]
    people = {
        role: member(clinic if role == Role.CLINIC_DOCTOR else hospital, role, username=f"{role}_{short}", full_name=f"{prefix.title()} {role}")
        for role in ROLES
    }
    for role in (Role.SPECIALIST, Role.RADIOLOGIST):
        QualificationFactory(user=people[role], verified_by=people[Role.ADMINISTRATOR])
    patient = PatientFactory(institution=clinic, name=f"{prefix.title()}patient Secretname", mrn=f"{short.upper()}-MRN-001", registered_by=people[Role.CLINIC_DOCTOR])
    return Side(hospital, clinic, clinic2, people, patient)


def build_cast() -> Cast:
    north = _side("north", with_sibling=True)
    south = _side("south", with_sibling=False)
    doc_n2 = member(north.clinic2, Role.CLINIC_DOCTOR, username="clinic_doctor_n2", full_name="North sibling doctor")
    pacs_n1 = member(north.clinic, Role.DEVICE, username="pacs_n1", full_name="North clinic PACS", is_device=True)
    pacs_n1.set_unusable_password()
    pacs_n1.save()
    patient_n1b = PatientFactory(institution=north.clinic, name="Northpatient Second", registered_by=north[Role.CLINIC_DOCTOR])
    return Cast(north, south, doc_n2, pacs_n1, patient_n1b)
