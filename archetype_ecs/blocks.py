"""A bounded cache of the large memory blocks that hold table columns.

A world's tables keep their columns in blocks of up to 16 MiB (see
:func:`archetype_ecs.table.allocate_slab`). When a block of 1 MiB or more is no longer
used by anything (its table grew or was dropped, every array and Arrow buffer over it
is gone), its memory goes to this cache instead of back to the operating system, and
the next block of about that size is carved from it. Writing into a fresh block
costs a page fault per page (the kernel zeroes each page on first touch: about 3,800
faults and several milliseconds for the 44 MB of a 10^6-row table); writing into a
recycled one costs none. That is what a world rebuilt in one process gains: a load
after a load, a restore, a table growing while another shrank.

The cache is bounded (:attr:`BlockCache.max_bytes`, 256 MiB by default, or the
``ARROW_ECS_BLOCK_CACHE`` environment variable in bytes, ``0`` to turn it off), and
on Linux and macOS a cached block is marked ``MADV_FREE``: the kernel may take its
pages back whenever it needs memory, and the cache then costs nothing (the next use
of such a page faults in a zeroed one, as a fresh block would). Until then the pages
still count in the process's resident size. Where ``MADV_FREE`` does not exist
(Windows), the cache is off unless the environment variable sets a bound.
:meth:`BlockCache.clear` unmaps every cached block at once.

Examples
--------
>>> from archetype_ecs.blocks import BlockCache
>>> cache = BlockCache(max_bytes=64 << 20)
>>> block = cache.take(3 << 20)
>>> block.nbytes, block.dtype.name
(3145728, 'uint8')
>>> del block  # nothing uses it any more: its memory is kept for the next take
>>> cache.cached_bytes
3145728
>>> again = cache.take(3 << 20)  # the same memory, no page to fault in
>>> cache.cached_bytes, cache.hits, cache.misses
(0, 1, 1)
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import threading
import weakref
from collections import deque
from typing import Any

import numpy as np

__all__ = ["BlockCache", "MIN_BLOCK", "blocks"]

MIN_BLOCK = 1 << 20
"""Blocks smaller than this come from NumPy's allocator, never from the cache."""

_GRAIN = 1 << 20  # cached sizes are whole MiB, so that blocks of close sizes match
_SLACK = 1.25  # a request may take a cached block up to this much larger
_HUGE = 4 << 20  # from this size blocks ask for transparent huge pages, as NumPy does
_ENV = "ARROW_ECS_BLOCK_CACHE"
_DEFAULT_MAX = 256 << 20

