from __future__ import annotations

from datetime import date, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from telemed.accounts.models import Institution, Membership, Pairing, Role, User
from telemed.accounts.services import directory
from telemed.audit.models import AuditEvent
from tests.accounts.factories import QualificationFactory

pytestmark = pytest.mark.django_db


def test_administrator_adds_a_clinic_to_their_alliance(cast, client_for):
    client = client_for(cast.north[Role.ADMINISTRATOR])
    response = client.post(
        "/institutions/new/",
        {"alliance": cast.north.hospital.alliance_id, "kind": "clinic", "name": "New Township Centre", "code": "C-NEW-1"},
    )
    institution = Institution.objects.get(code="C-NEW-1")
    assert response["Location"] == f"/institutions/{institution.pk}/"
    assert AuditEvent.objects.filter(action="institution.create", object_id=str(institution.pk)).exists()


def test_duplicate_organisation_code_gets_a_form_error_and_nothing_is_saved(cast, client_for):
    client = client_for(cast.north[Role.ADMINISTRATOR])
    response = client.post(
        "/institutions/new/",
        {"alliance": cast.north.hospital.alliance_id, "kind": "clinic", "name": "Copy", "code": cast.north.clinic.code},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert not Institution.objects.filter(name="Copy").exists()


def test_coordinator_reads_the_directory_but_cannot_change_it(cast, client_for):
    client = client_for(cast.north[Role.COORDINATOR])
    assert client.get("/institutions/").status_code == 200
    assert client.get(f"/institutions/{cast.north.clinic.pk}/").status_code == 200
    assert client.get("/institutions/new/").status_code == 403
    assert client.get(f"/institutions/{cast.north.clinic.pk}/edit/").status_code == 404
    assert client.get("/people/new/").status_code == 403


def test_clinic_doctor_does_not_browse_the_directory(cast, client_for):
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get("/people/").status_code == 403


def test_pairing_joins_a_hospital_and_a_clinic_of_one_alliance(cast):
    admin = cast.north[Role.ADMINISTRATOR]
    Pairing.objects.filter(clinic=cast.north.clinic2).delete()
    pairing = directory.pairing_create(by=admin, hospital=cast.north.hospital, clinic=cast.north.clinic2)
    assert pairing.is_active


@pytest.mark.parametrize(
    ("hospital", "clinic", "field"),
    [
        ("north.clinic", "north.clinic2", "hospital"),
        ("north.hospital", "north.hospital", "clinic"),
        ("north.hospital", "north.clinic", "clinic"),  # already paired
    ],
)
def test_bad_pairings_are_refused_with_the_reason(cast, hospital, clinic, field):
    def pick(path):
        side, attr = path.split(".")
        return getattr(getattr(cast, side), attr)

    before = Pairing.objects.count()
    with pytest.raises(ValidationError) as caught:
        directory.pairing_create(by=cast.north[Role.ADMINISTRATOR], hospital=pick(hospital), clinic=pick(clinic))
    assert field in caught.value.message_dict
    assert Pairing.objects.count() == before


def test_pairing_across_alliances_is_refused(cast):
    with pytest.raises((ValidationError, PermissionDenied)):
        directory.pairing_create(by=cast.north[Role.ADMINISTRATOR], hospital=cast.north.hospital, clinic=cast.south.clinic)


def test_ending_a_pairing_is_recorded(cast, client_for):
    pairing = Pairing.objects.get(hospital=cast.north.hospital, clinic=cast.north.clinic)
    client_for(cast.north[Role.ADMINISTRATOR]).post(f"/pairings/{pairing.pk}/end/")
    pairing.refresh_from_db()
    assert pairing.ended_on == date.today()
    assert AuditEvent.objects.filter(action="pairing.end").exists()


def test_administrator_creates_a_person_with_a_role(cast, client_for):
    client = client_for(cast.north[Role.ADMINISTRATOR])
    response = client.post(
        "/people/new/",
        {"username": "newdoc", "full_name": "New Doctor", "institution": cast.north.clinic.pk, "role": Role.CLINIC_DOCTOR, "password": "a-long-enough-password-1"},
    )
    person = User.objects.get(username="newdoc")
    assert response["Location"] == f"/people/{person.pk}/"
    assert person.check_password("a-long-enough-password-1")
    assert Membership.objects.filter(user=person, role=Role.CLINIC_DOCTOR, institution=cast.north.clinic).exists()


def test_weak_password_is_refused_and_no_user_is_created(cast, client_for):
    response = client_for(cast.north[Role.ADMINISTRATOR]).post(
        "/people/new/",
        {"username": "weak", "full_name": "Weak", "institution": cast.north.clinic.pk, "role": Role.CLINIC_DOCTOR, "password": "12345"},
    )
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert not User.objects.filter(username="weak").exists()


def test_specialist_role_is_refused_at_a_clinic(cast):
    with pytest.raises(ValidationError) as caught:
        directory.membership_add(by=cast.north[Role.ADMINISTRATOR], user=cast.north[Role.CLINIC_DOCTOR], institution=cast.north.clinic, role=Role.SPECIALIST)
    assert "role" in caught.value.message_dict


def test_administrator_creates_a_device_without_a_password(cast, client_for):
    client_for(cast.north[Role.ADMINISTRATOR]).post("/people/new-device/", {"username": "dr-xray", "full_name": "X-ray room", "institution": cast.north.clinic.pk})
    device = User.objects.get(username="dr-xray")
    assert device.is_device and not device.has_usable_password()
    assert device.memberships.get().role == Role.DEVICE


def test_qualification_is_verified_by_an_administrator_not_by_its_holder(cast):
    specialist = cast.north[Role.SPECIALIST]
    qualification = directory.qualification_add(
        by=specialist, user=specialist, licence_number="LIC-NEW", title="chief", specialties=["tcm"], independent_practice_since=date(2001, 1, 1)
    )
    assert not qualification.is_verified
    with pytest.raises(PermissionDenied):
        directory.qualification_verify(by=specialist, qualification=qualification)
    with pytest.raises(PermissionDenied):
        directory.qualification_verify(by=cast.south[Role.ADMINISTRATOR], qualification=qualification)
    directory.qualification_verify(by=cast.north[Role.ADMINISTRATOR], qualification=qualification)
    qualification.refresh_from_db()
    assert qualification.verified_by == cast.north[Role.ADMINISTRATOR]
    assert qualification.years_of_practice(date(2026, 11, 23)) == 25


def test_qualification_from_the_future_is_refused(cast):
    specialist = cast.north[Role.SPECIALIST]
    with pytest.raises(ValidationError):
        directory.qualification_add(by=specialist, user=specialist, licence_number="LIC-F", title="chief", specialties=["tcm"], independent_practice_since=date.today() + timedelta(days=1))


def test_years_of_practice_counts_whole_years():
    qualification = QualificationFactory.build(independent_practice_since=date(2023, 11, 24))
    assert qualification.years_of_practice(date(2026, 11, 23)) == 2
    assert qualification.years_of_practice(date(2026, 11, 24)) == 3


def test_specialist_sees_and_updates_their_profile(cast, client_for):
    client = client_for(cast.north[Role.SPECIALIST])
    page = client.get("/profile/").content.decode()
    assert cast.north[Role.SPECIALIST].qualifications.first().licence_number in page
    response = client.post("/profile/", {"form": "profile", "full_name": "Dr New Name", "language": "en", "time_zone": "Asia/Urumqi"})
    assert response.status_code == 302
    user = User.objects.get(pk=cast.north[Role.SPECIALIST].pk)
    assert (user.full_name, user.time_zone) == ("Dr New Name", "Asia/Urumqi")


def test_pages_show_times_in_the_users_time_zone(cast, client_for):
    from telemed.accounts.services.directory import profile_update

    doctor = cast.north[Role.CLINIC_DOCTOR]
    profile_update(user=doctor, full_name=doctor.full_name, email="", phone="", language="en", time_zone="UTC")
    response = client_for(doctor).get(f"/patients/{cast.north.patient.pk}/")
    assert cast.north.patient.created_at.astimezone(dt_timezone.utc).strftime("%Y-%m-%d %H:%M") in response.content.decode()
