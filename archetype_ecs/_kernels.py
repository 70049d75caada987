"""Numba kernels of the core's bulk operations, each with a NumPy ``_reference`` twin.

The twins define the semantics; tests compare kernel and twin on random input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archetype_ecs._jit import njit

__all__ = [
    "group_by_kernel",
    "group_by_reference",
    "mark_first_kernel",
    "mark_first_reference",
    "mark_last_kernel",
    "mark_last_reference",
]

Array = np.ndarray[Any, Any]


@njit
def mark_last_kernel(slots: Array, stamp: Array, epoch: int) -> Array:
    """``keep[i]`` is True where ``slots[i]`` does not occur again later.

    ``stamp`` is scratch memory indexed by slot; entries equal to ``epoch`` mark slots
    already seen in this call (so no clearing is needed between calls).
    """
    n = slots.shape[0]
    keep = np.empty(n, dtype=np.bool_)
    for i in range(n - 1, -1, -1):
        s = slots[i]
        if stamp[s] == epoch:
            keep[i] = False
        else:
            stamp[s] = epoch
            keep[i] = True
    return keep


def mark_last_reference(slots: Array) -> Array:
    """NumPy twin of :func:`mark_last_kernel`."""
    n = len(slots)
    keep = np.zeros(n, dtype=np.bool_)
    _, first_rev = np.unique(slots[::-1], return_index=True)
    keep[n - 1 - first_rev] = True
    return keep


@njit
def mark_first_kernel(slots: Array, stamp: Array, epoch: int) -> Array:
    """``keep[i]`` is True where ``slots[i]`` did not occur earlier."""
    n = slots.shape[0]
    keep = np.empty(n, dtype=np.bool_)
    for i in range(n):
        s = slots[i]
        if stamp[s] == epoch:
            keep[i] = False
        else:
            stamp[s] = epoch
            keep[i] = True
    return keep


def mark_first_reference(slots: Array) -> Array:
    """NumPy twin of :func:`mark_first_kernel`."""
    keep = np.zeros(len(slots), dtype=np.bool_)
    _, first = np.unique(slots, return_index=True)
    keep[first] = True
    return keep


@njit
def group_by_kernel(keys: Array, nkeys: int) -> tuple[Array, Array]:
    """Stable counting sort of small non-negative int keys.

    Returns ``(order, offsets)``: positions of the input grouped by key (input order
    kept within a key) and ``offsets[k]:offsets[k+1]`` bounding key ``k``'s group.
    """
    counts = np.zeros(nkeys + 1, dtype=np.int64)
    for i in range(keys.shape[0]):
        counts[keys[i] + 1] += 1
    for k in range(nkeys):
        counts[k + 1] += counts[k]
    fill = counts[:-1].copy()
    order = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        order[fill[k]] = i
        fill[k] += 1
    return order, counts


def group_by_reference(keys: Array, nkeys: int) -> tuple[Array, Array]:
    """NumPy twin of :func:`group_by_kernel`."""
    order = np.argsort(keys, kind="stable").astype(np.int64)
    counts = np.zeros(nkeys + 1, dtype=np.int64)
    np.add.at(counts, keys.astype(np.int64) + 1, 1)
    return order, np.cumsum(counts)


@njit
def alive_kernel(ids: Array, generation: Array, table: Array, size: int) -> Array:
    """``out[i]``: id ``i`` names a live entity (slot in range, generation matches)."""
    out = np.empty(ids.shape[0], dtype=np.bool_)
    for i in range(ids.shape[0]):
        e = ids[i]
        slot = np.int64(e & np.uint64(0xFFFFFFFF))
        gen = e >> np.uint64(32)
        out[i] = slot < size and generation[slot] == gen and table[slot] >= 0
    return out


def alive_reference(ids: Array, generation: Array, table: Array, size: int) -> Array:
    """NumPy twin of :func:`alive_kernel`."""
    slot = (ids & np.uint64(0xFFFFFFFF)).astype(np.int64)
    ok = slot < size
    safe = np.where(ok, slot, 0)
    out: Array = ok & (generation[safe] == (ids >> np.uint64(32))) & (table[safe] >= 0)
    return out


@njit
def swap_remove_plan_kernel(rows: Array, n: int) -> tuple[Array, Array]:
    """Holes below the new length and the tail rows that fill them, both ascending.

    ``rows`` are distinct rows to remove (any order). O(n) scan, no sort.
    """
    k = rows.shape[0]
    new_n = n - k
    removed = np.zeros(n, dtype=np.bool_)
    for i in range(k):
        removed[rows[i]] = True
    m = 0
    for i in range(k):
        if rows[i] < new_n:
            m += 1
    holes = np.empty(m, dtype=np.int64)
    movers = np.empty(m, dtype=np.int64)
    h = 0
    for r in range(new_n):
        if removed[r]:
            holes[h] = r
            h += 1
    j = 0
    for r in range(new_n, n):
        if not removed[r]:
            movers[j] = r
            j += 1
    return holes, movers


def swap_remove_plan_reference(rows: Array, n: int) -> tuple[Array, Array]:
    """NumPy twin of :func:`swap_remove_plan_kernel`."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    new_n = n - len(rows)
    holes = rows[rows < new_n]
    tail = np.arange(new_n, n, dtype=np.int64)
    movers = tail[~np.isin(tail, rows)]
    return holes, movers


