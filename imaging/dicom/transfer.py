"""Transfer syntaxes for WADO-RS (PS3.18 8.7.3): what an Accept header asks for, which syntax an
instance, a frame or a bulk data element is sent in, and its bytes in that syntax.

Pure functions over pydicom and file-like objects. A stored deflated file is read as the
Explicit VR Little Endian file it inflates to (`inflated`), in bounded memory: pydicom inflates a
deflated data set whole, and a file of 0.9 MB may inflate to 900 MB. The rules:
- `transfer-syntax=*` or the stored syntax's UID: the stored bytes, untouched.
- no transfer-syntax with application/dicom, application/octet-stream or */*: Explicit VR Little
  Endian (the standard's default), decoded when the stored syntax is compressed.
- no transfer-syntax with an image media type (image/jp2…): the stored syntax if it travels as
  that media type; we decode, we never encode, so anything else cannot be given.
"""
from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames, get_frame
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble  # the meta information alone
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import UID
from pydicom.valuerep import STR_VR

from imaging.dicom import codestreams
from imaging.dicom.header import BULK_DATA_THRESHOLD, LEFT_OUT_UNREAD, UNREADABLE, HeaderError, inflated_file
from imaging.dicom.inflated import INFLATE_BLOCK, MB, InflatedFile, InflationRefused
from imaging.dicom.reasons import Reason
from imaging.dicom.reasons import gettext_noop as _

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
# Whose pixel data, as pydicom reads it, is already little endian and not encapsulated.
NATIVE_LITTLE_ENDIAN = {EXPLICIT_LE, IMPLICIT_LE, DEFLATED_LE}
NATIVE_SYNTAXES = NATIVE_LITTLE_ENDIAN | {BIG_ENDIAN}
DICOM = "application/dicom"
OCTET = "application/octet-stream"
PIXEL_DATA = 0x7FE00010

# PS3.18 Table 8.7.3-5: the media type each compressed syntax travels as.
IMAGE_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
# Older spellings clients still send; the answer repeats the client's spelling.
ALIASES = {"image/x-dicom-rle": "image/dicom-rle", "image/x-jls": "image/jls"}
WILDCARDS = {"*/*", "*"}


class TransferError(ValueError):
    """The data cannot be given in the syntax asked for; the message says why."""


@dataclass(frozen=True)
class Wanted:
    """One acceptable answer from an Accept header: the parts' media type and transfer syntax."""

    media_type: str  # as the client spelled it, lower case
    transfer_syntax: str | None  # a UID, "*", or None for the media type's default

    @property
    def canonical(self) -> str:
        return ALIASES.get(self.media_type, self.media_type)


@dataclass(frozen=True)
class Choice:
    media_type: str  # what each part is labelled
    transfer_syntax: str
    decode: bool  # the stored pixel data must be decoded to little endian first

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; transfer-syntax={self.transfer_syntax}"


def _split(header: str, separator: str) -> list[str]:
    """Split outside double quotes (a quoted type="…" may hold the separator)."""
    pieces, current, quoted = [], [], False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return [p.strip() for p in pieces if p.strip()]


