"""The uniform spatial grid: build it from points, query neighbors within a radius.

:func:`build_grid` sorts points into square cells with a counting sort in Numba and
returns a :class:`Grid`, a bundle of plain arrays. Query it from Python
(:meth:`Grid.neighbors`, :meth:`Grid.neighbors_batch`, :meth:`Grid.pairs`) or pass
``grid.arrays()`` to your own ``@njit`` kernel and call :func:`query_radius` /
:func:`count_radius` there, or loop over cells yourself with :func:`cell_range`,
:func:`cell_id` and :func:`min_image`. Axes may be periodic (a torus): distances are
then measured to the nearest image. See ``docs/physics.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from archetype_ecs.physics._grid_kernels import (
    GEOM_IX,
    GEOM_IY,
    GEOM_NX,
    GEOM_NY,
    GEOM_OX,
    GEOM_OY,
    GEOM_PX,
    GEOM_PY,
    PARALLEL_MIN,
    build_grid_kernel,
    cell_id,
    cell_range,
    cell_x,
    cell_y,
    count_radius,
    count_radius_batch_kernel,
    count_radius_batch_serial,
    min_image,
    min_image_reference,
    neighbors_batch_kernel,
    neighbors_batch_serial,
    neighbors_reference,
    pairs_kernel,
    pairs_reference,
    pairs_serial,
    query_radius,
)
from archetype_ecs.physics.errors import GridError

__all__ = [
    "Grid",
    "build_grid",
    "cell_id",
    "cell_range",
    "cell_x",
    "cell_y",
    "count_radius",
    "min_image",
    "min_image_reference",
    "neighbors_reference",
    "pairs_reference",
    "query_radius",
]

Array = np.ndarray[Any, Any]

MIN_MAX_CELLS = 4096


@dataclass(frozen=True, eq=False)
class Grid:
    """Points sorted into square cells: plain arrays that Numba kernels take as is.

    Attributes
    ----------
    geom
        float64[8]: origin x, origin y, 1 / cell width, 1 / cell height, columns,
        rows, period x, period y (0 = not periodic). Indices are the ``GEOM_*`` constants.
    cell_start, cell_count
        int64 per cell (row-major, ``cell = row * columns + column``): the points of
        cell ``c`` sit at sorted slots ``cell_start[c] : cell_start[c] + cell_count[c]``.
    order
        int64 per point: ``order[slot]`` is the index (into the arrays the grid was
        built from) of the point in sorted slot ``slot``; ascending within a cell.
    sx, sy
        float64 per point: coordinates in sorted order (``sx[slot] = x[order[slot]]``),
        contiguous per cell for cache-friendly scans.
    cell
        int64 per point: the cell of point ``i`` (original order).
    x, y
        float64 per point: the coordinates in original order.
    """

    geom: Array
    cell_start: Array
    cell_count: Array
    order: Array
    sx: Array
    sy: Array
    cell: Array
    x: Array
    y: Array

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.order.shape[0])

    @property
    def cell_size(self) -> tuple[float, float]:
        """``(width, height)`` of a cell: at least the requested size (periodic axes
        tile their period exactly; ``max_cells`` may enlarge cells)."""
        return 1.0 / float(self.geom[GEOM_IX]), 1.0 / float(self.geom[GEOM_IY])

    @property
    def shape(self) -> tuple[int, int]:
        """``(columns, rows)`` of cells."""
        return int(self.geom[GEOM_NX]), int(self.geom[GEOM_NY])

    @property
    def origin(self) -> tuple[float, float]:
        """Lower-left corner of cell ``(0, 0)``."""
        return float(self.geom[GEOM_OX]), float(self.geom[GEOM_OY])

    @property
    def periods(self) -> tuple[float, float]:
        """Periods along x and y (0.0 where the axis is not periodic)."""
        return float(self.geom[GEOM_PX]), float(self.geom[GEOM_PY])

    def arrays(self) -> tuple[Array, Array, Array, Array, Array, Array]:
        """``(geom, cell_start, cell_count, order, sx, sy)``: the arguments every grid
        function takes first, in that order (splat them into your kernel call)."""
        return (
            self.geom,
            self.cell_start,
            self.cell_count,
            self.order,
            self.sx,
            self.sy,
        )

    def neighbors(self, qx: float, qy: float, r: float) -> Array:
        """Ascending indices of the points within distance ``r`` of ``(qx, qy)``.

        Raises
        ------
        GridError
            When ``r`` is negative or not finite, or the query point is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> g = build_grid(np.array([0.0, 1.0, 5.0]), np.zeros(3), cell_size=1.0)
        >>> g.neighbors(0.2, 0.0, 1.0).tolist()
        [0, 1]
        """
        r = _check_radius(r)
        if not (math.isfinite(qx) and math.isfinite(qy)):
            raise GridError(
                f"grid query point ({qx}, {qy}) is not finite; pass real coordinates"
            )
        out = np.empty(16, dtype=np.int64)
        k = query_radius(*self.arrays(), float(qx), float(qy), r, out)
        if k > out.shape[0]:
            out = np.empty(k, dtype=np.int64)
            query_radius(*self.arrays(), float(qx), float(qy), r, out)
        res = out[:k]
        res.sort()
        return res

    def neighbors_batch(
        self,
        r: float,
        qx: Array | None = None,
        qy: Array | None = None,
        *,
        sort: bool = True,
    ) -> tuple[Array, Array]:
        """Neighbor lists of many points at once, as CSR ``(offsets, indices)``.

        Parameters
        ----------
        r
            Query radius (a point at distance exactly ``r`` is a neighbor).
        qx, qy
            Query points; default: the grid's own points (each is its own neighbor).
        sort
            Sort each list ascending (canonical); ``False`` is faster.

        Returns
        -------
        tuple of numpy.ndarray
            The neighbors of query ``q`` are ``indices[offsets[q]:offsets[q+1]]``.

        Raises
        ------
        GridError
            Bad radius, query arrays of different lengths or with non-finite values.
        """
        r = _check_radius(r)
        qx, qy, perm = self._queries(qx, qy)
        big = qx.shape[0] >= PARALLEL_MIN
        kernel = neighbors_batch_kernel if big else neighbors_batch_serial
        offsets, indices = kernel(*self.arrays(), qx, qy, perm, r, sort)
        return offsets, indices

    def count_batch(
        self, r: float, qx: Array | None = None, qy: Array | None = None
    ) -> Array:
        """Number of points within ``r`` of each query point (default: the grid's
        points). Same rules as :meth:`neighbors_batch`."""
        r = _check_radius(r)
        qx, qy, perm = self._queries(qx, qy)
        counts = np.empty(qx.shape[0], dtype=np.int64)
        big = qx.shape[0] >= PARALLEL_MIN
        kernel = count_radius_batch_kernel if big else count_radius_batch_serial
        kernel(*self.arrays(), qx, qy, perm, r, counts)
        return counts

    def pairs(self, r: float) -> tuple[Array, Array]:
        """All pairs ``(i, j)`` with ``i < j`` of grid points within distance ``r``.

        Returns
        -------
        tuple of numpy.ndarray
            int64 arrays ``i`` and ``j``, sorted by ``i`` then ``j`` (canonical: the
            same whatever the cell size or thread count).

        Examples
        --------
        >>> import numpy as np
        >>> g = build_grid(np.array([0.0, 1.0, 5.0]), np.zeros(3), cell_size=2.0)
        >>> [a.tolist() for a in g.pairs(1.5)]
        [[0], [1]]
        """
        r = _check_radius(r)
        kernel = pairs_kernel if self.n >= PARALLEL_MIN else pairs_serial
        pi, pj = kernel(*self.arrays(), self.x, self.y, r)
        return pi, pj

    def _queries(
        self, qx: Array | None, qy: Array | None
    ) -> tuple[Array, Array, Array]:
        """Checked query coordinates and the order to run them in."""
        if qx is None and qy is None:
            return self.x, self.y, self.order  # cell order: cache-friendly
        if qx is None or qy is None:
            raise GridError(
                "pass both qx and qy (or neither, to query the grid's points)"
            )
        ax = np.ascontiguousarray(qx, dtype=np.float64)
        ay = np.ascontiguousarray(qy, dtype=np.float64)
        if ax.ndim != 1 or ax.shape != ay.shape:
            raise GridError(
                f"query coordinates must be two 1-D arrays of one length; got shapes "
                f"{ax.shape} and {ay.shape}"
            )
        if not (np.isfinite(ax).all() and np.isfinite(ay).all()):
            raise GridError("query coordinates contain NaN or inf; pass finite values")
        return ax, ay, np.arange(ax.shape[0], dtype=np.int64)


def _check_radius(r: float) -> float:
    rf = float(r)
    if not (math.isfinite(rf) and rf >= 0.0):
        raise GridError(
            f"query radius must be a finite number >= 0, got {r!r}; pass the "
            "distance within which points count as neighbors"
        )
    return rf


def _check_inputs(
    x: object, y: object, cell_size: float, max_cells: int | None
) -> tuple[Array, Array, float]:
    cs = float(cell_size)
    if not (math.isfinite(cs) and cs > 0.0):
        raise GridError(
            f"grid cell_size must be a finite number > 0, got {cell_size!r}; a good "
            "choice is the query radius you use most"
        )
    if max_cells is not None and int(max_cells) < 1:
        raise GridError(f"max_cells must be >= 1, got {max_cells!r}")
    # Own copies: a grid built from live columns must not change when they do.
    ax = np.array(x, dtype=np.float64, copy=True, order="C")
    ay = np.array(y, dtype=np.float64, copy=True, order="C")
    if ax.ndim != 1 or ax.shape != ay.shape:
        raise GridError(
            f"grid points must be two 1-D coordinate arrays of one length; got shapes "
            f"{ax.shape} and {ay.shape}"
        )
    bad = ~(np.isfinite(ax) & np.isfinite(ay))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GridError(
            f"grid point {i} is not finite ({ax[i]}, {ay[i]}) ({int(bad.sum())} such "
            "points); fix the positions (a NaN usually comes from a division by zero "
            "in a system)"
        )
    return ax, ay, cs


def _axis(
    lo: float | None, hi: float | None, coords: Array, name: str
) -> tuple[float, float]:
    """``(origin, extent)`` of one axis: given bounds, else the points' extent."""
    if lo is None or hi is None:
        if coords.shape[0] == 0:
            return 0.0, 0.0
        return float(coords.min()), float(coords.max() - coords.min())
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise GridError(
            f"grid bounds along {name} must be finite with max > min, got [{lo}, {hi}]"
        )
    return float(lo), float(hi - lo)


