"""Pages for signing in, the directory of institutions, pairings and people, profiles and tokens."""
from __future__ import annotations

from datetime import datetime, time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from telemed import access
from telemed.accounts import forms
from telemed.accounts.models import Alliance, Membership, Pairing, Qualification, Role
from telemed.accounts.services import directory, signin, tokens
from telemed.web.forms import call_service
from telemed.web.navigation import landing_url_name


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _require_directory_reader(user) -> None:
    _require(user.is_superuser or access.has_role(user, Role.COORDINATOR, Role.ADMINISTRATOR))


# --- Signing in ---------------------------------------------------------------------------------

@login_not_required
def login_view(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = forms.SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = signin.signin_attempt(
            request=request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
        )
        if result.user is not None:
            target = request.POST.get("next") or request.GET.get("next") or ""
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
                target = ""
            response = redirect(target or landing_url_name(result.user))
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, result.user.language, samesite="Lax")
            return response
        form.add_error(None, result.error)
        status = 429 if result.locked else 200
    return render(request, "accounts/login.html", {"form": form, "next": request.GET.get("next", "")}, status=status)


@require_POST
def logout_view(request):
    signin.signout(request=request)
    return redirect("login")


# --- Institutions ---------------------------------------------------------------------------------

def institution_list(request):
    _require_directory_reader(request.user)
    institutions = (
        access.visible_institutions(request.user)
        .select_related("alliance")
        .annotate(people=Count("memberships__user", filter=Q(memberships__is_active=True), distinct=True))
    )
    can_manage = access.manageable_institutions(request.user).exists() or request.user.is_superuser
    return render(request, "accounts/institution_list.html", {"institutions": institutions, "can_manage": can_manage})


def _alliances_for(user):
    if user.is_superuser:
        return Alliance.objects.all()
    return Alliance.objects.filter(institutions__in=access.manageable_institutions(user)).distinct()


def institution_create(request):
    alliances = _alliances_for(request.user)
    _require(alliances.exists())
    form = forms.InstitutionForm(request.POST or None, alliances=alliances)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        institution = call_service(form, lambda: directory.institution_create(by=request.user, **data))
        if institution:
            messages.success(request, _("%(name)s was added.") % {"name": institution.name})
            return redirect("accounts:institution", institution_id=institution.pk)
    return render(request, "form_page.html", {"form": form, "title": _("New institution"), "cancel_url": reverse("accounts:institutions")})


def institution_detail(request, institution_id):
    _require_directory_reader(request.user)
    institution = get_object_or_404(access.visible_institutions(request.user).select_related("alliance"), pk=institution_id)
    can_manage = access.manageable_institutions(request.user).filter(pk=institution.pk).exists()
    department_form = forms.DepartmentForm(request.POST or None) if can_manage else None
    if request.method == "POST":
        _require(can_manage)
        if department_form.is_valid():
            done = call_service(department_form, lambda: directory.department_create(by=request.user, institution=institution, **department_form.cleaned_data))
            if done:
                messages.success(request, _("The department was added."))
                return redirect("accounts:institution", institution_id=institution.pk)
    memberships = institution.memberships.filter(is_active=True).select_related("user", "department").order_by("role", "user__full_name")
    pairings = Pairing.objects.filter(Q(hospital=institution) | Q(clinic=institution)).select_related("hospital", "clinic")
    return render(
        request,
        "accounts/institution_detail.html",
        {
            "institution": institution,
            "departments": institution.departments.all(),
            "memberships": memberships,
            "pairings": pairings,
            "can_manage": can_manage,
            "department_form": department_form,
        },
    )


