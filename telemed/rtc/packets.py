"""RTP payload facts the relay needs without decoding: where a keyframe starts, its size.

Pure functions over payload bytes (RFC 7741 for VP8, RFC 6184 for H.264) and over whole
frames as the depayloader gives them (H.264 in the Annex B byte-stream format).
"""
from __future__ import annotations


def codec_key(mime_type: str, parameters: dict | None = None) -> str:
    """What must match for a payload to be decodable as-is: the codec, and for H.264 the
    packetization mode (profiles differ only in the tools a decoder must support, and every
    browser's H.264 decoder handles constrained baseline through high)."""
    mime = mime_type.lower()
    if mime == "video/h264":
        return f"{mime};packetization-mode={(parameters or {}).get('packetization-mode', '0')}"
    return mime


def _vp8_payload_start(payload: bytes) -> int | None:
    """Offset of the VP8 payload header when this packet starts partition 0, else None."""
    if not payload:
        return None
    first = payload[0]
    if not (first & 0x10) or (first & 0x0F) != 0:  # S bit, partition index 0
        return None
    pos = 1
    if first & 0x80:  # extended control bits
        if len(payload) < 2:
            return None
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # picture id, 7 or 15 bits
            if len(payload) <= pos:
                return None
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # TL0PICIDX
            pos += 1
        if ext & 0x30:  # TID / KEYIDX
            pos += 1
    return pos if pos < len(payload) else None


def vp8_starts_keyframe(payload: bytes) -> bool:
    pos = _vp8_payload_start(payload)
    return pos is not None and payload[pos] & 0x01 == 0  # P bit clear: a key frame


def vp8_keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """Width and height from the first packet of a VP8 keyframe."""
    pos = _vp8_payload_start(payload)
    return None if pos is None else vp8_frame_size(payload[pos:])


def vp8_frame_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height of a whole VP8 frame if it is a keyframe (RFC 6386, 9.1)."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return width, height


_H264_KEY_NALS = {5, 7}  # IDR slice, sequence parameter set


def h264_starts_keyframe(payload: bytes) -> bool:
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in _H264_KEY_NALS:
        return True
    if nal_type == 24:  # STAP-A: a 2-byte size before each NAL unit
        pos = 1
        while pos + 2 < len(payload):
            size = int.from_bytes(payload[pos : pos + 2], "big")
            if payload[pos + 2] & 0x1F in _H264_KEY_NALS:
                return True
            pos += 2 + size
        return False
    if nal_type == 28 and len(payload) > 1:  # FU-A: the start fragment names the NAL type
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in _H264_KEY_NALS
    return False


def h264_nal_types(access_unit: bytes) -> list[int]:
    """The NAL unit types of an Annex-B access unit (NAL units after 00 00 01 start codes)."""
    types = []
    pos = access_unit.find(b"\x00\x00\x01")
    while pos >= 0 and pos + 3 < len(access_unit):
        types.append(access_unit[pos + 3] & 0x1F)
        pos = access_unit.find(b"\x00\x00\x01", pos + 3)
    return types


def frame_is_keyframe(mime_type: str, frame: bytes) -> bool:
    """Whether a whole depayloaded frame (VP8, or H.264 in Annex B) decodes on its own."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return vp8_frame_size(frame) is not None
    if mime == "video/h264":
        return 5 in h264_nal_types(frame)  # an IDR slice
    return mime.startswith("audio/")


def starts_keyframe(mime_type: str, payload: bytes) -> bool:
    """Whether a receiver can start decoding at this packet. Audio: always."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return vp8_starts_keyframe(payload)
    if mime == "video/h264":
        return h264_starts_keyframe(payload)
    return mime.startswith("audio/")
