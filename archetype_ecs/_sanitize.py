"""Full invariant checker of a world; runs after every structural change when the
environment variable ``ARCHETYPE_ECS_SANITIZE=1`` is set (and from tests any time).

Vectorized, O(entities + slots): slow enough for a debug mode, fast enough for CI.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from archetype_ecs.entity import split
from archetype_ecs.errors import InternalError

if TYPE_CHECKING:
    from archetype_ecs.world import World

__all__ = ["check_world", "sanitize_enabled"]


def sanitize_enabled() -> bool:
    """True when ``ARCHETYPE_ECS_SANITIZE`` is set to a non-empty value other than 0."""
    return os.environ.get("ARCHETYPE_ECS_SANITIZE", "0") not in ("", "0")


def check_world(world: World) -> None:
    """Raise :class:`InternalError` if any storage invariant is broken.

    Checks: every live entity sits in exactly one table at exactly one row and the
    entity index agrees; the live count matches; free slots are not alive; every
    generation is at least 1; every column of a table has its capacity.
    """
    index = world.entities
    size = index.size
    seen = np.zeros(size, dtype=np.int64)
    total = 0
    for table in world.tables:
        ids = table.entities
        total += len(ids)
        slot, gen = split(ids)
        if len(ids) and slot.max() >= size:
            raise InternalError(f"table {table.id} holds an id beyond the entity index")
        np.add.at(seen, slot, 1)
        where = np.flatnonzero(
            (index.table[slot] != table.id)
            | (index.row[slot] != np.arange(len(ids)))
            | (index.generation[slot] != gen)
        )
        if len(where):
            r = int(where[0])
            raise InternalError(
                f"table {table.id} row {r} holds id {int(ids[r])} but the entity index "
                f"says table {int(index.table[slot[r]])} row {int(index.row[slot[r]])}"
            )
        for key in table.keys:
            if len(table._cols[key]) != table.capacity:
                raise InternalError(
                    f"table {table.id} column {key!r} lost its capacity"
                )
    alive_slots = np.flatnonzero(index.table[:size] >= 0)
    if (seen > 1).any():
        raise InternalError(f"slot {int(np.flatnonzero(seen > 1)[0])} is in two rows")
    if total != index.alive_count or len(alive_slots) != total:
        raise InternalError(
            f"live count mismatch: tables hold {total}, index counts "
            f"{index.alive_count}, {len(alive_slots)} slots are marked alive"
        )
    if (seen[alive_slots] != 1).any():
        raise InternalError("a slot marked alive is in no table")
    free = index.free_list()
    if len(free) and (index.table[free] >= 0).any():
        raise InternalError("a slot on the free list is alive")
    if size and (index.generation[:size] < 1).any():
        raise InternalError("a slot has generation 0 (reserved for pending ids)")