def institution_edit(request, institution_id):
    institution = get_object_or_404(access.manageable_institutions(request.user), pk=institution_id)
    form = forms.InstitutionForm(request.POST or None, instance=institution)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        done = call_service(form, lambda: directory.institution_update(by=request.user, institution=institution, **changes))
        if done:
            messages.success(request, _("The changes were saved."))
            return redirect("accounts:institution", institution_id=institution.pk)
    return render(
        request,
        "form_page.html",
        {"form": form, "title": _("Edit %(name)s") % {"name": institution.name}, "cancel_url": reverse("accounts:institution", kwargs={"institution_id": institution.pk})},
    )


# --- Pairings -------------------------------------------------------------------------------------

def pairing_list(request):
    _require_directory_reader(request.user)
    pairings = access.visible_pairings(request.user).select_related("hospital", "clinic").order_by("ended_on", "hospital__name", "clinic__name")
    manageable = access.manageable_institutions(request.user)
    form = forms.PairingForm(request.POST or None, institutions=manageable) if manageable.exists() else None
    if request.method == "POST":
        _require(form is not None)
        if form.is_valid():
            pairing = call_service(form, lambda: directory.pairing_create(by=request.user, **form.cleaned_data))
            if pairing:
                messages.success(request, _("The pairing %(pairing)s was created.") % {"pairing": pairing})
                return redirect("accounts:pairings")
    return render(request, "accounts/pairing_list.html", {"pairings": pairings, "form": form, "manageable": set(manageable.values_list("pk", flat=True))})


@require_POST
def pairing_end(request, pairing_id):
    pairing = get_object_or_404(access.manageable_pairings(request.user), pk=pairing_id)
    try:
        directory.pairing_end(by=request.user, pairing=pairing)
        messages.success(request, _("The pairing %(pairing)s has ended.") % {"pairing": pairing})
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("accounts:pairings")


# --- People ---------------------------------------------------------------------------------------

