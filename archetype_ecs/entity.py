"""Entity ids and the entity index: which slots are alive and where their rows live.

An entity id is 64 bits: the low 32 are the slot *index*, the high 32 its
*generation*. Generations start at 1, so id 0 is the null entity and a generation of 0
marks an id that is pending inside a command buffer. Despawning bumps the slot's
generation, so a stale id never matches a live one. The index answers "alive?" and
"where?" for whole arrays of ids at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archetype_ecs._kernels import (
    alive_kernel,
    classify_kernel,
    mark_first_kernel,
    mark_last_kernel,
    place_kernel,
    place_run_kernel,
    release_kernel,
    spawn_fill_kernel,
)

__all__ = ["NULL_ENTITY", "Entity", "EntityIndex", "pack", "pending_slot", "split"]

INDEX_MASK = np.uint64(0xFFFF_FFFF)
GEN_SHIFT = np.uint64(32)
MAX_GENERATION = 0xFFFF_FFFF
NO_TABLE = -1

IdArray = np.ndarray[Any, np.dtype[np.uint64]]


class Entity(int):
    """A 64-bit entity id (an ``int``) with readable parts.

    Examples
    --------
    >>> e = Entity.from_parts(42, 3)
    >>> e.index, e.generation
    (42, 3)
    >>> e
    Entity(42v3)
    """

    __slots__ = ()

    @classmethod
    def from_parts(cls, index: int, generation: int) -> Entity:
        """Build an id from its slot index and generation."""
        return cls((generation << 32) | index)

    @property
    def index(self) -> int:
        """The slot index (low 32 bits)."""
        return int(self) & 0xFFFF_FFFF

    @property
    def generation(self) -> int:
        """The generation (high 32 bits); 0 means pending in a command buffer."""
        return int(self) >> 32

    @property
    def is_pending(self) -> bool:
        """True for an id handed out by ``CommandBuffer.spawn`` and not applied yet."""
        return self.generation == 0 and int(self) != 0

    def __repr__(self) -> str:
        if self.is_pending:
            return f"Entity(pending {self.index})"
        return f"Entity({self.index}v{self.generation})"

    def label(self) -> str:
        """Short form used in error messages, ``42v3``."""
        return f"{self.index}v{self.generation}"


NULL_ENTITY = Entity(0)


def pack(index: np.ndarray[Any, Any], generation: np.ndarray[Any, Any]) -> IdArray:
    """Vectorized ``generation << 32 | index``."""
    out: IdArray = (generation.astype(np.uint64) << GEN_SHIFT) | index.astype(np.uint64)
    return out


def split(
    ids: np.ndarray[Any, Any],
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.uint32]]]:
    """Vectorized inverse of :func:`pack`: ``(index as int64, generation)``."""
    ids = np.asarray(ids, dtype=np.uint64)
    return (ids & INDEX_MASK).astype(np.int64), (ids >> GEN_SHIFT).astype(np.uint32)


def pending_slot(ids: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Buffer-local position of pending ids (generation 0, index counted from 1)."""
    return (np.asarray(ids, dtype=np.uint64) & INDEX_MASK).astype(np.int64) - 1


