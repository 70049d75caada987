"""Boltzmann wealth: agents hand out one unit of money at a time, Mesa's rules.

Every agent starts with ``wealth`` units. In ``mode="sequential"`` (Mesa's
semantics: ``agents.shuffle_do("step")``) agents act one at a time in a seeded random
order; one with wealth > 0 gives a unit to a uniformly random agent, which may be
itself, as Mesa's ``random.choice(model.agents)`` may pick the caller; later agents see
the earlier transfers. In ``mode="simultaneous"`` every agent decides from the wealth
it had when the frame started, and the units received are added as one
order-independent sum. Either way the whole step is one Numba kernel over the wealth
column, with the counter-based streams of :mod:`archetype_ecs.random`; total wealth
is conserved every frame.

Design: the step needs every agent at once (a giver may pay anyone), so it is a
Python system that hands the wealth column to one kernel call (one archetype: the
column itself; several: gathered and written back), not a per-archetype kernel
system. Draws are keyed by row position; rows never move in this model (nothing is
spawned or despawned), so a plain list of agents in spawn order reproduces a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype_ecs import SystemContext, World, component, i64, system
from archetype_ecs.demos._abm_kernels import (
    COMPILED,
    exchange_sequential_kernel,
    exchange_simultaneous_kernel,
    gini,
)
from archetype_ecs.random import Rng, stream_id
from archetype_ecs.runner import ParamError, resolve_params

__all__ = [
    "FRAMES",
    "PARAMS",
    "RECORD",
    "Economy",
    "Wealth",
    "build",
    "status",
    "summary",
]

PARAMS: dict[str, int | float | str | bool] = {
    "agents": 10_000,
    "wealth": 1,
    "mode": "sequential",
}
FRAMES: int = 100
MODES = ("sequential", "simultaneous")
STREAM = "boltzmann.exchange"


@component
class Wealth:
    """Units of money an agent holds."""

    units: i64 = 1


@dataclass
class Economy:
    """Resource: the exchange rule, its random stream and the transfer counts.

    Its fields are plain JSON values, so ``world.save`` keeps it and ``load(...,
    resources=[Economy])`` restores it; the kernel's scratch array is not a field.

    Attributes
    ----------
    mode
        ``"sequential"`` or ``"simultaneous"``.
    stream
        Stream id of the draws (``stream_id("boltzmann.exchange")``).
    transfers
        Units handed over in the last frame.
    transfers_total
        Units handed over since the world was built.
    """

    mode: str = "sequential"
    stream: int = field(default_factory=lambda: stream_id(STREAM))
    transfers: int = 0
    transfers_total: int = 0

    def __post_init__(self) -> None:
        self._scratch = np.empty(0, dtype=np.int64)

    def scratch_for(self, n: int) -> np.ndarray[Any, Any]:
        """Kernel scratch space: int64, length ``n`` (grown when needed, reused).

        Holds the activation order (sequential) or the incoming units
        (simultaneous) during a step.
        """
        if self._scratch.shape[0] < n:
            self._scratch = np.empty(n, dtype=np.int64)
        return self._scratch[:n]


@system(writes=[Wealth], resources=[Rng], resources_mut=[Economy])
def exchange(ctx: SystemContext) -> None:
    """Run one exchange step over every agent's wealth (one kernel call)."""
    eco = ctx.resource_mut(Economy)
    columns = [view.units for _, view in ctx.query(Wealth)]
    if not columns:
        eco.transfers = 0
        return
    wealth = columns[0] if len(columns) == 1 else np.concatenate(columns)
    # Python ints, not np.uint64: Numba types them ~3 us faster per call. Every key
    # goes in as an int64 (a seed >= 2**63 by its two's-complement value): the hash
    # casts keys to uint64 first, so the numbers are the same, and one compiled
    # signature serves every seed (a uint64-sized int would not convert to int64).
    keys = tuple(
        k - (1 << 64) if k >= 1 << 63 else k
        for k in (ctx.resource(Rng).seed, eco.stream, ctx.time.frame)
    )
    scratch = eco.scratch_for(wealth.shape[0])
    step = (
        exchange_sequential_kernel
        if eco.mode == "sequential"
        else exchange_simultaneous_kernel
    )
    if COMPILED:
        moved = step(wealth, scratch, *keys)
    else:
        with np.errstate(over="ignore"):  # the hash wraps on purpose
            moved = step(wealth, scratch, *keys)
    if len(columns) > 1:  # several archetypes: write the gathered column back
        start = 0
        for col in columns:
            col[:] = wealth[start : start + col.shape[0]]
            start += col.shape[0]
    eco.transfers = int(moved)
    eco.transfers_total += int(moved)


