"""Decoded frames of stored instances, through one cache per process.

The cache is keyed by the file's SHA-256 (an instance's bytes never change once stored) and the
frame number, and bounded by IMAGING_FRAME_CACHE_MB; a frame that fails to decode is not kept,
so the reason is given again at the next ask.
"""
from __future__ import annotations

import io

from django.conf import settings
from django.core.files.storage import default_storage

from imaging.dicom import render, synthetic
from imaging.dicom.cache import FrameCache
from imaging.models import Instance

frames = FrameCache(settings.IMAGING_FRAME_CACHE_BYTES)


def frame_get(*, instance: Instance, number: int) -> render.Frame:
    """Frame `number` (1-based) of `instance`, decoded; RenderError if it cannot be."""

    def decode() -> render.Frame:
        with default_storage.open(instance.file.name, "rb") as handle:
            return render.decode_frame(handle, number)

    return frames.get((instance.sha256, number), decode)


def warm_up() -> None:
    """Render a small synthetic CT slice once, as a server process starts (SERVER_WARM_UP): the
    first render of each process otherwise paid for starting pydicom's pixel decoders, numpy's
    lookup and libjpeg, about 4 ms more than the next one."""
    [data] = synthetic.ct_series(slices=1, size=16, seed="warm-up")
    render.encode(render.to_image(render.decode_frame(io.BytesIO(data), 1)))