@njit
def place_kernel(
    ids: Array, table_arr: Array, row_arr: Array, table_id: int, rows: Array
) -> None:
    """Record ``ids[i]`` at ``rows[i]`` of ``table_id`` in the entity index."""
    for i in range(ids.shape[0]):
        slot = np.int64(ids[i] & np.uint64(0xFFFFFFFF))
        table_arr[slot] = table_id
        row_arr[slot] = rows[i]


@njit
def place_run_kernel(
    ids: Array, table_arr: Array, row_arr: Array, table_id: int, start: int
) -> None:
    """Record ``ids[i]`` at row ``start + i`` of ``table_id`` (rows appended in a run)."""
    for i in range(ids.shape[0]):
        slot = np.int64(ids[i] & np.uint64(0xFFFFFFFF))
        table_arr[slot] = table_id
        row_arr[slot] = start + i


@njit
def release_kernel(
    ids: Array, generation: Array, table_arr: Array, free: Array, nfree: int
) -> int:
    """Free the slots of live ``ids``: bump generations, push on the free list.

    A slot whose generation would wrap is retired (never reused). ``free`` must
    have room for ``len(ids)`` more entries. Returns the new free-list length.
    """
    for i in range(ids.shape[0]):
        slot = np.int64(ids[i] & np.uint64(0xFFFFFFFF))
        table_arr[slot] = -1
        g = generation[slot]
        if g != np.uint32(0xFFFFFFFF):
            generation[slot] = g + np.uint32(1)
            free[nfree] = slot
            nfree += 1
    return nfree


@njit
def spawn_fill_kernel(
    out: Array,
    generation: Array,
    table_arr: Array,
    row_arr: Array,
    lo: int,
    table_id: int,
    first_row: int,
    place: bool,  # noqa: FBT001 - Numba kernels take positional arguments only
) -> None:
    """Fresh slots ``lo ...``: generation 1, ids into ``out``, optionally placed."""
    for i in range(out.shape[0]):
        slot = lo + i
        generation[slot] = 1
        out[i] = np.uint64(slot) | (np.uint64(1) << np.uint64(32))
        if place:
            table_arr[slot] = table_id
            row_arr[slot] = first_row + i


@njit
def locate_kernel(ids: Array, table_arr: Array, row_arr: Array) -> tuple[Array, Array]:
    """Table id and row of each live id, in one pass over the entity index."""
    n = ids.shape[0]
    tabs = np.empty(n, dtype=np.int32)
    rows = np.empty(n, dtype=np.int64)
    for i in range(n):
        slot = np.int64(ids[i] & np.uint64(0xFFFFFFFF))
        tabs[i] = table_arr[slot]
        rows[i] = row_arr[slot]
    return tabs, rows


@njit
def classify_kernel(
    ids: Array,
    generation: Array,
    table_arr: Array,
    stamp: Array,
    epoch: int,
    size: int,
    keep_last: bool,  # noqa: FBT001 - Numba kernels take positional arguments only
) -> Array:
    """Per id: 0 = live and kept, 1 = not alive, 2 = live but a repeat.

    With ``keep_last`` the last occurrence of a repeated id is kept, else the first.
    One pass: liveness and duplicate detection share the slot's cache lines.
    """
    n = ids.shape[0]
    status = np.empty(n, dtype=np.int8)
    for j in range(n):
        i = n - 1 - j if keep_last else j
        e = ids[i]
        slot = np.int64(e & np.uint64(0xFFFFFFFF))
        if (
            slot < size
            and generation[slot] == (e >> np.uint64(32))
            and table_arr[slot] >= 0
        ):
            if stamp[slot] == epoch:
                status[i] = 2
            else:
                stamp[slot] = epoch
                status[i] = 0
        else:
            status[i] = 1
    return status


