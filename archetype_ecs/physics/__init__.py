"""2D physics add-on: bodies, integration, world bounds, spatial grid, collisions.

Import it explicitly (``import archetype_ecs.physics``); ``import archetype_ecs``
does not load it. ``add_physics(world, ...)`` inserts the resources and systems;
the grid (:mod:`archetype_ecs.physics.grid`) also works on plain arrays, from Python
or from your own Numba kernels. See ``docs/physics.md``.
"""

from archetype_ecs.physics.collision import (
    CollisionSettings,
    Contacts,
    ContactSet,
    collide,
    find_contacts,
    resolve_contacts,
)
from archetype_ecs.physics.components import (
    Acceleration2D,
    Collider,
    ColliderShape,
    Force2D,
    Mass,
    Position2D,
    Velocity2D,
)
from archetype_ecs.physics.errors import GridError, PhysicsError
from archetype_ecs.physics.grid import Grid, build_grid
from archetype_ecs.physics.integration import (
    Gravity,
    WorldBounds,
    apply_bounds,
    integrate,
)
from archetype_ecs.physics.plugin import add_physics
from archetype_ecs.physics.spatial import SpatialGrid, update_spatial_grid

__all__ = [
    "Acceleration2D",
    "Collider",
    "ColliderShape",
    "CollisionSettings",
    "ContactSet",
    "Contacts",
    "Force2D",
    "Gravity",
    "Grid",
    "GridError",
    "Mass",
    "PhysicsError",
    "Position2D",
    "SpatialGrid",
    "Velocity2D",
    "WorldBounds",
    "add_physics",
    "apply_bounds",
    "build_grid",
    "collide",
    "find_contacts",
    "integrate",
    "resolve_contacts",
    "update_spatial_grid",
]
