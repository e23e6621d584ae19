"""Who may give a remote consultation, and the directory clinics and coordinators search.

The 2018 remote-medical-service rules: only a verified specialist with at least three years of
independent practice may be booked or assigned. Every refusal names the reason. Remote reads apply
the same qualification rule to radiologists (`practice_refusal`, imaging/services/reading/assignment.py).
"""
from __future__ import annotations

from django.db.models import Case, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.utils.translation import gettext as _
from django.utils.translation import ngettext_lazy

from consults.models import ExpertProfile
from telemed import access
from telemed.accounts.models import Membership, Pairing, Qualification, Role, Specialty, User

MIN_PRACTICE_YEARS = 3


def verified_practice_years(person: User) -> int | None:
    """Years of independent practice by the person's verified qualifications; None without one."""
    verified = [q for q in person.qualifications.all() if q.is_verified]
    return max(q.years_of_practice() for q in verified) if verified else None


# Each remote service names itself in the refusal; the rule is the same for all.
_TOO_FEW_YEARS = {
    "consultations": ngettext_lazy(
        "%(name)s has %(years)d year of independent practice; remote consultations need at least %(min)d.",
        "%(name)s has %(years)d years of independent practice; remote consultations need at least %(min)d.",
        "years",
    ),
    "reads": ngettext_lazy(
        "%(name)s has %(years)d year of independent practice; remote reads need at least %(min)d.",
        "%(name)s has %(years)d years of independent practice; remote reads need at least %(min)d.",
        "years",
    ),
}


def practice_refusal(person: User, *, service: str) -> str:
    """Why the person's qualification does not allow them to give the remote `service`
    ("consultations" or "reads"), or "" if it does. Uses prefetched qualifications when there are."""
    years = verified_practice_years(person)
    if years is None:
        return _("%(name)s has no verified qualification yet; an administrator must verify their licence first.") % {"name": person}
    if years < MIN_PRACTICE_YEARS:
        return _TOO_FEW_YEARS[service] % {"name": str(person), "years": years, "min": MIN_PRACTICE_YEARS}
    return ""


def expert_refusal(expert: User, specialty: str | None = None) -> str:
    """Why this person cannot be booked (for this specialty), or "" if they can."""
    name = str(expert)
    if not expert.is_active or not Membership.objects.filter(
        user=expert, role=Role.SPECIALIST, is_active=True, institution__kind="hospital", institution__is_active=True
    ).exists():
        return _("%(name)s is not a specialist of a designated hospital.") % {"name": name}
    refusal = practice_refusal(expert, service="consultations")
    if refusal:
        return refusal
    if specialty and not any(specialty in q.specialties for q in expert.qualifications.all() if q.is_verified):
        return _("%(name)s is not qualified in %(specialty)s.") % {"name": name, "specialty": Specialty(specialty).label}
    return ""


def _json_list_has(field: str, code: str) -> Q:
    """A JSON list holding `code`. SQLite has no JSON `contains`; matching the quoted code in
    the JSON text is exact for these lists of plain codes, on both databases."""
    return Q(**{f"{field}__icontains": f'"{code}"'})


def expert_directory(
    *, user: User, specialty: str = "", hospital=None, title: str = "", language: str = "", query: str = ""
) -> QuerySet[User]:
    """Specialists of the user's alliance; for a clinic, those of its paired hospitals come first."""
    experts = User.objects.filter(
        is_active=True,
        memberships__role=Role.SPECIALIST,
        memberships__is_active=True,
        memberships__institution__in=access.visible_institutions(user),
    )
    if specialty:
        experts = experts.filter(_json_list_has("qualifications__specialties", specialty), qualifications__verified_at__isnull=False)
    if hospital is not None:
        experts = experts.filter(memberships__institution=hospital, memberships__role=Role.SPECIALIST)
    if title:
        experts = experts.filter(qualifications__title=title, qualifications__verified_at__isnull=False)
    if language:
        experts = experts.filter(_json_list_has("expert_profile__languages", language))
    if query:
        experts = experts.filter(Q(full_name__icontains=query) | Q(username__icontains=query))
    paired = Pairing.objects.filter(
        clinic__in=access.institutions_with_role(user, Role.CLINIC_DOCTOR),
        ended_on__isnull=True,
        hospital__memberships__user=OuterRef("pk"),
        hospital__memberships__role=Role.SPECIALIST,
    )
    return (
        experts.distinct()
        .annotate(paired=Exists(paired))
        .annotate(rank=Case(When(paired=True, then=Value(0)), default=Value(1), output_field=IntegerField()))
        .prefetch_related(
            Prefetch("qualifications", queryset=Qualification.objects.order_by("-verified_at")),
            Prefetch("memberships", queryset=Membership.objects.filter(role=Role.SPECIALIST, is_active=True).select_related("institution", "department")),
        )
        .order_by("rank", "full_name")
    )


def expert_languages(expert: User) -> list[str]:
    profile = ExpertProfile.objects.filter(user=expert).first()
    return profile.languages if profile else []
