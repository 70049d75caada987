"""The render pipeline against plain-Python references.

* ``extract`` equals a per-entity loop over ``world.get`` (which entities are drawn,
  with which values, in which order) over random worlds mixing every combination of
  render components, transforms, a fallback position, invisible rows and culling.
* The rasterization kernel equals ``rasterize_reference`` (every shape tests every
  pixel) pixel for pixel, over random shapes, views and alpha.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archetype_ecs import World, component, f32
from archetype_ecs.render import (
    RENDER_SCHEMA,
    Color,
    Layer,
    Renderer,
    Shape,
    Size,
    extract,
)
from archetype_ecs.render._kernels import (
    draw_order_kernel,
    draw_order_reference,
    rasterize_reference,
)
from archetype_ecs.transform import GlobalTransform2D

pytestmark = pytest.mark.hypothesis


@component
class Spot:
    x: f32 = 0.0
    y: f32 = 0.0


F32 = st.floats(-20, 20, width=32, allow_nan=False)
ODD = st.sampled_from([float("nan"), float("inf"), 0.0, -1.0])
U8 = st.integers(0, 255)

ENTITY = st.fixed_dictionaries(
    {},
    optional={
        Shape: st.integers(0, 3).map(lambda k: Shape(k)),
        Size: st.one_of(st.floats(0.125, 5, width=32), ODD).map(lambda r: Size(r)),
        Color: st.tuples(U8, U8, U8, st.sampled_from([0, 128, 255])).map(
            lambda c: Color(*c)
        ),
        Layer: st.integers(-3, 3).map(lambda v: Layer(v)),
        GlobalTransform2D: st.tuples(
            st.one_of(F32, ODD), F32, F32, st.floats(0.5, 2, width=32)
        ).map(lambda t: GlobalTransform2D(*t)),
        Spot: st.tuples(F32, F32).map(lambda t: Spot(*t)),
    },
)


def reference(
    world: World, ids, *, bounds, position, shape, size, color
) -> list[tuple]:  # type: ignore[no-untyped-def]
    rows = []
    for e in ids:
        e = int(e)
        if not world.is_alive(e):
            continue
        sh, gt = world.get(e, Shape), world.get(e, GlobalTransform2D)
        pos = world.get(e, position) if position is not None else None
        if sh is None and shape is None:
            continue
        if gt is None and pos is None:
            continue
        sz, col, lay = world.get(e, Size), world.get(e, Color), world.get(e, Layer)
        kind = sh.kind if sh is not None else {"square": 1}[shape]
        radius = np.float32(sz.radius if sz is not None else size)
        if gt is not None:
            x, y, rot = gt.x, gt.y, gt.rotation
            radius = np.float32(radius * np.float32(gt.scale))
        else:
            x, y, rot = pos.x, pos.y, 0.0
        rgba = (col.r, col.g, col.b, col.a) if col is not None else color
        layer = lay.value if lay is not None else 0
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(radius)):
            continue
        if not radius > 0:
            continue
        if rgba[3] == 0 or kind > 2:
            continue
        if bounds is not None:
            reach = float(radius) * math.sqrt(2.0) * (1 + 1e-6)
            if x + reach < bounds[0] or x - reach > bounds[2]:
                continue
            if y + reach < bounds[1] or y - reach > bounds[3]:
                continue
        rows.append(
            (
                layer,
                e & 0xFFFFFFFF,
                e,
                kind,
                float(np.float32(x)),
                float(np.float32(y)),
                float(radius),
                float(np.float32(rot)),
                *rgba,
            )
        )
    rows.sort(key=lambda r: (r[0], r[1]))
    return [(r[2], r[0], *r[3:]) for r in rows]


@given(
    st.lists(ENTITY, max_size=25),
    st.lists(st.integers(0, 24), max_size=5),
    st.sampled_from([None, (-5.0, -5.0, 5.0, 5.0), (0.0, -20.0, 30.0, 1.0)]),
    st.booleans(),
    st.booleans(),
)
def test_extract_equals_the_plain_reference(
    entities, despawn, bounds, use_pos, use_shape
) -> None:  # type: ignore[no-untyped-def]
    w = World(threads=1)
    ids = [w.spawn(*comps.values()) for comps in entities]
    for i in despawn:
        if i < len(ids) and w.is_alive(ids[i]):
            w.despawn(ids[i])
    opts = {
        "bounds": bounds,
        "position": Spot if use_pos else None,
        "shape": "square" if use_shape else None,
        "size": 1.5,
        "color": (9, 8, 7, 255),
    }
    got = extract(w, **opts)
    assert got.schema == RENDER_SCHEMA
    rows = list(
        zip(*(got.column(n).to_pylist() for n in RENDER_SCHEMA.names), strict=True)
    )
    want = reference(w, ids, **opts)
    assert len(rows) == len(want)
    for a, b in zip(rows, want, strict=True):
        assert a[:3] == b[:3]  # entity, layer, kind
        assert a[3:7] == pytest.approx(b[3:7], nan_ok=False)
        assert a[7:] == b[7:]


SHAPE_ROW = st.tuples(
    st.integers(0, 2),
    st.floats(-3, 13, width=32),
    st.floats(-3, 13, width=32),
    st.one_of(st.floats(0.0625, 6, width=32), st.sampled_from([0.5, 1.0, 2.0])),
    st.one_of(st.just(0.0), st.floats(-7, 7, width=32)),
    st.tuples(U8, U8, U8, st.sampled_from([0, 1, 77, 128, 254, 255])),
)
ODD_ROW = st.tuples(
    st.integers(0, 3),
    st.sampled_from([float("nan"), float("inf"), -1e30, 1e30, 5.0]),
    st.sampled_from([float("nan"), -float("inf"), 1e30, 5.0]),
    st.sampled_from([float("nan"), float("inf"), 0.0, -1.0, 1e30, 2.0]),
    st.just(0.0),
    st.tuples(U8, U8, U8, st.just(255)),
)


@given(
    st.lists(st.one_of(SHAPE_ROW, SHAPE_ROW, ODD_ROW), max_size=8),
    st.integers(1, 14),
    st.integers(1, 11),
    st.sampled_from(
        [(0.0, 0.0, 10.0, 10.0), (-2.5, 1.0, 12.0, 7.0), (3.0, 3.0, 4.0, 5.0)]
    ),
    st.sampled_from([(255, 255, 255, 255), (0, 0, 0, 0), (10, 200, 30, 90)]),
)
def test_kernel_equals_reference_pixel_for_pixel(rows, w, h, view, background) -> None:  # type: ignore[no-untyped-def]
    cols = {
        "kind": np.array([r[0] for r in rows], np.uint8),
        "x": np.array([r[1] for r in rows], np.float32),
        "y": np.array([r[2] for r in rows], np.float32),
        "radius": np.array([r[3] for r in rows], np.float32),
        "rotation": np.array([r[4] for r in rows], np.float32),
        **{
            c: np.array([r[5][i] for r in rows], np.uint8) for i, c in enumerate("rgba")
        },
    }
    n = len(rows)
    table = pa.table(
        {
            "entity": np.arange(n, dtype=np.uint64),
            "layer": np.zeros(n, np.int32),
            **cols,
        }
    )
    r = Renderer(w, h, bounds=view, background=background)
    got = r.draw(table)
    want = np.empty((h, w, 4), np.uint8)
    want[:] = background
    rasterize_reference(want, cols, view)
    assert np.array_equal(np.asarray(got), want)


@given(
    st.lists(st.integers(-5, 5), max_size=60),
    st.integers(0, 2**20),
    st.randoms(use_true_random=False),
)
def test_draw_order_kernel_equals_lexsort(layers, offset, rnd) -> None:  # type: ignore[no-untyped-def]
    n = len(layers)
    slots = np.array(rnd.sample(range(offset, offset + 3 * n + 1), n), dtype=np.int64)
    layer = np.array(layers, dtype=np.int64)
    lo = int(layer.min()) if n else 0
    span = int(layer.max()) - lo + 1 if n else 1
    got = draw_order_kernel(layer, slots, lo, span)
    assert got.tolist() == draw_order_reference(layer, slots).tolist()
