"""Scene transforms: local and global 2D / 3D transforms, propagated down the hierarchy.

``GlobalTransform*`` is computed from ``Transform*`` depth level by depth level (roots
first) by Numba kernels; ``propagate_transforms_2d`` / ``_3d`` are the systems.
``propagate_*_reference`` are the plain NumPy definitions the kernels are tested against.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from archetype_ecs._hierarchy_kernels import propagate_2d_kernel, propagate_3d_kernel
from archetype_ecs.component import component, schema_of
from archetype_ecs.hierarchy import ChildOf, Hierarchy, hierarchy
from archetype_ecs.system import SystemContext, system
from archetype_ecs.table import ArchetypeTable

if TYPE_CHECKING:
    from typing import TypeAlias

    from archetype_ecs.world import World

    f32: TypeAlias = float
    Vec3: TypeAlias = tuple[float, float, float]
    Quat: TypeAlias = tuple[float, float, float, float]
else:
    from archetype_ecs.schema import f32

    Vec3 = f32[3]
    Quat = f32[4]

__all__ = [
    "GlobalTransform2D",
    "GlobalTransform3D",
    "Transform2D",
    "Transform3D",
    "propagate_2d",
    "propagate_2d_reference",
    "propagate_3d",
    "propagate_3d_reference",
    "propagate_transforms_2d",
    "propagate_transforms_3d",
]

Array = np.ndarray[Any, Any]
_MASK = np.uint64(0xFFFF_FFFF)


@component
class Transform2D:
    """Position, rotation (radians, counter-clockwise) and uniform scale, local to the
    parent (to the world for roots)."""

    x: f32 = 0.0
    y: f32 = 0.0
    rotation: f32 = 0.0
    scale: f32 = 1.0


@component
class GlobalTransform2D:
    """The world-space :class:`Transform2D`, written by ``propagate_transforms_2d``."""

    x: f32 = 0.0
    y: f32 = 0.0
    rotation: f32 = 0.0
    scale: f32 = 1.0


@component
class Transform3D:
    """Position, rotation (unit quaternion x, y, z, w) and per-axis scale, local to
    the parent (to the world for roots)."""

    position: Vec3 = (0.0, 0.0, 0.0)
    rotation: Quat = (0.0, 0.0, 0.0, 1.0)
    scale: Vec3 = (1.0, 1.0, 1.0)


@component
class GlobalTransform3D:
    """The world-space :class:`Transform3D`, written by ``propagate_transforms_3d``."""

    position: Vec3 = (0.0, 0.0, 0.0)
    rotation: Quat = (0.0, 0.0, 0.0, 1.0)
    scale: Vec3 = (1.0, 1.0, 1.0)


# ----------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Kind:
    name: str
    local: type
    glob: type
    kernel: Callable[..., None]


_2D = _Kind("transform2d", Transform2D, GlobalTransform2D, propagate_2d_kernel)
_3D = _Kind("transform3d", Transform3D, GlobalTransform3D, propagate_3d_kernel)


@dataclass
class _Plan:
    """Kernel calls of one propagation, valid while the key holds."""

    key: tuple[object, ...]
    calls: list[tuple[Any, ...]]  # level-major: parents before children
    rows: int


def _table_calls(
    world: World,
    i: int,
    tables: list[ArchetypeTable],
    position: Array,
    kind: _Kind,
    parent_slot: Array,
    depth: Array,
) -> list[tuple[int, tuple[Any, ...]]]:
    """``(depth, kernel args)`` per (depth, parent table) run of table ``i``'s rows."""
    t = tables[i]
    ent = world.entities
    cols = [
        [t.column(k) for k in schema_of(c).column_keys()]
        for c in (kind.local, kind.glob)
    ]
    slots = (t.entities & _MASK).astype(np.int64)
    parent = parent_slot[slots]
    safe = np.maximum(parent, 0)
    # A parent without both components does not propagate: the child acts as a root.
    ptab = np.where(parent >= 0, position[ent.table[safe]], -1)
    prow = np.where(ptab >= 0, ent.row[safe], -1)
    d = depth[slots].astype(np.int64)
    key = d * (len(tables) + 1) + ptab + 1
    order = np.argsort(key, kind="stable")
    cuts = [0, *(np.flatnonzero(np.diff(key[order])) + 1).tolist(), len(order)]
    out = []
    for a, b in itertools.pairwise(cuts):
        rows = order[a:b]
        pt = int(ptab[rows[0]])
        pcols = [tables[pt].column(k) for k in schema_of(kind.glob).column_keys()]
        args = (rows, prow[rows], *cols[0], *cols[1], *(pcols if pt >= 0 else cols[1]))
        out.append((int(d[rows[0]]), args))
    return out


