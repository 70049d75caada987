"""Physics kernels against plain references: integration, bounds, contacts, response.

Contacts found through the grid must be exactly the brute-force overlapping pairs
(circles, boxes, mixed; coincident centers; periodic domains), with the same normals
and depths; the response applied to them must equal the plain-loop response.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs.physics import CollisionSettings, WorldBounds
from archetype_ecs.physics._kernels import (
    BOUNCE,
    CLAMP,
    WRAP,
    bounds_kernel,
    bounds_reference,
    contacts_reference,
    integrate_kernel,
    integrate_reference,
    respond_reference,
)
from archetype_ecs.physics.collision import find_contacts, resolve_contacts

pytestmark = pytest.mark.hypothesis

FLOATS = st.floats(-50.0, 50.0, allow_nan=False)


def arrays(n: int, elements: st.SearchStrategy[float] = FLOATS) -> st.SearchStrategy:
    return st.lists(elements, min_size=n, max_size=n).map(
        lambda v: np.array(v, dtype=np.float64)
    )


@settings(max_examples=100)
@given(st.integers(0, 30).flatmap(lambda n: st.tuples(*[arrays(n)] * 8)), st.data())
def test_integrate_kernel_equals_reference(cols, data) -> None:  # type: ignore[no-untyped-def]
    x, y, vx, vy, ax, ay, fx, fy = cols
    n = x.shape[0]
    mass = data.draw(
        arrays(n, st.one_of(st.floats(0.1, 10.0), st.sampled_from([0.0, -1.0, np.inf])))
    )
    flags = data.draw(st.integers(0, 7))
    gx, gy, dt = data.draw(st.tuples(FLOATS, FLOATS, st.floats(0.0, 1.0)))
    got = [a.copy() for a in (x, y, vx, vy)]
    integrate_kernel(*got, ax, ay, fx, fy, mass, flags, gx, gy, dt)
    ref = [a.copy() for a in (x, y, vx, vy)]
    integrate_reference(
        *ref,
        ax if flags & 1 else None,
        ay if flags & 1 else None,
        fx if flags & 2 else None,
        fy if flags & 2 else None,
        mass if flags & 4 else None,
        gx,
        gy,
        dt,
    )
    for a, b in zip(got, ref, strict=True):
        assert np.array_equal(a, b)


@settings(max_examples=100)
@given(
    st.integers(0, 30).flatmap(
        lambda n: st.tuples(*[arrays(n, st.floats(-300, 300))] * 4)
    ),
    st.sampled_from([WRAP, BOUNCE, CLAMP]),
    st.sampled_from([(0.0, 0.0, 10.0, 10.0), (-5.0, 2.0, 7.5, 3.0)]),
    st.floats(0.0, 1.0),
    st.booleans(),
)
def test_bounds_kernel_equals_reference(cols, mode, b, e, has_v) -> None:  # type: ignore[no-untyped-def]
    got = [a.copy() for a in cols]
    if not has_v:
        got[2], got[3] = np.zeros(0), np.zeros(0)
    bounds_kernel(*got, has_v, *b, mode, e)
    ref = [a.copy() for a in cols]
    bounds_reference(
        ref[0], ref[1], ref[2] if has_v else None, ref[3] if has_v else None, b, mode, e
    )
    assert np.array_equal(got[0], ref[0])
    assert np.array_equal(got[1], ref[1])
    if has_v:
        assert np.array_equal(got[2], ref[2])
        assert np.array_equal(got[3], ref[3])
    assert np.all((got[0] >= b[0]) & (got[0] <= b[2]))
    assert np.all((got[1] >= b[1]) & (got[1] <= b[3]))
    if mode == WRAP:
        assert np.all(got[0] < b[2])


@st.composite
def colliders(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    n = draw(st.integers(0, 25))
    coord = st.one_of(st.floats(0.0, 10.0), st.integers(0, 10).map(float))
    x = draw(arrays(n, coord))
    y = draw(arrays(n, coord))
    shape = np.array(
        draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.uint8
    )
    size = st.one_of(st.floats(0.0, 2.0), st.sampled_from([0.5, 1.0]))
    radius = draw(arrays(n, size))
    hx = draw(arrays(n, size))
    hy = draw(arrays(n, size))
    return x, y, shape, radius, hx, hy


@given(colliders(), st.booleans())
def test_contacts_equal_brute_force(cols, periodic) -> None:  # type: ignore[no-untyped-def]
    x, y, shape, radius, hx, hy = cols
    bounds = WorldBounds(0.0, 0.0, 10.0, 10.0) if periodic else None
    found = find_contacts(x, y, shape, radius, hx, hy, bounds=bounds)
    period = 10.0 if periodic else 0.0
    ref = contacts_reference(x, y, shape, radius, hx, hy, period, period)
    assert list(zip(found.i.tolist(), found.j.tolist(), strict=True)) == [
        (c[0], c[1]) for c in ref
    ]
    if ref:
        want = np.array([c[2:] for c in ref])
        got = np.stack([found.nx, found.ny, found.depth], axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.all(found.depth > 0)


@settings(max_examples=100)
@given(colliders(), st.data())
def test_response_equals_reference(cols, data) -> None:  # type: ignore[no-untyped-def]
    x, y, shape, radius, hx, hy = cols
    n = x.shape[0]
    vx = data.draw(arrays(n, st.floats(-5, 5)))
    vy = data.draw(arrays(n, st.floats(-5, 5)))
    inv = data.draw(arrays(n, st.sampled_from([0.0, 1.0, 0.5, 0.25])))
    cfg = CollisionSettings(
        restitution=data.draw(st.floats(0, 1)),
        percent=data.draw(st.floats(0, 1)),
        slop=data.draw(st.sampled_from([0.0, 0.01])),
    )
    found = find_contacts(x, y, shape, radius, hx, hy)
    got = [a.copy() for a in (x, y, vx, vy)]
    resolve_contacts(found, *got, inv, cfg)
    contacts = list(
        zip(
            found.i.tolist(),
            found.j.tolist(),
            found.nx.tolist(),
            found.ny.tolist(),
            found.depth.tolist(),
            strict=True,
        )
    )
    ref = [a.copy() for a in (x, y, vx, vy)]
    respond_reference(contacts, *ref, inv, cfg.restitution, cfg.percent, cfg.slop)
    for a, b in zip(got, ref, strict=True):
        assert np.array_equal(a, b)
    # momentum is conserved by every impulse between two movable bodies
    movable = inv > 0
    if movable.all() and n:
        m = 1.0 / inv
        np.testing.assert_allclose(
            (m * got[2]).sum(), (m * vx).sum(), rtol=1e-9, atol=1e-9
        )