_MADV_FREE = getattr(mmap, "MADV_FREE", None)
# private anonymous memory (the default mapping is shared: no MADV_FREE, and huge
# pages under other rules)
_PRIVATE = (
    {"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS}
    if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS")
    else {}
)
_MADV_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", None)


class BlockCache:
    """Hands out writable ``uint8`` blocks and keeps the memory of freed ones.

    Parameters
    ----------
    max_bytes
        Bytes of unused blocks kept at most; a block freed beyond that is unmapped.
        ``0`` keeps none (every block is then a fresh mapping).

    Notes
    -----
    A block is an anonymous memory mapping. The array :meth:`take` returns (and every
    view of it, NumPy or Arrow) keeps the mapping in use; the cache gets it back only
    when the last of them is gone, so a block is never handed out twice at once.
    Thread-safe. A block comes back on whichever thread dropped its last view, maybe
    inside a garbage collection that started while this thread held the cache's lock:
    so it is queued without a lock and filed by whoever holds the lock next.
    """

    def __init__(self, max_bytes: int = _DEFAULT_MAX) -> None:
        self._lock = threading.Lock()
        self._free: dict[int, list[mmap.mmap]] = {}
        self._returned: deque[mmap.mmap] = deque()  # blocks back, not yet filed
        self._cached = 0
        self._max = 0
        self.max_bytes = max_bytes
        #: Blocks handed out from the cache / freshly mapped, since creation.
        self.hits = 0
        self.misses = 0

    @property
    def max_bytes(self) -> int:
        """Bytes of unused blocks kept at most (setting it lower trims the cache)."""
        return self._max

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        if type(value) is not int or value < 0:
            raise ValueError(
                f"BlockCache.max_bytes={value!r}: must be an int >= 0 (bytes; 0 "
                f"turns the cache off), e.g. 256 << 20"
            )
        with self._lock:
            self._max = value
            self._trim()
        self._settle()

    @property
    def cached_bytes(self) -> int:
        """Bytes of unused blocks held now."""
        self._settle()
        return self._cached

    def take(self, nbytes: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
        """A writable ``uint8`` array of exactly ``nbytes`` bytes (>= ``MIN_BLOCK``),
        its start page-aligned; its content is undefined (a recycled block keeps
        whatever it held).

        Raises
        ------
        ValueError
            When ``nbytes < MIN_BLOCK``.
        MemoryError
            When the system cannot map a new block.
        """
        if nbytes < MIN_BLOCK:
            raise ValueError(
                f"BlockCache.take({nbytes}): blocks start at {MIN_BLOCK} bytes; "
                f"allocate smaller arrays with numpy.empty"
            )
        size = -(-nbytes // _GRAIN) * _GRAIN
        self._settle()
        with self._lock:
            mm = self._pop(size)
        self._settle()
        if mm is None:
            try:
                mm = mmap.mmap(-1, size, **_PRIVATE)
            except OSError as exc:  # as numpy.empty would: a MemoryError
                raise MemoryError(
                    f"cannot map a block of {size} bytes for table columns ({exc}); "
                    f"free memory, or lower what the world holds"
                ) from exc
            if _MADV_HUGEPAGE is not None and size >= _HUGE:
                with contextlib.suppress(OSError):  # a kernel without huge pages
                    mm.madvise(_MADV_HUGEPAGE)
        lease = (ctypes.c_char * len(mm)).from_buffer(mm)
        fin = weakref.finalize(lease, self._give_back, mm)
        fin.atexit = False
        # (every view keeps `lease` alive: NumPy holds the buffer it exports)
        return np.frombuffer(memoryview(lease), dtype=np.uint8, count=nbytes)

    def clear(self) -> None:
        """Unmap every cached block now (blocks in use are not affected)."""
        self._settle()
        with self._lock:
            free, self._free, self._cached = self._free, {}, 0
        for maps in free.values():
            for mm in maps:
                # (BufferError: filed while its last lease was still being torn
                # down on another thread; unmapped when that lease lets go of it)
                with contextlib.suppress(BufferError):
                    mm.close()
        self._settle()

    def _pop(self, size: int) -> mmap.mmap | None:  # with the lock held
        best = None
        for have in self._free:  # few sizes: a scan is enough
            if size <= have <= size * _SLACK and (best is None or have < best):
                best = have
        if best is None:
            self.misses += 1
            return None
        maps = self._free[best]
        mm = maps.pop()  # the most recently freed: the likeliest still warm
        if not maps:
            del self._free[best]
        self._cached -= len(mm)
        self.hits += 1
        return mm

    def _give_back(self, mm: mmap.mmap) -> None:
        # The block's buffer export is released right after this returns, so the
        # mapping is not closed here: one not kept is unmapped when its last
        # reference goes.
        self._returned.append(mm)
        self._settle()

    def _settle(self) -> None:
        """File the returned blocks, unless another holder of the lock (maybe this
        thread, further up the stack) is busy: it settles after releasing."""
        while self._returned and self._lock.acquire(blocking=False):
            try:
                while self._returned:
                    self._file(self._returned.popleft())
            finally:
                self._lock.release()

    def _file(self, mm: mmap.mmap) -> None:  # with the lock held
        if self._cached + len(mm) > self._max:
            return
        if _MADV_FREE is not None:
            try:
                mm.madvise(_MADV_FREE)
            except OSError:  # a kernel without it: keeping pages would cost
                return
        self._free.setdefault(len(mm), []).append(mm)
        self._cached += len(mm)

    def _trim(self) -> None:  # with the lock held
        while self._cached > self._max:
            size = max(self._free)
            maps = self._free[size]
            maps.pop(0)  # the least recently freed; unmapped when dropped
            self._cached -= size
            if not maps:
                del self._free[size]

    def __repr__(self) -> str:
        return (
            f"<BlockCache cached={self.cached_bytes} max={self._max} "
            f"hits={self.hits} misses={self.misses}>"
        )


def _default_max() -> int:
    raw = os.environ.get(_ENV)
    if raw is None:
        # where the kernel cannot be told a cached block is free to take back, the
        # cache would pin memory for good: off unless asked for
        return _DEFAULT_MAX if _MADV_FREE is not None else 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"{_ENV}={raw!r}: must be a number of bytes >= 0 (0 turns the block "
            f"cache off), e.g. {_ENV}=268435456"
        )
    return value


blocks = BlockCache(_default_max())
"""The process's cache, used by every world's tables."""