def people_list(request):
    _require_directory_reader(request.user)
    query = request.GET.get("q", "").strip()
    role = request.GET.get("role", "")
    people = access.visible_users(request.user).prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.filter(is_active=True).select_related("institution", "department"))
    )
    if query:
        people = people.filter(Q(full_name__icontains=query) | Q(username__icontains=query))
    if role in Role.values:
        people = people.filter(memberships__role=role, memberships__is_active=True)
    page = Paginator(people.order_by("full_name", "username"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/people_list.html",
        {"page": page, "query": query, "role": role, "roles": Role.choices, "can_manage": access.can_administer(request.user)},
    )


def person_create(request, device: bool = False):
    manageable = access.manageable_institutions(request.user)
    _require(manageable.exists())
    form_class = forms.DeviceForm if device else forms.PersonForm
    form = form_class(request.POST or None, institutions=manageable)
    if request.method == "POST" and form.is_valid():
        extra = {"is_device": True, "role": Role.DEVICE} if device else {}
        person = call_service(form, lambda: directory.user_create(by=request.user, **form.cleaned_data, **extra))
        if person:
            messages.success(request, _("%(name)s was added.") % {"name": person})
            return redirect("accounts:person", user_id=person.pk)
    return render(
        request, "form_page.html", {"form": form, "title": _("New device") if device else _("New person"), "cancel_url": reverse("accounts:people")}
    )


def person_detail(request, user_id):
    _require_directory_reader(request.user)
    person = get_object_or_404(access.visible_users(request.user), pk=user_id)
    manageable = access.manageable_institutions(request.user)
    can_manage = access.manageable_users(request.user).filter(pk=person.pk).exists()
    membership_form = forms.MembershipForm(institutions=manageable) if can_manage else None
    return render(
        request,
        "accounts/person_detail.html",
        {
            "person": person,
            "memberships": person.memberships.select_related("institution", "department").order_by("-is_active", "institution__name"),
            "qualifications": person.qualifications.select_related("verified_by"),
            "tokens": access.visible_tokens(request.user).filter(user=person) if can_manage else [],
            "can_manage": can_manage,
            "manageable_ids": set(manageable.values_list("pk", flat=True)),
            "membership_form": membership_form,
            "today": timezone.localdate(),
        },
    )


@require_POST
def person_membership_add(request, user_id):
    person = get_object_or_404(access.manageable_users(request.user), pk=user_id)
    form = forms.MembershipForm(request.POST, institutions=access.manageable_institutions(request.user))
    if form.is_valid() and call_service(form, lambda: directory.membership_add(by=request.user, user=person, **form.cleaned_data)):
        messages.success(request, _("The role was added."))
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("accounts:person", user_id=person.pk)


@require_POST
def membership_end(request, membership_id):
    membership = get_object_or_404(
        Membership.objects.filter(institution__in=access.manageable_institutions(request.user)), pk=membership_id
    )
    directory.membership_end(by=request.user, membership=membership)
    messages.success(request, _("The role was removed."))
    return redirect("accounts:person", user_id=membership.user_id)


@require_POST
def person_set_active(request, user_id):
    person = get_object_or_404(access.manageable_users(request.user), pk=user_id)
    try:
        directory.user_set_active(by=request.user, user=person, active=request.POST.get("active") == "1")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("accounts:person", user_id=person.pk)


@require_POST
def qualification_verify(request, qualification_id):
    qualification = get_object_or_404(
        Qualification.objects.filter(user__in=access.manageable_users(request.user)), pk=qualification_id
    )
    try:
        directory.qualification_verify(by=request.user, qualification=qualification)
        messages.success(request, _("The qualification is verified."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("accounts:person", user_id=qualification.user_id)


# --- My profile -----------------------------------------------------------------------------------

def profile(request):
    user = request.user
    initial = {f: getattr(user, f) for f in ("full_name", "email", "phone", "language", "time_zone")}
    profile_form = forms.ProfileForm(request.POST if request.POST.get("form") == "profile" else None, initial=initial)
    qualification_form = forms.QualificationForm(request.POST if request.POST.get("form") == "qualification" else None)
    if request.method == "POST":
        if profile_form.is_bound and profile_form.is_valid():
            if call_service(profile_form, lambda: directory.profile_update(user=user, **profile_form.cleaned_data)):
                messages.success(request, _("Your profile was saved."))
                response = redirect("accounts:profile")
                response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language, samesite="Lax")
                return response
        if qualification_form.is_bound and qualification_form.is_valid():
            if call_service(qualification_form, lambda: directory.qualification_add(by=user, user=user, **qualification_form.cleaned_data)):
                messages.success(request, _("The qualification was added; an administrator will verify it."))
                return redirect("accounts:profile")
    return render(
        request,
        "accounts/profile.html",
        {
            "memberships": access.active_memberships(user).select_related("institution", "department"),
            "qualifications": user.qualifications.select_related("verified_by"),
            "profile_form": profile_form,
            "qualification_form": qualification_form,
            "today": timezone.localdate(),
        },
    )


# --- Access tokens ----------------------------------------------------------------------------------

def token_list(request):
    user = request.user
    devices = access.manageable_users(user).filter(is_device=True, is_active=True)
    form = forms.TokenForm(request.POST or None, devices=devices)
    secret = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        expires_at = timezone.make_aware(datetime.combine(data["expires_on"], time(23, 59, 59)))
        issued = call_service(
            form,
            lambda: tokens.token_create(
                owner=data.get("owner") or user, by=user, name=data["name"], scopes=data["scopes"], expires_at=expires_at
            ),
        )
        if issued:
            secret = issued[1]
            form = forms.TokenForm(devices=devices)
    return render(
        request,
        "accounts/token_list.html",
        {"tokens": access.visible_tokens(user).select_related("user"), "form": form, "secret": secret, "now": timezone.now()},
    )


@require_POST
def token_revoke(request, token_id):
    token = get_object_or_404(access.visible_tokens(request.user), pk=token_id)
    tokens.token_revoke(token=token, by=request.user)
    messages.success(request, _("The token %(name)s was revoked.") % {"name": token.name})
    return redirect("accounts:tokens")
