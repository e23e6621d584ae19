"""The session and the experts' opinions: scheduled → in session → opinion pending → completed."""
from __future__ import annotations


import pytest
from django.utils import timezone
from django.core.exceptions import PermissionDenied, ValidationError
from django.template import Context, Template

from consults.models import Addendum, Consult, Notification, Opinion, Status
from consults.services.opinions import addendum_add, opinion_save, opinion_sign, opinions_for
from consults.services.sessions import consult_end_session, consult_start_session
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from telemed.patients import identity
from tests.consults.factories import booked_consult, consult_in_session, opinion_fields, second_expert, signed_opinion, starting_in

pytestmark = pytest.mark.django_db


def _status(consult: Consult) -> str:
    return Consult.objects.values_list("status", flat=True).get(pk=consult.pk)


# --- The path ----------------------------------------------------------------------------------------

def test_consult_goes_from_scheduled_through_session_and_opinion_to_completed(cast):
    expert, doctor = cast.north[Role.SPECIALIST], cast.north[Role.CLINIC_DOCTOR]
    consult = starting_in(booked_consult(cast.north), 10)
    consult_start_session(by=expert, consult=consult)
    assert _status(consult) == Status.IN_SESSION
    consult_end_session(by=expert, consult=consult)
    assert _status(consult) == Status.OPINION_PENDING
    signed_opinion(consult, expert)
    consult.refresh_from_db()
    assert consult.status == Status.COMPLETED and consult.completed_at is not None
    assert list(consult.timeline.values_list("action", flat=True)) == ["book", "start_session", "end_session", "complete"]
    assert Notification.objects.filter(user=doctor, consult=consult, title="The expert opinion is ready").exists()


@pytest.mark.parametrize(("minutes", "starts"), [(14, True), (16, False)])
def test_session_opens_fifteen_minutes_before_the_consult(cast, minutes, starts):
    consult = starting_in(booked_consult(cast.north), minutes)
    if starts:
        consult_start_session(by=cast.north[Role.SPECIALIST], consult=consult)
    else:
        with pytest.raises(ValidationError, match="can be started from"):
            consult_start_session(by=cast.north[Role.SPECIALIST], consult=consult)
    assert _status(consult) == (Status.IN_SESSION if starts else Status.SCHEDULED)


def test_coordinator_runs_the_session_but_the_clinic_doctor_cannot(cast):
    consult = starting_in(booked_consult(cast.north), 5)
    with pytest.raises(PermissionDenied):
        consult_start_session(by=cast.north[Role.CLINIC_DOCTOR], consult=consult)
    consult_start_session(by=cast.north[Role.COORDINATOR], consult=consult)
    consult_end_session(by=cast.north[Role.COORDINATOR], consult=consult)
    assert _status(consult) == Status.OPINION_PENDING


def test_only_a_consult_in_session_can_be_ended(cast):
    consult = starting_in(booked_consult(cast.north), 5)
    with pytest.raises(ValidationError, match="Only a consult in session can be ended; this one is scheduled"):
        consult_end_session(by=cast.north[Role.SPECIALIST], consult=consult)
    assert _status(consult) == Status.SCHEDULED


def test_mdt_consult_completes_only_when_every_expert_has_signed(cast):
    lead, second = cast.north[Role.SPECIALIST], second_expert(cast)
    consult = consult_in_session(cast.north, experts=[lead, second])
    consult_end_session(by=lead, consult=consult)
    signed_opinion(consult, lead)
    assert _status(consult) == Status.OPINION_PENDING
    signed_opinion(consult, second, impression="No sign of tuberculosis.")
    assert _status(consult) == Status.COMPLETED


def test_opinion_signed_during_the_session_completes_the_consult_when_it_ends(cast):
    consult = consult_in_session(cast.north)
    signed_opinion(consult, cast.north[Role.SPECIALIST])
    assert _status(consult) == Status.IN_SESSION
    consult_end_session(by=cast.north[Role.SPECIALIST], consult=consult)
    assert _status(consult) == Status.COMPLETED


# --- Who writes, and what ----------------------------------------------------------------------------

def test_expert_not_taking_part_cannot_write_an_opinion(cast):
    consult = consult_in_session(cast.north)
    with pytest.raises(PermissionDenied):
        opinion_save(by=second_expert(cast), consult=consult, **opinion_fields())
    with pytest.raises(PermissionDenied):
        opinion_save(by=cast.north[Role.CLINIC_DOCTOR], consult=consult, **opinion_fields())
    assert not Opinion.objects.exists()


