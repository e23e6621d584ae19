"""`{% consult_opinions consult user %}` and `{% consult_referrals consult user %}` for the consult page.

Both read through the audited services, so a page that shows opinions or referrals leaves the
same trail as the pages of their own; the rules of who sees what stay in the services.
"""
from __future__ import annotations

from django import template
from django.utils import timezone

from consults.models import Status
from consults.services import opinions, referrals, sessions

register = template.Library()


def _session_controls(user, consult) -> dict:
    opens_at = sessions.session_opens_at(consult)
    return {
        "can_run": sessions.can_run_session(user, consult),
        "can_start": consult.status == Status.SCHEDULED,
        "opens_at": opens_at,
        "too_early": bool(opens_at and timezone.now() < opens_at),
        "can_end": consult.status == Status.IN_SESSION,
    }


def _request_path(context) -> str:
    request = context.get("request")
    return request.get_full_path() if request is not None else ""


@register.inclusion_tag("consults/_opinions.html", takes_context=True)
def consult_opinions(context, consult, user) -> dict:
    """Signed opinions for everyone who sees the consult; an expert's own draft; the session buttons."""
    shown = opinions.opinions_for(by=user, consult=consult)
    own = next((o for o in shown if o.author_id == user.pk), None)
    return {
        "consult": consult,
        "user": user,
        "signed": [o for o in shown if o.signed_at],
        "own": own,
        "can_write": opinions.may_write(user, consult) and not (own and own.signed_at),
        "session": _session_controls(user, consult),
        "next": _request_path(context),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("consults/_referrals.html", takes_context=True)
def consult_referrals(context, consult, user) -> dict:
    return {
        "consult": consult,
        "referrals": referrals.referrals_of(by=user, consult=consult),
        "may_refer": bool(referrals.referral_directions(user, consult)),
    }


@register.filter
def referral_advice_label(code: str) -> str:
    """The model keeps the code only; its words live with `ReferralAdvice`."""
    return opinions.ReferralAdvice(code).label if code in opinions.ReferralAdvice.values else code