def parse_accept(header: str | None) -> list[Wanted]:
    """The Accept header as a list of Wanted, best first (by q, then by order); none → */*.
    A type with q=0 is refused (RFC 9110 12.4.2): a header of only such types accepts nothing."""
    ranked, refused = [], False
    for position, item in enumerate(_split(header or "", ",")):
        media_type, *params = _split(item, ";")
        values = {}
        for param in params:
            name, _eq, value = param.partition("=")
            values[name.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(values.get("q", 1))
        except ValueError:
            quality = 1.0
        if quality <= 0:
            refused = True
            continue
        media_type = media_type.lower()
        if media_type == "multipart/related":
            media_type = values.get("type", "*/*").lower()
        ranked.append((-quality, position, Wanted(media_type, values.get("transfer-syntax") or None)))
    return [wanted for *_rank, wanted in sorted(ranked, key=lambda r: r[:2])] or ([] if refused else [Wanted("*/*", None)])


def media_type_of(transfer_syntax: str) -> str | None:
    if transfer_syntax in NATIVE_SYNTAXES:
        return OCTET
    return IMAGE_MEDIA_TYPES.get(transfer_syntax)


def syntax_name(transfer_syntax: str) -> str:
    name = UID(transfer_syntax).name
    return f"{name} ({transfer_syntax})" if name != transfer_syntax else transfer_syntax


def choose_pixel_syntax(wanted: list[Wanted], stored: str) -> Choice | None:
    """How to send pixel data (frames, or the Pixel Data bulk data) stored in `stored`.

    `transfer-syntax=*` sends the stored bytes whatever the media type asked (an image type of
    another family excepted): OHIF asks application/octet-stream with * and reads the syntax from
    each part's header. A deflated file's pixel data is plain once inflated and goes as Explicit VR
    Little Endian."""
    family = media_type_of(stored)
    cuttable = family is not None and stored != DEFLATED_LE
    for want in wanted:
        kind, syntax = want.canonical, want.transfer_syntax
        same_family = family is not None and (kind == family or (kind == "image/*" and family.startswith("image/")))
        any_kind = kind in WILDCARDS or kind == OCTET or same_family
        if cuttable and ((syntax in ("*", stored) and any_kind) or (syntax is None and family != OCTET and same_family)):
            label = want.media_type if kind == family else (OCTET if kind == OCTET else family)
            return Choice(label, stored, decode=False)
        if (kind in WILDCARDS or kind == OCTET) and syntax in (None, "*", EXPLICIT_LE, IMPLICIT_LE):
            target = syntax if syntax in (EXPLICIT_LE, IMPLICIT_LE) else EXPLICIT_LE
            return Choice(OCTET, target, decode=stored not in (EXPLICIT_LE, IMPLICIT_LE))
    return None


def choose_instance_syntax(wanted: list[Wanted], stored: str) -> str | None:
    """The transfer syntax to send a whole instance (application/dicom) in."""
    for want in wanted:
        if want.canonical not in (DICOM, "application/*", *WILDCARDS):
            continue
        if want.transfer_syntax in ("*", stored):
            return stored
        if want.transfer_syntax in (None, EXPLICIT_LE):
            return EXPLICIT_LE
    return None


def decoder_reason(exc: Exception) -> Reason:
    """pydicom lists every plugin's failure; the first one is the one worth showing. It is the
    decoder's own English: the sentence around it is in the reader's language."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = lines[1] if len(lines) > 1 and lines[0].endswith(":") else (lines[0] if lines else type(exc).__name__)
    return Reason(_("the decoder reports: %(error)s"), error=reason[:200])


def _detail(exc: Exception) -> str:
    """What went wrong: our own Reason, translated with the sentence around it, or a library's
    words, kept short (English whatever the reader's language)."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, Reason) else str(exc)[:180]


def inflated(handle: BinaryIO, *, inflated_limit: int, header_limit: int) -> InflatedFile:
    """A stored deflated file as the Explicit VR Little Endian file it inflates to, inflated as it
    is read (imaging/dicom/inflated.py); TransferError if it cannot be read."""
    try:
        return inflated_file(handle, inflated_limit=inflated_limit, header_limit=header_limit)
    except (HeaderError, InflationRefused, zlib.error, *UNREADABLE) as exc:
        raise TransferError(Reason(_("the deflated data set cannot be read: %(error)s"), error=_detail(exc))) from None


def can_decode(transfer_syntax: str) -> bool:
    if transfer_syntax in NATIVE_SYNTAXES:
        return True
    try:
        return get_decoder(transfer_syntax).is_available
    except NotImplementedError:
        return False


# Frames --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PixelLayout:
    """Where the pixel data is in the file and what it holds, read without loading it."""

    transfer_syntax: str
    frames: int
    frame_bytes: int  # for native syntaxes
    offset: int  # of the Pixel Data value in the file
    length: int
    bits_allocated: int
    extended_offsets: tuple[bytes, bytes] | None
    rows: int
    columns: int
    samples: int  # per pixel, as decoded: three for YBR_FULL_422

    @property
    def decoded_frame_bytes(self) -> int:
        return self.rows * self.columns * self.samples * max(self.bits_allocated // 8, 1)


def pixel_layout(source: BinaryIO) -> PixelLayout:
    """The layout of the file in `source`, read without its pixel data."""
    source.seek(0)
    with _pixel_module_read():
        return _layout_of(pydicom.dcmread(source, defer_size=256))


@contextmanager
def _pixel_module_read() -> Iterator[None]:
    """What pydicom raises reading a file or its image pixel module, as a TransferError."""
    try:
        yield
    except TransferError:
        raise
    except (InvalidDicomError, *UNREADABLE) as exc:
        raise TransferError(Reason(_("the image pixel module cannot be read: %(error)s"), error=_detail(exc))) from None


def _layout_of(dataset: Dataset) -> PixelLayout:
    """The layout of a data set read with its pixel data unconverted (left raw or deferred)."""
    raw = dataset.get_item(PIXEL_DATA, keep_deferred=True)
    if raw is None:
        raise TransferError(Reason(_("this instance has no pixel data")))
    bits = int(dataset.get("BitsAllocated", 8) or 8)
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    # Native YBR_FULL_422 stores two samples a pixel: each pair of pixels shares its chroma.
    stored_samples = 2 if dataset.get("PhotometricInterpretation") == "YBR_FULL_422" else samples
    extended = None
    if "ExtendedOffsetTable" in dataset and "ExtendedOffsetTableLengths" in dataset:
        extended = (dataset.ExtendedOffsetTable, dataset.ExtendedOffsetTableLengths)
    return PixelLayout(
        transfer_syntax=str(dataset.file_meta.TransferSyntaxUID),
        frames=int(dataset.get("NumberOfFrames", 1) or 1),
        frame_bytes=rows * columns * stored_samples * bits // 8,
        offset=raw.value_tell,
        length=raw.length,
        bits_allocated=bits,
        extended_offsets=extended,
        rows=rows,
        columns=columns,
        samples=samples,
    )


def stored_frame(source: BinaryIO, layout: PixelLayout, number: int) -> bytes:
    """Frame `number` (1-based) exactly as stored: a slice of native data, or the fragments of an
    encapsulated frame joined."""
    if layout.transfer_syntax in (EXPLICIT_LE, IMPLICIT_LE, BIG_ENDIAN):
        if layout.bits_allocated % 8:
            raise TransferError(Reason(_("bit-packed pixel data cannot be cut into frames")))
        source.seek(layout.offset + (number - 1) * layout.frame_bytes)
        frame = source.read(layout.frame_bytes) if number * layout.frame_bytes <= layout.length else b""
        if len(frame) != layout.frame_bytes:
            raise TransferError(Reason(_("the pixel data is shorter than its rows, columns and frames say")))
        return frame
    source.seek(layout.offset)
    try:
        return get_frame(source, number - 1, number_of_frames=layout.frames, extended_offsets=layout.extended_offsets)
    except UNREADABLE as exc:  # an Extended Offset Table of the wrong length is a struct.error, of lengths beyond any file an OverflowError
        raise TransferError(Reason(_("the frame cannot be found in the encapsulated pixel data: %(error)s"), error=_detail(exc))) from None


def frame_array(source: BinaryIO, number: int, header: Dataset | None = None, *, decode_limit: int) -> np.ndarray:
    """Frame `number` (1-based) decoded, colour as RGB; `header` receives the pixel module.

    pydicom can read just that frame from the file; a few files it decodes from a full read trip
    that path, so a full read is the fallback; not of an inflated file, where a full read would
    hold all it inflates to, nor is a frame of one read that is larger than it may hold. A
    compressed frame that would decode to more than `decode_limit` bytes is refused before any
    decoder runs (`refuse_oversized`). Raises TransferError with the reason."""
    if isinstance(source, InflatedFile) and source.frame_bytes > source.held_limit:
        raise TransferError(Reason(
            _("a frame of this deflated instance inflates to %(size)d MB, more than the %(limit)d MB a deflated data set may hold in memory at once"),
            size=source.frame_bytes // MB, limit=source.held_limit // MB,
        ))
    if not isinstance(source, InflatedFile) and stored_syntax(source) not in NATIVE_SYNTAXES:
        layout = pixel_layout(source)
        refuse_oversized(stored_frame(source, layout, number), layout, number=number, decode_limit=decode_limit)
    source.seek(0)
    try:
        return pixel_array(source, ds_out=header, index=number - 1)
    except Exception as exc:  # noqa: BLE001 - retried below, where the reason is kept
        if isinstance(source, InflatedFile):
            raise TransferError(decoder_reason(exc)) from None
    source.seek(0)
    try:
        dataset = pydicom.dcmread(source)
        if header is not None:
            header.file_meta = dataset.file_meta
            for element in dataset.group_dataset(0x0028):
                header.add(element)
        return pixel_array(dataset, index=number - 1)
    except Exception as exc:  # noqa: BLE001 - each decoder plugin raises its own kinds
        raise TransferError(decoder_reason(exc)) from None


def stored_syntax(source: BinaryIO) -> str | None:
    """The transfer syntax a file's meta information names, read alone (a twentieth of a
    millisecond; the whole header takes a quarter); None if it names none."""
    source.seek(0)
    try:
        read_preamble(source, False)
        return str(_read_file_meta_info(source).get("TransferSyntaxUID", "")) or None
    except (InvalidDicomError, *UNREADABLE):
        return None


def refuse_oversized(codestream: bytes, layout: PixelLayout, *, number: int, decode_limit: int) -> None:
    """TransferError, before a decoder allocates anything, for a compressed frame the header says
    decodes to more than `decode_limit` bytes, or whose codestream declares more pixels or
    components than the header gives it: decoders size their output by the codestream."""
    if layout.decoded_frame_bytes > decode_limit:
        raise TransferError(Reason(
            _("a frame of this instance decodes to %(size)d MB, more than the %(limit)d MB this server decodes at once"),
            size=-(-layout.decoded_frame_bytes // MB), limit=decode_limit // MB,
        ))
    declared = codestreams.oversized(codestream, rows=layout.rows, columns=layout.columns, samples=layout.samples)
    if declared is not None:
        raise TransferError(Reason(
            _("the compressed data of frame %(number)d declares %(columns)d × %(rows)d pixels of %(components)d components, more than the %(header_columns)d × %(header_rows)d of %(samples)d the header gives it"),
            number=number, columns=declared.columns, rows=declared.rows, components=declared.components,
            header_columns=layout.columns, header_rows=layout.rows, samples=layout.samples,
        ))


def decoded_frame(source: BinaryIO, number: int, *, decode_limit: int) -> bytes:
    """Frame `number` decoded to little endian native bytes (colour as RGB, as `decompress` gives)."""
    return _little_endian(frame_array(source, number, decode_limit=decode_limit)).tobytes()


def _little_endian(array: np.ndarray) -> np.ndarray:
    return array.astype(array.dtype.newbyteorder("<"), copy=False)


def frame_parts(source: BinaryIO, numbers: list[int], choice: Choice, *, decode_limit: int) -> Iterator[bytes]:
    layout = None if choice.decode else pixel_layout(source)
    for number in numbers:
        yield decoded_frame(source, number, decode_limit=decode_limit) if choice.decode else stored_frame(source, layout, number)


def is_one_part(choice: Choice) -> bool:
    """Whether the Pixel Data bulk data goes as one part (native data), its frames its chunks:
    joined, a 900 MB pixel data was held whole."""
    return media_type_of(choice.transfer_syntax) == OCTET


# Instances -----------------------------------------------------------------------------------

# VRs whose bytes are words: a big endian file's values must be swapped for little endian.
WORD_SIZES = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


def _swap_words(dataset: Dataset) -> None:
    for element in dataset:
        if element.VR == "SQ":
            for item in element.value:
                _swap_words(item)
        elif element.VR in WORD_SIZES and isinstance(element.value, bytes) and element.tag != PIXEL_DATA:
            size = WORD_SIZES[element.VR]
            element.value = np.frombuffer(element.value, dtype=f">u{size}").astype(f"<u{size}").tobytes()


def explicit_little_endian(source: BinaryIO, *, decode_limit: int) -> Iterator[bytes]:
    """The instance rewritten in Explicit VR Little Endian: compressed pixel data decoded (colour
    as RGB; all its frames held at once, so refused beyond `decode_limit` bytes), a big endian
    file's words swapped, an inflated file read through a block at a time (it is in that syntax).
    The SOP Instance UID stays: the pixels are those the stored syntax gives."""
    source.seek(0)
    if isinstance(source, InflatedFile):
        try:
            while chunk := source.read(INFLATE_BLOCK):
                yield chunk
        except InflationRefused as exc:
            raise TransferError(exc.args[0]) from None
        return
    try:
        dataset = pydicom.dcmread(source)
        stored = str(dataset.file_meta.TransferSyntaxUID)
        if stored == BIG_ENDIAN:
            _big_to_little(dataset)
        elif stored not in NATIVE_LITTLE_ENDIAN and "PixelData" in dataset:
            _refuse_oversized_instance(dataset, decode_limit)
            dataset.decompress(as_rgb=True, generate_instance_uid=False)
        dataset.file_meta.TransferSyntaxUID = EXPLICIT_LE
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    except TransferError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders and a malformed header raise many kinds
        raise TransferError(decoder_reason(exc)) from None
    yield buffer.getvalue()


def _refuse_oversized_instance(dataset: Dataset, decode_limit: int) -> None:
    with _pixel_module_read():
        layout = _layout_of(dataset)
    if layout.decoded_frame_bytes * layout.frames > decode_limit:
        raise TransferError(Reason(
            _("this instance decodes to %(size)d MB, more than the %(limit)d MB this server decodes at once"),
            size=-(-layout.decoded_frame_bytes * layout.frames // MB), limit=decode_limit // MB,
        ))
    frames = generate_frames(dataset.PixelData, number_of_frames=layout.frames, extended_offsets=layout.extended_offsets)
    for number, codestream in enumerate(frames, start=1):
        refuse_oversized(codestream, layout, number=number, decode_limit=decode_limit)


def _big_to_little(dataset: Dataset) -> None:
    _swap_words(dataset)
    if "PixelData" not in dataset:
        return
    if int(dataset.get("BitsAllocated", 8)) == 1:  # packed bits: swapped only if sent as words
        if dataset["PixelData"].VR == "OW":
            dataset.PixelData = np.frombuffer(dataset.PixelData, dtype=">u2").astype("<u2").tobytes()
        return
    pixels = pixel_array(dataset, raw=True)  # sub-sampling undone, samples interleaved
    dataset.PixelData = _little_endian(pixels).tobytes()
    if int(dataset.get("SamplesPerPixel", 1)) > 1:
        dataset.PlanarConfiguration = 0
    if dataset.get("PhotometricInterpretation") == "YBR_FULL_422":
        dataset.PhotometricInterpretation = "YBR_FULL"


# Bulk data -----------------------------------------------------------------------------------

def parse_path(path: str) -> list[int | str]:
    """'00880200/0/7FE00010' → [0x00880200, 0, 0x7FE00010] (tags and item numbers alternate)."""
    steps: list[int | str] = []
    for n, piece in enumerate(path.strip("/").split("/")):
        steps.append(int(piece, 16) if n % 2 == 0 else int(piece))
    return steps


def _vr_of(raw: RawDataElement) -> str:
    """A raw element's VR: as written (explicit VR), else the dictionary's."""
    if raw.VR:
        return raw.VR
    try:
        return dictionary_VR(raw.tag)
    except KeyError:
        return "UN"


def bulk_value(source: BinaryIO, path: str) -> bytes | None:
    """The bytes of the binary element at `path` (little endian), or of a text left out of the
    metadata as bulk data (as sent, in its character set), or None if there is none.
    TransferError if the stored file cannot be read that far (read where the ingest did not)."""
    try:
        return _bulk_value(source, path)
    except TransferError:
        raise
    except (InflationRefused, *UNREADABLE) as exc:
        raise TransferError(Reason(_("the stored file cannot be read there: %(error)s"), error=_detail(exc))) from None


def _refuse_unholdable(source: BinaryIO, raw) -> None:
    """TransferError for an element of a deflated file longer than the file may hold in memory,
    told by its length before its value is read: the value is read whole, and inflating holds it
    again (a few hundred kB of file may inflate to hundreds of MB)."""
    if isinstance(source, InflatedFile) and isinstance(raw, RawDataElement) and _vr_of(raw) != "SQ" and raw.length > source.held_limit:
        raise TransferError(Reason(
            _("an element of this deflated instance inflates to %(size)d MB, more than the %(limit)d MB a deflated data set may hold in memory at once"),
            size=-(-raw.length // MB), limit=source.held_limit // MB,
        ))


def _bulk_value(source: BinaryIO, path: str) -> bytes | None:
    steps = parse_path(path)
    source.seek(0)
    # Values are read when asked for, so that one past the pixel data is read without it.
    dataset = pydicom.dcmread(source, stop_before_pixels=steps[0] < PIXEL_DATA, defer_size=BULK_DATA_THRESHOLD)
    big_endian = str(dataset.file_meta.TransferSyntaxUID) == BIG_ENDIAN
    current: Dataset = dataset
    for n in range(0, len(steps) - 1, 2):
        element = current.get(steps[n])
        if element is None or element.VR != "SQ" or not 0 <= steps[n + 1] < len(element.value):
            return None
        current = element.value[steps[n + 1]]
    if steps[-1] not in current:
        return None
    raw = current.get_item(steps[-1], keep_deferred=True)  # unread: a text's bytes as sent, never decoded
    if isinstance(raw, RawDataElement) and _vr_of(raw) in STR_VR:
        if raw.length <= LEFT_OUT_UNREAD:  # in the metadata itself, not bulk data
            return None
        source.seek(raw.value_tell)  # deferred: read where it lies in the file
        return source.read(raw.length)
    _refuse_unholdable(source, raw)
    element = current[steps[-1]]
    if not isinstance(element.value, bytes):
        return None
    if big_endian and element.VR in WORD_SIZES:
        size = WORD_SIZES[element.VR]
        return np.frombuffer(element.value, dtype=f">u{size}").astype(f"<u{size}").tobytes()
    return element.value
