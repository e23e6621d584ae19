"""Expert opinions: each expert of a consult writes, signs, and may later add to, their own.

The rules, in one place:
- the experts of a consult (participants in the lead or expert role, not removed) write while it
  is in session or opinion pending; a save is a draft that only its author sees;
- signing freezes an opinion: any later change is refused, and what the expert wants to add goes
  in an addendum, signed by its author as it is written;
- MDT: every expert signs their own opinion (no co-signing of the lead's). The consult is
  completed, and the clinic told, when every expert taking part has signed;
- everyone who can see the consult sees signed opinions at once, never someone else's draft;
- every read and every write is in the audit trail, under the consult's patient.
"""
from __future__ import annotations

from uuid import UUID

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.models import Addendum, Consult, Opinion, Participant, Status
from consults.services.lifecycle import transition
from consults.services.notify import local_minute, notify
from consults.services.requests import _locked
from telemed import access
from telemed.accounts.models import Qualification, User
from telemed.audit.services import audit_record, audited_get


class ReferralAdvice(models.TextChoices):
    """What the expert advises; the model keeps the code in `Opinion.referral_advice`."""

    NONE = "none", gettext_lazy("No referral")
    UP = "up", gettext_lazy("Refer to the hospital")
    DOWN = "down", gettext_lazy("Back to the clinic")


WRITABLE_STATUSES = (Status.IN_SESSION, Status.OPINION_PENDING)


# --- Who takes part --------------------------------------------------------------------------------

def expert_participants(consult: Consult) -> QuerySet[Participant]:
    return consult.participants.filter(role__in=Participant.EXPERT_ROLES, removed_at__isnull=True)


def is_expert_participant(user, consult: Consult) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return expert_participants(consult).filter(user=user).exists()


def clinic_doctors_of(consult: Consult) -> list[User]:
    """Who at the clinic hears about the opinion: the requesting doctor and any clinic participant."""
    taking_part = consult.participants.filter(role=Participant.Role.CLINIC_DOCTOR, removed_at__isnull=True).select_related("user")
    return [consult.requested_by, *(p.user for p in taking_part)]


def may_write(user, consult: Consult) -> bool:
    return consult.status in WRITABLE_STATUSES and is_expert_participant(user, consult)


def may_add_addendum(user, opinion: Opinion) -> bool:
    return opinion.signed_at is not None and user is not None and opinion.author_id == user.pk


def _require_expert(by: User, consult: Consult) -> None:
    if not is_expert_participant(by, consult):
        raise PermissionDenied(_("Only the experts taking part in this consult can write or sign an opinion on it."))


def _require_writable(consult: Consult) -> None:
    if consult.status not in WRITABLE_STATUSES:
        raise ValidationError(
            _("Opinions are written while the consult is in session or waiting for opinions; this one is %(status)s.")
            % {"status": Status(consult.status).label.lower()}
        )


def _refuse_signed(opinion: Opinion) -> None:
    if opinion.signed_at is not None:
        raise ValidationError(
            _("This opinion was signed on %(time)s and can no longer be changed; add an addendum instead.") % {"time": local_minute(opinion.signed_at)},
            code="signed",
        )


# --- Writing ---------------------------------------------------------------------------------------

def _clean_draft(*, findings: str, referral_advice: str) -> None:
    errors = {}
    if not findings.strip():
        errors["findings"] = _("Write your findings; a draft cannot be saved without them.")
    if referral_advice not in ReferralAdvice.values:
        errors["referral_advice"] = _("Choose the referral advice: no referral, refer to the hospital, or back to the clinic.")
    if errors:
        raise ValidationError(errors)


def _clean_for_signing(opinion: Opinion) -> None:
    """A draft may be partial; what is signed must answer the clinic's question in full."""
    errors = {}
    if not opinion.findings.strip():
        errors["findings"] = _("Write your findings before signing.")
    if not opinion.impression.strip():
        errors["impression"] = _("Write your impression (the diagnosis or the differential) before signing.")
    if not opinion.recommendations.strip():
        errors["recommendations"] = _("Write your recommendations for the clinic before signing.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def opinion_save(
    *, by: User, consult: Consult, findings: str, impression: str = "", recommendations: str = "", referral_advice: str = ReferralAdvice.NONE
) -> Opinion:
    """Create or update the author's own unsigned opinion; a signed one is never changed."""
    consult = _locked(consult)
    _require_expert(by, consult)
    opinion = Opinion.objects.select_for_update().filter(consult=consult, author=by).first()
    if opinion is not None:
        _refuse_signed(opinion)
    _require_writable(consult)
    _clean_draft(findings=findings, referral_advice=referral_advice)
    created = opinion is None
    opinion = opinion or Opinion(consult=consult, author=by)
    opinion.findings, opinion.impression, opinion.recommendations = findings.strip(), impression.strip(), recommendations.strip()
    opinion.referral_advice = referral_advice
    opinion.save()
    audit_record(actor=by, action="opinion.save", obj=opinion, patient_id=consult.patient_id, detail={"consult": str(consult.pk), "created": created})
    return opinion