def classify_reference(
    ids: Array,
    generation: Array,
    table_arr: Array,
    size: int,
    keep_last: bool,  # noqa: FBT001
) -> Array:
    """NumPy twin of :func:`classify_kernel`."""
    alive = alive_reference(ids, generation, table_arr, size)
    status = np.where(alive, 0, 1).astype(np.int8)
    live = np.flatnonzero(alive)
    keep = (mark_last_reference if keep_last else mark_first_reference)(ids[live])
    status[live[~keep]] = 2
    return status


# Codes of ``check_saved_index``: what is wrong with a saved entity index.
INDEX_OK = 0
INDEX_DUPLICATE_ID = 1
INDEX_STALE_ID = 2
INDEX_BAD_FREE = 3
INDEX_GENERATION_ZERO = 4
INDEX_UNACCOUNTED = 5
_RETIRED = 0xFFFF_FFFF


@njit
def place_saved_ids_kernel(
    ids: Array,
    generation: Array,
    table_arr: Array,
    row_arr: Array,
    table_id: int,
    start: int,
) -> int:
    """Check one saved table's ids against the saved index and record where they go.

    ``table_arr`` holds -1 for every slot not yet placed (ids of tables placed
    before are already recorded). Each id must name a slot of ``generation`` with its
    generation, once; it is recorded at row ``start + i`` of ``table_id``. Returns
    ``INDEX_STALE_ID`` or ``INDEX_DUPLICATE_ID`` at the first failing id, else
    ``INDEX_OK``. With :func:`check_saved_free_kernel`, the checks and codes of
    :func:`check_saved_index_reference`, in one pass over ids and one over slots.
    """
    size = generation.shape[0]
    mask = np.uint64(0xFFFF_FFFF)
    for i in range(ids.shape[0]):
        slot = ids[i] & mask
        if slot >= size or np.uint32(ids[i] >> np.uint64(32)) != generation[slot]:
            return INDEX_STALE_ID
        if table_arr[slot] != -1:
            return INDEX_DUPLICATE_ID
        table_arr[slot] = table_id
        row_arr[slot] = start + i
    return INDEX_OK


@njit
def check_saved_free_kernel(
    free: Array, generation: Array, table_arr: Array, gen_out: Array
) -> int:
    """Check a saved free list and every slot once all ids are placed; copy generations.

    Every free slot must be in range, not live, listed once; no slot may hold
    generation 0; every slot is live, free or retired (generation 0xFFFFFFFF).
    Returns the first failing ``INDEX_*`` code in that order. ``table_arr`` is left
    as :func:`place_saved_ids_kernel` made it (-1: not live); ``gen_out`` receives
    ``generation`` (the owned copy the entity index keeps).
    """
    size = generation.shape[0]
    code = INDEX_OK
    for i in range(free.shape[0]):
        f = free[i]
        if f < 0 or f >= size or table_arr[f] != -1:
            code = INDEX_BAD_FREE
            break
        table_arr[f] = -2  # free (restored to -1 below)
    for s in range(size):
        g = generation[s]
        gen_out[s] = g
        if code == INDEX_OK:
            if g == 0:
                code = INDEX_GENERATION_ZERO
            elif table_arr[s] == -1 and g != _RETIRED:
                code = INDEX_UNACCOUNTED
        if table_arr[s] == -2:
            table_arr[s] = -1
    return code


def empty_index_arrays(size: int) -> tuple[Array, Array, Array]:
    """Uninitialized ``(table, row, generation)`` arrays of an entity index of
    ``size`` slots, as :func:`check_saved_index` fills them."""
    return (
        np.empty(size, dtype=np.int32),
        np.empty(size, dtype=np.int64),
        np.empty(size, dtype=np.uint32),
    )


