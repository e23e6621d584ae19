"""Whether a DICOM file's declared lengths fit in it: a truncated file must not read as a shorter,
valid-looking one.

pydicom reads a header leniently: a value running past the end of the file is cut short, or
skipped when deferred; a defined-length sequence is parsed only when asked for, and then to
wherever its bytes end; the pixel data and what follows it are not read at all
(`stop_before_pixels`). This walks what pydicom did not check, by element and item headers only,
seeking over values (the pixel data is never read): the length of each top-level value, the items
and elements of each top-level sequence of defined length (one of undefined length pydicom has
parsed to its delimiter), and every element header from the pixel data to the end
of the file (of encapsulated pixel data, its item headers). A CT slice costs a few headers.
"""
from __future__ import annotations

import os
import struct
from typing import BinaryIO, NamedTuple

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from imaging.dicom.reasons import Reason
from imaging.dicom.reasons import gettext_noop as _

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
PIXEL_ELEMENTS = frozenset({0x7FE00008, 0x7FE00009, PIXEL_DATA})  # Float, Double Float and Pixel Data
LONG_LENGTH_VRS = frozenset(vr.encode() for vr in EXPLICIT_VR_LENGTH_32)  # a 4-byte length after 2 reserved bytes
# An element or item header: tag and 4-byte length; VR and 2-byte length (explicit VR); a 4-byte length.
HEADERS = {little: tuple(struct.Struct(("<" if little else ">") + f) for f in ("HHL", "4x2sH", "L")) for little in (True, False)}
NESTED_TOO_DEEPLY = _("sequences are nested too deeply to read")
MAX_DEPTH = 64  # sequences within sequences; pydicom's recursive reader gives up not far beyond
INT32 = (-(2**31), 2**31 - 1)


class StructureError(ValueError):
    """A declared length does not fit in the file or in what holds it; its Reason says where."""


class _Level(NamedTuple):
    """A value being walked: a sequence or encapsulated pixel data (items), or an item (elements)."""

    tag: int  # of the element it belongs to, for the reason
    end: int | None  # None: it ends at its delimiter
    items: bool
    fragments: bool  # its items are pixel data fragments, not data sets
    implicit: bool