def _tiling(extent: float, cs: float, *, periodic: bool) -> tuple[int, float]:
    """``(cells, 1 / cell width)`` along one axis of ``extent``.

    A periodic axis is tiled exactly (``floor(extent / cs)`` cells, so each is at
    least ``cs`` wide); otherwise cells of width ``cs`` cover ``[0, extent]``.
    """
    if periodic:
        n = max(1, math.floor(extent / cs))
        return n, n / extent
    inv = 1.0 / cs
    return math.floor(extent * inv) + 1, inv


def build_grid(
    x: object,
    y: object,
    cell_size: float,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    periodic: bool | tuple[bool, bool] = False,
    max_cells: int | None = None,
) -> Grid:
    """Sort points into a uniform grid of square cells (a counting sort in Numba).

    Parameters
    ----------
    x, y
        Point coordinates (1-D, same length, finite; copied as float64, so the
        grid does not change when the arrays do).
    cell_size
        Requested side of a cell. Queries are correct for any radius and any cell
        size; speed is best when the cell size is about the query radius.
    bounds
        ``(xmin, ymin, xmax, ymax)`` of the domain. Without bounds the grid covers
        the points' bounding box. Points outside non-periodic bounds are kept (in
        the border cells), so queries stay exact.
    periodic
        Wrap an axis (``True`` for both, or ``(wrap_x, wrap_y)``); needs ``bounds``:
        the period is the domain's width / height. Distances along a periodic axis
        are to the nearest image (the torus metric), for any radius.
    max_cells
        Cap on the number of cells (default ``max(4 * points, 4096)``): when the
        domain needs more, the cell size grows until it fits (``grid.cell_size`` reports the sizes used). This bounds memory
        for sparse, wide point sets.

    Returns
    -------
    Grid
        Plain arrays; ``grid.arrays()`` is the argument tuple of the kernel-side
        functions.

    Raises
    ------
    GridError
        Bad cell size, coordinates of different lengths or not finite, bad bounds,
        or ``periodic`` without ``bounds``.

    Notes
    -----
    O(points + cells) time, deterministic, one pass to count and one to scatter.
    Periodic axes use ``floor(period / cell_size)`` cells, so their cells are at
    least ``cell_size`` wide (cells may then be rectangles).

    Examples
    --------
    >>> import numpy as np
    >>> g = build_grid([0.5, 2.5, 2.6], [0.5, 0.5, 0.7], cell_size=1.0)
    >>> g.shape, g.cell_count.tolist()
    ((3, 1), [1, 0, 2])
    >>> g.neighbors(2.5, 0.5, 0.5).tolist()
    [1, 2]
    """
    ax, ay, cs = _check_inputs(x, y, cell_size, max_cells)
    wrap = (periodic, periodic) if isinstance(periodic, bool) else tuple(periodic)
    if len(wrap) != 2:
        raise GridError(f"periodic must be a bool or a pair of bools, got {periodic!r}")
    if any(wrap) and bounds is None:
        raise GridError(
            "a periodic grid needs bounds=(xmin, ymin, xmax, ymax): the period is "
            "the width / height of the domain"
        )
    b = (None, None, None, None) if bounds is None else tuple(map(float, bounds))
    if len(b) != 4:
        raise GridError(f"bounds must be (xmin, ymin, xmax, ymax), got {bounds!r}")
    ox, wx = _axis(b[0], b[2], ax, "x")
    oy, wy = _axis(b[1], b[3], ay, "y")
    cap = max(4 * ax.shape[0], MIN_MAX_CELLS) if max_cells is None else int(max_cells)
    while True:
        nx, ix = _tiling(wx, cs, periodic=bool(wrap[0]))
        ny, iy = _tiling(wy, cs, periodic=bool(wrap[1]))
        if nx * ny <= cap:
            break
        cs *= max(1.01, math.sqrt(nx * ny / cap))
    px = wx if wrap[0] else 0.0
    py = wy if wrap[1] else 0.0
    geom = np.array([ox, oy, ix, iy, nx, ny, px, py], dtype=np.float64)
    cells = nx * ny
    cell_start = np.empty(cells, dtype=np.int64)
    cell_count = np.empty(cells, dtype=np.int64)
    n = ax.shape[0]
    cell = np.empty(n, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    sx = np.empty(n, dtype=np.float64)
    sy = np.empty(n, dtype=np.float64)
    build_grid_kernel(geom, ax, ay, cell, cell_start, cell_count, order, sx, sy)
    return Grid(geom, cell_start, cell_count, order, sx, sy, cell, ax, ay)
