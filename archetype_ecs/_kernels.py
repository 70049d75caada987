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