def _plan(world: World, h: Hierarchy, kind: _Kind) -> _Plan:
    tables = [t for t in world.query(kind.local, kind.glob).tables() if t.len]
    key = (h.version, tuple((t.id, t.version) for t in tables))
    cached = h.caches.get(kind.name)
    if isinstance(cached, _Plan) and cached.key == key:
        return cached
    idx = h._index_now()
    depth = h._levels_now().depth
    position = np.full(len(world.tables), -1, dtype=np.int64)  # table id -> index
    for i, t in enumerate(tables):
        position[t.id] = i
    calls = [
        c
        for i in range(len(tables))
        for c in _table_calls(world, i, tables, position, kind, idx.parent_slot, depth)
    ]
    calls.sort(key=lambda c: c[0])  # stable: level by level, tables in order
    plan = _Plan(key, [args for _, args in calls], sum(t.len for t in tables))
    h.caches[kind.name] = plan
    return plan


def _propagate(world: World, kind: _Kind) -> int:
    plan = _plan(world, hierarchy(world), kind)
    kernel = kind.kernel
    for args in plan.calls:
        kernel(*args)
    return plan.rows


def propagate_2d(world: World) -> int:
    """Write every ``GlobalTransform2D`` from the ``Transform2D`` chain above it.

    Roots (no parent, or a parent without both 2D transform components) get
    global = local; a child gets ``parent_global ∘ local``: position
    ``p + s_p R(r_p) local``, rotation ``r_p + r``, scale ``s_p * s``. Parents are
    computed before children: one kernel call per depth level, table and parent
    table, reading the parents' globals from their table.

    Returns
    -------
    int
        The number of entities written (those with both components).

    Examples
    --------
    >>> from archetype_ecs import World
    >>> from archetype_ecs.hierarchy import ChildOf, set_parent
    >>> w = World()
    >>> arm = w.spawn(Transform2D(x=1.0, scale=2.0), GlobalTransform2D())
    >>> hand = w.spawn(Transform2D(x=0.5), GlobalTransform2D())
    >>> set_parent(w, [hand], arm)
    >>> propagate_2d(w)
    2
    >>> w.component(hand, GlobalTransform2D)
    GlobalTransform2D(x=2.0, y=0.0, rotation=0.0, scale=2.0)
    """
    return _propagate(world, _2D)


def propagate_3d(world: World) -> int:
    """Write every ``GlobalTransform3D`` from the ``Transform3D`` chain above it.

    A child gets position ``p + R(q_p) (s_p * local)``, rotation ``q_p * q``
    (quaternion product) and scale ``s_p * s`` (componentwise: exact for uniform
    scales; with non-uniform parent scale and rotation the shear is dropped, as in
    translation-rotation-scale scene graphs generally). Roots as in
    :func:`propagate_2d`.

    Returns
    -------
    int
        The number of entities written.
    """
    return _propagate(world, _3D)


def _system_world(ctx: SystemContext) -> World:
    # The propagation reads the hierarchy index, which belongs to the world.
    world: World = ctx._world
    return world


def _run_2d(ctx: SystemContext) -> None:
    for _ in ctx.query(Transform2D, GlobalTransform2D):  # hands the tables (changed)
        pass
    propagate_2d(_system_world(ctx))


def _run_3d(ctx: SystemContext) -> None:
    for _ in ctx.query(Transform3D, GlobalTransform3D):
        pass
    propagate_3d(_system_world(ctx))


