"""A stored instance's file, opened for reading in bounded memory."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from django.conf import settings
from django.core.files.storage import default_storage

from imaging.dicom import transfer
from imaging.dicom.cache import FrameCache
from imaging.dicom.inflated import Checkpoints
from imaging.models import Instance

# Where inflating the deflated files read lately may resume, a few per process: each frame of a
# scroll through a deflated multi-frame, asked for by a request of its own, is inflated from near
# the one before, not from the beginning (which cost the Nth frame as much as N frames).
# Keyed by the file's SHA-256: a stored file's bytes never change.
inflating = FrameCache(max_bytes=8 * Checkpoints.nbytes)


@contextmanager
def instance_file(instance: Instance) -> Iterator[BinaryIO]:
    """The stored file of `instance`; a deflated one as the Explicit VR Little Endian file it
    inflates to, inflated as it is read, under the limits its header was read with at ingest
    (pydicom inflates it whole: 900 MB for a file of 0.9 MB). TransferError if it cannot be read."""
    with default_storage.open(instance.file.name, "rb") as handle:
        if instance.transfer_syntax_uid != transfer.DEFLATED_LE:
            yield handle
        else:
            source = transfer.inflated(handle, inflated_limit=settings.DICOM_MAX_INSTANCE_BYTES, header_limit=settings.DICOM_MAX_INFLATED_HEADER_BYTES)
            source.share_checkpoints(inflating.get(instance.sha256, Checkpoints))
            yield source
