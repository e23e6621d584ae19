"""Two-way referral from a signed opinion: who sends, who answers, and what each step needs.

Up: North Clinic One's doctor refers to North Hospital, whose coordinator is the contact.
Down: North Hospital's expert refers back to North Clinic One, whose doctor is the contact.
"""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from consults.models import Notification, Referral
from consults.services.referrals import referral_create, referral_search, referral_update
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from telemed.patients.models import PatientGrant
from tests.consults.factories import consult_in_session, signed_opinion

pytestmark = pytest.mark.django_db

State = Referral.State


@pytest.fixture
def consult(cast):
    """A North consult whose expert has signed an opinion advising referral to the hospital."""
    consult = consult_in_session(cast.north)
    signed_opinion(consult, cast.north[Role.SPECIALIST], referral_advice="up")
    return consult


def refer_up(cast, consult, **overrides) -> Referral:
    arguments = {"direction": "up", "reason": "Needs bronchoscopy and a bed.", "contact": cast.north[Role.COORDINATOR]} | overrides
    return referral_create(by=cast.north[Role.CLINIC_DOCTOR], consult=consult, **arguments)


def refer_down(cast, consult) -> Referral:
    return referral_create(
        by=cast.north[Role.SPECIALIST], consult=consult, direction="down", reason="Stable; continue at the clinic.", contact=cast.north[Role.CLINIC_DOCTOR]
    )


# --- The path -------------------------------------------------------------------------------------------

def test_clinic_refers_up_and_the_hospital_accepts_transfers_and_returns_with_a_discharge_summary(cast, consult):
    coordinator, doctor = cast.north[Role.COORDINATOR], cast.north[Role.CLINIC_DOCTOR]
    referral = refer_up(cast, consult)
    assert (referral.from_institution, referral.to_institution, referral.state) == (cast.north.clinic, cast.north.hospital, State.REQUESTED)
    assert Notification.objects.filter(user=coordinator, title="A patient is referred to you").exists()
    assert PatientGrant.objects.filter(user=coordinator, patient=consult.patient, reason=PatientGrant.Reason.REFERRAL, revoked_at__isnull=True).exists()
    referral_update(by=coordinator, referral=referral, state=State.ACCEPTED)
    referral_update(by=coordinator, referral=referral, state=State.TRANSFERRED)
    referral_update(by=cast.north[Role.SPECIALIST], referral=referral, state=State.RETURNED, discharge_summary="Bronchoscopy normal; discharged on day 5.")
    referral.refresh_from_db()
    assert referral.state == State.RETURNED and referral.discharge_summary.startswith("Bronchoscopy normal")
    assert Notification.objects.filter(user=doctor, title="A referred patient returned with a discharge summary").exists()


def test_expert_refers_the_patient_back_down_and_the_clinic_accepts(cast, consult):
    referral = refer_down(cast, consult)
    assert (referral.from_institution, referral.to_institution) == (cast.north.hospital, cast.north.clinic)
    assert not PatientGrant.objects.filter(reason=PatientGrant.Reason.REFERRAL).exists()  # the clinic's doctor already sees the patient
    with pytest.raises(PermissionDenied):
        referral_update(by=cast.north[Role.SPECIALIST], referral=referral, state=State.ACCEPTED)
    referral_update(by=cast.north[Role.CLINIC_DOCTOR], referral=referral, state=State.ACCEPTED)
    referral_update(by=cast.north[Role.CLINIC_DOCTOR], referral=referral, state=State.TRANSFERRED)
    with pytest.raises(PermissionDenied):
        referral_update(by=cast.north[Role.CLINIC_DOCTOR], referral=referral, state=State.RETURNED, discharge_summary="Home.")
    referral_update(by=cast.north[Role.SPECIALIST], referral=referral, state=State.RETURNED, discharge_summary="Discharge summary sent with the patient.")
    assert Referral.objects.get().state == State.RETURNED


# --- Who may ---------------------------------------------------------------------------------------------

