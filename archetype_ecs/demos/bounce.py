"""Bounce: agents steer toward the center of a box and bounce off its walls.

Every frame, through the schedule: a Numba kernel system moves every agent; a Python
system ages agents and despawns those past their lifetime; another tags slow agents
``Resting`` and untags fast ones (rows move between archetype tables every frame); in
``post_update`` as many newcomers are spawned as died. Structural changes go through
command buffers applied in bulk at each phase's sync point.

A gallery model (``arrow-ecs demo bounce``, ``arrow-ecs run examples/bounce.py``): it
follows the model protocol of :mod:`archetype_ecs.runner`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype_ecs import (
    SystemContext,
    World,
    component,
    f32,
    i32,
    njit,
    system,
)
from archetype_ecs.demos._kernels import age_kernel, move_kernel, speed_mask_kernel
from archetype_ecs.runner import ParamError, resolve_params

__all__ = [
    "FRAMES",
    "PARAMS",
    "RECORD",
    "RENDER",
    "Age",
    "Churn",
    "Position",
    "Resting",
    "Velocity",
    "build",
    "status",
    "summary",
]


@component
class Position:
    """Where an agent is, in box units."""

    x: f32 = 0.0
    y: f32 = 0.0


@component
class Velocity:
    """Box units per second."""

    dx: f32 = 0.0
    dy: f32 = 0.0


@component
class Age:
    """Frames lived, and frames to live."""

    frames: i32 = 0
    lifetime: i32 = 200


@component
class Resting:
    """Tag: the agent's speed is below the resting threshold."""


@dataclass
class Churn:
    """Resource: deaths this frame, totals, and the run's random generator."""

    rng: np.random.Generator
    died: int = 0
    spawned_total: int = 0
    despawned_total: int = 0
    history: list[int] = field(default_factory=list)


SIZE = 1000.0
DT = 1.0 / 30.0
PULL = 0.05
REST_SPEED = 8.0


def _agent_columns(
    rng: np.random.Generator, n: int, *, newborn: bool
) -> dict[type, Any]:
    lifetime = rng.integers(100, 400, n).astype(np.int32)
    frames = (
        np.zeros(n, np.int32)
        if newborn
        else (rng.random(n) * lifetime).astype(np.int32)
    )
    angle = rng.random(n) * 2 * np.pi
    speed = rng.random(n) * 40.0
    f = np.float32
    return {
        Position: {
            "x": (rng.random(n) * SIZE).astype(f),
            "y": (rng.random(n) * SIZE).astype(f),
        },
        Velocity: {
            "dx": (np.cos(angle) * speed).astype(f),
            "dy": (np.sin(angle) * speed).astype(f),
        },
        Age: {"frames": frames, "lifetime": lifetime},
    }


@system(query=[Position, Velocity], writes=[Position, Velocity], args=(DT, SIZE, PULL))
@njit
def movement(
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    dx: np.ndarray[Any, Any],
    dy: np.ndarray[Any, Any],
    dt: float,
    size: float,
    pull: float,
) -> None:
    """Kernel system: steer, move and bounce every agent (see ``move_kernel``)."""
    move_kernel(x, y, dx, dy, dt, size, pull)


@system(writes=[Age], resources_mut=[Churn], commands=True, after=["movement"])
def aging(ctx: SystemContext) -> None:
    """Age every agent; despawn those past their lifetime."""
    churn = ctx.resource_mut(Churn)
    churn.died = 0
    for ents, age in ctx.query(Age):
        expired = np.empty(len(ents), dtype=np.bool_)
        n = age_kernel(age.frames, age.lifetime, expired)
        if n:
            ctx.commands.despawn_batch(ents[expired])
            churn.died += n


