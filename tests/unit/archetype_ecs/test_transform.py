"""Transforms: global = parent_global ∘ local down the hierarchy, level by level, in
2D and 3D; roots and parents without transforms; the systems; the cached plan follows
changes; the kernels agree with the NumPy reference on random forests."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World, component, system
from archetype_ecs.hierarchy import ChildOf, hierarchy, set_parent
from archetype_ecs.transform import (
    GlobalTransform2D,
    GlobalTransform3D,
    Transform2D,
    Transform3D,
    propagate_2d,
    propagate_2d_reference,
    propagate_3d,
    propagate_3d_reference,
    propagate_transforms_2d,
    propagate_transforms_3d,
)

Array = np.ndarray[Any, Any]


@component
class Extra:
    pass


def spawn_2d(world: World, **local: float) -> int:
    return int(world.spawn(Transform2D(**local), GlobalTransform2D()))


def global_2d(world: World, e: int) -> tuple[float, float, float, float]:
    g = world.component(e, GlobalTransform2D)
    return g.x, g.y, g.rotation, g.scale


# ---------------------------------------------------------------------- 2D


def test_root_global_equals_local() -> None:
    w = World()
    e = spawn_2d(w, x=1.5, y=-2.0, rotation=0.25, scale=3.0)
    assert propagate_2d(w) == 1
    assert global_2d(w, e) == pytest.approx((1.5, -2.0, 0.25, 3.0))


def test_child_composes_rotation_scale_and_translation() -> None:
    w = World()
    parent = spawn_2d(w, x=10.0, y=0.0, rotation=math.pi / 2, scale=2.0)
    child = spawn_2d(w, x=1.0, y=0.0, rotation=0.5, scale=0.5)
    grandchild = spawn_2d(w, x=0.0, y=1.0)
    set_parent(w, [child], parent)
    set_parent(w, [grandchild], child)
    propagate_2d(w)
    # the child's +x becomes the parent's +y, doubled
    assert global_2d(w, child) == pytest.approx((10.0, 2.0, math.pi / 2 + 0.5, 1.0))
    angle = math.pi / 2 + 0.5
    gx, gy = 10.0 - math.sin(angle), 2.0 + math.cos(angle)
    assert global_2d(w, grandchild) == pytest.approx((gx, gy, angle, 1.0), abs=1e-6)


def test_parent_without_transforms_makes_its_children_roots() -> None:
    w = World()
    holder = int(w.spawn(Transform2D(x=100.0)))  # no GlobalTransform2D
    plain = int(w.spawn(Extra()))
    a = spawn_2d(w, x=1.0)
    b = spawn_2d(w, x=2.0)
    set_parent(w, [a, b], [holder, plain])
    propagate_2d(w)
    assert global_2d(w, a)[0] == 1.0
    assert global_2d(w, b)[0] == 2.0


def test_deep_chain_of_depth_20_accumulates() -> None:
    w = World()
    ids = w.spawn_batch(
        {Transform2D: {"x": np.ones(21), "scale": np.ones(21)}, GlobalTransform2D: None}
    )
    set_parent(w, ids[1:], ids[:-1])
    propagate_2d(w)
    xs = w.get_batch(ids, GlobalTransform2D)["x"]
    assert xs.tolist() == list(range(1, 22))


def test_children_in_several_archetypes_and_parents_spawned_later() -> None:
    w = World()
    kids = w.spawn_batch({Transform2D: {"x": [1.0, 2.0]}, GlobalTransform2D: None})
    other = w.spawn(Transform2D(x=3.0), GlobalTransform2D(), Extra())
    parent = spawn_2d(w, y=5.0)
    set_parent(w, [*kids, other], parent)
    propagate_2d(w)
    got = w.get_batch([*kids, other], GlobalTransform2D)
    assert got["x"].tolist() == [1.0, 2.0, 3.0]
    assert got["y"].tolist() == [5.0, 5.0, 5.0]


def test_plan_follows_reparenting_spawns_and_despawns() -> None:
    w = World()
    a = spawn_2d(w, x=10.0)
    b = spawn_2d(w, x=20.0)
    c = spawn_2d(w, x=1.0)
    set_parent(w, [c], a)
    propagate_2d(w)
    assert global_2d(w, c)[0] == 11.0
    set_parent(w, [c], b)  # in-place ChildOf overwrite: no table change
    propagate_2d(w)
    assert global_2d(w, c)[0] == 21.0
    d = spawn_2d(w, x=2.0)
    set_parent(w, [d], c)
    w.despawn(a)
    propagate_2d(w)
    assert global_2d(w, d)[0] == 23.0
    w.set(b, Transform2D(x=-1.0))  # value changes need no new plan
    propagate_2d(w)
    assert global_2d(w, d)[0] == 2.0


def test_system_runs_in_post_update_and_declares_its_access() -> None:
    s = propagate_transforms_2d
    assert s.phase == "post_update"
    assert s.access.writes == frozenset({GlobalTransform2D})
    assert {Transform2D, ChildOf} <= s.access.reads
    w = World(threads=1)
    parent = spawn_2d(w, x=1.0)
    child = spawn_2d(w, x=1.0)
    set_parent(w, [child], parent)

    @system(phase="update", writes=[Transform2D])
    def move(ctx: Any) -> None:
        for _, t in ctx.query(Transform2D):
            t.x += 1.0

    w.add_system(move, propagate_transforms_2d)
    w.step()
    assert global_2d(w, child)[0] == 4.0
    w.step()
    assert global_2d(w, child)[0] == 6.0


def test_system_marks_global_transforms_changed() -> None:
    w = World(threads=1)
    e = spawn_2d(w, x=1.0)
    seen: list[list[int]] = []

    @system(phase="last", reads=[GlobalTransform2D])
    def watch(ctx: Any) -> None:
        q = ctx.query(changed=[GlobalTransform2D])
        seen.append([e for ents, *_ in q for e in ents.tolist()])

    w.schedule.add_phase("last", after="post_update")
    w.add_system(propagate_transforms_2d, watch)
    w.step()
    w.step()
    assert seen == [[e], [e]]


# ---------------------------------------------------------------------- 3D


def quat_z(angle: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(angle / 2), math.cos(angle / 2))


def test_3d_child_rotates_with_its_parent() -> None:
    w = World()
    parent = w.spawn(
        Transform3D(position=(1.0, 2.0, 3.0), rotation=quat_z(math.pi / 2)),
        GlobalTransform3D(),
    )
    child = w.spawn(
        Transform3D(position=(1.0, 0.0, 0.0), rotation=quat_z(math.pi / 2)),
        GlobalTransform3D(),
    )
    set_parent(w, [child], parent)
    assert propagate_3d(w) == 2
    g = w.component(child, GlobalTransform3D)
    assert g.position == pytest.approx((1.0, 3.0, 3.0), abs=1e-6)
    assert g.rotation == pytest.approx(quat_z(math.pi), abs=1e-6)
    assert g.scale == pytest.approx((1.0, 1.0, 1.0))


def test_3d_scale_applies_before_the_parent_rotation() -> None:
    w = World()
    parent = w.spawn(
        Transform3D(rotation=quat_z(math.pi / 2), scale=(2.0, 3.0, 4.0)),
        GlobalTransform3D(),
    )
    child = w.spawn(
        Transform3D(position=(1.0, 1.0, 1.0), scale=(0.5, 0.5, 0.5)),
        GlobalTransform3D(),
    )
    set_parent(w, [child], parent)
    w.add_system(propagate_transforms_3d)
    w.step()
    g = w.component(child, GlobalTransform3D)
    # scaled (2, 3, 4), then rotated 90 degrees about z: (-3, 2, 4)
    assert g.position == pytest.approx((-3.0, 2.0, 4.0), abs=1e-5)
    assert g.scale == pytest.approx((1.0, 1.5, 2.0))


def test_2d_and_3d_worlds_do_not_interfere() -> None:
    w = World()
    a = w.spawn(Transform3D(position=(1.0, 0.0, 0.0)), GlobalTransform3D())
    b = w.spawn(Transform3D(position=(1.0, 0.0, 0.0)), GlobalTransform3D())
    c = spawn_2d(w, x=5.0)
    d = spawn_2d(w, x=5.0)
    set_parent(w, [b, d], [a, c])
    assert propagate_3d(w) == 2
    assert propagate_2d(w) == 2
    assert w.component(b, GlobalTransform3D).position[0] == 2.0
    assert global_2d(w, d)[0] == 10.0


# ------------------------------------------------------------ the references


def test_reference_refuses_cycles() -> None:
    with pytest.raises(ValueError, match="cycle"):
        propagate_2d_reference(np.array([1, 0]), *np.zeros((4, 2), np.float32))


@st.composite
def forests(draw: st.DrawFn) -> tuple[Array, Array, Array]:
    """Parent indices (parents may come after children), a spawn permutation, and
    which entities get an extra tag (a second archetype)."""
    n = draw(st.integers(1, 48))
    parent = np.full(n, -1, dtype=np.int64)
    for i in range(1, n):
        if draw(st.integers(0, 3)):
            parent[i] = draw(st.integers(max(0, i - 6), i - 1))
    perm = np.array(draw(st.permutations(range(n))), dtype=np.int64)
    out = np.full(n, -1, dtype=np.int64)
    out[perm] = np.where(parent >= 0, perm[np.maximum(parent, 0)], -1)
    extra = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return out, perm, extra


def build(
    parent: Array, extra: Array, local: type, glob: type, values: dict[str, Array]
) -> tuple[World, Array]:
    w = World()
    ids = np.zeros(len(parent), dtype=np.uint64)
    for flag in (False, True):
        sel = np.flatnonzero(extra == flag)
        if len(sel):
            comps: dict[type, Any] = {local: {k: v[sel] for k, v in values.items()}}
            comps[glob] = None
            if flag:
                comps[Extra] = None
            ids[sel] = w.spawn_batch(comps)
    kids = np.flatnonzero(parent >= 0)
    set_parent(w, ids[kids], ids[parent[kids]])
    return w, ids


def close(got: Array, want: Array) -> None:
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.hypothesis
@settings(max_examples=40, deadline=None)
@given(forests(), st.integers(0, 2**32 - 1))
def test_2d_kernel_matches_the_numpy_reference(
    forest: tuple[Array, Array, Array], seed: int
) -> None:
    parent, _, extra = forest
    n = len(parent)
    rng = np.random.default_rng(seed)
    vals = {
        "x": rng.uniform(-10, 10, n).astype(np.float32),
        "y": rng.uniform(-10, 10, n).astype(np.float32),
        "rotation": rng.uniform(-math.pi, math.pi, n).astype(np.float32),
        "scale": rng.uniform(0.5, 1.5, n).astype(np.float32),
    }
    w, ids = build(parent, extra, Transform2D, GlobalTransform2D, vals)
    propagate_2d(w)
    got = w.get_batch(ids, GlobalTransform2D)
    want = propagate_2d_reference(parent, *vals.values())
    for name, ref in zip(vals, want, strict=True):
        close(got[name], ref)
    members = set(np.flatnonzero(parent >= 0).tolist()) | set(parent[parent >= 0])
    assert len(hierarchy(w).order()) == len(members)


@pytest.mark.hypothesis
@settings(max_examples=40, deadline=None)
@given(forests(), st.integers(0, 2**32 - 1))
def test_3d_kernel_matches_the_numpy_reference(
    forest: tuple[Array, Array, Array], seed: int
) -> None:
    parent, _, extra = forest
    n = len(parent)
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    vals = {
        "position": rng.uniform(-10, 10, (n, 3)).astype(np.float32),
        "rotation": (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32),
        "scale": rng.uniform(0.5, 1.5, (n, 3)).astype(np.float32),
    }
    w, ids = build(parent, extra, Transform3D, GlobalTransform3D, vals)
    w.add_system(propagate_transforms_3d)
    w.step()
    got = w.get_batch(ids, GlobalTransform3D)
    want = propagate_3d_reference(parent, *vals.values())
    for name, ref in zip(vals, want, strict=True):
        close(got[name], ref)
