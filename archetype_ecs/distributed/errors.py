"""Errors of the distributed extra (all derive from :class:`archetype_ecs.errors.EcsError`)."""

from __future__ import annotations

from archetype_ecs.errors import EcsError

__all__ = ["DistributedError", "ShardingError", "SweepError"]


class DistributedError(EcsError, RuntimeError):
    """A sweep or a sharded world cannot run as asked."""


class SweepError(DistributedError, ValueError):
    """A sweep's model, parameters, seeds or output folder are not usable."""


class ShardingError(DistributedError, ValueError):
    """A sharded world's grid, bounds, halo or saved state are not usable."""
