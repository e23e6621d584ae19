"""A byte-bounded least-recently-used cache for decoded frames.

Decoding is the dear part of rendering (a JPEG 2000 slice takes tens of milliseconds, the window
and the JPEG encoding a few), and a reader asks for the same frame again and again: low
resolution then full quality, every step of a window drag, the other viewport. One cache per
process, shared by the request threads; it never holds more than `max_bytes` of frames. (The
inflater checkpoints of deflated files, imaging/services/files.py, are kept in one too.)
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Protocol, TypeVar


class Sized(Protocol):
    @property
    def nbytes(self) -> int: ...


T = TypeVar("T", bound=Sized)


class FrameCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Sized] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The cached value for `key`, or `make()`'s, kept if it fits. Two threads asking for the
        same missing key both decode it: rarer and cheaper than holding a lock while decoding."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found  # type: ignore[return-value]
            self.misses += 1
        value = make()
        self._put(key, value)
        return value

    def _put(self, key: Hashable, value: Sized) -> None:
        size = value.nbytes
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old.nbytes
            self._entries[key] = value
            self._size += size
            while self._size > self.max_bytes:
                _key, evicted = self._entries.popitem(last=False)
                self._size -= evicted.nbytes

    @property
    def size(self) -> int:
        return self._size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0
