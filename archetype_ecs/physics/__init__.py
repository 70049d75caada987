"""2D physics add-on: bodies, integration, world bounds, spatial grid, collisions.

Import it explicitly (``import archetype_ecs.physics``); ``import archetype_ecs``
does not load it.
"""

from archetype_ecs.physics.grid import Grid, GridError, build_grid

__all__ = ["Grid", "GridError", "build_grid"]
