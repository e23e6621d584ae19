"""Pages for the consult's session, the experts' opinions and the referrals that follow them.

Thin: each view loads through an audited service (`consult_get`, `opinion_get`, `referral_get`),
calls one service to change anything, and renders. The rules are in consults/services/.
"""
from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from consults.models import Referral, Status
from consults.services import opinions, referrals, sessions
from consults.services.opinions import ReferralAdvice
from consults.services.requests import consult_get
from telemed.accounts.models import User
from telemed.web.forms import call_service

PAGE_SIZE = 25


# --- Forms (they only shape input; the services validate it) -----------------------------------------

def _text(label, rows: int = 5, help_text: str = "") -> forms.CharField:
    # Not required here: the service says what is missing, in words a doctor can act on.
    return forms.CharField(label=label, required=False, help_text=help_text, widget=forms.Textarea(attrs={"rows": rows}))


class OpinionForm(forms.Form):
    findings = _text(gettext_lazy("Findings"), 6, gettext_lazy("What you saw and heard in the consult, and in the records and images."))
    impression = _text(gettext_lazy("Impression"), 4, gettext_lazy("Your diagnosis, or the differential."))
    recommendations = _text(gettext_lazy("Recommendations"), 5, gettext_lazy("What the clinic should do next: tests, treatment, follow-up."))
    referral_advice = forms.ChoiceField(label=gettext_lazy("Referral advice"), choices=ReferralAdvice.choices, widget=forms.RadioSelect)


class AddendumForm(forms.Form):
    text = _text(gettext_lazy("Addendum"), 4, gettext_lazy("Signed with your name as you save it; it cannot be changed afterwards."))


class ContactChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        places = ", ".join(sorted({m.institution.name for m in user.memberships.all() if m.is_active}))
        return f"{user} ({places})" if places else str(user)