def test_opinion_cannot_be_written_before_the_session(cast):
    consult = booked_consult(cast.north)
    with pytest.raises(ValidationError, match="this one is scheduled"):
        opinion_save(by=cast.north[Role.SPECIALIST], consult=consult, **opinion_fields())
    assert not Opinion.objects.exists()


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"findings": "  "}, "findings", "Write your findings"),
        ({"referral_advice": "sideways"}, "referral_advice", "Choose the referral advice"),
    ],
)
def test_bad_draft_is_refused_naming_the_field_and_nothing_is_saved(cast, bad, field, message):
    consult = consult_in_session(cast.north)
    with pytest.raises(ValidationError) as caught:
        opinion_save(by=cast.north[Role.SPECIALIST], consult=consult, **opinion_fields(**bad))
    assert message in caught.value.message_dict[field][0]
    assert not Opinion.objects.exists()


def test_draft_is_saved_again_in_place_and_signing_needs_impression_and_recommendations(cast):
    expert = cast.north[Role.SPECIALIST]
    consult = consult_in_session(cast.north)
    opinion_save(by=expert, consult=consult, findings="First look.")
    draft = opinion_save(by=expert, consult=consult, findings="Consolidation, right lower lobe.")
    assert Opinion.objects.get().findings == "Consolidation, right lower lobe."
    with pytest.raises(ValidationError) as caught:
        opinion_sign(by=expert, opinion=draft)
    assert set(caught.value.message_dict) == {"impression", "recommendations"}
    assert Opinion.objects.get().signed_at is None


def test_signed_opinion_cannot_be_changed_only_added_to(cast):
    expert = cast.north[Role.SPECIALIST]
    consult = consult_in_session(cast.north)
    opinion = signed_opinion(consult, expert)
    with pytest.raises(ValidationError, match="can no longer be changed; add an addendum instead"):
        opinion_save(by=expert, consult=consult, **opinion_fields(findings="Changed my mind."))
    with pytest.raises(ValidationError, match="can no longer be changed"):
        opinion_sign(by=expert, opinion=opinion)
    opinion.refresh_from_db()
    assert opinion.findings.startswith("Right lower lobe")
    addendum = addendum_add(by=expert, opinion=opinion, text="Sputum culture: Streptococcus pneumoniae.")
    assert addendum.signed_at is not None and list(opinion.addenda.all()) == [addendum]


def test_addendum_only_by_the_author_and_only_on_a_signed_opinion(cast):
    lead, second = cast.north[Role.SPECIALIST], second_expert(cast)
    consult = consult_in_session(cast.north, experts=[lead, second])
    draft = opinion_save(by=lead, consult=consult, **opinion_fields())
    with pytest.raises(ValidationError, match="still a draft"):
        addendum_add(by=lead, opinion=draft, text="More.")
    signed = opinion_sign(by=lead, opinion=draft)
    with pytest.raises(PermissionDenied):
        addendum_add(by=second, opinion=signed, text="I disagree.")
    with pytest.raises(ValidationError) as caught:
        addendum_add(by=lead, opinion=signed, text=" ")
    assert "text" in caught.value.message_dict
    assert not Addendum.objects.exists()


# --- Who reads what -----------------------------------------------------------------------------------

def test_clinic_sees_signed_opinions_and_never_drafts(cast, client_for):
    lead, second = cast.north[Role.SPECIALIST], second_expert(cast)
    consult = consult_in_session(cast.north, experts=[lead, second])
    signed_opinion(consult, lead, findings="Signed findings of the lead.")
    opinion_save(by=second, consult=consult, **opinion_fields(findings="Draft findings of the second."))
    clinic_page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/consults/{consult.pk}/opinion/").content.decode()
    assert "Signed findings of the lead." in clinic_page and "Draft findings of the second." not in clinic_page
    assert [o.findings for o in opinions_for(by=lead, consult=consult)] == ["Signed findings of the lead."]
    assert len(opinions_for(by=second, consult=consult)) == 2
    assert opinions_for(by=cast.doc_n2, consult=consult) == []  # the sibling clinic does not see the consult at all


def test_print_page_shows_the_patient_with_the_masked_id_only(cast, client_for):
    consult = consult_in_session(cast.north)
    signed_opinion(consult, cast.north[Role.SPECIALIST])
    patient = cast.north.patient
    page = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/consults/{consult.pk}/opinions/print/").content.decode()
    for text in (patient.name, patient.mrn, patient.national_id_masked, cast.north.hospital.name, cast.north.clinic.name, consult.question, "Attending physician", "@media print", "window.print()"):
        assert text in page, text
    assert identity.decrypt(patient.national_id_ciphertext) not in page


