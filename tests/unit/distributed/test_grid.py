"""Region grid and the flock kernel against plain references (no Ray needed to run)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

pytest.importorskip("ray")

from archetype_ecs.distributed.flock import flock_kernel, flock_reference
from archetype_ecs.distributed.sharding import Grid

coords = st.floats(-20.0, 120.0, allow_nan=False)


@given(
    gx=st.integers(1, 5),
    gy=st.integers(1, 5),
    halo=st.floats(0.0, 30.0),
    pts=st.lists(st.tuples(coords, coords), max_size=40),
)
@settings(max_examples=60, deadline=None)
def test_region_and_halo_match_a_per_point_reference(gx, gy, halo, pts):
    grid = Grid((gx, gy), (0.0, 0.0, 100.0, 100.0), halo)
    x = np.array([p[0] for p in pts], float)
    y = np.array([p[1] for p in pts], float)
    region = grid.region(x, y)
    for i, (px, py) in enumerate(pts):
        cx = min(max(math.floor(px / (100.0 / gx)), 0), gx - 1)
        cy = min(max(math.floor(py / (100.0 / gy)), 0), gy - 1)
        # the grid's edges are linspace values; agree away from float ties
        if (
            abs(px * gx / 100.0 - round(px * gx / 100.0)) > 1e-9
            and abs(py * gy / 100.0 - round(py * gy / 100.0)) > 1e-9
        ):
            assert region[i] == cy * gx + cx
        x0, y0, x1, y1 = grid.box(int(region[i]))
        assert x0 <= px < x1
        assert y0 <= py < y1
    for s in range(grid.count):
        info = grid.info(s)
        mask = grid.halo_mask(s, x, y)
        # every point near region s is owned by s or by one of its halo neighbors
        owners = set(region[mask].tolist())
        assert owners <= {s, *info.neighbors}
        cx, cy = info.cell
        expected = {
            (cy + dy) * gx + cx + dx
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
            if (dx or dy) and 0 <= cx + dx < gx and 0 <= cy + dy < gy
        }
        assert set(info.adjacent) == expected
        if halo > 1e-6:  # (a subnormal halo vanishes next to the edge coordinates)
            assert set(info.adjacent) <= set(info.neighbors)


@given(
    n=st.integers(0, 40),
    seed=st.integers(0, 2**16),
    radius=st.floats(0.5, 5.0),
)
@settings(max_examples=40, deadline=None)
def test_flock_kernel_matches_reference_and_ignores_order(n, seed, radius):
    rng = np.random.default_rng(seed)
    size = 10.0
    x, y = rng.random(n) * size, rng.random(n) * size
    vx, vy = rng.normal(size=n), rng.normal(size=n)
    out = [np.empty(n) for _ in range(4)]
    flock_kernel(x, y, vx, vy, size, radius, 1.0, 0.5, *out)
    ref = flock_reference(x, y, vx, vy, size, radius, 1.0, 0.5)
    for a, b in zip(out, ref, strict=True):
        np.testing.assert_array_equal(a, b)
    perm = rng.permutation(n)
    shuffled = [np.empty(n) for _ in range(4)]
    flock_kernel(
        x[perm], y[perm], vx[perm], vy[perm], size, radius, 1.0, 0.5, *shuffled
    )
    for a, b in zip(out, shuffled, strict=True):
        np.testing.assert_array_equal(a[perm], b)  # bit-identical in any order


def _periodic_gap(v: float, lo: float, hi: float, period: float) -> float:
    """Distance from ``v`` to the interval [lo, hi) on a circle (plain reference)."""
    best = math.inf
    for k in (-2, -1, 0, 1, 2):
        w = v + k * period
        best = min(best, 0.0 if lo <= w < hi else min(abs(w - lo), abs(w - hi)))
    return best


@given(
    gx=st.integers(1, 5),
    gy=st.integers(1, 5),
    halo=st.floats(0.0, 40.0),
    pts=st.lists(
        st.tuples(st.floats(0.0, 99.999), st.floats(0.0, 99.999)), max_size=30
    ),
)
@settings(max_examples=60, deadline=None)
def test_periodic_halo_wraps_around(gx, gy, halo, pts):
    grid = Grid((gx, gy), (0.0, 0.0, 100.0, 100.0), halo, (True, True))
    x = np.array([p[0] for p in pts], float)
    y = np.array([p[1] for p in pts], float)
    # coordinates outside the bounds map into them
    np.testing.assert_array_equal(grid.region(x + 100.0, y - 300.0), grid.region(x, y))
    for s in range(grid.count):
        x0, y0, x1, y1 = grid.box(s)
        assert all(map(math.isfinite, (x0, y0, x1, y1)))
        mask = grid.halo_mask(s, x, y)
        for i, (px, py) in enumerate(pts):
            gapx = _periodic_gap(px, x0, x1, 100.0)
            gapy = _periodic_gap(py, y0, y1, 100.0)
            if max(gapx, gapy) < halo - 1e-9:
                assert mask[i]
            elif max(gapx, gapy) > halo + 1e-9:
                assert not mask[i]
        cx, cy = grid.info(s).cell
        expected = {
            ((cy + dy) % gy) * gx + (cx + dx) % gx
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
        } - {s}
        assert set(grid.info(s).adjacent) == expected


@given(
    gx=st.integers(1, 4),
    gy=st.integers(1, 4),
    halo=st.floats(0.0, 30.0),
    periodic=st.booleans(),
    pts=st.lists(
        st.tuples(st.floats(0.0, 99.999), st.floats(0.0, 99.999)), max_size=40
    ),
)
@settings(max_examples=60, deadline=None)
# a point exactly one halo from the wrap: the two masks rounded it differently
@example(gx=1, gy=2, halo=0.01, periodic=True, pts=[(0.0, 0.01)])
def test_border_and_outside_shortcuts_agree_with_the_full_masks(
    gx, gy, halo, periodic, pts
):
    """export_halo scans only near_border rows and export_migrants only outside rows."""
    grid = Grid((gx, gy), (0.0, 0.0, 100.0, 100.0), halo, (periodic, periodic))
    x = np.array([p[0] for p in pts], float)
    y = np.array([p[1] for p in pts], float)
    region = grid.region(x, y)
    for s in range(grid.count):
        own = np.flatnonzero(region == s)
        near = set(own[grid.near_border(s, x[own], y[own])].tolist())
        for t in grid.info(s).neighbors:
            assert set(own[grid.halo_mask(t, x[own], y[own])].tolist()) <= near
        assert set(grid.outside(s, x, y).tolist()) == set(
            np.flatnonzero(region != s).tolist()
        )
