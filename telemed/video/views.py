"""Pages of the video room: the call itself, the host's invitations, and a guest's one-time link."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from consults.services.requests import consult_get
from telemed.video.consumers import GUEST_SESSION_KEY
from telemed.video.models import Invitation, Recording, Room
from telemed.video.services import invitations, recordings
from telemed.video.services.admission import JoinRefused, Person, check_person, check_window, is_host, room_for
from telemed.video.services.tokens import join_token


class GuestInviteForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Guest's name"), max_length=80)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Invitation.GuestRole.choices)


def call_strings() -> dict[str, str]:
    """The texts the call page's script shows, in the language of the request."""
    return {
        "closed_signed_out": _("You are signed out. Sign in again to rejoin."),
        "closed_forbidden": _("You are no longer in this call: the host removed you or your access ended."),
        "closed_no_room": _("This room does not exist."),
        "closed_expired": _("The join link expired. Reload the page to join again."),
        "closed_replaced": _("You joined this call from another tab or device; this one has left."),
        "closed_ended": _("The session has ended."),
        "closed_too_early": _("The room is not open yet."),
        "closed_too_big": _("A message was too large; reload the page to rejoin."),
        "device_problem": _("Camera or microphone unavailable (%(reason)s). You can still join and listen."),
        "connection_ok": _("Connection to the server: %(ms)s ms."),
        "connection_failed": _("The server cannot be reached. Check the network."),
        "joining": _("Joining…"),
        "reconnecting": _("Connection lost. Reconnecting…"),
        "you_left": _("You left the call."),
        "you": _("(you)"),
        "fps": _("%(n)s fps"),
        "waiting": _("waiting in the lobby"),
        "admit": _("Let in"),
        "turn_away": _("Turn away"),
        "remove": _("Remove"),
        "mute": _("Mute"),
        "unmute": _("Unmute"),
        "camera_off": _("Camera off"),
        "camera_on": _("Camera on"),
        "share": _("Share screen"),
        "stop_share": _("Stop sharing"),
        "share_failed": _("Screen sharing did not start (%(reason)s)."),
        "audio_only": _("Audio only"),
        "video_on": _("Video on"),
        "flag_muted": _("muted"),
        "flag_camera_off": _("camera off"),
        "flag_audio_only": _("audio only"),
        "expert_here": _("in the room"),
        "expert_in_another_consult": _("still in another consult, about %(n)s min"),
        "expert_late": _("late, not here yet"),
        "expert_expected": _("expected in %(n)s min"),
        "quality_good": _("good connection"),
        "quality_fair": _("fair connection"),
        "quality_poor": _("poor connection"),
        "quality_detail": _("round trip %(rtt)s ms, loss %(loss)s %%"),
        "record": _("Record"),
        "stop_recording": _("Stop recording"),
    }


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
            "strings": call_strings(),
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
             "closed_reason": _window_problem(invitation.room), "strings": call_strings()},
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


def recording_play(request, recording_id):
    """Stream a recording to someone who may see its consult; every playback is audited."""
    recording = Recording.objects.select_related("room__consult").filter(pk=recording_id).first()
    if recording is None:
        raise Http404
    consult_get(by=request.user, consult_id=recording.room.consult_id)  # 404 unless the consult is visible
    handle = recordings.recording_open(by=request.user, recording=recording)
    extension = recording.storage_key.rsplit(".", 1)[-1]
    return FileResponse(handle, content_type=recording.media_type, filename=f"consult-{recording.room.consult_id}-{recording.pk}.{extension}")