def _require(ok: bool, message: str) -> None:  # noqa: FBT001 # a predicate
    """Raise :class:`~archetype_ecs.runner.ParamError` with ``message`` unless ``ok``."""
    if not ok:
        raise ParamError(f"model 'boltzmann': {message}")


def build(*, seed: int = 0, threads: int | None = None, **params: Any) -> World:
    """A world of ``agents`` agents holding ``wealth`` units each, ready to step.

    Parameters
    ----------
    seed
        World seed: the activation order and recipients of every frame follow from it.
    threads
        Worker threads (results do not depend on it).
    **params
        ``agents`` (int, >= 1), ``wealth`` (int, >= 0) and ``mode``
        (``"sequential"`` or ``"simultaneous"``); see ``PARAMS`` for defaults.

    Returns
    -------
    World
        With one ``Wealth`` entity per agent, the ``Economy`` resource and the
        ``exchange`` system.

    Raises
    ------
    ParamError
        When a parameter is unknown, of the wrong type or out of range.

    Examples
    --------
    >>> world = build(seed=1, agents=100, mode="simultaneous")
    >>> world.run(5)
    >>> summary(world)["total_wealth"]
    100
    """
    p = resolve_params(PARAMS, params, model="boltzmann")
    _require(int(p["agents"]) >= 1, f"agents must be >= 1, got {p['agents']}")
    _require(int(p["wealth"]) >= 0, f"wealth must be >= 0, got {p['wealth']}")
    _require(
        p["mode"] in MODES,
        f"mode must be one of {', '.join(map(repr, MODES))}, got {p['mode']!r}",
    )
    world = World(seed=seed, threads=threads)
    world.insert_resource(Economy(mode=str(p["mode"])))
    world.spawn_batch({Wealth: {"units": np.full(int(p["agents"]), int(p["wealth"]))}})
    world.add_system(exchange)
    return world


def _wealth(world: World) -> np.ndarray[Any, Any]:
    columns = [view.units for _, view in world.query(Wealth)]
    if not columns:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(columns) if len(columns) > 1 else columns[0].copy()


def summary(world: World) -> dict[str, Any]:
    """End figures: Gini coefficient, total / max wealth, share of the richest 10%.

    Examples
    --------
    >>> world = build(seed=3, agents=1000)
    >>> world.run(20)
    >>> s = summary(world)
    >>> s["total_wealth"], s["agents"], 0.0 < s["gini"] < 1.0
    (1000, 1000, True)
    """
    w = _wealth(world)
    eco = world.resource(Economy)
    total = int(w.sum())
    top = np.sort(w)[::-1][: max(1, w.shape[0] // 10)] if w.shape[0] else w
    return {
        "mode": eco.mode,
        "agents": int(w.shape[0]),
        "total_wealth": total,
        "mean_wealth": total / w.shape[0] if w.shape[0] else 0.0,
        "max_wealth": int(w.max()) if w.shape[0] else 0,
        "zero_wealth_share": float(np.mean(w == 0)) if w.shape[0] else 0.0,
        "top10_share": float(top.sum()) / total if total else 0.0,
        "gini": gini(w),
        "transfers_total": eco.transfers_total,
    }


def status(world: World) -> str:
    """Live figures: Gini coefficient and transfers in the last frame."""
    eco = world.resource(Economy)
    return f"gini {gini(_wealth(world)):.3f}, {eco.transfers} transfers"


RECORD: list[type] = [Wealth]
