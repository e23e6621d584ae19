"""Rendering a frame to JPEG or PNG (WADO-RS rendered, thumbnails, the viewer).

A frame is decoded once into a `Frame` (colour made 8-bit RGB); windowing and encoding then run
on it as often as asked, so dragging the window in the viewer costs no new decoding. Greyscale
stored as 8 or 16-bit integers (CT, MR, CR: nearly all) is kept as stored, with its rescale: a
window is one lookup table over every stored value (modality rescale and window in one). That
saves the two whole-frame float copies (3 MB for a 512 × 512 slice, each in fresh pages) that
applying the rescale first made on every first render, and keeps a cached frame a quarter of the
size. Pure functions over a file-like object holding a DICOM file: pydicom reads only the asked
frame of a multi-frame file, and decodes compressed syntaxes with its plugins (pylibjpeg with
libjpeg, openjpeg and RLE; Pillow).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

import numpy as np
from PIL import Image
# Loaded with this module, which a server process imports as it starts, rather than by Pillow on
# the first JPEG or PNG asked for: that import made each process's first render 10 ms slower.
from PIL import JpegImagePlugin, PngImagePlugin  # noqa: F401
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut

from imaging.dicom.reasons import Reason
from imaging.dicom.reasons import gettext_noop as _
from imaging.dicom.transfer import TransferError, frame_array

THUMBNAIL_SIZE = 128


class RenderError(ValueError):
    pass


@dataclass(frozen=True)
class Frame:
    """One decoded frame, ready for windowing, with the file's default window: greyscale as
    stored (8 or 16-bit integers, `rescale` = slope, intercept still to apply) or after a modality
    LUT (float32), or 8-bit RGB (window=None)."""

    values: np.ndarray
    window: tuple[float, float] | None
    invert: bool = False  # MONOCHROME1: high values are dark
    rescale: tuple[float, float] = (1.0, 0.0)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes


def decode_frame(source: BinaryIO, number: int, *, decode_limit: int) -> Frame:
    """Frame `number` (1-based) of the DICOM file in `source`; RenderError says why it cannot be
    (a Reason, see reasons.py). A compressed frame larger than `decode_limit` bytes decoded is
    refused before it is decoded."""
    header = Dataset()
    try:
        pixels = frame_array(source, number, header, decode_limit=decode_limit)
    except TransferError as exc:
        raise RenderError(exc.args[0]) from None
    return _prepare(header, pixels)


def _prepare(header: Dataset, pixels: np.ndarray) -> Frame:
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, header)
    if pixels.ndim == 3:
        return Frame(values=_eight_bit(pixels, header), window=None)
    invert = photometric == "MONOCHROME1"
    if pixels.dtype in _STORED_VALUES and not header.get("ModalityLUTSequence"):
        rescale = _rescale(header)
        return Frame(values=pixels, window=_default_window(header, pixels, rescale), invert=invert, rescale=rescale)
    values = np.asarray(apply_modality_lut(pixels, header), dtype=np.float32)
    return Frame(values=values, window=_default_window(header, values), invert=invert)


def _rescale(header: Dataset) -> tuple[float, float]:
    """Rescale Slope and Intercept, applied (as pydicom does) only when both are given."""
    if "RescaleSlope" not in header or "RescaleIntercept" not in header:
        return 1.0, 0.0
    try:
        return float(header.RescaleSlope), float(header.RescaleIntercept)
    except (TypeError, ValueError):
        raise RenderError(Reason(_("Rescale Slope or Rescale Intercept is not a number"))) from None


def _eight_bit(rgb: np.ndarray, header: Dataset) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    stored = int(header.get("BitsStored") or rgb.dtype.itemsize * 8)
    if header.get("PhotometricInterpretation") == "PALETTE COLOR":
        stored = rgb.dtype.itemsize * 8  # the palette's entries use the whole word
    return (rgb >> max(stored - 8, 0)).astype(np.uint8)


def _first(value) -> float:
    return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) else float(value)


def _default_window(header: Dataset, values: np.ndarray, rescale: tuple[float, float] = (1.0, 0.0)) -> tuple[float, float]:
    center, width = header.get("WindowCenter"), header.get("WindowWidth")
    if center is not None and width is not None:
        try:
            return _first(center), _first(width)
        except (TypeError, ValueError, IndexError):
            pass
    slope, intercept = rescale
    ends = [float(np.float32(v * slope + intercept)) for v in (float(values.min()), float(values.max()))]
    low, high = min(ends), max(ends)
    return (low + high) / 2, max(high - low, 1.0)


# Every value each stored type can hold, in the order of its bit patterns read as unsigned: a
# table built over them is indexed by the stored frame viewed as unsigned, with no copy.
_STORED_VALUES = {
    np.dtype(kind): np.arange(2 ** (8 * np.dtype(kind).itemsize), dtype=np.uint64)
    .astype(np.dtype(kind).str.replace("i", "u")).view(kind).astype(np.float64)
    for kind in ("<u2", "<i2", "u1", "i1")
}


@lru_cache(maxsize=16)
def _modality_values(kind: np.dtype, slope: float, intercept: float) -> np.ndarray:
    """Every stored value of `kind` rescaled, in float32 after float64 arithmetic, as pydicom's
    modality LUT gives them (a series shares one rescale: a few tables serve a whole reading)."""
    return (_STORED_VALUES[kind] * slope + intercept).astype(np.float32)


VOI_FUNCTIONS = ("linear", "linear-exact", "sigmoid")  # PS3.18 8.3.5.1.4, PS3.3 C.11.2.1.2-3


def _window(values: np.ndarray, center: float, width: float, function: str = "linear") -> np.ndarray:
    """A window to 0..255 by its VOI LUT function (the clip gives the linear ones their flat ends)."""
    width = max(float(width), 1.0)
    if function == "sigmoid":
        grey = np.float32(255) / (1 + np.exp(np.float32(-4 / width) * (values - np.float32(center))))
    elif function == "linear-exact":
        grey = (values - np.float32(center)) * np.float32(255 / width) + np.float32(127.5)
    else:
        scale = 255.0 / max(width - 1, 1e-3)
        grey = (values - np.float32(center - 0.5 - (width - 1) / 2)) * np.float32(scale)
    np.clip(grey, 0, 255, out=grey)
    return grey.astype(np.uint8)


# Stored values looked up at a time. np.take first copies its indices to 8-byte integers: for a
# whole 512 × 512 frame that copy was 2 MB of fresh pages, a page fault every 4 KB, and made the
# lookup of a first render take 1.5 ms instead of 0.2; a 256 KB copy stays in the cache.
LOOKED_UP_AT_ONCE = 32 * 1024


def _looked_up(table: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """table[stored], `stored` read as unsigned; mode="clip" (an unsigned value of the table's
    width is always in range) spares np.take the buffering its default mode does with `out`."""
    indices = stored.view(stored.dtype.str.replace("i", "u")).reshape(-1)
    grey = np.empty(indices.shape, np.uint8)
    for start in range(0, indices.size, LOOKED_UP_AT_ONCE):
        end = start + LOOKED_UP_AT_ONCE
        np.take(table, indices[start:end], out=grey[start:end], mode="clip")
    return grey.reshape(stored.shape)


def _windowed(frame: Frame, center: float, width: float, function: str = "linear") -> np.ndarray:
    if frame.values.dtype not in _STORED_VALUES:
        return _window(frame.values, center, width, function)
    return _looked_up(_window(_modality_values(frame.values.dtype, *frame.rescale), center, width, function), frame.values)


def to_image(frame: Frame, *, window: tuple[float, float] | tuple[float, float, str] | None = None) -> Image.Image:
    if frame.window is None:
        return Image.fromarray(frame.values, mode="RGB")
    grey = _windowed(frame, *(window or frame.window))
    if frame.invert:
        grey = 255 - grey
    return Image.fromarray(grey, mode="L")


def encode(image: Image.Image, *, viewport: tuple[int, ...] | None = None, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """The image, fitted into a viewport of width, height and, optionally, the region of the
    image it shows (x, y, width, height: PS3.18 8.3.5.1.3), as JPEG or PNG."""
    if viewport and len(viewport) == 6:
        x, y, width, height = viewport[2:]
        # Within the image: a series' images may differ in size, and a region far beyond one
        # must not make a huge image of black.
        image = image.crop((min(x, image.width - 1), min(y, image.height - 1), min(x + width, image.width), min(y + height, image.height)))
    if viewport and (image.width > viewport[0] or image.height > viewport[1]):
        image = image.copy()
        # A small, low-quality preview is what a weak link needs first: the fast filter will do.
        image.thumbnail(viewport[:2], Image.Resampling.BILINEAR if quality < 60 else Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG", optimize=False)
    else:
        image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
