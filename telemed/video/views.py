"""Pages of the video room: the call itself, the host's invitations, and a guest's one-time link."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from consults.services.requests import consult_get
from telemed.video.consumers import GUEST_SESSION_KEY
from telemed.video.models import Invitation, Room
from telemed.video.services import invitations
from telemed.video.services.admission import JoinRefused, Person, check_person, check_window, is_host, room_for
from telemed.video.services.tokens import join_token


class GuestInviteForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Guest's name"), max_length=80)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Invitation.GuestRole.choices)


def _room_or_404(request, consult_id) -> Room:
    consult = consult_get(by=request.user, consult_id=consult_id)
    room = room_for(consult)
    try:
        check_person(room, Person(user=request.user))
    except JoinRefused:
        raise Http404 from None
    return room


def _window_problem(room: Room) -> str:
    try:
        check_window(room)
    except JoinRefused as refused:
        return refused.message
    return ""


def _render_room(request, room: Room, person: Person, *, host: bool, **extra):
    return render(
        request,
        "video/room.html",
        {
            "room": room,
            "consult": room.consult,
            "token": join_token(room, person),
            "host": host,
            "closed_reason": _window_problem(room),
            "guest_form": GuestInviteForm() if host else None,
            "invitations": room.invitations.filter(revoked_at__isnull=True).order_by("-created_at") if host else (),
            **extra,
        },
    )


def room_page(request, consult_id):
    room = _room_or_404(request, consult_id)
    return _render_room(request, room, Person(user=request.user), host=is_host(request.user, room))


@require_POST
def invite_guest(request, consult_id):
    room = _room_or_404(request, consult_id)
    form = GuestInviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("video:room", consult_id=consult_id)
    try:
        invitation, secret = invitations.invitation_create_guest(by=request.user, room=room, **form.cleaned_data)
    except JoinRefused as refused:
        raise PermissionDenied(refused.message) from None
    except ValidationError as problem:
        messages.error(request, " ".join(problem.messages))
        return redirect("video:room", consult_id=consult_id)
    link = request.build_absolute_uri(f"/video/guest/{secret}/")
    return _render_room(request, room, Person(user=request.user), host=True, new_link=link, new_invitation=invitation)


@require_POST
def revoke_invitation(request, consult_id, invitation_id):
    room = _room_or_404(request, consult_id)
    try:
        invitations.invitation_revoke(by=request.user, room=room, invitation_id=invitation_id)
    except JoinRefused as refused:
        raise PermissionDenied(refused.message) from None
    messages.success(request, _("The invitation was withdrawn; whoever holds it can no longer join."))
    return redirect("video:room", consult_id=consult_id)


@login_not_required
def guest_entry(request, secret):
    """A guest's link: a page first (link previews must not spend it), the room after they press Join."""
    if request.user.is_authenticated:
        raise PermissionDenied(_("This link is for a guest without an account. Open it in a private window, or join from the consult page."))
    invitation = request.session.get(GUEST_SESSION_KEY) and Invitation.objects.filter(
        pk=request.session[GUEST_SESSION_KEY], redeemed_by_session=request.session.session_key or "-"
    ).select_related("room__consult").first()
    if invitation is not None:
        return render(
            request,
            "video/room.html",
            {"room": invitation.room, "token": join_token(invitation.room, Person(invitation=invitation)), "guest": invitation,
             "closed_reason": _window_problem(invitation.room)},
        )
    if request.method == "POST":
        if not request.session.session_key:
            request.session.save()
        try:
            invitation = invitations.invitation_redeem(secret=secret, session_key=request.session.session_key)
        except JoinRefused as refused:
            return render(request, "video/guest_entry.html", {"error": refused.message}, status=403)
        request.session[GUEST_SESSION_KEY] = str(invitation.pk)
        return redirect(request.path)
    return render(request, "video/guest_entry.html", {})