def test_opinion_block_shows_the_session_button_to_the_expert_and_signed_opinions_to_the_clinic(cast, rf):
    consult = starting_in(booked_consult(cast.north), 5)
    block = Template("{% load opinion_tags %}{% consult_opinions consult user %}{% consult_referrals consult user %}")
    expert_view = block.render(Context({"consult": consult, "user": cast.north[Role.SPECIALIST], "request": rf.get("/")}))
    assert "Start the session" in expert_view
    consult_start_session(by=cast.north[Role.SPECIALIST], consult=consult)
    signed_opinion(consult, cast.north[Role.SPECIALIST])
    clinic_view = block.render(Context({"consult": consult, "user": cast.north[Role.CLINIC_DOCTOR], "request": rf.get("/")}))
    assert "Right lower lobe consolidation" in clinic_view and "Start the session" not in clinic_view
    assert "Refer the patient" in clinic_view


# --- Through the pages ---------------------------------------------------------------------------------

def test_expert_saves_and_signs_through_the_opinion_page(cast, client_for):
    consult = consult_in_session(cast.north)
    client = client_for(cast.north[Role.SPECIALIST])
    response = client.post(f"/consults/{consult.pk}/opinion/", opinion_fields() | {"action": "sign"})
    assert response.status_code == 302
    assert Opinion.objects.get().signed_at is not None


def test_opinion_page_shows_what_is_missing_instead_of_failing(cast, client_for):
    consult = consult_in_session(cast.north)
    client = client_for(cast.north[Role.SPECIALIST])
    response = client.post(f"/consults/{consult.pk}/opinion/", opinion_fields(findings="") | {"action": "save"})
    assert response.status_code == 200 and "Write your findings" in response.content.decode()
    response = client.post(f"/consults/{consult.pk}/opinion/", opinion_fields(impression="") | {"action": "sign"})
    assert "Write your impression" in response.content.decode()
    assert Opinion.objects.get().signed_at is None  # the draft is kept, unsigned


def test_session_buttons_explain_a_refusal_on_the_page(cast, client_for):
    consult = booked_consult(cast.north)
    client = client_for(cast.north[Role.SPECIALIST])
    response = client.post(f"/consults/{consult.pk}/session/start/", follow=True)
    assert response.status_code == 200 and "can be started from" in response.content.decode()
    starting_in(consult, 5)
    assert client.post(f"/consults/{consult.pk}/session/start/").status_code == 302
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).post(f"/consults/{consult.pk}/session/end/").status_code == 403
    assert _status(consult) == Status.IN_SESSION


def test_only_the_author_gets_the_addendum_form(cast, client_for):
    consult = consult_in_session(cast.north)
    opinion = signed_opinion(consult, cast.north[Role.SPECIALIST])
    url = f"/consults/opinions/{opinion.pk}/addendum/"
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).post(url, {"text": "Not mine to add."}).status_code == 403
    response = client_for(cast.north[Role.SPECIALIST]).post(url, {"text": ""})
    assert response.status_code == 200 and "Write what you want to add" in response.content.decode()
    assert client_for(cast.north[Role.SPECIALIST]).post(url, {"text": "Culture result."}).status_code == 302
    assert Addendum.objects.get().text == "Culture result."


# --- The trail -------------------------------------------------------------------------------------------

def test_every_step_leaves_an_audit_event_under_the_patient(cast, client_for):
    expert = cast.north[Role.SPECIALIST]
    consult = consult_in_session(cast.north)
    consult_end_session(by=expert, consult=consult)
    opinion = signed_opinion(consult, expert)
    addendum_add(by=expert, opinion=opinion, text="Culture result.")
    client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/consults/{consult.pk}/opinions/print/")
    client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/consults/opinions/{opinion.pk}/addendum/")
    actions = set(AuditEvent.objects.filter(patient_id=consult.patient_id).values_list("action", flat=True))
    expected = {"consult.start_session", "consult.end_session", "opinion.save", "opinion.sign", "consult.complete", "opinion.addendum", "opinion.list", "opinion.view"}
    assert expected <= actions, expected - actions


def test_ending_a_session_early_frees_the_rest_of_the_experts_time(cast):
    from consults.models import Engagement

    consult = consult_in_session(cast.north)  # due to begin in 10 minutes, booked for 30
    consult_end_session(by=cast.north[Role.SPECIALIST], consult=consult)
    busy = Engagement.objects.filter(expert=cast.north[Role.SPECIALIST], released_at__isnull=True, ends_at__gt=timezone.now())
    assert not busy.exists()
