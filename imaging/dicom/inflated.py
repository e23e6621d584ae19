"""A deflated data set (Deflated Explicit VR Little Endian, PS3.5 A.5) read in bounded memory.

pydicom inflates such a data set whole, in memory, before reading a byte of it: a file of under
1 MB that inflates to 900 MB of zero pixels (a decompression bomb) cost 1.9 GB while its header
was read. Here the data set is inflated as it is read: what the header reader reads before it
stops (the elements before the pixel data) is kept, up to `header_limit`, since pydicom reads
deferred values back from it later; beyond that only the block being read is held, and seeking
forward inflates and forgets. Seeking back past what is held resumes inflating from the nearest
checkpoint before it (`Checkpoints`: the inflater's state, copied, at a few offsets), not from the
beginning: the header check's walk from the pixel data to the end follows finding the size, which
inflated to the end, and the frames of a multi-frame are read in any order.

A stored deflated file is retrieved the same way (`InflatedFile`: the Explicit VR Little Endian
file it inflates to), and written again, for the teaching export, a block at a time
(`write_deflated`).
"""
from __future__ import annotations

import collections
import itertools
import os
import threading
import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO, NamedTuple

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info

from imaging.dicom.reasons import Reason
from imaging.dicom.reasons import gettext_noop as _
from imaging.dicom.structure import pixel_bytes

INFLATE_BLOCK = 1024 * 1024
NOT_DEFLATED = _("the data set is not deflated, as its transfer syntax (Deflated Explicit VR Little Endian) says")
MB = 1024 * 1024
Inflater = type(zlib.decompressobj())  # zlib does not name it


class InflationRefused(ValueError):
    """The data set inflates beyond a limit, or its deflate stream is cut short; args[0] is the Reason."""


class Checkpoint(NamedTuple):
    offset: int  # inflated bytes given before it
    at: int  # where in the file the deflated bytes still to read begin
    inflater: Inflater  # never used itself, only copied: it may be shared


