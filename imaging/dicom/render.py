"""Rendering a frame to JPEG or PNG (WADO-RS rendered, thumbnails, the viewer).

A frame is decoded once into a `Frame` (modality LUT applied, colour made 8-bit RGB); windowing
and encoding then run on it as often as asked, so dragging the window in the viewer costs no new
decoding. Pure functions over a file-like object holding a DICOM file: pydicom reads only the
asked frame of a multi-frame file, and decodes compressed syntaxes with its plugins (pylibjpeg
with libjpeg, openjpeg and RLE; Pillow).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut

from imaging.dicom.transfer import TransferError, frame_array

THUMBNAIL_SIZE = 128


class RenderError(ValueError):
    pass


@dataclass(frozen=True)
class Frame:
    """One decoded frame, ready for windowing: greyscale values after the modality LUT
    (float32) with the file's default window, or 8-bit RGB (window=None)."""

    values: np.ndarray
    window: tuple[float, float] | None
    invert: bool = False  # MONOCHROME1: high values are dark

    @property
    def nbytes(self) -> int:
        return self.values.nbytes


def decode_frame(source: BinaryIO, number: int) -> Frame:
    """Frame `number` (1-based) of the DICOM file in `source`; RenderError says why it cannot be."""
    header = Dataset()
    try:
        pixels = frame_array(source, number, header)
    except TransferError as exc:
        raise RenderError(str(exc)) from None
    return _prepare(header, pixels)


def _prepare(header: Dataset, pixels: np.ndarray) -> Frame:
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, header)
    if pixels.ndim == 3:
        return Frame(values=_eight_bit(pixels, header), window=None)
    values = np.asarray(apply_modality_lut(pixels, header), dtype=np.float32)
    return Frame(values=values, window=_default_window(header, values), invert=photometric == "MONOCHROME1")


def _eight_bit(rgb: np.ndarray, header: Dataset) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    stored = int(header.get("BitsStored") or rgb.dtype.itemsize * 8)
    if header.get("PhotometricInterpretation") == "PALETTE COLOR":
        stored = rgb.dtype.itemsize * 8  # the palette's entries use the whole word
    return (rgb >> max(stored - 8, 0)).astype(np.uint8)


def _first(value) -> float:
    return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) else float(value)


def _default_window(header: Dataset, values: np.ndarray) -> tuple[float, float]:
    center, width = header.get("WindowCenter"), header.get("WindowWidth")
    if center is not None and width is not None:
        try:
            return _first(center), _first(width)
        except (TypeError, ValueError, IndexError):
            pass
    low, high = float(values.min()), float(values.max())
    return (low + high) / 2, max(high - low, 1.0)


def _window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2 linear window to 0..255 (the clip gives the standard's two flat ends)."""
    width = max(float(width), 1.0)
    scale = 255.0 / max(width - 1, 1e-3)
    grey = (values - np.float32(center - 0.5 - (width - 1) / 2)) * np.float32(scale)
    np.clip(grey, 0, 255, out=grey)
    return grey.astype(np.uint8)


def to_image(frame: Frame, *, window: tuple[float, float] | None = None) -> Image.Image:
    if frame.window is None:
        return Image.fromarray(frame.values, mode="RGB")
    grey = _window(frame.values, *(window or frame.window))
    if frame.invert:
        grey = 255 - grey
    return Image.fromarray(grey, mode="L")


def encode(image: Image.Image, *, viewport: tuple[int, int] | None = None, fmt: str = "jpeg", quality: int = 90) -> bytes:
    if viewport and (image.width > viewport[0] or image.height > viewport[1]):
        image = image.copy()
        # A small, low-quality preview is what a weak link needs first: the fast filter will do.
        image.thumbnail(viewport, Image.Resampling.BILINEAR if quality < 60 else Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG", optimize=False)
    else:
        image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
