"""The relay's re-offers keep the numbers the browser already uses (Chrome refuses reassignments),
and a relay behind NAT announces its public address."""
from __future__ import annotations

from telemed.rtc.sdp import announce_public_address, keep_browser_numbering

BROWSER = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0", "a=mid:0", "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1", "a=rtpmap:0 PCMU/8000",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "a=mid:1", "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack pli", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
]) + "\r\n"

RELAY = "\r\n".join([
    "v=0", "o=- 5 5 IN IP4 0.0.0.0", "s=-", "t=0 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 96 0", "a=mid:0", "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level", "a=rtpmap:96 opus/48000/2", "a=rtpmap:0 PCMU/8000",
    "m=video 9 UDP/TLS/RTP/SAVPF 97 98 99", "a=mid:1", "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=rtpmap:97 VP8/90000", "a=rtcp-fb:97 nack pli", "a=rtpmap:98 rtx/90000", "a=fmtp:98 apt=97", "a=rtpmap:99 H264/90000",
]) + "\r\n"


def test_payload_types_and_extension_ids_follow_the_browser():
    offer = keep_browser_numbering(RELAY, BROWSER)
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 111 0" in offer
    assert "a=rtpmap:111 opus/48000/2" in offer
    assert "a=rtpmap:96 VP8/90000" in offer and "a=rtcp-fb:96 nack pli" in offer
    assert "a=rtpmap:97 rtx/90000" in offer and "a=fmtp:97 apt=96" in offer
    assert "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid" in offer
    assert "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level" in offer


def test_codecs_and_extensions_the_browser_never_named_get_numbers_nobody_uses():
    offer = keep_browser_numbering(RELAY, BROWSER)
    h264 = next(line for line in offer.splitlines() if "H264" in line)
    number = int(h264.split(":")[1].split()[0])
    assert number not in (0, 96, 97, 111)
    abs_send = next(line for line in offer.splitlines() if "abs-send-time" in line)
    assert abs_send.split()[0] not in ("a=extmap:1", "a=extmap:4")


def test_a_first_offer_is_left_alone():
    assert keep_browser_numbering(RELAY, None) == RELAY


ANSWER = "\r\n".join([
    "v=0", "o=- 5 5 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0",
    "m=audio 41906 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 10.0.0.5", "a=mid:0",
    "a=candidate:f957a2 1 udp 2130706431 10.0.0.5 41906 typ host",
    "a=candidate:d0bcf3 1 udp 2130706431 fd00::2 45397 typ host",
    "a=candidate:9a1b2c 1 udp 1694498815 198.51.100.4 41906 typ srflx raddr 10.0.0.5 rport 41906",
    "a=end-of-candidates",
]) + "\r\n"


def test_a_relay_behind_nat_announces_its_public_address_beside_each_host_candidate_same_port():
    announced = announce_public_address(ANSWER, "203.0.113.7").splitlines()

    private = announced.index("a=candidate:f957a2 1 udp 2130706431 10.0.0.5 41906 typ host")
    assert announced[private + 1] == "a=candidate:f957a2 1 udp 2130706175 203.0.113.7 41906 typ host"
    assert sum("203.0.113.7" in line for line in announced) == 1  # not beside the IPv6 or srflx ones
    assert [line for line in announced if "203.0.113.7" not in line] == ANSWER.splitlines()


def test_an_ipv6_public_address_goes_beside_the_ipv6_host_candidates():
    announced = announce_public_address(ANSWER, "2001:db8::7")

    assert "a=candidate:d0bcf3 1 udp 2130706175 2001:db8::7 45397 typ host" in announced
    assert announced.count("2001:db8::7") == 1


def test_without_a_public_address_or_already_at_it_the_description_is_unchanged():
    assert announce_public_address(ANSWER, None) == ANSWER
    assert announce_public_address(ANSWER, "10.0.0.5") == ANSWER