class ReferralForm(forms.Form):
    direction = forms.ChoiceField(label=gettext_lazy("Direction"), choices=Referral.Direction.choices, widget=forms.RadioSelect)
    contact = ContactChoiceField(
        label=gettext_lazy("Contact person"), queryset=User.objects.none(), required=False,
        help_text=gettext_lazy("A named person at the receiving institution, who will be told and can see the patient."),
    )
    reason = _text(gettext_lazy("Reason for referral"), 4)

    def __init__(self, *args, consult, directions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["direction"].choices = [(code, label) for code, label in Referral.Direction.choices if code in directions]
        self.fields["contact"].queryset = referrals.contacts_for(consult).prefetch_related("memberships__institution").order_by("full_name")


class ReferralUpdateForm(forms.Form):
    state = forms.ChoiceField(label=gettext_lazy("What happened"), widget=forms.RadioSelect)
    reason = forms.CharField(label=gettext_lazy("Reason for declining"), required=False, max_length=500)
    discharge_summary = _text(gettext_lazy("Discharge summary"), 6, gettext_lazy("Needed to record the patient's return."))

    def __init__(self, *args, states: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [(code, label) for code, label in Referral.State.choices if code in states]
        # Ask only for what one of the offered steps needs.
        if Referral.State.DECLINED not in states:
            del self.fields["reason"]
        if Referral.State.RETURNED not in states:
            del self.fields["discharge_summary"]


# --- Helpers -------------------------------------------------------------------------------------------

def _back(request, consult) -> str:
    """Where a session button returns to: the page it was pressed on, else the opinion page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("consults:opinion_edit", kwargs={"consult_id": consult.pk})


def _announce(request, call: Callable[[], object], done: str) -> None:
    """For buttons without a form: a refusal becomes a message on the page, never a 500."""
    try:
        call()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)


# --- Session ---------------------------------------------------------------------------------------------

@require_POST
def session_start(request, consult_id):
    consult = consult_get(by=request.user, consult_id=consult_id)
    _announce(request, lambda: sessions.consult_start_session(by=request.user, consult=consult), _("The session has started."))
    return redirect(_back(request, consult))


@require_POST
def session_end(request, consult_id):
    consult = consult_get(by=request.user, consult_id=consult_id)
    done = _("The session has ended. Each expert now signs their opinion.")
    _announce(request, lambda: sessions.consult_end_session(by=request.user, consult=consult), done)
    return redirect(_back(request, consult))


# --- Opinions --------------------------------------------------------------------------------------------

def _initial(opinion) -> dict:
    if opinion is None:
        return {"referral_advice": ReferralAdvice.NONE}
    return {name: getattr(opinion, name) for name in ("findings", "impression", "recommendations", "referral_advice")}


def _save_opinion(request, form: OpinionForm, consult):
    """Save the draft; with "sign", sign it too (a refused signature keeps the saved draft)."""
    opinion = call_service(form, lambda: opinions.opinion_save(by=request.user, consult=consult, **form.cleaned_data))
    if opinion is None or request.POST.get("action") != "sign":
        return opinion
    signed = call_service(form, lambda: opinions.opinion_sign(by=request.user, opinion=opinion))
    if signed is None:
        messages.warning(request, _("Your draft is saved but not signed yet: see below what is missing."))
    return signed


def _saved_message(request, opinion) -> str:
    if request.POST.get("action") != "sign":
        return _("Your draft is saved. Only you can see it until you sign it.")
    if opinion.consult.status == Status.COMPLETED:
        return _("Your opinion is signed. Every expert has signed: the consult is complete and the clinic has been told.")
    return _("Your opinion is signed; the clinic can read it now.")


def opinion_edit(request, consult_id):
    """The consult's opinions; for an expert taking part, their own draft to write and sign."""
    consult = consult_get(by=request.user, consult_id=consult_id)
    own = opinions.opinion_own(by=request.user, consult=consult)
    writing = request.method == "POST" or (opinions.may_write(request.user, consult) and not (own and own.signed_at))
    form = OpinionForm(request.POST or None, initial=_initial(own)) if writing else None
    if form is not None and request.method == "POST" and form.is_valid():
        opinion = _save_opinion(request, form, consult)
        if opinion is not None and not form.errors:
            messages.success(request, _saved_message(request, opinion))
            return redirect("consults:opinion_edit", consult_id=consult.pk)
    return render(request, "consults/opinion_edit.html", {"consult": consult, "form": form, "own": own})


def addendum_add(request, opinion_id):
    opinion = opinions.opinion_get(by=request.user, opinion_id=opinion_id)
    form = AddendumForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if call_service(form, lambda: opinions.addendum_add(by=request.user, opinion=opinion, text=form.cleaned_data["text"])):
            messages.success(request, _("Your addendum is signed and added to the opinion."))
            return redirect("consults:opinion_edit", consult_id=opinion.consult_id)
    can_add = opinions.may_add_addendum(request.user, opinion)
    return render(request, "consults/addendum_form.html", {"opinion": opinion, "consult": opinion.consult, "form": form, "can_add": can_add})


@require_safe
def opinions_print(request, consult_id):
    consult = consult_get(by=request.user, consult_id=consult_id)
    signed = opinions.opinions_for(by=request.user, consult=consult, signed_only=True)
    context = {"consult": consult, "patient": consult.patient, "opinions": signed, "printed_at": timezone.now()}
    return render(request, "consults/opinions_print.html", context)


# --- Referrals -------------------------------------------------------------------------------------------

@require_safe
def referral_list(request):
    state = request.GET.get("state", "")
    state = state if state in Referral.State.values else ""
    page = Paginator(referrals.referral_search(by=request.user, state=state), PAGE_SIZE).get_page(request.GET.get("page"))
    referrals.referral_list_record(by=request.user, shown=list(page.object_list))
    query_string = urlencode({"state": state}) if state else ""
    return render(request, "consults/referral_list.html", {"page": page, "state": state, "states": Referral.State.choices, "query_string": query_string})


def referral_create(request, consult_id):
    consult = consult_get(by=request.user, consult_id=consult_id)
    directions = referrals.referral_directions(request.user, consult)
    advised = [o.referral_advice for o in opinions.opinions_for(by=request.user, consult=consult, signed_only=True)]
    initial = {"direction": next((a for a in advised if a in directions), directions[0] if directions else None)}
    form = ReferralForm(request.POST or None, consult=consult, directions=directions or Referral.Direction.values, initial=initial)
    if request.method == "POST" and form.is_valid():
        referral = call_service(form, lambda: referrals.referral_create(by=request.user, consult=consult, **form.cleaned_data))
        if referral:
            messages.success(request, _("The referral is sent; %(name)s has been told.") % {"name": referral.contact})
            return redirect("consults:referral_detail", referral_id=referral.pk)
    return render(request, "consults/referral_form.html", {"consult": consult, "form": form, "may_refer": bool(directions), "advised": advised})


def referral_detail(request, referral_id):
    referral = referrals.referral_get(by=request.user, referral_id=referral_id)
    states = referrals.next_states(request.user, referral)
    form = ReferralUpdateForm(request.POST or None, states=states or referrals.NEXT_STATES[referral.state])
    if request.method == "POST" and form.is_valid():
        if call_service(form, lambda: referrals.referral_update(by=request.user, referral=referral, **form.cleaned_data)):
            messages.success(request, _("The referral is updated and everyone involved has been told."))
            return redirect("consults:referral_detail", referral_id=referral.pk)
    history = referrals.referral_history(referral)
    return render(request, "consults/referral_detail.html", {"referral": referral, "form": form, "can_update": bool(states), "history": history})
