"""Scale beyond one world on Ray: parameter sweeps and spatially sharded worlds.

This package is the optional ``distributed`` extra (``pip install 'arrow-ecs[distributed]'``,
which brings Ray). :func:`sweep` runs one world per (parameters, seed) as Ray tasks and
writes the chosen results to a Parquet dataset; :class:`ShardedWorld` splits one logical
world into a grid of regions, each held by a Ray actor that owns a full ``World``.
Without ``address`` a local Ray instance is started for the run; with it, the same code
runs on that cluster.
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401  (the extra's presence check)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "archetype_ecs.distributed needs Ray, which is not installed: "
        "install the extra with  pip install 'arrow-ecs[distributed]'  "
        f"(import of 'ray' failed: {exc})"
    ) from exc

from archetype_ecs.distributed._ray import ray_session
from archetype_ecs.distributed.errors import DistributedError, ShardingError, SweepError
from archetype_ecs.distributed.sharding import (
    Ghost,
    GlobalId,
    ShardedWorld,
    ShardInfo,
    single_world_state,
)
from archetype_ecs.distributed.sweep import (
    RunFailure,
    SweepResult,
    add_sweep_parser,
    run_sweep_command,
    sweep,
)

__all__ = [
    "DistributedError",
    "Ghost",
    "GlobalId",
    "RunFailure",
    "ShardInfo",
    "ShardedWorld",
    "ShardingError",
    "SweepError",
    "SweepResult",
    "add_sweep_parser",
    "ray_session",
    "run_sweep_command",
    "single_world_state",
    "sweep",
]
