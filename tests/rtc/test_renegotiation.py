"""A participant's later offers: a screen share (a second video track) reaches everyone, and
goes when it stops; an offer crossing the relay's own is refused without harm."""
from __future__ import annotations

import asyncio

import pytest

from telemed.rtc import NegotiationConflict
from telemed.rtc.events import OfferReady, TrackPublished, TrackUnpublished
from telemed.rtc.testing import Peer, PatternTrack, until

pytestmark = pytest.mark.asyncio

SCREEN = (230, 230, 60)


async def test_a_screen_share_reaches_the_others_as_a_second_video_and_leaves_when_stopped(conference):
    expert = Peer("expert")
    clinic = Peer("clinic", colour=None, tone=None)
    await conference.join(expert)
    await conference.join(clinic)
    await until(lambda: (r := clinic.reception_from("expert", "video")) is not None and r.frames > 5, timeout=20)

    screen = expert.pc.addTransceiver(PatternTrack(SCREEN, width=160, height=120, fps=5), direction="sendonly")
    await conference.renegotiate(expert, sources={"2": "screen"})
    assert screen.mid == "2"

    await until(lambda: _screen(clinic) is not None and _screen(clinic).frames > 3, timeout=20)
    assert all(abs(a - b) <= 30 for a, b in zip(_screen(clinic).last_colour, SCREEN))
    assert ("expert", "screen", "video") in {
        (e.participant_id, e.source, e.kind) for e in conference.events if isinstance(e, TrackPublished)
    }
    camera = clinic.reception_from("expert", "video")
    frames = camera.frames
    await until(lambda: camera.frames > frames + 5, timeout=20)  # the camera carries on beside it

    screen.direction = "inactive"
    await conference.renegotiate(expert, sources={"2": "screen"})

    await until(lambda: any(isinstance(e, TrackUnpublished) and e.source == "screen" for e in conference.events), timeout=5)
    assert ("expert", "screen") not in conference.room.publications
    shown = _screen(clinic).frames
    await asyncio.sleep(1.0)
    assert _screen(clinic).frames <= shown + 1  # at most one frame was still on its way


async def test_an_offer_that_crosses_the_relays_own_is_refused_and_the_call_goes_on(relay):
    room = relay.room("crossing")
    expert, clinic = Peer("expert"), Peer("clinic")
    await expert.accept(await room.join("expert", await expert.offer()))
    await clinic.accept(await room.join("clinic", await clinic.offer()))
    await _next_offer(relay, "clinic")  # the relay offers clinic the expert's tracks...

    with pytest.raises(NegotiationConflict):  # ...while clinic offers something of its own
        await room.renegotiate("clinic", await clinic.offer())

    # The relay's offer still stands, for the browser to answer after rolling its own back.
    assert room.participants["clinic"].pc.signalingState == "have-local-offer"
    assert set(room.participants) == {"expert", "clinic"}
    await asyncio.gather(expert.close(), clinic.close())


def _screen(peer):
    mids = [mid for mid, info in peer.tracks.items() if info.source == "screen" and mid in peer.receptions]
    return peer.receptions[mids[-1]] if mids else None


async def _next_offer(relay, participant_id) -> OfferReady:
    while True:
        event = await asyncio.wait_for(relay.events.get(), timeout=20)
        if isinstance(event, OfferReady) and event.participant_id == participant_id:
            return event


async def test_a_screen_shared_with_add_track_on_an_m_line_the_relay_sends_on_works_both_ways(conference):
    """Browsers' addTrack reuses an m-line they have only received on: here the one carrying
    the clinic's camera to the expert. The relay receives the screen on it and keeps sending."""
    expert = Peer("expert")
    clinic = Peer("clinic", colour=(200, 40, 40))
    await conference.join(expert)
    await conference.join(clinic)
    clinic_camera = await _video(expert, "clinic")
    reused_mid = next(m for m, info in expert.tracks.items() if info.participant_id == "clinic" and info.kind == "video")

    screen_sender = expert.pc.addTrack(PatternTrack(SCREEN, width=160, height=120, fps=5))
    reused = next(t for t in expert.pc.getTransceivers() if t.sender is screen_sender)
    assert reused.mid == reused_mid and reused.direction == "sendrecv"
    await conference.renegotiate(expert, sources={reused_mid: "screen"})

    await until(lambda: _screen(clinic) is not None and _screen(clinic).frames > 3, timeout=20)
    assert all(abs(a - b) <= 30 for a, b in zip(_screen(clinic).last_colour, SCREEN))
    frames = clinic_camera.frames
    await until(lambda: clinic_camera.frames > frames + 10, timeout=20)  # still coming on the same m-line


async def _video(peer, publisher):
    await until(lambda: (r := peer.reception_from(publisher, "video")) is not None and r.frames > 5, timeout=20)
    return peer.reception_from(publisher, "video")
