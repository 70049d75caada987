"""Numba kernels of the uniform spatial grid: build (counting sort) and radius queries.

A grid is plain arrays (see :class:`archetype_ecs.physics.grid.Grid`): ``geom`` (eight
float64 numbers: origin, inverse cell sizes, cell counts, periods),
``cell_start`` / ``cell_count`` (one entry per cell), ``order`` (point indices sorted
by cell, ascending index within a cell) and ``sx`` / ``sy`` (the points' coordinates
in that sorted order). Every function here takes those arrays, so user kernels can
call them too. The ``*_reference`` twins are the brute-force definitions for tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archetype_ecs._jit import njit, prange

__all__ = [
    "PARALLEL_MIN",
    "GEOM_IX",
    "GEOM_IY",
    "GEOM_NX",
    "GEOM_NY",
    "GEOM_OX",
    "GEOM_OY",
    "GEOM_PX",
    "GEOM_PY",
    "build_grid_kernel",
    "cell_id",
    "cell_range",
    "cell_x",
    "cell_y",
    "count_radius",
    "count_radius_batch_kernel",
    "count_radius_batch_serial",
    "min_image",
    "min_image_reference",
    "neighbors_batch_kernel",
    "neighbors_batch_serial",
    "neighbors_reference",
    "pairs_kernel",
    "pairs_serial",
    "pairs_reference",
    "query_radius",
]

Array = np.ndarray[Any, Any]

# Layout of the ``geom`` array.
GEOM_OX = 0  # origin x (left edge of cell column 0)
GEOM_OY = 1  # origin y (bottom edge of cell row 0)
GEOM_IX = 2  # 1 / cell width
GEOM_IY = 3  # 1 / cell height
GEOM_NX = 4  # cell columns
GEOM_NY = 5  # cell rows
GEOM_PX = 6  # period along x (0: not periodic)
GEOM_PY = 7  # period along y (0: not periodic)

# Relative widening of a query's cell range, so rounding in the distance test can
# never accept a point that lies in a cell the scan skipped (see cell_range).
_MARGIN = 1e-12


@njit
def min_image(d: float, period: float) -> float:
    """The shortest signed offset equivalent to ``d`` on a circle of ``period``.

    ``d`` itself when ``-period / 2 <= d < period / 2`` (the common case: two
    compares), else ``d - period * floor(d / period + 0.5)``. ``period <= 0`` means
    not periodic: ``d`` is returned unchanged.
    """
    if period > 0.0:
        half = 0.5 * period
        if d >= half or d < -half:
            return float(d - period * np.floor(d / period + 0.5))
    return d


@njit
def _axis_cell(t: float, inv: float, n: int, period: float) -> int:
    """Cell index along one axis of offset ``t`` from the origin (wrapped or clamped)."""
    if period > 0.0:
        t = t - period * np.floor(t / period)
    f = np.floor(t * inv)
    if f < 0.0:  # also catches -inf; compare as floats before any int conversion
        return 0
    if f >= n:
        return n - 1
    return int(f)


@njit
def cell_x(geom: Array, x: float) -> int:
    """Column of the cell holding x-coordinate ``x``."""
    return int(
        _axis_cell(x - geom[GEOM_OX], geom[GEOM_IX], int(geom[GEOM_NX]), geom[GEOM_PX])
    )


@njit
def cell_y(geom: Array, y: float) -> int:
    """Row of the cell holding y-coordinate ``y``."""
    return int(
        _axis_cell(y - geom[GEOM_OY], geom[GEOM_IY], int(geom[GEOM_NY]), geom[GEOM_PY])
    )


@njit
def _axis_range(
    q: float, r: float, origin: float, inv: float, n: int, period: float
) -> tuple[int, int]:
    """Cells ``[c0, c1]`` (unwrapped) a query at ``q`` with radius ``r`` must scan."""
    # Widen [q - r, q + r] by a relative margin far above the rounding error of the
    # distance test, so every point the test accepts lies in a scanned cell (the
    # cell function is monotone, so comparing coordinates is enough).
    m = _MARGIN * (abs(q) + r + abs(origin) + period)
    t = q - origin
    if period > 0.0:
        t = t - period * np.floor(t / period)
    f0 = np.floor((t - r - m) * inv)
    f1 = np.floor((t + r + m) * inv)
    if period > 0.0:
        if f1 - f0 + 1.0 >= n:
            return 0, n - 1
        return int(f0), int(f1)
    # Clamp like _axis_cell clamps points (points outside the grid sit in its border
    # cells), comparing as floats first so a huge radius cannot overflow int().
    c0 = 0 if f0 < 0.0 else (n - 1 if f0 >= n else int(f0))
    c1 = 0 if f1 < 0.0 else (n - 1 if f1 >= n else int(f1))
    return c0, c1


@njit
def cell_range(
    geom: Array, qx: float, qy: float, r: float
) -> tuple[int, int, int, int]:
    """Cells to scan for a radius-``r`` query at ``(qx, qy)``: ``(cx0, cx1, cy0, cy1)``.

    Loop ``cy`` over ``cy0..cy1`` and ``cx`` over ``cx0..cx1`` (inclusive) and take
    :func:`cell_id` of each: on a periodic axis the bounds are unwrapped (they may be
    negative or past the last cell) and ``cell_id`` wraps them; every cell is visited
    at most once.
    """
    cx0, cx1 = _axis_range(
        qx, r, geom[GEOM_OX], geom[GEOM_IX], int(geom[GEOM_NX]), geom[GEOM_PX]
    )
    cy0, cy1 = _axis_range(
        qy, r, geom[GEOM_OY], geom[GEOM_IY], int(geom[GEOM_NY]), geom[GEOM_PY]
    )
    return cx0, cx1, cy0, cy1


@njit
def cell_id(geom: Array, cx: int, cy: int) -> int:
    """Flat cell index (row-major) of column ``cx``, row ``cy``, wrapped if periodic."""
    nx = int(geom[GEOM_NX])
    ny = int(geom[GEOM_NY])
    if cx < 0 or cx >= nx:  # only periodic axes hand out-of-range cells
        cx %= nx
    if cy < 0 or cy >= ny:
        cy %= ny
    return cy * nx + cx


@njit
def build_grid_kernel(
    geom: Array,
    x: Array,
    y: Array,
    cell: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
) -> None:
    """Counting sort of the points by cell, filling every output array in place.

    ``cell[i]`` gets point ``i``'s cell; ``order`` lists point indices cell by cell
    (ascending index within a cell: the sort is stable); ``sx`` / ``sy`` are the
    coordinates in that order. O(points + cells), deterministic.
    """
    n = x.shape[0]
    nx = int(geom[GEOM_NX])
    cell_count[:] = 0
    for i in range(n):
        c = cell_y(geom, y[i]) * nx + cell_x(geom, x[i])
        cell[i] = c
        cell_count[c] += 1
    acc = 0
    for c in range(cell_count.shape[0]):
        cell_start[c] = acc
        acc += cell_count[c]
    fill = cell_start.copy()
    for i in range(n):
        c = cell[i]
        k = fill[c]
        order[k] = i
        sx[k] = x[i]
        sy[k] = y[i]
        fill[c] = k + 1


@njit
def query_radius(
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    qx: float,
    qy: float,
    r: float,
    out: Array,
) -> int:
    """Indices of the points within distance ``r`` of ``(qx, qy)``, into ``out``.

    A point is a neighbor when ``dx*dx + dy*dy <= r*r`` (``dx``, ``dy`` taken
    through :func:`min_image` on periodic axes), the query point itself included if
    it is in the grid. Returns the number of neighbors; only the first ``len(out)``
    are written, so call again with a bigger ``out`` if the count exceeds it.
    Neighbors come cell by cell, ascending index within a cell.
    """
    r2 = r * r
    px = geom[GEOM_PX]
    py = geom[GEOM_PY]
    cap = out.shape[0]
    cx0, cx1, cy0, cy1 = cell_range(geom, qx, qy, r)
    k = 0
    for cy in range(cy0, cy1 + 1):
        for cx in range(cx0, cx1 + 1):
            c = cell_id(geom, cx, cy)
            s = cell_start[c]
            for slot in range(s, s + cell_count[c]):
                dx = min_image(sx[slot] - qx, px)
                dy = min_image(sy[slot] - qy, py)
                if dx * dx + dy * dy <= r2:
                    if k < cap:
                        out[k] = order[slot]
                    k += 1
    return k


@njit
def count_radius(
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    qx: float,
    qy: float,
    r: float,
) -> int:
    """The number of points within distance ``r`` of ``(qx, qy)`` (see
    :func:`query_radius`)."""
    r2 = r * r
    px = geom[GEOM_PX]
    py = geom[GEOM_PY]
    cx0, cx1, cy0, cy1 = cell_range(geom, qx, qy, r)
    k = 0
    for cy in range(cy0, cy1 + 1):
        for cx in range(cx0, cx1 + 1):
            c = cell_id(geom, cx, cy)
            s = cell_start[c]
            for slot in range(s, s + cell_count[c]):
                dx = min_image(sx[slot] - qx, px)
                dy = min_image(sy[slot] - qy, py)
                if dx * dx + dy * dy <= r2:
                    k += 1
    return k


def _count_radius_batch_kernel(
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    qx: Array,
    qy: Array,
    perm: Array,
    r: float,
    counts: Array,
) -> None:
    """``counts[q]`` = neighbors within ``r`` of query point ``q`` (parallel).

    Queries run in the order ``perm`` (a permutation of the query indices); the
    grid's own ``order`` makes neighboring queries touch the same cells.
    """
    for k in prange(qx.shape[0]):
        q = perm[k]
        counts[q] = count_radius(
            geom, cell_start, cell_count, order, sx, sy, qx[q], qy[q], r
        )


def _neighbors_batch_kernel(
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    qx: Array,
    qy: Array,
    perm: Array,
    r: float,
    sort: bool,  # noqa: FBT001 # kernels take positional arguments only
) -> tuple[Array, Array]:
    """Neighbor lists of many query points as CSR ``(offsets, indices)``.

    The neighbors of query ``q`` are ``indices[offsets[q]:offsets[q + 1]]``,
    ascending if ``sort``. Two passes (count, fill), parallel over queries; each
    query writes only its own segment, so the result does not depend on threads.
    """
    m = qx.shape[0]
    counts = np.empty(m, dtype=np.int64)
    for k in prange(m):
        q = perm[k]
        counts[q] = count_radius(
            geom, cell_start, cell_count, order, sx, sy, qx[q], qy[q], r
        )
    offsets = np.zeros(m + 1, dtype=np.int64)
    for q in range(m):
        offsets[q + 1] = offsets[q] + counts[q]
    indices = np.empty(offsets[m], dtype=np.int64)
    for k in prange(m):
        q = perm[k]
        seg = indices[offsets[q] : offsets[q + 1]]
        query_radius(geom, cell_start, cell_count, order, sx, sy, qx[q], qy[q], r, seg)
        if sort:
            _insertion_sort(seg)
    return offsets, indices


@njit
def _count_pairs_of(
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    i: int,
    qx: float,
    qy: float,
    r: float,
    out: Array,
    fill: bool,  # noqa: FBT001 # a kernel flag, not an API argument
) -> int:
    """Points ``j > i`` within ``r`` of point ``i`` (written to ``out`` if ``fill``)."""
    r2 = r * r
    px = geom[GEOM_PX]
    py = geom[GEOM_PY]
    cx0, cx1, cy0, cy1 = cell_range(geom, qx, qy, r)
    k = 0
    for cy in range(cy0, cy1 + 1):
        for cx in range(cx0, cx1 + 1):
            c = cell_id(geom, cx, cy)
            s = cell_start[c]
            if not fill:  # branch-free, so LLVM can vectorize the count
                for slot in range(s, s + cell_count[c]):
                    dx = min_image(sx[slot] - qx, px)
                    dy = min_image(sy[slot] - qy, py)
                    k += (dx * dx + dy * dy <= r2) & (order[slot] > i)
                continue
            # Branch-free store: write every candidate, advance only on a hit, so
            # ``out`` needs one slot more than the count (see _pairs_kernel).
            for slot in range(s, s + cell_count[c]):
                j = order[slot]
                dx = min_image(sx[slot] - qx, px)
                dy = min_image(sy[slot] - qy, py)
                out[k] = j
                k += (dx * dx + dy * dy <= r2) & (j > i)
    return k


def _pairs_kernel(
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    x: Array,
    y: Array,
    r: float,
) -> tuple[Array, Array]:
    """All pairs ``(i, j)``, ``i < j``, of grid points within distance ``r``.

    ``x`` / ``y`` are the points in their original order (the grid was built from
    them). Pairs come sorted by ``i`` then ``j``: a canonical order that does not
    depend on the cell size, the grid's origin or the thread count.
    """
    n = x.shape[0]
    counts = np.empty(n, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    # Walk points in cell order (cache-friendly); each i still owns its segment.
    for k in prange(n):
        i = order[k]
        counts[i] = _count_pairs_of(
            geom,
            cell_start,
            cell_count,
            order,
            sx,
            sy,
            i,
            sx[k],
            sy[k],
            r,
            empty,
            False,
        )
    offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        offsets[i + 1] = offsets[i] + counts[i]
    total = offsets[n]
    # Segment i gets one spare slot (at offsets[i] + i) for the branch-free store.
    padded = np.empty(total + n, dtype=np.int64)
    for k in prange(n):
        i = order[k]
        a = offsets[i] + i
        seg = padded[a : a + counts[i] + 1]
        _count_pairs_of(
            geom, cell_start, cell_count, order, sx, sy, i, sx[k], sy[k], r, seg, True
        )
    pi = np.empty(total, dtype=np.int64)
    pj = np.empty(total, dtype=np.int64)
    for i in prange(n):
        a = offsets[i]
        b = offsets[i + 1]
        for s in range(a, b):
            pj[s] = padded[s + i]
            pi[s] = i
        _insertion_sort(pj[a:b])
    return pi, pj


@njit
def _insertion_sort(a: Array) -> None:
    """Sort a short int array in place (neighbor lists are a few entries long;
    ``ndarray.sort`` costs far more per call at that size)."""
    for k in range(1, a.shape[0]):
        v = a[k]
        m = k - 1
        while m >= 0 and a[m] > v:
            a[m + 1] = a[m]
            m -= 1
        a[m + 1] = v


# Parallel kernels (prange over queries / points; each writes only its own outputs,
# so they return the same arrays on any number of threads), and serial builds of the
# same code for small inputs, where starting Numba's threads costs more than it saves.
PARALLEL_MIN = 20_000
count_radius_batch_kernel = njit(_count_radius_batch_kernel, parallel=True)
neighbors_batch_kernel = njit(_neighbors_batch_kernel, parallel=True)
pairs_kernel = njit(_pairs_kernel, parallel=True)
count_radius_batch_serial = njit(_count_radius_batch_kernel)
neighbors_batch_serial = njit(_neighbors_batch_kernel)
pairs_serial = njit(_pairs_kernel)


def min_image_reference(d: Array, period: float) -> Array:
    """NumPy twin of :func:`min_image` (same float64 operations)."""
    if period > 0.0:
        half = 0.5 * period
        far = (d >= half) | (d < -half)
        return np.where(far, d - period * np.floor(d / period + 0.5), d)
    return d


def neighbors_reference(
    x: Array,
    y: Array,
    qx: float,
    qy: float,
    r: float,
    period_x: float = 0.0,
    period_y: float = 0.0,
) -> Array:
    """Brute force: ascending indices ``j`` with ``|p_j - q| <= r`` (O(n))."""
    dx = min_image_reference(np.asarray(x, dtype=np.float64) - qx, period_x)
    dy = min_image_reference(np.asarray(y, dtype=np.float64) - qy, period_y)
    return np.flatnonzero(dx * dx + dy * dy <= r * r).astype(np.int64)


def pairs_reference(
    x: Array, y: Array, r: float, period_x: float = 0.0, period_y: float = 0.0
) -> tuple[Array, Array]:
    """Brute force: all ``(i, j)``, ``i < j``, within ``r``, sorted (O(n^2))."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out_i: list[Array] = []
    out_j: list[Array] = []
    for i in range(x.shape[0]):  # reference implementation: a loop is fine here
        js = neighbors_reference(x, y, float(x[i]), float(y[i]), r, period_x, period_y)
        js = js[js > i]
        out_i.append(np.full(js.shape[0], i, dtype=np.int64))
        out_j.append(js)
    if not out_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(out_i), np.concatenate(out_j)