def _name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _is_sequence(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:  # a private element: its VR is unknown in implicit VR, so it is a plain value
        return False


def _value_end(tag: int, start: int, length: int, size: int, bound: int | None) -> int:
    end = start + length
    if end > size:
        raise StructureError(Reason(
            _("the file is truncated: %(element)s declares %(length)d bytes but %(remain)d remain"),
            brief="truncated: %(element)s declares %(length)d bytes but %(remain)d remain", element=_name(tag), length=length, remain=max(size - start, 0),
        ))
    if bound is not None and end > bound:
        raise StructureError(Reason(_("%(element)s declares %(length)d bytes, more than the sequence or item holding it"), element=_name(tag), length=length))
    return end


def found_encoding(dataset: Dataset) -> tuple[bool, bool] | None:
    """Whether the data set is in implicit VR, and little endian, as pydicom found it: it reads a
    data set in the encoding of its first element, whatever the transfer syntax says. None if no
    element is left as read."""
    # group 0000: a command set, which a file should not hold, read apart (pydicom adds it at the end)
    raw = next((e for e in dataset.values() if e.tag >> 16 and isinstance(e, RawDataElement)), None)
    return None if raw is None else (raw.is_implicit_VR, raw.is_little_endian)


def check_structure(dataset: FileDataset, stream: BinaryIO) -> tuple[int, int | None] | None:
    """Check the file `dataset` was read from with `stop_before_pixels`; `stream` is where pydicom
    stopped (the pixel data, or the end). Returns the tag of the file's pixel data element and its
    declared length (None when encapsulated), or None if it has none. Raises StructureError."""
    stop = stream.tell()
    size = stream.seek(0, os.SEEK_END)
    encapsulated = dataset.file_meta.TransferSyntaxUID.is_encapsulated
    # The elements as read, in the file's order, unconverted (get_item would read deferred values).
    # Command set elements (group 0000), which a file should not hold, pydicom adds at the end.
    elements = [e for e in dataset.values() if e.tag >> 16]
    implicit, little = found_encoding(dataset) or dataset.original_encoding
    last_end: int | None = None  # where the last element pydicom read ends, when it has a length
    for element in elements:
        last_end = None
        if not isinstance(element, RawDataElement):  # an undefined-length sequence, parsed to its delimiter
            continue
        if element.length == UNDEFINED:
            continue
        last_end = _value_end(element.tag, element.value_tell, element.length, size, None)
        if element.VR == "SQ" or element.VR is None and _is_sequence(element.tag):
            stream.seek(element.value_tell)
            _walk(stream, size, little, [_Level(element.tag, last_end, True, False, implicit)], encapsulated=encapsulated)
    if stop == size and last_end is not None and last_end < size:
        raise StructureError(Reason(
            _("the file is truncated: it ends inside the header of the element after byte %(offset)d"),
            brief="truncated: it ends in an element's header, after byte %(offset)d", offset=last_end,
        ))
    stream.seek(stop)
    return _walk(stream, size, little, [_Level(0, size, False, False, implicit)], encapsulated=encapsulated)


def _walk(stream: BinaryIO, size: int, little: bool, levels: list[_Level], *, encapsulated: bool) -> tuple[int, int | None] | None:
    """Walk headers until the values in `levels` are closed; returns the first pixel data element
    met at the first level, as check_structure does."""
    tag_and_length, short_length, long_length = HEADERS[little]
    pixels = None
    while levels:
        level, at = levels[-1], stream.tell()
        if level.end is not None and at >= level.end:
            levels.pop()
            continue
        if len(levels) > 2 * MAX_DEPTH:
            raise StructureError(Reason(NESTED_TOO_DEEPLY))
        head = stream.read(8)
        if len(head) < 8:
            raise StructureError(Reason(_("the file is truncated: it ends inside %(element)s"), element=_name(level.tag)) if level.tag else Reason(_("the file is truncated: it ends inside an element header")))
        group, number, length = tag_and_length.unpack(head)
        tag = group << 16 | number
        if level.items:
            _item(stream, levels, tag, length, at + 8, size)
            continue
        if tag == ITEM_END and level.end is None:
            levels.pop()
            continue
        vr, start = None, at + 8
        if not level.implicit:
            vr, length = short_length.unpack(head)
            if vr in LONG_LENGTH_VRS:
                extra = stream.read(4)
                if len(extra) < 4:
                    raise StructureError(Reason(_("the file is truncated: it ends inside the header of %(element)s"), element=_name(tag)))
                length, start = long_length.unpack(extra)[0], at + 12
        if pixels is None and len(levels) == 1 and tag in PIXEL_ELEMENTS:
            pixels = (tag, None if length == UNDEFINED else length)
            if length == UNDEFINED and not (encapsulated and tag == PIXEL_DATA):
                # native pixel data is read by its length: without one, where it ends is unknown
                raise StructureError(Reason(_("%(element)s has an undefined length, which only encapsulated (compressed) pixel data may have"), element=_name(tag)))
        if length == UNDEFINED:
            # Encapsulated pixel data holds fragments; a sequence, or UN of undefined length (whose
            # items are in implicit VR, PS3.5 6.2.2), holds data sets.
            fragments = tag == PIXEL_DATA or vr in (b"OB", b"OW")
            levels.append(_Level(tag, None, True, fragments, level.implicit or vr == b"UN"))
            continue
        end = _value_end(tag, start, length, size, level.end)
        if vr == b"SQ" or vr is None and _is_sequence(tag):
            levels.append(_Level(tag, end, True, False, level.implicit))
        else:
            stream.seek(end)
    return pixels


def _item(stream: BinaryIO, levels: list[_Level], tag: int, length: int, start: int, size: int) -> None:
    """An item (or the end) of the sequence or encapsulated pixel data at the top of `levels`."""
    level = levels[-1]
    if tag == SEQUENCE_END and level.end is None:
        levels.pop()
    elif tag != ITEM:
        raise StructureError(Reason(_("%(element)s holds %(other)s where an item belongs"), element=_name(level.tag), other=_name(tag)))
    elif length == UNDEFINED:
        if level.fragments:
            raise StructureError(Reason(_("a fragment of %(element)s has no length"), element=_name(level.tag)))
        levels.append(_Level(level.tag, None, False, False, level.implicit))
    elif level.fragments:
        stream.seek(_value_end(tag, start, length, size, level.end))
    else:
        levels.append(_Level(level.tag, _value_end(tag, start, length, size, level.end), False, False, level.implicit))


def pixel_bytes(dataset: Dataset) -> int | None:
    """How many bytes native pixel data of this header's description holds (as pydicom's
    get_expected_length counts, which multiplies a malformed value as a string); None if the
    header does not say, or says it in values the index refuses (imaging/dicom/header.py)."""
    try:
        rows, columns, bits = (int(dataset[keyword].value) for keyword in ("Rows", "Columns", "BitsAllocated"))
        samples, frames = int(dataset.get("SamplesPerPixel", 1)), int(dataset.get("NumberOfFrames") or 1)
    except (KeyError, TypeError, ValueError):
        return None
    if min(rows, columns, bits, samples, frames) < 1 or max(rows, columns, frames) > INT32[1]:
        return None
    length = (rows * columns * samples * frames * bits + 7) // 8  # 1-bit pixels are packed
    # PS3.3 C.7.6.3.1.2: two samples a pixel
    return length // 3 * 2 if dataset.get("PhotometricInterpretation") == "YBR_FULL_422" else length
