"""Physics components: 2D position, velocity, acceleration, force, mass and collider.

Vectors are two float64 fields ``x`` and ``y`` (columns ``Position2D.x`` ...), so a
kernel gets one array per axis. Names end in ``2D`` like the transforms of
:mod:`archetype_ecs.transform` and never clash with a model's own ``Position``.
``Position2D`` is the body's world position: physics bodies are roots, not children
in the transform hierarchy (render them with ``extract(world, position=Position2D)``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

from archetype_ecs.component import component

if TYPE_CHECKING:
    from typing import TypeAlias

    f64: TypeAlias = float
    u8: TypeAlias = int
else:
    from archetype_ecs.schema import f64, u8

__all__ = [
    "Acceleration2D",
    "Collider",
    "ColliderShape",
    "Force2D",
    "Mass",
    "Position2D",
    "Velocity2D",
]


class ColliderShape(IntEnum):
    """Codes stored in ``Collider.shape``."""

    CIRCLE = 0
    BOX = 1


@component
class Position2D:
    """World position of a body (its center), in world units."""

    x: f64 = 0.0
    y: f64 = 0.0


@component
class Velocity2D:
    """World units per second."""

    x: f64 = 0.0
    y: f64 = 0.0


@component
class Acceleration2D:
    """An extra acceleration added every step (e.g. written by a steering system).

    Integration uses ``a = Force2D / Mass + Gravity + Acceleration2D``.
    """

    x: f64 = 0.0
    y: f64 = 0.0


@component
class Force2D:
    """A force applied every step until changed (it is not cleared after a step)."""

    x: f64 = 0.0
    y: f64 = 0.0


@component
class Mass:
    """Mass of a body; a body without ``Mass`` has mass 1.

    ``value <= 0`` (or infinite) makes the body kinematic: forces, gravity and
    collisions do not change its velocity (a static wall has no ``Velocity2D`` or a
    zero one).
    """

    value: f64 = 1.0


@component
class Collider:
    """Collision shape centered on ``Position2D``: a circle or an axis-aligned box.

    ``shape`` is a :class:`ColliderShape` code; circles use ``radius``, boxes the
    half-extents ``hx`` and ``hy``. Build one with :meth:`circle` or :meth:`box`.

    Examples
    --------
    >>> Collider.circle(0.5)
    Collider(shape=0, radius=0.5, hx=0.0, hy=0.0)
    >>> Collider.box(2.0, 1.0).shape == ColliderShape.BOX
    True
    """

    shape: u8 = 0
    radius: f64 = 0.5
    hx: f64 = 0.0
    hy: f64 = 0.0

    @staticmethod
    def circle(radius: float) -> Collider:
        """A circle collider of ``radius``."""
        make: Any = Collider  # a dataclass at run time (built by @component)
        return make(int(ColliderShape.CIRCLE), float(radius), 0.0, 0.0)  # type: ignore[no-any-return] # see above

    @staticmethod
    def box(hx: float, hy: float) -> Collider:
        """An axis-aligned box collider with half-extents ``hx``, ``hy``."""
        make: Any = Collider  # a dataclass at run time (built by @component)
        return make(int(ColliderShape.BOX), 0.0, float(hx), float(hy))  # type: ignore[no-any-return] # see above
