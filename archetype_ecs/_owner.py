"""Objects a World owns refer back to it weakly; this dereferences that reference.

A strong back-reference would make a cycle (the world holds the object, the object
the world), and keep a dropped world's tables alive until the next full GC pass.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archetype_ecs.world import World


def world_of(ref: weakref.ref[World], owner: str) -> World:
    """The world ``ref`` points to; a RuntimeError naming ``owner`` if it is gone."""
    world = ref()
    if world is None:
        raise RuntimeError(
            f"{owner}'s world no longer exists: keep a reference to the World "
            f"while you use {owner}"
        )
    return world
