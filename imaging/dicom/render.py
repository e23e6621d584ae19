"""Rendering a frame to JPEG or PNG (WADO-RS rendered and thumbnails): modality LUT, window,
viewport. Pure functions over a pydicom dataset; compressed syntaxes need a decoder pydicom
can use, and raise RenderError otherwise."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

THUMBNAIL_SIZE = 128


class RenderError(ValueError):
    pass


def _frame(dataset: Dataset, number: int) -> np.ndarray:
    try:
        pixels = dataset.pixel_array
    except Exception as exc:  # no decoder for the transfer syntax, or no pixel data
        raise RenderError(f"the pixel data cannot be decoded: {exc}"[:200]) from None
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if not 1 <= number <= frames:
        raise RenderError(f"this instance has {frames} frames")
    return pixels[number - 1] if frames > 1 else pixels


def _window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2 linear window to 0..255."""
    width = max(width, 1.0)
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    scaled = (values - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(np.where(values <= low, 0, np.where(values > high, 1, scaled)) * 255, 0, 255).astype(np.uint8)


def _default_window(dataset: Dataset, values: np.ndarray) -> tuple[float, float]:
    center, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if center is not None and width is not None:
        first = lambda v: float(v[0]) if hasattr(v, "__len__") and not isinstance(v, str) else float(v)  # noqa: E731
        return first(center), first(width)
    low, high = float(values.min()), float(values.max())
    return (low + high) / 2, max(high - low, 1.0)


def _grey(dataset: Dataset, pixels: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """Modality LUT then window; for integer pixels of up to 16 bits through a table of the
    values present, which costs one lookup a pixel instead of float arithmetic over the frame."""
    if pixels.dtype.kind not in "ui" or pixels.dtype.itemsize > 2 or "ModalityLUTSequence" in dataset:
        values = apply_modality_lut(pixels, dataset).astype(np.float64)
        return _window(values, *(window or _default_window(dataset, values)))
    low, high = int(pixels.min()), int(pixels.max())
    values = apply_modality_lut(np.arange(low, high + 1, dtype=np.int32), dataset).astype(np.float64)
    table = _window(values, *(window or _default_window(dataset, values)))
    return table[pixels.astype(np.int32) - low]


def to_image(dataset: Dataset, *, frame: int = 1, window: tuple[float, float] | None = None) -> Image.Image:
    pixels = _frame(dataset, frame)
    if dataset.get("SamplesPerPixel", 1) == 3:
        return Image.fromarray(pixels.astype(np.uint8), mode="RGB")
    grey = _grey(dataset, pixels, window)
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
        grey = 255 - grey
    return Image.fromarray(grey, mode="L")


def encode(image: Image.Image, *, viewport: tuple[int, int] | None = None, fmt: str = "jpeg", quality: int = 90) -> bytes:
    if viewport:
        image = image.copy()
        image.thumbnail(viewport, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG", optimize=False)
    else:
        image.convert("L" if image.mode == "L" else "RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
