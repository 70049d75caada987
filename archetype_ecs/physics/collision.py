"""Collisions of circles and axis-aligned boxes: detection on the grid, and response.

:func:`find_contacts` is the broad phase (all center pairs within twice the largest
collider reach, from :meth:`Grid.pairs`, sorted by pair) plus the narrow phase
(circle-circle, box-box, circle-box). :func:`resolve_contacts` separates overlapping
bodies and applies restitution impulses, mass-weighted. The ``physics_collide``
system runs both over every entity with ``Position2D`` and ``Collider`` and leaves
the frame's contacts in the ``Contacts`` resource.

Determinism: contacts are sorted by pair ``(i, j)`` (indices in the query's
archetype order), the response is simultaneous (each contact reads the state before
the response) and per-body sums run in that order. The result does not depend on
the grid's cell size, threads or the order the grid visits pairs in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype_ecs.physics._kernels import (
    contacts_kernel,
    inverse_mass,
    respond_kernel,
)
from archetype_ecs.physics.components import Collider, Mass, Position2D, Velocity2D
from archetype_ecs.physics.errors import PhysicsError
from archetype_ecs.physics.grid import build_grid
from archetype_ecs.physics.integration import WorldBounds
from archetype_ecs.system import SystemContext, system

__all__ = [
    "CollisionSettings",
    "ContactSet",
    "Contacts",
    "collide",
    "find_contacts",
    "resolve_contacts",
]

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class ContactSet:
    """Overlapping pairs: ``i < j`` (indices), normal from i to j, depth > 0."""

    i: Array
    j: Array
    nx: Array
    ny: Array
    depth: Array

    def __len__(self) -> int:
        return int(self.i.shape[0])


@dataclass
class CollisionSettings:
    """Resource: how contacts are resolved.

    Attributes
    ----------
    restitution
        Fraction of the approach speed kept along the normal (0: no bounce,
        1: elastic).
    percent
        Fraction of the overlap removed per frame (1: all of it).
    slop
        Overlap left alone (avoids jitter of resting contacts).
    """

    restitution: float = 0.5
    percent: float = 1.0
    slop: float = 0.0

    def check(self) -> None:
        """Raise :class:`PhysicsError` on values outside their ranges."""
        ok = (
            0.0 <= self.restitution <= 1.0
            and 0.0 <= self.percent <= 1.0
            and math.isfinite(self.slop)
            and self.slop >= 0.0
        )
        if not ok:
            raise PhysicsError(
                f"CollisionSettings: need 0 <= restitution <= 1, 0 <= percent <= 1 and "
                f"slop >= 0; got restitution={self.restitution!r}, "
                f"percent={self.percent!r}, slop={self.slop!r}"
            )


@dataclass
class Contacts:
    """Resource: the contacts the last ``physics_collide`` run found and resolved,
    by entity id (``a < b`` in query order), with normals from ``a`` to ``b``."""

    a: Array = field(default_factory=lambda: np.empty(0, np.uint64))
    b: Array = field(default_factory=lambda: np.empty(0, np.uint64))
    nx: Array = field(default_factory=lambda: np.empty(0))
    ny: Array = field(default_factory=lambda: np.empty(0))
    depth: Array = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return int(self.a.shape[0])


def _reach(shape: Array, radius: Array, hx: Array, hy: Array) -> Array:
    return np.where(shape == 0, radius, np.hypot(hx, hy))


def _check_colliders(shape: Array, radius: Array, hx: Array, hy: Array) -> None:
    bad_shape = (shape != 0) & (shape != 1)
    circle = shape == 0
    bad_size = np.where(
        circle,
        ~(np.isfinite(radius) & (radius >= 0)),
        ~(np.isfinite(hx) & np.isfinite(hy) & (hx >= 0) & (hy >= 0)),
    )
    bad = bad_shape | bad_size
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise PhysicsError(
            f"collider {k} is invalid (shape={int(shape[k])}, radius={radius[k]}, "
            f"hx={hx[k]}, hy={hy[k]}): shape must be 0 (circle) or 1 (box) with "
            "finite sizes >= 0; build colliders with Collider.circle / Collider.box"
        )


def find_contacts(
    x: Array,
    y: Array,
    shape: Array,
    radius: Array,
    hx: Array,
    hy: Array,
    *,
    bounds: WorldBounds | None = None,
) -> ContactSet:
    """Every overlapping pair of colliders, sorted by ``(i, j)``.

    Parameters
    ----------
    x, y
        Centers.
    shape, radius, hx, hy
        Collider fields (see :class:`~archetype_ecs.physics.components.Collider`).
    bounds
        With ``mode="wrap"``, offsets between centers go to the nearest image.

    Returns
    -------
    ContactSet
        Pairs ``i < j`` that overlap (``depth > 0``; touching is not a contact).

    Raises
    ------
    PhysicsError
        A collider with an unknown shape or a negative / non-finite size.

    Notes
    -----
    The broad phase is :meth:`Grid.pairs` with radius ``2 * max reach`` (reach:
    a circle's radius, a box's half-diagonal) on a grid of that cell size, so one
    huge collider makes the broad phase coarse for everyone.
    """
    shape = np.ascontiguousarray(shape, dtype=np.uint8)
    radius = np.ascontiguousarray(radius, dtype=np.float64)
    hx = np.ascontiguousarray(hx, dtype=np.float64)
    hy = np.ascontiguousarray(hy, dtype=np.float64)
    _check_colliders(shape, radius, hx, hy)
    n = shape.shape[0]
    reach = float(_reach(shape, radius, hx, hy).max()) if n else 0.0
    cutoff = 2.0 * reach
    cell = cutoff if cutoff > 0 else 1.0
    if bounds is not None and bounds.periodic:
        grid = build_grid(x, y, cell, bounds=bounds.rect, periodic=True)
    else:
        grid = build_grid(x, y, cell)
    pi, pj = grid.pairs(cutoff)
    m = pi.shape[0]
    nx, ny, depth = np.empty(m), np.empty(m), np.empty(m)
    px, py = grid.periods
    hit = contacts_kernel(
        pi, pj, grid.x, grid.y, shape, radius, hx, hy, px, py, nx, ny, depth
    )
    return ContactSet(pi[hit], pj[hit], nx[hit], ny[hit], depth[hit])


def resolve_contacts(
    contacts: ContactSet,
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    inv_mass: Array,
    settings: CollisionSettings,
) -> None:
    """Separate and bounce the bodies of ``contacts``, in place (float64 arrays).

    See :func:`~archetype_ecs.physics._kernels.respond_kernel` for the formulas;
    ``inv_mass`` is 0 for bodies that must not move.
    """
    settings.check()
    respond_kernel(
        contacts.i,
        contacts.j,
        contacts.nx,
        contacts.ny,
        contacts.depth,
        x,
        y,
        vx,
        vy,
        inv_mass,
        float(settings.restitution),
        float(settings.percent),
        float(settings.slop),
    )


@dataclass
class _Bodies:
    """Collider bodies gathered over archetypes, and the views to write back."""

    ents: Array
    x: Array
    y: Array
    vx: Array
    vy: Array
    inv_mass: Array
    shape: Array
    radius: Array
    hx: Array
    hy: Array
    parts: list[tuple[Any, Any, int, int]]  # (pos view, vel view | None, start, stop)


def _gather(ctx: SystemContext) -> _Bodies:
    q = ctx.query(Position2D, Collider, optional=[Velocity2D, Mass])
    cols: dict[str, list[Array]] = {
        k: [] for k in ("e", "x", "y", "vx", "vy", "m", "hv", "s", "r", "hx", "hy")
    }
    parts = []
    start = 0
    for ents, pos, col, vel, mass in q:
        n = len(ents)
        has_v = vel is not None
        zeros = np.zeros(n)
        for k, v in (
            ("e", ents),
            ("x", pos.x),
            ("y", pos.y),
            ("vx", vel.x if has_v else zeros),
            ("vy", vel.y if has_v else zeros),
            ("m", mass.value if mass is not None else np.ones(n)),
            ("hv", np.full(n, has_v)),
            ("s", col.shape),
            ("r", col.radius),
            ("hx", col.hx),
            ("hy", col.hy),
        ):
            cols[k].append(v)
        parts.append((pos, vel, start, start + n))
        start += n
    cat = {
        k: np.concatenate(v) if v else np.empty(0, np.uint64 if k == "e" else None)
        for k, v in cols.items()
    }
    inv = np.empty(start)
    inverse_mass(cat["m"].astype(np.float64), cat["hv"].astype(np.bool_), inv)
    return _Bodies(
        cat["e"].astype(np.uint64),
        cat["x"].astype(np.float64),
        cat["y"].astype(np.float64),
        cat["vx"].astype(np.float64),
        cat["vy"].astype(np.float64),
        inv,
        cat["s"].astype(np.uint8),
        cat["r"].astype(np.float64),
        cat["hx"].astype(np.float64),
        cat["hy"].astype(np.float64),
        parts,
    )


@system(
    name="physics_collide",
    phase="post_update",
    sets=["physics"],
    reads=[Collider, Mass],
    writes=[Position2D, Velocity2D],
    resources=[WorldBounds, CollisionSettings],
    resources_mut=[Contacts],
)
def collide(ctx: SystemContext) -> None:
    """Find and resolve collider contacts; store them in ``Contacts``.

    Bodies without ``Velocity2D``, or with ``Mass <= 0``, are immovable.
    """
    settings = ctx.world.get_resource(CollisionSettings) or CollisionSettings()
    settings.check()
    bodies = _gather(ctx)
    found = find_contacts(
        bodies.x,
        bodies.y,
        bodies.shape,
        bodies.radius,
        bodies.hx,
        bodies.hy,
        bounds=ctx.world.get_resource(WorldBounds),
    )
    resolve_contacts(
        found, bodies.x, bodies.y, bodies.vx, bodies.vy, bodies.inv_mass, settings
    )
    for pos, vel, a, b in bodies.parts:
        pos.x[:] = bodies.x[a:b]
        pos.y[:] = bodies.y[a:b]
        if vel is not None:
            vel.x[:] = bodies.vx[a:b]
            vel.y[:] = bodies.vy[a:b]
    out: Contacts | None = ctx.world.get_resource(Contacts)
    if out is None:
        return
    out.a = bodies.ents[found.i]
    out.b = bodies.ents[found.j]
    out.nx, out.ny, out.depth = found.nx, found.ny, found.depth
