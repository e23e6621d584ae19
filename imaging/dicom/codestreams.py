"""The size a compressed frame says it decodes to, read from its codestream's own header.

A decoder allocates what the codestream declares, not what the DICOM header says: a JPEG of
1 KB whose start-of-frame says 30,000 × 30,000 made pylibjpeg hold 4.3 GB and spend 22 s before
pydicom found it did not match Rows and Columns. Reading the declaration first lets the caller
refuse such a frame before any decoder runs. Pure functions over bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydicom.pixels.utils import _get_jpg_parameters  # JPEG and JPEG-LS start-of-frame, as pydicom reads it

JPEG_START = b"\xff\xd8"
J2K_START = b"\xff\x4f\xff\x51"  # SOC, then SIZ, which 15444-1 A.5.1 requires to come second
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "
JP2_CODESTREAM_BOX = b"jp2c"


@dataclass(frozen=True)
class Declared:
    rows: int
    columns: int
    components: int


def declared_size(codestream: bytes) -> Declared | None:
    """What a JPEG, JPEG-LS or JPEG 2000 codestream declares; None for data that declares no size
    of its own (RLE, whose decoder sizes its output from the DICOM header) or that cannot be
    parsed (the decoder then says what is wrong)."""
    if codestream.startswith(JPEG_START):
        found = _get_jpg_parameters(codestream)
        return Declared(found["height"], found["width"], found["components"]) if found else None
    return _j2k_size(codestream)


def _j2k_size(codestream: bytes) -> Declared | None:
    start = _jp2_codestream_start(codestream) if codestream.startswith(JP2_SIGNATURE) else 0
    siz = b"" if start is None else codestream[start:start + 42]
    if len(siz) < 42 or not siz.startswith(J2K_START):
        return None
    # SIZ: Lsiz, Rsiz, then Xsiz, Ysiz (the reference grid) and XOsiz, YOsiz (the image's offset
    # on it), each 4 bytes; Csiz (components) follows the four tile fields.
    xsiz, ysiz, xosiz, yosiz = (int.from_bytes(siz[at:at + 4], "big") for at in (8, 12, 16, 20))
    return Declared(max(ysiz - yosiz, 0), max(xsiz - xosiz, 0), int.from_bytes(siz[40:42], "big"))


def _jp2_codestream_start(data: bytes) -> int | None:
    """Where the codestream starts inside a JP2 file's boxes (ISO/IEC 15444-1 annex I)."""
    at = 0
    while at + 8 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        if data[at + 4:at + 8] == JP2_CODESTREAM_BOX:
            return at + 8
        if length < 8:  # 0 (to the end) or 1 (a 64-bit length): not before the codestream box
            return None
        at += length
    return None


def oversized(codestream: bytes, *, rows: int, columns: int, samples: int) -> Declared | None:
    """The codestream's declaration if it holds more pixels or components than the DICOM header
    gives the frame; None when it fits or declares nothing."""
    declared = declared_size(codestream)
    if declared is None or (declared.rows <= rows and declared.columns <= columns and declared.components <= samples):
        return None
    return declared
