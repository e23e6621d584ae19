"""Decoded frames of stored instances, through one cache per process.

The cache is keyed by the file's SHA-256 (an instance's bytes never change once stored) and the
frame number, and bounded by IMAGING_FRAME_CACHE_MB; a frame that fails to decode is not kept,
so the reason is given again at the next ask.
"""
from __future__ import annotations

import io
import os
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from imaging.dicom import regions, render, synthetic
from imaging.dicom.cache import FrameCache
from imaging.dicom.transfer import TransferError
from imaging.models import Instance
from imaging.services.files import instance_file

frames = FrameCache(settings.IMAGING_FRAME_CACHE_BYTES)


def frame_get(*, instance: Instance, number: int) -> render.Frame:
    """Frame `number` (1-based) of `instance`, decoded; RenderError if it cannot be."""

    def decode() -> render.Frame:
        try:
            with instance_file(instance) as source:
                return render.decode_frame(source, number, decode_limit=settings.DICOM_MAX_DECODED_BYTES)
        except TransferError as exc:  # a deflated file that cannot be read
            raise render.RenderError(exc.args[0]) from None

    return frames.get((instance.sha256, number), decode)


def region_get(*, instance: Instance, number: int, box: tuple[float, float, float, float], ellipse: bool) -> tuple[regions.RegionValues, str]:
    """The values inside a region of frame `number` and their unit: HU for CT, whose rescale
    gives Hounsfield units; dose for RT Dose, in its Dose Units (its header is read for them);
    none named otherwise. RenderError or RegionError says why not."""
    frame = frame_get(instance=instance, number=number)
    modality = instance.series.modality
    scaling, unit = regions.dose_quantity(instance.metadata) if modality == "RTDOSE" else (1.0, "HU" if modality == "CT" else "")
    return regions.region_values(frame, box, ellipse=ellipse, scaling=scaling), unit


# Windowing and JPEG or PNG encoding let go of the GIL for most of their time.
_painters = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="render")


def image_soon(frame: render.Frame, *, window: tuple[float, float] | None, viewport: tuple[int, int] | None, fmt: str, quality: int) -> Future:
    """The frame windowed and encoded on another thread, so that a request can record its
    access (waiting on the database) meanwhile: `result()` gives the bytes."""
    return _painters.submit(lambda: render.encode(render.to_image(frame, window=window), viewport=viewport, fmt=fmt, quality=quality))


def warm_up() -> None:
    """Render a small synthetic CT slice once, as a server process starts (SERVER_WARM_UP): the
    first render of each process otherwise paid for starting pydicom's pixel decoders, numpy's
    lookup, libjpeg and a painter thread, about 4 ms more than the next one."""
    [data] = synthetic.ct_series(slices=1, size=16, seed="warm-up")
    image_soon(render.decode_frame(io.BytesIO(data), 1, decode_limit=settings.DICOM_MAX_DECODED_BYTES), window=None, viewport=None, fmt="jpeg", quality=90).result()
