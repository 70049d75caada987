"""Numba kernels of the Boltzmann wealth and Sugarscape models, with plain-Python twins.

Every random draw comes from the counter-based streams of :mod:`archetype_ecs.random`
(a pure function of seed, stream, key, tick and counter), so a ``_reference`` twin
written as an ordinary Python loop consumes exactly the same numbers and the tests
can compare kernel and twin bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archetype_ecs._jit import njit

# The stream's building blocks, so a loop folds the keys it shares (seed, stream, tick,
# counter) once instead of once per draw: LLVM does not hoist them out of the loop,
# and hoisting by hand makes the Boltzmann step ~2x faster. `draw_below` composes
# them exactly as `integers(0, span, ...)` does; a test holds the two equal.
from archetype_ecs._random_kernels import _absorb, _lemire, _prefix, _word
from archetype_ecs.random import integers, random_u64

__all__ = [
    "exchange_sequential_kernel",
    "exchange_sequential_reference",
    "exchange_simultaneous_kernel",
    "exchange_simultaneous_reference",
    "forage_kernel",
    "forage_reference",
    "COMPILED",
    "draw_below",
    "gini",
    "shuffle_kernel",
]

Array = np.ndarray[Any, Any]

# Draw counters: one quantity per counter, so no two quantities share numbers.
SHUFFLE = 0  # Fisher-Yates swap partner of position i (Boltzmann)
RECIPIENT = 1  # the agent a giver hands one unit to (Boltzmann)
ORDER = 0  # activation sort key of an entity (Sugarscape)
# Sugarscape tie-breaks use counter = the size of the tie group so far (>= 2).

# The four principal lattice directions, scanned in this order (E, W, N, S).
DX = (1, -1, 0, 0)
DY = (0, 0, 1, -1)


@njit
def draw_below(prefix: Any, key: Any, span: Any) -> Any:
    """``integers(0, span, seed, stream, key, tick, counter)`` given the folded prefix.

    ``prefix`` is ``_prefix(seed, stream, tick, counter)`` (uint64), computed once
    per loop; the cast keeps it uint64 when a caller hands it over as a Python int.
    """
    return np.int64(_lemire(_absorb(np.uint64(prefix), key), np.uint64(span)))


@njit
def shuffle_kernel(order: Array, seed: Any, stream: Any, tick: Any) -> None:
    """Fill ``order`` with a random permutation of ``0..n-1`` (Fisher-Yates).

    Position ``i`` (from ``n-1`` down to 1) swaps with
    ``integers(0, i + 1, seed, stream, i, tick, SHUFFLE)``: the loop of Python's
    ``random.shuffle`` (which Mesa's ``shuffle_do`` uses) on counter-based draws.
    """
    n = order.shape[0]
    for i in range(n):
        order[i] = i
    prefix = _prefix(seed, stream, tick, SHUFFLE)
    for i in range(n - 1, 0, -1):
        j = draw_below(prefix, i, i + 1)
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp


COMPILED: bool = hasattr(shuffle_kernel, "py_func")
"""False under ``NUMBA_DISABLE_JIT=1``, where kernels run on NumPy scalars and the
hash's intended uint64 wrap-around warns: callers then wrap calls in ``np.errstate``
(which costs microseconds, so compiled calls skip it)."""


@njit
def exchange_sequential_kernel(
    wealth: Array, order: Array, seed: Any, stream: Any, tick: Any
) -> int:
    """One Boltzmann step with Mesa's semantics; returns the number of transfers.

    Agents act one at a time in a random order (:func:`shuffle_kernel`); an agent
    with wealth > 0 gives one unit to ``integers(0, n, seed, stream, a, tick,
    RECIPIENT)``, a uniformly random agent that may be itself (Mesa's
    ``random.choice(agents)``). Later agents see earlier transfers.

    Notes
    -----
    O(n), serial by nature: each decision reads the wealth left by the previous one.
    ``order`` is scratch space of length n (int64).
    """
    n = wealth.shape[0]
    shuffle_kernel(order, seed, stream, tick)
    prefix = _prefix(seed, stream, tick, RECIPIENT)
    transfers = 0
    for k in range(n):
        a = order[k]
        if wealth[a] > 0:
            b = draw_below(prefix, a, n)
            wealth[a] -= 1
            wealth[b] += 1
            transfers += 1
    return transfers


@njit
def exchange_simultaneous_kernel(
    wealth: Array, incoming: Array, seed: Any, stream: Any, tick: Any
) -> int:
    """One Boltzmann step where every agent decides from the start-of-step wealth.

    Each agent with wealth > 0 gives one unit to the same recipient
    :func:`exchange_sequential_kernel` would draw for it; the units received are
    summed in ``incoming`` (scratch, length n) and added at the end, so the result
    does not depend on the order agents are visited in. Returns the transfers.
    """
    n = wealth.shape[0]
    for a in range(n):
        incoming[a] = 0
    prefix = _prefix(seed, stream, tick, RECIPIENT)
    transfers = 0
    for a in range(n):
        if wealth[a] > 0:  # only a's own decrement can have touched wealth[a]
            b = draw_below(prefix, a, n)
            incoming[b] += 1
            wealth[a] -= 1
            transfers += 1
    for a in range(n):
        wealth[a] += incoming[a]
    return transfers


def exchange_sequential_reference(
    wealth: list[int], seed: int, stream: int, tick: int
) -> int:
    """Plain-Python twin of :func:`exchange_sequential_kernel` (updates ``wealth``)."""
    n = len(wealth)
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int(integers(0, i + 1, seed, stream, i, tick, SHUFFLE))
        order[i], order[j] = order[j], order[i]
    transfers = 0
    for a in order:
        if wealth[a] > 0:
            b = int(integers(0, n, seed, stream, a, tick, RECIPIENT))
            wealth[a] -= 1
            wealth[b] += 1
            transfers += 1
    return transfers


def exchange_simultaneous_reference(
    wealth: list[int], seed: int, stream: int, tick: int
) -> int:
    """Plain-Python twin of :func:`exchange_simultaneous_kernel` (updates ``wealth``)."""
    n = len(wealth)
    start = list(wealth)
    transfers = 0
    for a in range(n):
        if start[a] > 0:
            b = int(integers(0, n, seed, stream, a, tick, RECIPIENT))
            wealth[a] -= 1
            wealth[b] += 1
            transfers += 1
    return transfers


def gini(values: Array) -> float:
    """Gini coefficient of non-negative integers in O(n + max) (no sort).

    ``(2 * sum(i * x_(i)) / (n * sum(x))) - (n + 1) / n`` over the sorted values
    ``x_(1) <= ... <= x_(n)``, computed from value counts: the values equal to
    ``v`` fill sorted positions ``s + 1 .. s + c``. Returns 0.0 for an empty or
    all-zero input.

    Examples
    --------
    >>> gini(np.array([1, 1, 1, 1]))
    0.0
    >>> gini(np.array([0, 0, 0, 4]))
    0.75
    """
    x = np.asarray(values)
    n = int(x.shape[0])
    if n == 0:
        return 0.0
    total = float(x.sum(dtype=np.float64))
    if total <= 0.0:
        return 0.0
    counts = np.bincount(x.astype(np.int64, copy=False)).astype(np.float64)
    before = np.cumsum(counts) - counts  # sorted positions taken by smaller values
    rank_sum = counts * before + counts * (counts + 1.0) / 2.0
    weighted = float(np.dot(np.arange(counts.shape[0], dtype=np.float64), rank_sum))
    return 2.0 * weighted / (n * total) - (n + 1.0) / n


@njit
def _occupy(x: Array, y: Array, occupant: Array) -> int:
    """Fill the occupancy grid; -1 - a for the first agent a on a taken cell, else 0."""
    occupant[:, :] = -1
    for a in range(x.shape[0]):
        if occupant[y[a], x[a]] != -1:
            return -1 - a
        occupant[y[a], x[a]] = a
    return 0


@njit
def _growback(level: Array, capacity: Array) -> None:
    """G-infinity: every cell back to capacity."""
    h, w = capacity.shape
    for r in range(h):
        for c in range(w):
            level[r, c] = capacity[r, c]


@njit
def _activation_order(
    entities: Array, order: Array, keys: Array, seed: Any, stream: Any, tick: Any
) -> None:
    """Rows sorted by a random key of their entity id (stable on ties)."""
    prefix = _prefix(seed, stream, tick, ORDER)
    for a in range(entities.shape[0]):
        keys[a] = _word(_absorb(prefix, entities[a]), 0)  # random_u64(..., ORDER)
    order[:] = np.argsort(keys, kind="mergesort")


@njit
def forage_kernel(
    entities: Array,
    x: Array,
    y: Array,
    sugar: Array,
    metabolism: Array,
    vision: Array,
    dead: Array,
    order: Array,
    keys: Array,
    level: Array,
    capacity: Array,
    occupant: Array,
    torus: bool,  # noqa: FBT001 # Numba kernels take positional arguments
    seed: Any,
    stream: Any,
    tick: Any,
) -> int:
    """One Sugarscape step (rules G-infinity and M); returns the number of deaths.

    Returns ``-1 - a`` instead, having changed nothing but ``occupant``, when
    agent row ``a`` shares its cell with an earlier row (one agent per cell).

    Every cell regrows to capacity; then agents act one at a time, in the order of
    a random key of their entity id: each looks along the four lattice directions
    as far as its vision, picks the unoccupied cell (its own counts) with the most
    sugar, the nearest among equals, and a seeded random one among equally near
    equals (reservoir draws keyed by the entity, counter = tie-group size); moves
    there, harvests all its sugar, burns its metabolism, and dies (``dead[a]``,
    the cell freed at once) when its sugar is <= 0.

    Notes
    -----
    O(cells + n log n + sum of visions). Scratch arrays: ``order`` (int64) and
    ``keys`` (uint64) of length n; ``occupant`` (int64, like ``capacity``).
    """
    h, w = capacity.shape
    clash: int = _occupy(x, y, occupant)
    if clash:  # refused before anything but the scratch grid changed
        return clash
    _growback(level, capacity)
    n = x.shape[0]
    for a in range(n):
        dead[a] = False
    _activation_order(entities, order, keys, seed, stream, tick)
    deaths = 0
    for k in range(n):
        a = order[k]
        bx, by = x[a], y[a]
        best = level[by, bx]
        best_d = 0
        ties = 1
        for d in range(1, vision[a] + 1):
            for i in range(4):
                cx = x[a] + DX[i] * d
                cy = y[a] + DY[i] * d
                if torus:
                    cx %= w
                    cy %= h
                elif cx < 0 or cx >= w or cy < 0 or cy >= h:
                    continue
                if occupant[cy, cx] != -1:
                    continue
                s = level[cy, cx]
                if s > best:
                    best, best_d, bx, by, ties = s, d, cx, cy, 1
                elif s == best and d == best_d:
                    ties += 1
                    if integers(0, ties, seed, stream, entities[a], tick, ties) == 0:
                        bx, by = cx, cy
        occupant[y[a], x[a]] = -1
        x[a] = bx
        y[a] = by
        sugar[a] += level[by, bx] - metabolism[a]
        level[by, bx] = 0
        if sugar[a] <= 0:
            dead[a] = True
            deaths += 1
        else:
            occupant[by, bx] = a
    return deaths


def forage_reference(
    agents: dict[int, list[int]],
    level: list[list[int]],
    capacity: list[list[int]],
    *,
    torus: bool,
    seed: int,
    stream: int,
    tick: int,
) -> list[int]:
    """Plain-Python twin of :func:`forage_kernel` over ``{entity: [x, y, sugar,
    metabolism, vision]}``; updates ``agents`` and ``level``, returns the dead ids
    (removed from ``agents``)."""
    h, w = len(capacity), len(capacity[0])
    for r in range(h):
        level[r][:] = capacity[r]
    occupied = {(a[0], a[1]) for a in agents.values()}
    ids = list(agents)  # any order: the key decides
    ids.sort(key=lambda e: int(random_u64(seed, stream, e, tick, ORDER)))
    dead = []
    for e in ids:
        ax, ay, _, met, vis = agents[e]
        bx, by, best, best_d, ties = ax, ay, level[ay][ax], 0, 1
        for d in range(1, vis + 1):
            for dx, dy in zip(DX, DY, strict=True):
                cx, cy = ax + dx * d, ay + dy * d
                if torus:
                    cx, cy = cx % w, cy % h
                elif not (0 <= cx < w and 0 <= cy < h):
                    continue
                if (cx, cy) in occupied:
                    continue
                s = level[cy][cx]
                if s > best:
                    best, best_d, bx, by, ties = s, d, cx, cy, 1
                elif s == best and d == best_d:
                    ties += 1
                    if int(integers(0, ties, seed, stream, e, tick, ties)) == 0:
                        bx, by = cx, cy
        occupied.discard((ax, ay))
        agent = agents[e]
        agent[0], agent[1] = bx, by
        agent[2] += level[by][bx] - met
        level[by][bx] = 0
        if agent[2] <= 0:
            dead.append(e)
            del agents[e]
        else:
            occupied.add((bx, by))
    return dead
