"""Errors of the physics add-on: :class:`PhysicsError` and its grid subclass."""

from __future__ import annotations

from archetype_ecs.errors import EcsError

__all__ = ["GridError", "PhysicsError"]


class PhysicsError(EcsError, ValueError):
    """Bad physics input: bounds, settings, masses or sizes that cannot work."""


class GridError(PhysicsError):
    """A grid was asked for with bad input (cell size, radius, positions, bounds)."""
