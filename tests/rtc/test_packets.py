"""Where a keyframe starts, read from RTP payloads that aiortc's own encoders produce."""
from __future__ import annotations

import fractions

import pytest
from aiortc import RTCRtpCodecParameters
from av import VideoFrame

from telemed.rtc import internals
from telemed.rtc.packets import codec_key, frame_is_keyframe, starts_keyframe, vp8_keyframe_size
from telemed.rtc.recording import frame_size

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
H264 = RTCRtpCodecParameters(
    mimeType="video/H264", clockRate=90000, payloadType=99, parameters={"packetization-mode": "1", "profile-level-id": "42e01f"}
)


def frames(count: int, width: int = 320, height: int = 240):
    for n in range(count):
        frame = VideoFrame(width=width, height=height, format="yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(n * 7) % 256]) * plane.buffer_size)
        frame.pts = n * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        yield frame


@pytest.mark.parametrize("codec", [VP8, H264], ids=["VP8", "H264"])
def test_only_the_first_packet_of_a_keyframe_starts_one(codec):
    encoder = internals.codec_encoder(codec)
    encoded = [encoder.encode(frame, n == 0)[0] for n, frame in enumerate(frames(3))]

    assert starts_keyframe(codec.mimeType, encoded[0][0])
    assert not any(starts_keyframe(codec.mimeType, payload) for payload in encoded[0][1:])
    assert not starts_keyframe(codec.mimeType, encoded[1][0])
    assert not starts_keyframe(codec.mimeType, encoded[2][0])


def test_a_vp8_keyframe_tells_its_size():
    encoder = internals.codec_encoder(VP8)
    first, second = (encoder.encode(frame, n == 0)[0] for n, frame in enumerate(frames(2, 640, 480)))

    assert vp8_keyframe_size(first[0]) == (640, 480)
    assert vp8_keyframe_size(second[0]) is None


@pytest.mark.parametrize("codec", [VP8, H264], ids=["VP8", "H264"])
def test_a_whole_keyframe_is_known_as_one_and_tells_its_size(codec):
    """As the recorder sees frames: depayloaded and assembled (H.264 in Annex B, SPS first)."""
    encoder = internals.codec_encoder(codec)
    first, second = (encoder.encode(frame, n == 0)[0] for n, frame in enumerate(frames(2, 320, 180)))
    whole = [b"".join(internals.depayload(codec, p) for p in payloads) for payloads in (first, second)]

    assert frame_is_keyframe(codec.mimeType, whole[0]) and not frame_is_keyframe(codec.mimeType, whole[1])
    assert frame_size(codec.mimeType.lower(), whole[0]) == (320, 180)


def test_every_audio_packet_is_a_place_to_start():
    assert starts_keyframe("audio/opus", b"\xfc\xff\xfe")


def test_garbage_is_never_a_keyframe():
    assert not starts_keyframe("video/VP8", b"")
    assert not starts_keyframe("video/VP8", b"\x90")
    assert not starts_keyframe("video/H264", b"")
    assert not starts_keyframe("video/H264", b"\x18\x00")


def test_h264_profiles_that_any_decoder_handles_share_a_key_but_not_packetization_modes():
    assert codec_key("video/H264", {"profile-level-id": "42001f", "packetization-mode": "1"}) == codec_key(
        "video/H264", {"profile-level-id": "42e01f", "packetization-mode": "1"}
    )
    assert codec_key("video/H264", {"packetization-mode": "0"}) != codec_key("video/H264", {"packetization-mode": "1"})
    assert codec_key("video/VP8") == codec_key("VIDEO/vp8")