@transaction.atomic
def opinion_sign(*, by: User, opinion: Opinion) -> Opinion:
    """Sign the author's own opinion; the last expert's signature completes the consult.

    1. Lock the consult, then the opinion: two experts signing at the same moment queue up, so
       exactly one of them sees every signature and completes the consult.
    2. Check the author, that it is not yet signed, the consult's state and that it is complete.
    3. Sign it and audit it; the clinic sees it from now on.
    4. If every expert taking part has signed, complete the consult and tell the clinic.
    """
    consult = _locked(opinion.consult)
    opinion = Opinion.objects.select_for_update().get(pk=opinion.pk)
    if opinion.author_id != by.pk:
        raise PermissionDenied(_("Only the author can sign an opinion."))
    _refuse_signed(opinion)
    _require_expert(by, consult)
    _require_writable(consult)
    _clean_for_signing(opinion)
    opinion.signed_at = timezone.now()
    opinion.save(update_fields=["signed_at", "updated_at"])
    audit_record(actor=by, action="opinion.sign", obj=opinion, patient_id=consult.patient_id, detail={"consult": str(consult.pk), "referral_advice": opinion.referral_advice})
    complete_if_every_expert_signed(consult, by=by)
    opinion.consult = consult  # the caller sees whether this signature completed the consult
    return opinion


def complete_if_every_expert_signed(consult: Consult, *, by: User) -> bool:
    """With the consult locked by the caller: complete it once every expert taking part has signed.

    Signing is allowed during the call; the consult completes only after the session has ended
    (opinion pending), so ending the session calls this too.
    """
    if consult.status != Status.OPINION_PENDING:
        return False
    experts = set(expert_participants(consult).values_list("user_id", flat=True))
    signed = set(consult.opinions.filter(signed_at__isnull=False).values_list("author_id", flat=True))
    if not experts or not experts <= signed:
        return False
    transition(consult, to=Status.COMPLETED, by=by, action="complete", note=_("Every expert has signed their opinion."))
    notify(clinic_doctors_of(consult), consult=consult, title=gettext_lazy("The expert opinion is ready"), body=_advice_summary(consult))
    return True


def _advice_summary(consult: Consult) -> str:
    advice = set(consult.opinions.filter(signed_at__isnull=False).values_list("referral_advice", flat=True)) - {ReferralAdvice.NONE}
    lines = [str(consult)]
    lines += [str(ReferralAdvice(code).label) for code in sorted(advice) if code in ReferralAdvice.values]
    return "\n".join(lines)


@transaction.atomic
def addendum_add(*, by: User, opinion: Opinion, text: str) -> Addendum:
    """Add to one's own signed opinion; the addendum is signed as it is written and never changed."""
    opinion = Opinion.objects.select_for_update().select_related("consult", "consult__requested_by").get(pk=opinion.pk)
    if opinion.author_id != by.pk:
        raise PermissionDenied(_("Only the author of an opinion can add to it."))
    if opinion.signed_at is None:
        raise ValidationError(_("This opinion is still a draft: change it directly. Addenda are for signed opinions."))
    if not text.strip():
        raise ValidationError({"text": _("Write what you want to add to your signed opinion.")})
    addendum = Addendum.objects.create(opinion=opinion, author=by, text=text.strip())
    consult = opinion.consult
    audit_record(actor=by, action="opinion.addendum", obj=addendum, patient_id=consult.patient_id, detail={"opinion": str(opinion.pk)})
    notify(clinic_doctors_of(consult), consult=consult, title=gettext_lazy("An expert added to a signed opinion"), body=text.strip())
    return addendum


# --- Reading ---------------------------------------------------------------------------------------

def _attach_titles(opinions: list[Opinion]) -> list[Opinion]:
    """Each author's professional title, from their most recently verified qualification."""
    authors = {o.author_id for o in opinions}
    titles: dict = {}
    verified = Qualification.objects.filter(user_id__in=authors, verified_at__isnull=False).order_by("user_id", "-verified_at")
    for qualification in verified:
        titles.setdefault(qualification.user_id, qualification.get_title_display())
    for opinion in opinions:
        opinion.author_title = titles.get(opinion.author_id, "")
    return opinions


def opinions_for(*, by: User, consult: Consult, signed_only: bool = False) -> list[Opinion]:
    """The consult's opinions this person may read (signed ones and their own draft), audited."""
    shown = access.visible_opinions(by).filter(consult=consult)
    if signed_only:
        shown = shown.filter(signed_at__isnull=False)
    shown = list(shown.select_related("author").prefetch_related("addenda__author").order_by(F("signed_at").asc(nulls_last=True), "created_at"))
    audit_record(actor=by, action="opinion.list", obj=consult, patient_id=consult.patient_id, detail={"shown": [str(o.pk) for o in shown]})
    return _attach_titles(shown)


def opinion_own(*, by: User, consult: Consult) -> Opinion | None:
    """The person's own opinion on the consult (draft or signed), audited when there is one."""
    opinion = Opinion.objects.filter(consult=consult, author=by).first() if by.is_authenticated else None
    if opinion is not None:
        audit_record(actor=by, action="opinion.view", obj=opinion, patient_id=consult.patient_id)
    return opinion


def opinion_get(*, by: User, opinion_id: UUID) -> Opinion:
    """One opinion the person may read; anything else is a 404 (and a denied event if it exists)."""
    scope = access.visible_opinions(by).select_related("consult", "consult__patient", "author")
    opinion = audited_get(scope, opinion_id, by=by, action="opinion.view", patient_path="consult__patient_id", not_found=_("No opinion found."))
    return _attach_titles([opinion])[0]
