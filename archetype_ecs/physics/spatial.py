"""The world's spatial grid: the ``SpatialGrid`` resource, rebuilt every frame.

``update_spatial_grid`` (phase ``pre_update``) gathers the ``Position2D`` of every
entity, in every archetype, and builds a :class:`~archetype_ecs.physics.grid.Grid`
over them, periodic when ``WorldBounds`` wraps. Systems of the frame then query it:
grid index ``k`` is entity ``entities[k]``; :meth:`SpatialGrid.index_of` maps a
query's entity column to grid indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype_ecs.physics.components import Position2D
from archetype_ecs.physics.errors import PhysicsError
from archetype_ecs.physics.grid import Grid, build_grid
from archetype_ecs.physics.integration import WorldBounds
from archetype_ecs.system import SystemContext, system

__all__ = ["SpatialGrid", "gather_positions", "update_spatial_grid"]

Array = np.ndarray[Any, Any]
_SLOT = np.uint64(0xFFFF_FFFF)


@dataclass
class SpatialGrid:
    """Resource: settings and the latest grid over every ``Position2D``.

    Attributes
    ----------
    cell_size
        Requested cell size (about the query radius you use most).
    grid
        The grid built this frame (``None`` before the first build).
    entities
        uint64 entity id of each grid index.
    frame
        ``Time.frame`` of the last build.
    """

    cell_size: float = 1.0
    grid: Grid | None = None
    entities: Array = field(default_factory=lambda: np.empty(0, np.uint64))
    frame: int = -1
    _slot_index: Array = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self) -> None:
        cs = self.cell_size
        if not (math.isfinite(cs) and cs > 0):
            raise PhysicsError(
                f"SpatialGrid: cell_size must be a finite number > 0, got {cs!r}"
            )

    def index_of(self, entities: Array) -> Array:
        """Grid index (int64) of each entity id; -1 for entities not in the grid.

        Raises
        ------
        PhysicsError
            Before the grid was built.
        """
        if self.grid is None:
            raise PhysicsError(
                "SpatialGrid has not been built yet; it is rebuilt by the "
                "update_spatial_grid system in pre_update (add it with add_physics)"
            )
        ents = np.asarray(entities, dtype=np.uint64)
        slots = (ents & _SLOT).astype(np.int64)
        out = np.full(ents.shape[0], -1, dtype=np.int64)
        ok = slots < self._slot_index.shape[0]
        idx = self._slot_index[slots[ok]]
        # a slot may hold another generation now: check the full id
        same = idx >= 0
        same[same] = self.entities[idx[same]] == ents[ok][same]
        out[np.flatnonzero(ok)[same]] = idx[same]
        return out

    def rebuild(
        self, entities: Array, x: Array, y: Array, bounds: WorldBounds | None
    ) -> Grid:
        """Build the grid over these points (what the system does each frame)."""
        if bounds is None:
            grid = build_grid(x, y, self.cell_size)
        else:
            grid = build_grid(
                x, y, self.cell_size, bounds=bounds.rect, periodic=bounds.periodic
            )
        self.grid = grid
        self.entities = np.asarray(entities, dtype=np.uint64)
        slots = (self.entities & _SLOT).astype(np.int64)
        size = int(slots.max()) + 1 if slots.shape[0] else 0
        index = np.full(size, -1, dtype=np.int64)
        index[slots] = np.arange(slots.shape[0], dtype=np.int64)
        self._slot_index = index
        return grid


def gather_positions(ctx: SystemContext) -> tuple[Array, Array, Array]:
    """``(entities, x, y)`` of every ``Position2D``, archetype by archetype.

    One archetype: the columns themselves (float64 views, no copy); several: one
    concatenated copy. Deterministic order (the query's archetype order).
    """
    parts = [(e, p.x, p.y) for e, p in ctx.query(Position2D)]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        empty = np.empty(0)
        return np.empty(0, np.uint64), empty, empty
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


@system(
    name="physics_grid",
    phase="pre_update",
    sets=["physics"],
    reads=[Position2D],
    resources=[WorldBounds],
    resources_mut=[SpatialGrid],
)
def update_spatial_grid(ctx: SystemContext) -> None:
    """Rebuild ``SpatialGrid`` over every ``Position2D`` (periodic if bounds wrap)."""
    sg: SpatialGrid = ctx.resource_mut(SpatialGrid)
    ents, x, y = gather_positions(ctx)
    sg.rebuild(ents, x, y, ctx.world.get_resource(WorldBounds))
    sg.frame = ctx.time.frame
