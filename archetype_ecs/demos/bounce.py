"""Bounce: agents steer toward the center of a box and bounce off its walls.

Every frame, through the schedule: a Numba kernel system moves every agent; a Python
system ages agents and despawns those past their lifetime; another tags slow agents
``Resting`` and untags fast ones (rows move between archetype tables every frame); in
``post_update`` as many newcomers are spawned as died. Structural changes go through
command buffers applied in bulk at each phase's sync point.
"""

from __future__ import annotations

import argparse
import time
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
from archetype_ecs._progress import Progress
from archetype_ecs.demos._kernels import age_kernel, move_kernel, speed_mask_kernel

__all__ = [
    "Age",
    "Churn",
    "Position",
    "Resting",
    "Velocity",
    "add_arguments",
    "build",
    "run",
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this demo."""
    parser.add_argument(
        "--agents", type=int, default=100_000, help="agents (default 100000)"
    )
    parser.add_argument("--frames", type=int, default=300, help="frames (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--threads", type=int, default=None, help="worker threads (default: CPU count)"
    )


def build(agents: int, seed: int, threads: int | None = None) -> World:
    """A world with ``agents`` agents and the demo's systems."""
    rng = np.random.default_rng(seed)
    world = World(seed=seed, threads=threads, dt=DT)
    world.spawn_batch(_agent_columns(rng, agents, newborn=False))
    world.insert_resource(Churn(rng))
    world.add_system(movement, aging, resting, births)
    return world


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the demo with a progress bar; return the summary figures."""
    world = build(args.agents, args.seed, getattr(args, "threads", None))
    world.step()  # warm-up frame: JIT compile (or on-disk cache load), not timed
    world.profiler.clear()
    frame_times: list[float] = []
    bar = Progress(args.frames)
    for frame in range(1, args.frames + 1):
        t = time.perf_counter()
        world.step()
        frame_times.append(time.perf_counter() - t)
        if frame % 10 == 0 or frame == args.frames:
            resting_n = world.query(Resting).count()
            bar.update(
                frame,
                f"{frame_times[-1] * 1e3:6.2f} ms/frame, {len(world)} agents, "
                f"{resting_n} resting",
            )
    churn = world.resource(Churn)
    stats = world.stats().to_pylist()
    systems = {r["name"]: r["mean_ms"] for r in stats if r["kind"] == "system"}
    slowest = max(systems, key=lambda k: systems[k])
    pos = world.query(Position).to_arrow()
    checksum = float(
        np.sum(pos.column("Position.x").to_numpy(), dtype=np.float64)
        + np.sum(pos.column("Position.y").to_numpy(), dtype=np.float64)
    )
    median = float(np.median(frame_times))
    move_ms = systems["movement"]
    world.close()
    return {
        "demo": "bounce",
        "agents": len(world),
        "frames": args.frames,
        "seed": args.seed,
        "spawned": churn.spawned_total,
        "despawned": churn.despawned_total,
        "archetypes": len(world.archetypes_info()),
        "median_frame_ms": median * 1e3,
        "system_mean_ms": systems,
        "slowest_system": slowest,
        "move_ns_per_agent": move_ms * 1e6 / max(len(world), 1),
        "checksum": checksum,
    }