def check_saved_index(
    runs: list[Array],
    generation: Array,
    free: Array,
    places: list[tuple[int, int]] | None = None,
    out: tuple[Array, Array, Array] | None = None,
    *,
    filled: bool = False,
) -> tuple[int, Array, Array, Array]:
    """Check saved tables' ids (one array per table) against a saved entity index.

    ``places[k]`` is the ``(table id, first row)`` the ``k``-th run goes to (default
    ``(k, 0)``). Returns ``(code, table, row, generation)``: the first failing
    ``INDEX_*`` code and, when it is ``INDEX_OK``, the entity index's arrays for
    those places and an owned copy of ``generation`` (``row`` is only meaningful
    where ``table >= 0``). ``out`` are those three arrays, allocated by the caller
    (any content; ``filled``: the first already holds -1 everywhere). Releases the
    GIL throughout but for the allocations.
    """
    if out is None:
        out = empty_index_arrays(len(generation))
    table_arr, row_arr, gen_out = out
    if not filled:
        table_arr.fill(-1)
    for k, ids in enumerate(runs):
        tid, start = places[k] if places is not None else (k, 0)
        code = place_saved_ids_kernel(ids, generation, table_arr, row_arr, tid, start)
        if code != INDEX_OK:
            return code, table_arr, row_arr, gen_out
    code = check_saved_free_kernel(free, generation, table_arr, gen_out)
    return code, table_arr, row_arr, gen_out


def check_saved_index_reference(ids: Array, generation: Array, free: Array) -> int:
    """Plain twin of :func:`check_saved_index` over all ids (same codes, same order)."""
    size = len(generation)
    slot = (ids & np.uint64(0xFFFF_FFFF)).astype(np.int64)
    gen = (ids >> np.uint64(32)).astype(np.uint32)
    # Walk the ids in order so the first failure wins as in the kernel.
    seen: set[int] = set()
    for s, g in zip(slot.tolist(), gen.tolist(), strict=True):
        if s >= size or g != int(generation[s]):
            return INDEX_STALE_ID
        if s in seen:
            return INDEX_DUPLICATE_ID
        seen.add(s)
    freed: set[int] = set()
    for f in free.tolist():
        if f < 0 or f >= size or f in seen or f in freed:
            return INDEX_BAD_FREE
        freed.add(f)
    for s in range(size):
        if generation[s] == 0:
            return INDEX_GENERATION_ZERO
        if s not in seen and s not in freed and generation[s] != _RETIRED:
            return INDEX_UNACCOUNTED
    return INDEX_OK


@njit
def remap_ids_kernel(ids: Array, old: Array, new: Array) -> tuple[Array, int]:
    """Map ``ids`` through ``old[i] -> new[i]`` by slot; unknown non-null ids become 0.

    ``old`` must be distinct ids whose slots (low 32 bits) are dense enough to index a
    table of ``max slot + 1`` entries (the caller checks; see
    :func:`remap_ids_reference` for the general case). O(len(ids) + len(old)), no sort.
    Returns the mapped ids and how many non-null ids were not found (dangling).
    """
    mask = np.uint64(0xFFFF_FFFF)
    top = np.int64(0)
    for i in range(old.shape[0]):
        s = np.int64(old[i] & mask)
        if s > top:
            top = s
    by_slot = np.zeros(top + 1, dtype=np.int64)  # index into old/new, plus one
    for i in range(old.shape[0]):
        by_slot[np.int64(old[i] & mask)] = i + 1
    out = np.zeros(ids.shape[0], dtype=np.uint64)
    dangling = 0
    for i in range(ids.shape[0]):
        e = ids[i]
        s = np.int64(e & mask)
        j = by_slot[s] - 1 if s <= top else -1
        if j >= 0 and old[j] == e:
            out[i] = new[j]
        elif e != 0:
            dangling += 1
    return out, dangling


def remap_ids_reference(ids: Array, old: Array, new: Array) -> tuple[Array, int]:
    """NumPy twin of :func:`remap_ids_kernel` by sorting (any ``old``, sparse too)."""
    if not len(ids):
        return ids.astype(np.uint64), 0
    order = np.argsort(old, kind="stable")
    sorted_old = old[order]
    out = np.zeros(len(ids), dtype=np.uint64)
    if not len(sorted_old):
        return out, int(np.count_nonzero(ids != 0))
    pos = np.searchsorted(sorted_old, ids)
    pos_c = np.minimum(pos, len(sorted_old) - 1)
    found = (pos < len(sorted_old)) & (sorted_old[pos_c] == ids)
    out[found] = new[order[pos_c[found]]]
    return out, int(np.count_nonzero(~found & (ids != 0)))