@system(reads=[Velocity, Resting], commands=True, after=["movement"])
def resting(ctx: SystemContext) -> None:
    """Tag slow agents ``Resting`` and untag fast ones."""
    for ents, vel in ctx.query(Velocity, without=[Resting]):
        slow = np.empty(len(ents), dtype=np.bool_)
        speed_mask_kernel(vel.dx, vel.dy, REST_SPEED, slow)
        ctx.commands.insert_batch(ents[slow], Resting)
    for ents, vel, _ in ctx.query(Velocity, Resting):
        slow = np.empty(len(ents), dtype=np.bool_)
        speed_mask_kernel(vel.dx, vel.dy, REST_SPEED, slow)
        ctx.commands.remove_batch(ents[~slow], Resting)


@system(phase="post_update", resources_mut=[Churn], commands=True)
def births(ctx: SystemContext) -> None:
    """Spawn as many newcomers as died this frame (population stays constant)."""
    churn = ctx.resource_mut(Churn)
    if churn.died:
        ctx.commands.spawn_batch(_agent_columns(churn.rng, churn.died, newborn=True))
        churn.spawned_total += churn.died
        churn.despawned_total += churn.died
    churn.history.append(churn.died)


PARAMS: dict[str, int | float | str | bool] = {"agents": 100_000}
"""Parameters of the model and their defaults (``arrow-ecs demo bounce --agents N``)."""

FRAMES = 300
"""Frames a run takes by default."""

RECORD = [Position, Velocity, Age]
"""Components ``arrow-ecs run --record`` writes every frame."""

RENDER: dict[str, Any] = {
    "width": 320,
    "height": 320,
    "bounds": (0.0, 0.0, SIZE, SIZE),
    "position": Position,
    "shape": "circle",
    "size": 6.0,
    "color": (40, 110, 200, 255),
}
"""How ``arrow-ecs demo bounce --render out.gif`` draws the agents (Renderer options)."""


def build(*, seed: int = 0, threads: int | None = None, **params: Any) -> World:
    """A world of ``agents`` agents with the model's four systems.

    Parameters
    ----------
    seed
        Seeds the agents' initial state and the newcomers (the ``Churn`` resource's
        generator) and the world's ``Rng``: the same seed gives the same run.
    threads
        Worker threads (default: CPU count); results do not depend on it.
    **params
        ``agents`` (int, default 100,000).

    Raises
    ------
    ParamError
        When a parameter is unknown or not an int.
    """
    p = resolve_params(PARAMS, params, model="bounce")
    agents = p["agents"]
    if not isinstance(agents, int) or agents < 0:
        raise ParamError(f"model 'bounce': agents must be >= 0, got {agents!r}")
    rng = np.random.default_rng(seed)
    world = World(seed=seed, threads=threads, dt=DT)
    world.spawn_batch(_agent_columns(rng, agents, newborn=False))
    world.insert_resource(Churn(rng))
    world.add_system(movement, aging, resting, births)
    return world


def summary(world: World) -> dict[str, Any]:
    """End figures: population, churn, archetypes, kernel cost, a position checksum.

    The checksum (sum of every coordinate, in float64) is the same for a seed on
    every run and thread count.
    """
    churn = world.resource(Churn)
    systems = {r["name"]: r for r in world.stats().to_pylist() if r["kind"] == "system"}
    move = systems.get("movement")
    move_ms = move["mean_ms"] if move else 0.0
    pos = world.query(Position).to_arrow()
    checksum = float(
        np.sum(pos.column("Position.x").to_numpy(), dtype=np.float64)
        + np.sum(pos.column("Position.y").to_numpy(), dtype=np.float64)
    )
    return {
        "agents": len(world),
        "spawned": churn.spawned_total,
        "despawned": churn.despawned_total,
        "resting": world.query(Resting).count(),
        "archetypes": len(world.archetypes_info()),
        "move_ns_per_agent": move_ms * 1e6 / max(len(world), 1),
        "checksum": checksum,
    }


def status(world: World) -> str:
    """Live text for the progress bar: how many agents rest."""
    return f"{world.query(Resting).count():,} resting"