def test_only_the_sending_side_makes_a_referral(cast, consult):
    with pytest.raises(PermissionDenied):
        referral_create(by=cast.north[Role.SPECIALIST], consult=consult, direction="up", reason="x", contact=cast.north[Role.COORDINATOR])
    with pytest.raises(PermissionDenied):
        referral_create(by=cast.north[Role.CLINIC_DOCTOR], consult=consult, direction="down", reason="x", contact=cast.north[Role.CLINIC_DOCTOR])
    with pytest.raises(PermissionDenied):
        referral_create(by=cast.doc_n2, consult=consult, direction="up", reason="x", contact=cast.north[Role.COORDINATOR])
    assert not Referral.objects.exists()


def test_only_the_receiving_side_accepts_and_the_sender_cannot(cast, consult):
    referral = refer_up(cast, consult)
    with pytest.raises(PermissionDenied):
        referral_update(by=cast.north[Role.CLINIC_DOCTOR], referral=referral, state=State.ACCEPTED)
    with pytest.raises(PermissionDenied):
        referral_update(by=cast.south[Role.COORDINATOR], referral=referral, state=State.ACCEPTED)
    assert Referral.objects.get().state == State.REQUESTED


def test_referrals_are_seen_by_the_clinic_the_contact_and_the_participants_only(cast, consult):
    referral = refer_up(cast, consult)
    for person in (cast.north[Role.CLINIC_DOCTOR], cast.north[Role.COORDINATOR], cast.north[Role.SPECIALIST]):
        assert list(referral_search(by=person)) == [referral], person
    for person in (cast.doc_n2, cast.north[Role.RADIOLOGIST], cast.north[Role.AUDITOR], cast.south[Role.CLINIC_DOCTOR]):
        assert not referral_search(by=person).exists(), person


# --- Bad input changes nothing ----------------------------------------------------------------------------

def test_referral_needs_a_signed_opinion(cast):
    consult = consult_in_session(cast.north)
    with pytest.raises(ValidationError, match="no opinion on this consult is signed yet"):
        refer_up(cast, consult)
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"direction": "sideways"}, "direction", "Choose the direction"),
        ({"reason": "  "}, "reason", "Say why the patient is referred"),
        ({"contact": None}, "contact", "Name the person at North Hospital"),
    ],
)
def test_bad_referral_is_refused_naming_the_field(cast, consult, bad, field, message):
    with pytest.raises(ValidationError) as caught:
        refer_up(cast, consult, **bad)
    assert message in caught.value.message_dict[field][0]
    assert not Referral.objects.exists()


@pytest.mark.parametrize("who", ["north clinic doctor", "south coordinator"])
def test_contact_from_the_wrong_institution_is_refused_with_the_reason(cast, consult, who):
    contact = cast.north[Role.CLINIC_DOCTOR] if who.startswith("north") else cast.south[Role.COORDINATOR]
    with pytest.raises(ValidationError) as caught:
        refer_up(cast, consult, contact=contact)
    assert caught.value.message_dict["contact"] == [f"{contact} does not work at North Hospital; choose a contact person there."]
    assert not Referral.objects.exists() and not PatientGrant.objects.filter(reason=PatientGrant.Reason.REFERRAL).exists()


def test_returned_without_a_discharge_summary_is_refused_and_nothing_changes(cast, consult):
    referral = refer_up(cast, consult)
    referral_update(by=cast.north[Role.COORDINATOR], referral=referral, state=State.ACCEPTED)
    referral_update(by=cast.north[Role.COORDINATOR], referral=referral, state=State.TRANSFERRED)
    with pytest.raises(ValidationError) as caught:
        referral_update(by=cast.north[Role.COORDINATOR], referral=referral, state=State.RETURNED, discharge_summary=" ")
    assert "discharge_summary" in caught.value.message_dict
    assert Referral.objects.get().state == State.TRANSFERRED


@pytest.mark.parametrize("state", [State.TRANSFERRED, State.RETURNED, State.REQUESTED, "lost"])
def test_a_requested_referral_moves_only_to_accepted_or_declined(cast, consult, state):
    referral = refer_up(cast, consult)
    with pytest.raises(ValidationError) as caught:
        referral_update(by=cast.north[Role.COORDINATOR], referral=referral, state=state, discharge_summary="Summary.")
    assert "state" in caught.value.message_dict
    assert Referral.objects.get().state == State.REQUESTED


