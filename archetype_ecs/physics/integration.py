"""Integration and world bounds: the ``Gravity`` and ``WorldBounds`` resources and the
systems that step bodies (semi-implicit Euler) and keep them inside the bounds.

Both systems run once per archetype that has the components, calling one Numba
kernel per archetype on the column views (no gathering, no Python per entity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from archetype_ecs.physics._kernels import (
    BOUNCE,
    CLAMP,
    HAS_ACCELERATION,
    HAS_FORCE,
    HAS_MASS,
    WRAP,
    bounds_kernel,
    integrate_kernel,
)
from archetype_ecs.physics.components import (
    Acceleration2D,
    Force2D,
    Mass,
    Position2D,
    Velocity2D,
)
from archetype_ecs.physics.errors import PhysicsError
from archetype_ecs.system import SystemContext, system

__all__ = [
    "BOUNDS_MODES",
    "Gravity",
    "WorldBounds",
    "apply_bounds",
    "integrate",
]

Array = np.ndarray[Any, Any]
BOUNDS_MODES = {"wrap": WRAP, "bounce": BOUNCE, "clamp": CLAMP}
# Zero-length stand-ins for an absent component's columns (the kernels never index
# them): read-only like the views of read components, writable like written ones,
# so each kernel keeps one compiled signature.
_ABSENT = np.zeros(0)
_ABSENT.flags.writeable = False
_NO_VELOCITY = np.zeros(0)


@dataclass
class Gravity:
    """Resource: an acceleration applied to every dynamic body (default none)."""

    x: float = 0.0
    y: float = 0.0


@dataclass
class WorldBounds:
    """Resource: the domain ``[xmin, xmax] x [ymin, ymax]`` and what its edges do.

    Attributes
    ----------
    mode
        ``"wrap"``: a periodic domain (a torus); positions map into
        ``[min, max)``, and the spatial grid and collisions measure distances to
        the nearest image. ``"bounce"``: positions reflect off the walls and the
        velocity component toward the wall flips, times ``restitution``.
        ``"clamp"``: positions stop at the wall and the velocity component toward
        it becomes 0.
    restitution
        Bounce only: the fraction of the normal speed kept (1 = elastic).

    Notes
    -----
    Bounds act on body centers (``Position2D``), not on collider extents.

    Examples
    --------
    >>> WorldBounds(0, 0, 100, 50, mode="bounce").size
    (100.0, 50.0)
    """

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    mode: str = "wrap"
    restitution: float = 1.0

    def __post_init__(self) -> None:
        self.check()

    @property
    def size(self) -> tuple[float, float]:
        """``(width, height)``."""
        return float(self.xmax - self.xmin), float(self.ymax - self.ymin)

    @property
    def rect(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` as floats."""
        return (
            float(self.xmin),
            float(self.ymin),
            float(self.xmax),
            float(self.ymax),
        )

    @property
    def periodic(self) -> bool:
        """True in ``"wrap"`` mode."""
        return self.mode == "wrap"

    def check(self) -> int:
        """Validate; return the mode's kernel code.

        Raises
        ------
        PhysicsError
            When the bounds are not finite, empty, the mode is unknown or the
            restitution is outside [0, 1].
        """
        vals = (self.xmin, self.ymin, self.xmax, self.ymax)
        if not all(math.isfinite(v) for v in vals):
            raise PhysicsError(
                f"WorldBounds: xmin, ymin, xmax, ymax must be finite numbers, got {vals}"
            )
        if not (self.xmin < self.xmax and self.ymin < self.ymax):
            raise PhysicsError(
                f"WorldBounds {vals} are empty; need xmin < xmax and ymin < ymax"
            )
        if self.mode not in BOUNDS_MODES:
            raise PhysicsError(
                f"WorldBounds: unknown mode {self.mode!r}; use one of "
                f"{', '.join(map(repr, BOUNDS_MODES))}"
            )
        if not 0.0 <= self.restitution <= 1.0:
            raise PhysicsError(
                f"WorldBounds: restitution must be in [0, 1], got {self.restitution!r}"
            )
        return BOUNDS_MODES[self.mode]


@system(
    name="physics_integrate",
    phase="post_update",
    sets=["physics"],
    reads=[Acceleration2D, Force2D, Mass],
    writes=[Position2D, Velocity2D],
    resources=[Gravity],
)
def integrate(ctx: SystemContext) -> None:
    """Semi-implicit Euler: ``v += (F / m + g + A) * dt``, then ``x += v * dt``.

    Bodies are the entities with ``Position2D`` and ``Velocity2D``; ``Force2D``,
    ``Mass`` and ``Acceleration2D`` are optional (absent: 0, 1, 0), ``Gravity``
    is read if the world has it, ``dt`` is ``Time.dt``.
    """
    g = ctx.world.get_resource(Gravity) or Gravity()
    dt = ctx.time.dt
    q = ctx.query(Position2D, Velocity2D, optional=[Acceleration2D, Force2D, Mass])
    for _, pos, vel, acc, force, mass in q:
        flags = (
            (HAS_ACCELERATION if acc is not None else 0)
            | (HAS_FORCE if force is not None else 0)
            | (HAS_MASS if mass is not None else 0)
        )
        integrate_kernel(
            pos.x,
            pos.y,
            vel.x,
            vel.y,
            _ABSENT if acc is None else acc.x,
            _ABSENT if acc is None else acc.y,
            _ABSENT if force is None else force.x,
            _ABSENT if force is None else force.y,
            _ABSENT if mass is None else mass.value,
            flags,
            float(g.x),
            float(g.y),
            float(dt),
        )


@system(
    name="physics_bounds",
    phase="post_update",
    sets=["physics"],
    writes=[Position2D, Velocity2D],
    resources=[WorldBounds],
)
def apply_bounds(ctx: SystemContext) -> None:
    """Keep every ``Position2D`` inside the ``WorldBounds`` resource (if any)."""
    b: WorldBounds | None = ctx.world.get_resource(WorldBounds)
    if b is None:
        return
    mode = b.check()
    xmin, ymin, xmax, ymax = b.rect
    e = float(b.restitution)
    for _, pos, vel in ctx.query(Position2D, optional=[Velocity2D]):
        has_v = vel is not None
        vx = vel.x if has_v else _NO_VELOCITY
        vy = vel.y if has_v else _NO_VELOCITY
        bounds_kernel(pos.x, pos.y, vx, vy, has_v, xmin, ymin, xmax, ymax, mode, e)
