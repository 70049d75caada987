"""Spatial grid: layout, use from a user kernel, thread independence, clear errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import archetype_ecs
from archetype_ecs import EcsError, njit
from archetype_ecs._jit import kernel_threads, limit_kernel_threads
from archetype_ecs.physics.grid import (
    GridError,
    build_grid,
    cell_id,
    cell_range,
    min_image,
    neighbors_reference,
    pairs_reference,
)


def test_layout_is_a_counting_sort_by_cell() -> None:
    g = build_grid([0.5, 2.5, 2.6, 0.1], [0.5, 0.5, 0.7, 1.5], cell_size=1.0)
    assert g.shape == (3, 2)
    assert g.origin == (0.1, 0.5)
    assert g.cell_count.tolist() == [1, 0, 2, 1, 0, 0]
    assert g.cell_start.tolist()[:4] == [0, 1, 1, 3]
    assert g.order.tolist() == [0, 1, 2, 3]
    assert g.cell.tolist() == [0, 2, 2, 3]


def test_points_on_cell_borders_and_exact_radius_are_neighbors() -> None:
    x = np.array([0.0, 1.0, 2.0, -1.0, 0.0])
    y = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    g = build_grid(x, y, cell_size=1.0)
    assert g.neighbors(0.0, 0.0, 1.0).tolist() == [0, 1, 3, 4]
    assert g.neighbors(0.0, 0.0, 0.0).tolist() == [0]


def test_empty_grid_answers_nothing() -> None:
    g = build_grid(np.empty(0), np.empty(0), cell_size=1.0)
    assert g.n == 0
    assert g.neighbors(0.0, 0.0, 5.0).tolist() == []
    pi, pj = g.pairs(5.0)
    assert pi.shape == pj.shape == (0,)
    off, ind = g.neighbors_batch(1.0)
    assert off.tolist() == [0]
    assert ind.shape == (0,)


def test_periodic_axis_wraps_distances() -> None:
    x = np.array([0.1, 9.9, 5.0])
    y = np.array([1.0, 1.0, 1.0])
    g = build_grid(x, y, 1.0, bounds=(0.0, 0.0, 10.0, 2.0), periodic=(True, False))
    assert g.neighbors(0.1, 1.0, 0.3).tolist() == [0, 1]
    assert g.pairs(0.3)[1].tolist() == [1]
    assert g.cell_size == (1.0, 1.0)
    # the period is tiled exactly: 10 / 3 = 3 cells of 3.333
    g3 = build_grid(x, y, 3.0, bounds=(0.0, 0.0, 10.0, 2.0), periodic=True)
    assert g3.shape == (3, 1)
    assert g3.cell_size[0] == pytest.approx(10.0 / 3.0)
    assert g3.neighbors(0.1, 1.0, 0.3).tolist() == [0, 1]


def test_radius_larger_than_the_torus_finds_each_point_once() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.random(50) * 4.0, rng.random(50) * 4.0
    g = build_grid(x, y, 0.5, bounds=(0.0, 0.0, 4.0, 4.0), periodic=True)
    assert g.neighbors(1.0, 1.0, 100.0).tolist() == list(range(50))


@njit
def _mean_neighbor_x(geom, cell_start, cell_count, order, sx, sy, x, y, r, out):  # type: ignore[no-untyped-def]
    # The loop a user writes to fuse a neighbor scan into their own kernel.
    r2 = r * r
    for i in range(x.shape[0]):
        cx0, cx1, cy0, cy1 = cell_range(geom, x[i], y[i], r)
        total = 0.0
        k = 0
        for cy in range(cy0, cy1 + 1):
            for cx in range(cx0, cx1 + 1):
                c = cell_id(geom, cx, cy)
                for s in range(cell_start[c], cell_start[c] + cell_count[c]):
                    dx = min_image(sx[s] - x[i], geom[6])
                    dy = min_image(sy[s] - y[i], geom[7])
                    if dx * dx + dy * dy <= r2:
                        total += sx[s]
                        k += 1
        out[i] = total / k


def test_user_kernel_scans_cells_with_the_grid_arrays() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.random(300) * 10.0, rng.random(300) * 10.0
    g = build_grid(x, y, 0.8)
    out = np.empty(300)
    _mean_neighbor_x(*g.arrays(), x, y, 0.8, out)
    for i in range(300):
        ref = neighbors_reference(x, y, x[i], y[i], 0.8)
        assert out[i] == pytest.approx(x[ref].mean(), rel=1e-12)


def test_results_do_not_depend_on_kernel_threads() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.random(5000) * 30.0, rng.random(5000) * 30.0
    before = kernel_threads()
    try:
        limit_kernel_threads(1)
        g1 = build_grid(x, y, 0.5)
        one = (g1.pairs(0.7), g1.neighbors_batch(0.7, sort=False))
        limit_kernel_threads(2)
        g2 = build_grid(x, y, 0.5)
        two = (g2.pairs(0.7), g2.neighbors_batch(0.7, sort=False))
    finally:
        limit_kernel_threads(before)
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(a[0], b[0])
        assert np.array_equal(a[1], b[1])
    ri, rj = pairs_reference(x[:400], y[:400], 0.7)
    sub = build_grid(x[:400], y[:400], 2.0).pairs(0.7)
    assert np.array_equal(sub[0], ri)
    assert np.array_equal(sub[1], rj)


@pytest.mark.parametrize("cs", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_cell_size_is_refused(cs: float) -> None:
    with pytest.raises(GridError, match="cell_size must be a finite number > 0"):
        build_grid([0.0], [0.0], cs)


def test_bad_points_are_refused_with_the_index() -> None:
    with pytest.raises(GridError, match=r"grid point 1 is not finite"):
        build_grid([0.0, np.nan, 1.0], [0.0, 0.0, np.inf], 1.0)
    with pytest.raises(GridError, match="one length"):
        build_grid([0.0, 1.0], [0.0], 1.0)
    with pytest.raises(GridError, match="1-D"):
        build_grid(np.zeros((2, 2)), np.zeros((2, 2)), 1.0)


def test_bad_bounds_and_periodic_without_bounds_are_refused() -> None:
    with pytest.raises(GridError, match="periodic grid needs bounds"):
        build_grid([0.0], [0.0], 1.0, periodic=True)
    with pytest.raises(
        GridError, match=r"bounds along x must be finite with max > min"
    ):
        build_grid([0.0], [0.0], 1.0, bounds=(1.0, 0.0, 1.0, 2.0))
    with pytest.raises(GridError, match=r"bounds must be \(xmin, ymin, xmax, ymax\)"):
        build_grid([0.0], [0.0], 1.0, bounds=(0.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(GridError, match="max_cells must be >= 1"):
        build_grid([0.0], [0.0], 1.0, max_cells=0)


def test_bad_queries_are_refused() -> None:
    g = build_grid([0.0, 1.0], [0.0, 0.0], 1.0)
    for r in (-0.5, float("nan"), float("inf")):
        with pytest.raises(GridError, match="query radius must be a finite number"):
            g.pairs(r)
    with pytest.raises(GridError, match="not finite"):
        g.neighbors(float("nan"), 0.0, 1.0)
    with pytest.raises(GridError, match="pass both qx and qy"):
        g.neighbors_batch(1.0, qx=np.zeros(2))
    with pytest.raises(GridError, match="NaN or inf"):
        g.count_batch(1.0, np.array([np.nan]), np.array([0.0]))
    assert issubclass(GridError, EcsError)
    assert issubclass(GridError, ValueError)


def test_sparse_wide_points_coarsen_cells_to_the_cap() -> None:
    x = np.array([0.0, 1e6, 2e6])
    g = build_grid(x, np.zeros(3), 1e-3)
    assert g.cell_count.shape[0] <= 4096
    assert g.cell_size[0] > 1e-3
    assert g.neighbors(1e6, 0.0, 1.0).tolist() == [1]


def test_import_archetype_ecs_does_not_import_physics() -> None:
    code = (
        "import sys, archetype_ecs; "
        "print(any(m.startswith('archetype_ecs.physics') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
    assert archetype_ecs.World is not None


def test_parallel_and_serial_batch_kernels_agree() -> None:
    from archetype_ecs.physics import _grid_kernels as k

    rng = np.random.default_rng(4)
    x, y = rng.random(3000) * 20.0, rng.random(3000) * 20.0
    g = build_grid(x, y, 0.6, bounds=(0, 0, 20, 20), periodic=True)
    args = (*g.arrays(), g.x, g.y)
    for a, b in zip(
        k.pairs_kernel(*args, 0.8), k.pairs_serial(*args, 0.8), strict=True
    ):
        assert np.array_equal(a, b)
    perm = g.order
    par = k.neighbors_batch_kernel(*g.arrays(), g.x, g.y, perm, 0.8, True)
    ser = k.neighbors_batch_serial(*g.arrays(), g.x, g.y, perm, 0.8, True)
    for a, b in zip(par, ser, strict=True):
        assert np.array_equal(a, b)
    c1, c2 = np.empty(3000, np.int64), np.empty(3000, np.int64)
    k.count_radius_batch_kernel(*g.arrays(), g.x, g.y, perm, 0.8, c1)
    k.count_radius_batch_serial(*g.arrays(), g.x, g.y, perm, 0.8, c2)
    assert np.array_equal(c1, c2)
    assert np.array_equal(c1, np.diff(par[0]))
