"""``add_physics``: put the physics resources and systems into a world in one call."""

from __future__ import annotations

import dataclasses

from archetype_ecs.physics.collision import CollisionSettings, Contacts, collide
from archetype_ecs.physics.errors import PhysicsError
from archetype_ecs.physics.integration import (
    Gravity,
    WorldBounds,
    apply_bounds,
    integrate,
)
from archetype_ecs.physics.spatial import SpatialGrid, update_spatial_grid
from archetype_ecs.system import System
from archetype_ecs.world import World

__all__ = ["add_physics"]


def add_physics(
    world: World,
    *,
    gravity: tuple[float, float] = (0.0, 0.0),
    bounds: WorldBounds | None = None,
    grid_cell_size: float | None = None,
    collisions: CollisionSettings | bool = False,
) -> list[System]:
    """Insert the physics resources and systems into ``world``.

    Parameters
    ----------
    world
        The world to extend.
    gravity
        The ``Gravity`` resource's acceleration.
    bounds
        A ``WorldBounds`` resource; adds ``physics_bounds``.
    grid_cell_size
        Adds the ``SpatialGrid`` resource with this cell size and the
        ``physics_grid`` system (``pre_update``) that rebuilds it every frame.
    collisions
        ``True`` or a ``CollisionSettings``: adds ``physics_collide`` and the
        ``Contacts`` resource.

    Returns
    -------
    list of System
        The registered systems. In ``post_update`` they run in the order
        ``physics_integrate``, ``physics_collide``, ``physics_bounds``, all in the
        set ``"physics"`` (order your systems against it with ``before`` /
        ``after``).

    Raises
    ------
    PhysicsError
        When a physics system is already registered (nothing is changed then).

    Examples
    --------
    >>> from archetype_ecs import World
    >>> from archetype_ecs.physics import Position2D, Velocity2D, add_physics
    >>> world = World(dt=0.5)
    >>> _ = add_physics(world, gravity=(0.0, -2.0))
    >>> e = world.spawn(Position2D(0.0, 10.0), Velocity2D(1.0, 0.0))
    >>> world.step()
    >>> world.component(e, Position2D)
    Position2D(x=0.5, y=9.5)
    """
    chain = [integrate]
    if collisions is not False:
        chain.append(collide)
    if bounds is not None:
        chain.append(apply_bounds)
    wanted = ([update_spatial_grid] if grid_cell_size is not None else []) + chain
    taken = [s.name for s in wanted if s.name in world.schedule._by_name]
    if taken:
        raise PhysicsError(
            f"add_physics: systems {taken} are already registered in this world; "
            "call add_physics once per world"
        )
    settings = (
        collisions if isinstance(collisions, CollisionSettings) else CollisionSettings()
    )
    settings.check()
    grid = SpatialGrid(grid_cell_size) if grid_cell_size is not None else None
    world.insert_resource(Gravity(float(gravity[0]), float(gravity[1])))
    if bounds is not None:
        bounds.check()
        world.insert_resource(bounds)
    if grid is not None:
        world.insert_resource(grid)
    if collisions is not False:
        world.insert_resource(settings)
        world.insert_resource(Contacts())
    out = []
    prev: str | None = None
    for s in wanted:
        if s.phase == "post_update":
            s = dataclasses.replace(s, after=(prev,) if prev else ())
            prev = s.name
        out.append(world.schedule.add_system(s))
    return out