class EntityIndex:
    """Slot arrays ``generation``, ``table`` and ``row``, plus a LIFO free list.

    Invariant: a slot is alive iff ``table[slot] >= 0``; then the entity sits in
    ``tables[table[slot]]`` at ``row[slot]`` and that row's entity column holds the id.
    Invariant: ``generation[slot] >= 1`` for every slot ever allocated.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.generation = np.ones(capacity, dtype=np.uint32)
        self.table = np.full(capacity, NO_TABLE, dtype=np.int32)
        self.row = np.zeros(capacity, dtype=np.int64)
        self.size = 0  # slots handed out so far (live, free or retired)
        self._free = np.empty(capacity, dtype=np.int64)
        self._nfree = 0
        self.alive_count = 0
        # Scratch for duplicate detection: stamp[slot] == epoch means "seen this call".
        self._stamp = np.zeros(0, dtype=np.int64)
        self._epoch = 0

    def _grow(self, need: int) -> None:
        # Slots at or beyond ``size`` are never read before spawn fills them, so new
        # arrays start uninitialized (no page is touched until it is used).
        cap = max(need, 2 * len(self.generation), 1024)
        n = self.size
        gen = np.empty(cap, dtype=np.uint32)
        gen[:n] = self.generation[:n]
        table = np.empty(cap, dtype=np.int32)
        table[:n] = self.table[:n]
        row = np.empty(cap, dtype=np.int64)
        row[:n] = self.row[:n]
        self.generation, self.table, self.row = gen, table, row

    def allocate(self, n: int) -> IdArray:
        """Hand out ``n`` ids: recycled slots first (most recently freed first).

        The slots are not alive until :meth:`place` gives them a table and row.
        """
        return self.spawn(n, None, 0)

    def peek_spawn(self, n: int) -> IdArray:
        """The ids :meth:`spawn` would hand out next for ``n`` entities (no change)."""
        take = min(n, self._nfree)
        recycled = self._free[self._nfree - take : self._nfree][::-1]
        out = np.empty(n, dtype=np.uint64)
        out[:take] = pack(recycled, self.generation[recycled])
        out[take:] = np.arange(self.size, self.size + n - take, dtype=np.uint64) | (
            np.uint64(1) << GEN_SHIFT
        )
        return out

    def spawn(self, n: int, table: int | None, first_row: int) -> IdArray:
        """Allocate ``n`` ids and place them at rows ``first_row ...`` of ``table``.

        With ``table=None`` the ids are only allocated. Recycled slots (most recently
        freed first) come before fresh ones; one kernel pass fills fresh slots.
        """
        take = min(n, self._nfree)
        fresh_n = n - take
        # every allocation first: out of memory leaves the index as it was
        if self.size + fresh_n > len(self.generation):
            self._grow(self.size + fresh_n)
        out = np.empty(n, dtype=np.uint64)
        recycled = self._free[self._nfree - take : self._nfree][::-1].copy()
        self._nfree -= take
        lo = self.size
        self.size = lo + fresh_n
        place = table is not None
        tid = -1 if table is None else table
        spawn_fill_kernel(
            out[take:],
            self.generation,
            self.table,
            self.row,
            lo,
            tid,
            first_row + take,
            place,
        )
        if take:
            out[:take] = pack(recycled, self.generation[recycled])
            if place:
                self.table[recycled] = tid
                self.row[recycled] = np.arange(first_row, first_row + take)
        if place:
            self.alive_count += n
        return out

    def place(
        self,
        ids: IdArray,
        table: int,
        rows: np.ndarray[Any, Any],
        *,
        spawned: bool = False,
    ) -> None:
        """Record that ``ids`` now live in ``table`` at ``rows``.

        ``spawned`` marks ids that were not alive before (they count as new).
        """
        place_kernel(ids, self.table, self.row, table, np.asarray(rows, dtype=np.int64))
        if spawned:
            self.alive_count += len(ids)

    def place_run(
        self, ids: IdArray, table: int, start: int, *, spawned: bool = False
    ) -> None:
        """Record that ``ids`` now live in ``table`` at rows ``start, start + 1, ...``."""
        place_run_kernel(ids, self.table, self.row, table, start)
        if spawned:
            self.alive_count += len(ids)

    def _keep_mask(self, ids: IdArray, *, last: bool) -> np.ndarray[Any, Any] | None:
        if len(ids) < 2:
            return None
        slots = (ids & INDEX_MASK).view(np.int64)
        if len(self._stamp) < self.size:
            self._stamp = np.zeros(len(self.generation), dtype=np.int64)
            self._epoch = 0
        self._epoch += 1
        kernel = mark_last_kernel if last else mark_first_kernel
        keep: np.ndarray[Any, Any] = kernel(slots, self._stamp, self._epoch)
        return None if keep.all() else keep

    def classify(self, ids: IdArray, *, keep_last: bool) -> np.ndarray[Any, Any]:
        """Per id: 0 live and kept, 1 not alive, 2 live repeat (first or last kept)."""
        ids = np.ascontiguousarray(ids, dtype=np.uint64)
        if len(self._stamp) < self.size:
            self._stamp = np.zeros(len(self.generation), dtype=np.int64)
            self._epoch = 0
        self._epoch += 1
        status: np.ndarray[Any, Any] = classify_kernel(
            ids,
            self.generation,
            self.table,
            self._stamp,
            self._epoch,
            self.size,
            keep_last,
        )
        return status

    def last_occurrences(self, ids: IdArray) -> np.ndarray[Any, Any] | None:
        """Mask keeping each id's last occurrence; ``None`` when ids are unique.

        O(n), no sort: slots are stamped in scratch memory. Ids must be alive.
        """
        return self._keep_mask(ids, last=True)

    def first_occurrences(self, ids: IdArray) -> np.ndarray[Any, Any] | None:
        """Mask keeping each id's first occurrence; ``None`` when ids are unique."""
        return self._keep_mask(ids, last=False)

    def release(self, ids: IdArray) -> None:
        """Free the slots of live ``ids``: bump generations, push on the free list."""
        need = self._nfree + len(ids)
        if need > len(self._free):
            free = np.empty(max(2 * len(self._free), need), np.int64)
            free[: self._nfree] = self._free[: self._nfree]
            self._free = free
        self._nfree = release_kernel(
            ids, self.generation, self.table, self._free, self._nfree
        )
        self.alive_count -= len(ids)

    def is_alive_batch(
        self, ids: np.ndarray[Any, Any]
    ) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Vectorized liveness of an array of ids (stale, pending and null are False)."""
        ids = np.ascontiguousarray(ids, dtype=np.uint64)
        alive: np.ndarray[Any, np.dtype[np.bool_]] = alive_kernel(
            ids, self.generation, self.table, self.size
        )
        return alive

    def is_alive(self, e: int) -> bool:
        """Liveness of one id."""
        idx = e & 0xFFFF_FFFF
        return bool(
            idx < self.size
            and int(self.generation[idx]) == (e >> 32)
            and self.table[idx] >= 0
        )

    def locate_batch(
        self, ids: np.ndarray[Any, Any]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """``(table, row)`` per id; table is -1 for ids that are not alive."""
        alive = self.is_alive_batch(ids)
        idx, _ = split(ids)
        safe = np.where(alive, idx, 0)
        return np.where(alive, self.table[safe], NO_TABLE), self.row[safe]

    def describe_dead(self, e: int) -> str:
        """Why ``e`` is not alive, for error messages."""
        ent = Entity(e)
        if e == 0:
            return "the null entity (id 0) is never alive"
        if ent.is_pending:
            return (
                f"{ent!r} is a pending id from a CommandBuffer; it becomes a real "
                "entity when the buffer is applied (see ApplyReport.spawned)"
            )
        if ent.index >= self.size:
            return f"entity {ent.label()} was never spawned in this world"
        cur = int(self.generation[ent.index])
        if cur != ent.generation:
            return (
                f"entity {ent.label()} is stale (slot {ent.index} now holds "
                f"generation {cur})"
            )
        return f"entity {ent.label()} has been despawned"

    def free_list(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        """A copy of the free slots, bottom of the stack first."""
        return self._free[: self._nfree].copy()
