"""The spatial grid against brute force, over random points, radii and cell sizes.

Points are drawn partly on cell borders (multiples of the cell size), with negative
coordinates, duplicates and empty sets; axes are open or periodic. Every query kind
(single point, batch CSR, counts, all pairs) must return exactly the brute-force
neighbor sets, and the grid's arrays must be a consistent counting sort.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from archetype_ecs.physics.grid import (
    build_grid,
    neighbors_reference,
    pairs_reference,
    query_radius,
)

pytestmark = pytest.mark.hypothesis

CELL_SIZES = st.sampled_from([0.25, 0.5, 1.0, 1.5, 3.0, 10.0, 0.1])


@st.composite
def point_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float]:
    """``(x, y, cell_size)``: coordinates mixing free floats and exact cell borders."""
    cs = draw(CELL_SIZES)
    n = draw(st.integers(0, 40))
    free = st.floats(-12.0, 12.0, allow_nan=False, width=64)
    border = st.integers(-10, 10).map(lambda k: k * cs)
    coord = st.one_of(free, border, border.map(lambda v: float(np.nextafter(v, -1e9))))
    x = np.array(draw(st.lists(coord, min_size=n, max_size=n)), dtype=np.float64)
    y = np.array(draw(st.lists(coord, min_size=n, max_size=n)), dtype=np.float64)
    return x, y, cs


RADII = st.one_of(
    st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 3.0, 30.0]),
    st.floats(0.0, 8.0, allow_nan=False),
)


def _check_structure(g, x: np.ndarray, y: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    n = x.shape[0]
    assert sorted(g.order.tolist()) == list(range(n))
    assert int(g.cell_count.sum()) == n
    assert np.array_equal(g.sx, x[g.order])
    assert np.array_equal(g.sy, y[g.order])
    for c in range(g.cell_count.shape[0]):
        members = g.order[g.cell_start[c] : g.cell_start[c] + g.cell_count[c]]
        assert np.all(np.diff(members) > 0)  # stable: ascending index within a cell
        assert np.all(g.cell[members] == c)


@given(point_sets(), RADII, st.data())
def test_open_grid_queries_equal_brute_force(pts, r, data) -> None:  # type: ignore[no-untyped-def]
    x, y, cs = pts
    g = build_grid(x, y, cs)
    _check_structure(g, x, y)
    queries = [(float(a), float(b)) for a, b in zip(x, y, strict=True)]
    queries += data.draw(
        st.lists(st.tuples(st.floats(-15, 15), st.floats(-15, 15)), max_size=5)
    )
    for qx, qy in queries:
        ref = neighbors_reference(x, y, qx, qy, r)
        assert np.array_equal(g.neighbors(qx, qy, r), ref), (qx, qy)
    off, ind = g.neighbors_batch(r)
    counts = g.count_batch(r)
    for i in range(x.shape[0]):
        ref = neighbors_reference(x, y, x[i], y[i], r)
        assert np.array_equal(ind[off[i] : off[i + 1]], ref)
        assert counts[i] == ref.shape[0]
    pi, pj = g.pairs(r)
    ri, rj = pairs_reference(x, y, r)
    assert np.array_equal(pi, ri)
    assert np.array_equal(pj, rj)


@given(
    point_sets(),
    RADII,
    st.tuples(st.booleans(), st.booleans()),
    st.sampled_from(
        [(-5.0, -3.0, 5.0, 4.0), (0.0, 0.0, 7.5, 7.5), (-1.0, -1.0, 1.0, 2.0)]
    ),
)
def test_periodic_grid_queries_equal_brute_force(pts, r, wrap, bounds) -> None:  # type: ignore[no-untyped-def]
    x, y, cs = pts
    g = build_grid(x, y, cs, bounds=bounds, periodic=wrap)
    _check_structure(g, x, y)
    px = bounds[2] - bounds[0] if wrap[0] else 0.0
    py = bounds[3] - bounds[1] if wrap[1] else 0.0
    assert g.periods == (px, py)
    off, ind = g.neighbors_batch(r)
    for i in range(x.shape[0]):
        ref = neighbors_reference(x, y, x[i], y[i], r, px, py)
        assert np.array_equal(ind[off[i] : off[i + 1]], ref)
    pi, pj = g.pairs(r)
    ri, rj = pairs_reference(x, y, r, px, py)
    assert np.array_equal(pi, ri)
    assert np.array_equal(pj, rj)


@settings(max_examples=60)
@given(point_sets(), RADII, st.integers(1, 64))
def test_max_cells_coarsens_without_changing_results(pts, r, cap) -> None:  # type: ignore[no-untyped-def]
    x, y, cs = pts
    g = build_grid(x, y, cs, max_cells=cap)
    assert g.cell_count.shape[0] <= cap
    ri, rj = pairs_reference(x, y, r)
    pi, pj = g.pairs(r)
    assert np.array_equal(pi, ri)
    assert np.array_equal(pj, rj)


@settings(max_examples=60)
@given(point_sets(), RADII, st.integers(0, 4))
def test_query_radius_reports_the_full_count_with_a_small_buffer(pts, r, cap) -> None:  # type: ignore[no-untyped-def]
    x, y, cs = pts
    assume(x.shape[0] > 0)
    g = build_grid(x, y, cs)
    out = np.full(cap, -1, dtype=np.int64)
    k = query_radius(*g.arrays(), float(x[0]), float(y[0]), r, out)
    ref = neighbors_reference(x, y, x[0], y[0], r)
    assert k == ref.shape[0]
    written = out[: min(k, cap)]
    assert set(written.tolist()) <= set(ref.tolist())
    assert np.all(out[min(k, cap) :] == -1)
