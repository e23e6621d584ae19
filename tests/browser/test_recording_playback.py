"""Recordings play back on the consult page in Chromium: a VP8 participant's camera (WebM), its
screen share (a WebM of its own, labelled), and an H.264 sender's camera (MP4, as Safari sends)."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.utils import timezone

from telemed.accounts.models import Role
from telemed.rtc import Relay, RelayConfig
from telemed.rtc.testing import Conference, PatternTrack, Peer, until
from telemed.video.models import Attendance, Room
from telemed.video.services.admission import room_for
from telemed.video.services.recordings import recording_directory, recordings_store
from tests.browser.test_video_call import _page_as
from tests.consults.factories import booked_consult, starting_in
from tests.rtc.test_codecs import video_codecs_reordered

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


async def _record(directory, vp8_id: str, h264_id: str):
    """About 2.5 s of a call: one VP8 participant sharing its screen, one sending H.264 only."""
    conference = Conference(Relay(RelayConfig(stats_interval=None)))
    try:
        expert, safari = Peer(vp8_id, size=(320, 240)), Peer(h264_id, colour=(40, 40, 200), size=(320, 240))
        await conference.join(expert)
        conference.peers[h264_id] = safari
        await safari.accept(await conference.room.join(h264_id, video_codecs_reordered(await safari.offer(), first="H264", drop="VP8")))
        await until(lambda: (r := expert.reception_from(h264_id, "video")) is not None and r.frames > 5, timeout=30)
        conference.room.start_recording(directory)
        screen = expert.pc.addTransceiver(PatternTrack((230, 230, 60), width=320, height=240, fps=5), direction="sendonly")
        offer = await expert.offer()  # gives the new m-line its mid
        await expert.accept(await conference.room.renegotiate(vp8_id, offer, sources={screen.mid: "screen"}))
        await asyncio.sleep(2.5)
        return await conference.room.stop_recording()
    finally:
        await conference.close()


def _record_in_a_thread(directory, vp8_id, h264_id):
    """Playwright's sync API holds this thread's event loop: the call runs on a loop of its own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _record(directory, vp8_id, h264_id)).result(timeout=90)


def test_every_recording_plays_on_the_consult_page(live_daphne, chromium, cast):
    consult = starting_in(booked_consult(cast.north), 5)
    room = room_for(consult)
    expert_stay, doctor_stay = (
        Attendance.objects.create(room=room, user=user, state=Attendance.State.LEFT, joined_at=timezone.now(), left_at=timezone.now())
        for user in (cast.north[Role.SPECIALIST], cast.north[Role.CLINIC_DOCTOR])
    )
    Room.objects.filter(pk=room.pk).update(recording_by=cast.north[Role.SPECIALIST])
    files = _record_in_a_thread(recording_directory(room.pk), str(expert_stay.pk), str(doctor_stay.pk))
    assert sorted((f.source, f.path.suffix) for f in files) == [("camera", ".mp4"), ("camera", ".webm"), ("screen", ".webm")]
    recordings_store(room_id=room.pk, files=files)

    context, page = _page_as(chromium, live_daphne, cast.north[Role.CLINIC_DOCTOR])
    try:
        page.goto(f"{live_daphne}/consults/{consult.pk}/")
        assert page.get_by_text("Screen share").count() == 1
        played = page.evaluate("""async () => {
            const results = [];
            for (const video of document.querySelectorAll("video[controls]")) {
                video.muted = true;
                video.load();
                for (let i = 0; i < 100 && video.readyState < 2 && !video.error; i++) await new Promise((r) => setTimeout(r, 100));
                if (video.error) { results.push({type: video.querySelector("source").type, error: video.error.code}); continue; }
                await video.play();
                await new Promise((r) => setTimeout(r, 1000));
                results.push({type: video.querySelector("source").type, duration: video.duration, width: video.videoWidth,
                              frames: video.getVideoPlaybackQuality().totalVideoFrames, time: video.currentTime});
                video.pause();
            }
            return results;
        }""")
    finally:
        context.close()

    assert sorted(p["type"] for p in played) == ["video/mp4", "video/webm", "video/webm"]
    for result in played:
        assert "error" not in result, result
        assert 1.5 <= result["duration"] <= 5 and result["width"] == 320 and result["frames"] > 3 and result["time"] > 0.5, result