def test_declining_needs_a_reason_and_ends_the_contacts_access(cast, consult):
    coordinator = cast.north[Role.COORDINATOR]
    referral = refer_up(cast, consult)
    with pytest.raises(ValidationError) as caught:
        referral_update(by=coordinator, referral=referral, state=State.DECLINED)
    assert "reason" in caught.value.message_dict
    referral_update(by=coordinator, referral=referral, state=State.DECLINED, reason="No respiratory bed this week.")
    assert not PatientGrant.objects.filter(user=coordinator, reason=PatientGrant.Reason.REFERRAL, revoked_at__isnull=True).exists()
    assert consult.timeline.filter(action="referral_up_declined", note="No respiratory bed this week.").exists()
    assert Notification.objects.filter(user=cast.north[Role.CLINIC_DOCTOR], title="A referral was declined", body="No respiratory bed this week.").exists()


def test_a_second_open_referral_in_the_same_direction_is_refused(cast, consult):
    refer_up(cast, consult)
    with pytest.raises(ValidationError, match="already has an open referral"):
        refer_up(cast, consult)
    assert Referral.objects.count() == 1


# --- Through the pages -------------------------------------------------------------------------------------

def test_referral_form_names_the_wrong_contact_instead_of_failing(cast, consult, client_for):
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    url = f"/consults/{consult.pk}/referral/new/"
    page = client.get(url).content.decode()
    assert 'value="up"' in page and 'value="down"' not in page  # a clinic refers up only
    response = client.post(url, {"direction": "up", "reason": "Needs a bed.", "contact": cast.north[Role.CLINIC_DOCTOR].pk})
    assert response.status_code == 200 and "does not work at North Hospital" in response.content.decode()
    response = client.post(url, {"direction": "up", "reason": "Needs a bed.", "contact": cast.north[Role.COORDINATOR].pk})
    referral = Referral.objects.get()
    assert response.status_code == 302 and response.url == f"/consults/referrals/{referral.pk}/"


def test_referral_page_asks_for_the_discharge_summary(cast, consult, client_for):
    referral = refer_up(cast, consult)
    client = client_for(cast.north[Role.COORDINATOR])
    url = f"/consults/referrals/{referral.pk}/"
    assert client.post(url, {"state": "accepted"}).status_code == 302
    assert client.post(url, {"state": "transferred"}).status_code == 302
    response = client.post(url, {"state": "returned", "discharge_summary": ""})
    assert response.status_code == 200 and "Write the discharge summary" in response.content.decode()
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).post(url, {"state": "returned", "discharge_summary": "x"}).status_code == 403
    assert Referral.objects.get().state == State.TRANSFERRED
    listing = client_for(cast.north[Role.CLINIC_DOCTOR]).get("/consults/referrals/").content.decode()
    assert cast.north.patient.name in listing
    assert cast.north.patient.name not in client_for(cast.doc_n2).get("/consults/referrals/").content.decode()


# --- The trail -------------------------------------------------------------------------------------------------

def test_every_referral_step_leaves_an_audit_event_under_the_patient(cast, consult, client_for):
    coordinator = cast.north[Role.COORDINATOR]
    referral = refer_up(cast, consult)
    client_for(coordinator).get(f"/consults/referrals/{referral.pk}/")
    referral_update(by=coordinator, referral=referral, state=State.ACCEPTED)
    referral_update(by=coordinator, referral=referral, state=State.TRANSFERRED)
    referral_update(by=coordinator, referral=referral, state=State.RETURNED, discharge_summary="Discharged.")
    events = AuditEvent.objects.filter(patient_id=consult.patient_id, object_id=str(referral.pk))
    actions = set(events.values_list("action", flat=True))
    assert {"referral.requested", "referral.view", "referral.accepted", "referral.transferred", "referral.returned"} <= actions
    assert client_for(cast.doc_n2).get(f"/consults/referrals/{referral.pk}/").status_code == 404
    assert AuditEvent.objects.filter(action="referral.view", outcome="denied", patient_id=consult.patient_id).exists()