class Checkpoints:
    """Where inflating one deflated data set may resume from: the inflater as it stood before the
    last `RECENT` blocks it gave, and before blocks spread over all it has given, at most
    `SPREAD` of them (as more is inflated they are thinned to every other one); each holds some
    40 kB, mostly its window. The readers of a stored file share them (imaging/services/files.py),
    so that the frames of a scroll, each read by a request of its own, resume near the last one."""

    SPREAD, RECENT = 16, 4
    nbytes = (SPREAD + RECENT) * 40 * 1024  # the most they hold (imaging/services/files.py keeps them in a cache bounded by it)

    def __init__(self) -> None:
        self._spacing = INFLATE_BLOCK
        self._spread: dict[int, Checkpoint] = {}  # by offset // spacing, the first one met
        self._recent: collections.deque[Checkpoint] = collections.deque(maxlen=self.RECENT)
        self._lock = threading.Lock()

    def take(self, offset: int, at: int, inflater: Inflater) -> None:
        checkpoint = Checkpoint(offset, at, inflater.copy())
        with self._lock:
            self._recent.append(checkpoint)
            self._spread.setdefault(offset // self._spacing, checkpoint)
            if len(self._spread) > self.SPREAD:
                self._spacing *= 2
                thinned: dict[int, Checkpoint] = {}
                for kept in sorted(self._spread.values(), key=lambda c: c.offset):
                    thinned.setdefault(kept.offset // self._spacing, kept)
                self._spread = thinned

    def before(self, offset: int) -> Checkpoint | None:
        """The checkpoint nearest before `offset`."""
        with self._lock:
            return max((c for c in (*self._recent, *self._spread.values()) if c.offset <= offset), key=lambda c: c.offset, default=None)


class InflatedDataSet:
    """The inflated bytes of the deflated data set that starts where `handle` stands, as a
    read-only seekable file. Refuses (InflationRefused) a data set that inflates beyond
    `size_limit` bytes, or whose elements before `header_done` is called beyond `header_limit`."""

    closed = False  # pydicom reads a deferred value back from an open buffer

    def __init__(self, handle: BinaryIO, *, header_limit: int, size_limit: int) -> None:
        self._handle, self._start = handle, handle.tell()
        self.header_limit, self._size_limit = header_limit, size_limit
        self._kept = bytearray()  # from the first byte, while the header is read
        self._keeping = True
        self._position = 0
        self._size: int | None = None
        self.checkpoints = Checkpoints()
        self._resume(Checkpoint(0, self._start, zlib.decompressobj(-zlib.MAX_WBITS)))

    def _resume(self, checkpoint: Checkpoint) -> None:
        self._handle.seek(checkpoint.at)
        self._inflater, self._input = checkpoint.inflater.copy(), b""
        self._produced = checkpoint.offset  # bytes this inflater has given
        self._tail = bytearray()  # the last of them, beyond the kept bytes

    def _resume_near(self, offset: int) -> None:
        """Inflate from the checkpoint nearest before `offset`, if it is ahead of what is
        inflated, or `offset` is behind what is held."""
        checkpoint = self.checkpoints.before(offset) or Checkpoint(0, self._start, zlib.decompressobj(-zlib.MAX_WBITS))
        if offset < self._produced - len(self._tail) or checkpoint.offset > self._produced:
            self._resume(checkpoint)

    def header_done(self) -> None:
        """What is read from now on is not kept."""
        self._keeping = False

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            offset += self._inflated_size()
        elif whence == os.SEEK_CUR:
            offset += self._position
        self._position = offset
        return offset

    def read(self, size: int) -> bytes:
        start, end = self._position, self._position + size
        while self._keeping and len(self._kept) < end and (block := self._block()):
            self._kept += block
            if len(self._kept) > self.header_limit:
                raise InflationRefused(Reason(_("the deflated header (before the pixel data) exceeds %(limit)d MB"), limit=self.header_limit // MB))
        data = bytes(self._kept[start:end])
        if end > len(self._kept) and not self._keeping:
            data += self._beyond_kept(max(start, len(self._kept)), end)
        self._position = start + len(data)
        return data

    def _beyond_kept(self, start: int, end: int) -> bytes:
        self._resume_near(start)
        while True:
            if (forgettable := start - (self._produced - len(self._tail))) > 0:
                del self._tail[:forgettable]
            if self._produced >= end or not (block := self._block()):
                break
            self._tail += block
        held_from = self._produced - len(self._tail)
        return bytes(self._tail[max(start - held_from, 0):max(end - held_from, 0)])

    def _inflated_size(self) -> int:
        self._keeping = False
        if self._size is None:
            self._resume_near(self._size_limit)
        while self._size is None:
            self._block()
            self._tail.clear()  # only the size was wanted
        return self._size

    def _block(self) -> bytes:
        """The next inflated bytes, at most a block of them; empty at the end."""
        if not self._inflater.eof:
            self.checkpoints.take(self._produced, self._handle.tell() - len(self._input), self._inflater)
        while not self._inflater.eof:
            if not self._input:
                self._input = self._handle.read(INFLATE_BLOCK)
            if not self._input:
                raise InflationRefused(Reason(_("the file is truncated: it ends inside its deflated data set")))
            try:
                block = self._inflater.decompress(self._input, INFLATE_BLOCK)
            except zlib.error:  # met only now, past the header the ingest read: a 4xx, not a 500
                raise InflationRefused(Reason(NOT_DEFLATED)) from None
            self._input = self._inflater.unconsumed_tail  # past the stream's end (a writer's padding) is left unused
            if block:
                self._produced += len(block)
                if self._produced > self._size_limit:
                    raise InflationRefused(Reason(_("the deflated data set inflates to more than %(limit)d MB"), limit=self._size_limit // MB))
                return block
        self._size = self._produced
        return b""


class InflatedFile:
    """A stored deflated file as the Explicit VR Little Endian file it inflates to (PS3.5 A.5: the
    inflated data set is in that syntax), read-only and seekable: `prefix` (the preamble and the
    file meta information naming that syntax), then `data_set`, whose header was read (`header`)
    and `header_done` called, so that reading it holds its header and one block, not what it
    inflates to."""

    closed = False  # pydicom reads a deferred value back from an open buffer

    def __init__(self, prefix: bytes, data_set: InflatedDataSet, *, header: Dataset) -> None:
        self._prefix, self._data_set, self._header = prefix, data_set, header
        self._position = 0

    @property
    def held_limit(self) -> int:
        """The most of it a reader may hold in memory (its header was refused beyond that)."""
        return self._data_set.header_limit

    @property
    def frame_bytes(self) -> int:
        """How long one frame of its pixel data is (0 if its header does not say)."""
        total = pixel_bytes(self._header)
        return total // int(self._header.get("NumberOfFrames") or 1) if total else 0

    def share_checkpoints(self, checkpoints: Checkpoints) -> None:
        """Resume inflating from, and record into, `checkpoints`: those of the readers of the same
        stored file before this one."""
        self._data_set.checkpoints = checkpoints

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            offset += len(self._prefix) + self._data_set.seek(0, os.SEEK_END)
        elif whence == os.SEEK_CUR:
            offset += self._position
        self._position = offset
        return offset

    def read(self, size: int = -1) -> bytes:
        if size < 0:  # to the end
            size = len(self._prefix) + self._data_set.seek(0, os.SEEK_END) - self._position
        start, end = self._position, self._position + size
        data = self._prefix[start:end]
        if end > len(self._prefix):
            self._data_set.seek(max(start - len(self._prefix), 0))
            data += self._data_set.read(end - max(start, len(self._prefix)))
        self._position = start + len(data)
        return data


def write_deflated(out: BinaryIO, dataset: Dataset, pixel_data: Iterable[bytes]) -> None:
    """`dataset` (a header, without its pixel data) and then `pixel_data` (the element's bytes,
    in Explicit VR Little Endian) written to `out` as a deflated Part 10 file, a block at a time:
    what pydicom's dcmwrite gives of the whole data set, which it deflates in memory."""
    meta = DicomBytesIO()
    meta.write(dataset.preamble or bytes(128))
    meta.write(b"DICM")
    write_file_meta_info(meta, dataset.file_meta, enforce_standard=True)
    header = DicomBytesIO()
    header.is_little_endian, header.is_implicit_VR = True, False
    write_dataset(header, dataset)
    out.write(meta.getvalue())
    deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate (PS3.5 A.5)
    for chunk in itertools.chain([header.getvalue()], pixel_data):
        out.write(deflater.compress(chunk))
    out.write(deflater.flush())


def element_chunks(source: BinaryIO, start: int) -> Iterator[bytes]:
    """The element of defined length (Explicit VR Little Endian, a VR with a 4-byte length: pixel
    data) at `start` in `source`, a block at a time."""
    source.seek(start)
    head = source.read(12)
    yield head
    left = int.from_bytes(head[8:12], "little") if len(head) == 12 else 0
    while left > 0 and (block := source.read(min(left, INFLATE_BLOCK))):
        left -= len(block)
        yield block
