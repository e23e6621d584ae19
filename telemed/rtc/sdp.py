"""Rewriting the relay's descriptions: the browser's numbering kept, a public address announced.

1. A re-offer keeps the numbers the browser already uses. aiortc's `createOffer` numbers every m-section's payload types and header extensions from its own
defaults, also for m-sections the browser already negotiated with its own numbers. Browsers
refuse that ("RTP extension ID reassignment not supported", "codec collision in BUNDLE group").
Before the relay sets its offer, the numbers are mapped back: every codec and extension the
browser's last description named keeps the browser's number, new ones get numbers nobody uses.
The browser's answer then carries those numbers and aiortc takes them from it.
2. A relay behind NAT announces its public address beside its host candidates
   (`announce_public_address`).
"""
from __future__ import annotations

import ipaddress
import re

_RTPMAP = re.compile(r"^a=rtpmap:(\d+) (.+)$")
_FMTP = re.compile(r"^a=fmtp:(\d+) (.*)$")
_EXTMAP = re.compile(r"^a=extmap:(\d+)(/\w+)? (\S+)(.*)$")
_APT = re.compile(r"apt=(\d+)")


def _sections(sdp: str) -> list[list[str]]:
    sections: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    return sections


def _codec_keys(section: list[str]) -> dict[int, str]:
    """Payload type → a name that identifies the codec ("VP8/90000", "rtx/90000 for VP8/90000")."""
    names = {int(m.group(1)): m.group(2).lower() for m in map(_RTPMAP.match, section) if m}
    keys = dict(names)
    for m in filter(None, map(_FMTP.match, section)):
        apt = _APT.search(m.group(2))
        if apt and int(apt.group(1)) in names:
            keys[int(m.group(1))] = f"{names[int(m.group(1))]} for {names[int(apt.group(1))]}"
    return keys


def _browser_numbers(remote_sdp: str) -> tuple[dict[str, int], dict[str, int]]:
    codecs: dict[str, int] = {}
    extensions: dict[str, int] = {}
    for section in _sections(remote_sdp)[1:]:
        for pt, key in _codec_keys(section).items():
            codecs.setdefault(key, pt)
        for m in filter(None, map(_EXTMAP.match, section)):
            extensions.setdefault(m.group(3), int(m.group(1)))
    return codecs, extensions


def _free(used: set[int], start: int, stop: int) -> int:
    number = next(n for n in range(start, stop) if n not in used)
    used.add(number)
    return number


def keep_browser_numbering(offer_sdp: str, remote_sdp: str | None) -> str:
    """The offer with payload types and extension ids renumbered to the browser's."""
    if not remote_sdp:
        return offer_sdp
    codecs, extensions = _browser_numbers(remote_sdp)
    used_pts, used_ids = set(codecs.values()), set(extensions.values())
    pt_for: dict[str, int] = {}
    id_for: dict[str, int] = {}
    out: list[str] = []
    for index, section in enumerate(_sections(offer_sdp)):
        if index == 0:
            out.extend(section)
            continue
        mapping = {}
        for pt, key in _codec_keys(section).items():
            if key not in pt_for:
                pt_for[key] = codecs[key] if key in codecs else (pt if pt < 96 else _free(used_pts, 96, 128))
            mapping[pt] = pt_for[key]
        out.extend(_renumber(line, mapping, extensions, id_for, used_ids) for line in section)
    return "\r\n".join(out) + "\r\n"


def _renumber(line: str, mapping: dict[int, int], extensions: dict[str, int], id_for: dict[str, int], used_ids: set[int]) -> str:
    if line.startswith("m="):
        head = line.split(" ")
        return " ".join(head[:3] + [str(mapping.get(int(pt), pt)) if pt.isdigit() else pt for pt in head[3:]])
    for prefix in ("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"):
        if line.startswith(prefix):
            number, rest = line[len(prefix):].split(" ", 1) if " " in line else (line[len(prefix):], "")
            if number.isdigit():
                rest = _APT.sub(lambda m: f"apt={mapping.get(int(m.group(1)), m.group(1))}", rest)
                return f"{prefix}{mapping.get(int(number), number)} {rest}".rstrip()
    extmap = _EXTMAP.match(line)
    if extmap:
        uri = extmap.group(3)
        if uri not in id_for:
            id_for[uri] = extensions[uri] if uri in extensions else _free(used_ids, 1, 15)
        return f"a=extmap:{id_for[uri]}{extmap.group(2) or ''} {uri}{extmap.group(4)}"
    return line


# --- a relay behind NAT --------------------------------------------------------------------

_HOST_CANDIDATE = re.compile(r"^a=candidate:(\S+) (\d+) (\S+) (\d+) (\S+) (\d+) typ host(.*)$")


def announce_public_address(sdp: str, public_address: str | None) -> str:
    """The relay's description with its host candidates announced at `public_address` as well
    (Janus's nat_1_1_mapping with keep_private_host): a relay behind a 1:1 NAT or a port
    forward receives on its private address what browsers send to the public one, same port.

    Each host candidate of the public address's family gets a twin right after it: the same
    foundation (the same socket is behind both), component, transport and port, the public
    address, and a priority just below, so a browser that reaches both (one on the relay's own
    network) keeps the direct path, and one outside succeeds on the twin. The private candidates
    stay: replacing them would cut off browsers on the relay's side of the NAT, which often
    cannot reach their own public address (no hairpin NAT). Without `public_address`, or for a
    candidate already at it, nothing changes.
    """
    if not public_address:
        return sdp
    public = ipaddress.ip_address(public_address)
    out: list[str] = []
    for line in sdp.splitlines():
        out.append(line)
        match = _HOST_CANDIDATE.match(line)
        if match is None:
            continue
        foundation, component, transport, priority, address, port, rest = match.groups()
        try:
            private = ipaddress.ip_address(address)
        except ValueError:  # a hostname (mDNS): not one of the relay's sockets
            continue
        if private.version == public.version and private != public:
            out.append(f"a=candidate:{foundation} {component} {transport} {int(priority) - 256} {public} {port} typ host{rest}")
    return "\r\n".join(out) + "\r\n"