propagate_transforms_2d = system(
    _run_2d,
    name="propagate_transforms_2d",
    phase="post_update",
    reads=[Transform2D, ChildOf],
    writes=[GlobalTransform2D],
)
"""System (post_update): :func:`propagate_2d` once per frame."""

propagate_transforms_3d = system(
    _run_3d,
    name="propagate_transforms_3d",
    phase="post_update",
    reads=[Transform3D, ChildOf],
    writes=[GlobalTransform3D],
)
"""System (post_update): :func:`propagate_3d` once per frame."""


# ------------------------------------------------------------------- references


def _depths(parent: Array) -> Array:
    """Depth of each node of a forest given as parent indices (-1 = root)."""
    depth = np.zeros(len(parent), dtype=np.int64)
    cur = parent.copy()
    for _ in range(len(parent) + 1):
        up = cur >= 0
        if not up.any():
            return depth
        depth[up] += 1
        cur[up] = parent[cur[up]]
    raise ValueError("parent indices form a cycle")


def _by_level(
    parent: Array,
    local: Array,
    compose: Callable[[Array, Array], Array],
) -> Array:
    out = np.empty_like(local)
    depth = _depths(parent)
    for d in range(int(depth.max(initial=-1)) + 1):
        at = np.flatnonzero(depth == d)
        root = parent[at] < 0
        out[at[root]] = local[at[root]]
        kids = at[~root]
        glob = compose(out[parent[kids]].astype(np.float64), local[kids])
        out[kids] = glob.astype(np.float32)
    return out


def _compose_2d(p: Array, loc: Array) -> Array:
    lc = loc.astype(np.float64)
    c, s = np.cos(p[:, 2]), np.sin(p[:, 2])
    return np.stack(
        [
            p[:, 0] + p[:, 3] * (c * lc[:, 0] - s * lc[:, 1]),
            p[:, 1] + p[:, 3] * (s * lc[:, 0] + c * lc[:, 1]),
            p[:, 2] + lc[:, 2],
            p[:, 3] * lc[:, 3],
        ],
        axis=1,
    )


def propagate_2d_reference(
    parent: Array, x: Array, y: Array, rotation: Array, scale: Array
) -> tuple[Array, Array, Array, Array]:
    """NumPy definition of 2D propagation over plain arrays.

    ``parent[i]`` is the index of ``i``'s parent in the same arrays (-1: root).
    Returns global ``(x, y, rotation, scale)`` as float32 (math in float64, each
    level rounded to float32 as stored).
    """
    local = np.stack([x, y, rotation, scale], axis=1).astype(np.float32)
    out = _by_level(np.asarray(parent, dtype=np.int64), local, _compose_2d)
    return out[:, 0], out[:, 1], out[:, 2], out[:, 3]


def _quat_mul(a: Array, b: Array) -> Array:
    ax, ay, az, aw = a.T
    bx, by, bz, bw = b.T
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=1,
    )


def _rotate(q: Array, v: Array) -> Array:
    t = 2.0 * np.cross(q[:, :3], v)
    out: Array = v + q[:, 3:4] * t + np.cross(q[:, :3], t)
    return out


def _compose_3d(p: Array, loc: Array) -> Array:
    lc = loc.astype(np.float64)
    pos = p[:, 0:3] + _rotate(p[:, 3:7], p[:, 7:10] * lc[:, 0:3])
    rot = _quat_mul(p[:, 3:7], lc[:, 3:7])
    return np.concatenate([pos, rot, p[:, 7:10] * lc[:, 7:10]], axis=1)


def propagate_3d_reference(
    parent: Array, position: Array, rotation: Array, scale: Array
) -> tuple[Array, Array, Array]:
    """NumPy definition of 3D propagation (see :func:`propagate_2d_reference`).

    ``position`` and ``scale`` have shape (n, 3), ``rotation`` (n, 4) (x, y, z, w).
    """
    local = np.concatenate([position, rotation, scale], axis=1).astype(np.float32)
    out = _by_level(np.asarray(parent, dtype=np.int64), local, _compose_3d)
    return out[:, 0:3], out[:, 3:7], out[:, 7:10]
