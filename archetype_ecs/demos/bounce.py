"""Bounce: agents steer toward the center of a box and bounce off its walls.

Every frame: a Numba kernel moves every agent through a query; agents past their
lifetime are despawned and as many newcomers spawned through a command buffer; agents
that slow down gain a ``Resting`` tag and lose it when they speed up (rows move between
archetype tables every frame). All structural changes apply in bulk at the frame's end.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from archetype_ecs import CommandBuffer, World, component, f32, i32
from archetype_ecs._progress import Progress
from archetype_ecs.demos._kernels import age_kernel, move_kernel, speed_mask_kernel

__all__ = [
    "Age",
    "Position",
    "Resting",
    "Velocity",
    "add_arguments",
    "build",
    "run",
    "step",
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


SIZE = 1000.0
DT = 1.0 / 30.0
PULL = 0.05
REST_SPEED = 8.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this demo."""
    parser.add_argument(
        "--agents", type=int, default=100_000, help="agents (default 100000)"
    )
    parser.add_argument("--frames", type=int, default=300, help="frames (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _agent_columns(
    rng: np.random.Generator, n: int, *, newborn: bool
) -> dict[type, object]:
    lifetime = rng.integers(100, 400, n).astype(np.int32)
    frames = (
        np.zeros(n, np.int32)
        if newborn
        else (rng.random(n) * lifetime).astype(np.int32)
    )
    angle = rng.random(n) * 2 * np.pi
    speed = rng.random(n) * 40.0
    return {
        Position: {"x": rng.random(n) * SIZE, "y": rng.random(n) * SIZE},
        Velocity: {"dx": np.cos(angle) * speed, "dy": np.sin(angle) * speed},
        Age: {"frames": frames, "lifetime": lifetime},
    }


def _f32(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return a.astype(np.float32)


def build(agents: int, seed: int) -> tuple[World, np.random.Generator]:
    """A world with ``agents`` agents; returns it with the run's random generator."""
    rng = np.random.default_rng(seed)
    world = World()
    cols = _agent_columns(rng, agents, newborn=False)
    for comp in (Position, Velocity):  # the float64 draws become float32 columns
        cols[comp] = {k: _f32(v) for k, v in cols[comp].items()}  # type: ignore[attr-defined] # dict of arrays
    world.spawn_batch(cols)
    return world, rng


def step(
    world: World, rng: np.random.Generator, timings: dict[str, list[float]]
) -> tuple[int, int]:
    """Run one frame; returns (spawned, despawned)."""
    cmd = CommandBuffer("bounce")
    t0 = time.perf_counter()
    world.query(Position, Velocity).for_each(move_kernel, DT, SIZE, PULL)
    t1 = time.perf_counter()
    despawned = 0
    for ents, age in world.query(Age):
        expired = np.empty(len(ents), dtype=np.bool_)
        n = age_kernel(age.frames, age.lifetime, expired)
        if n:
            cmd.despawn_batch(ents[expired])
            despawned += n
    t2 = time.perf_counter()
    for ents, vel in world.query(Velocity, without=[Resting]):
        slow = np.empty(len(ents), dtype=np.bool_)
        speed_mask_kernel(vel.dx, vel.dy, REST_SPEED, slow)
        cmd.insert_batch(ents[slow], Resting)
    for ents, vel, _ in world.query(Velocity, Resting):
        slow = np.empty(len(ents), dtype=np.bool_)
        speed_mask_kernel(vel.dx, vel.dy, REST_SPEED, slow)
        cmd.remove_batch(ents[~slow], Resting)
    if despawned:
        cols = _agent_columns(rng, despawned, newborn=True)
        cols[Position] = {
            "x": _f32(rng.random(despawned) * SIZE),
            "y": _f32(rng.random(despawned) * SIZE),
        }
        cmd.spawn_batch(cols)
    t3 = time.perf_counter()
    world.apply(cmd)
    t4 = time.perf_counter()
    for name, dt in (
        ("move", t1 - t0),
        ("age", t2 - t1),
        ("record", t3 - t2),
        ("apply", t4 - t3),
    ):
        timings[name].append(dt)
    return despawned, despawned


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the demo with a progress bar; return the summary figures."""
    world, rng = build(args.agents, args.seed)
    timings: dict[str, list[float]] = {
        k: [] for k in ("move", "age", "record", "apply")
    }
    step(
        world, rng, {k: [] for k in timings}
    )  # warm-up frame: JIT compile (or cache load)
    frame_times: list[float] = []
    spawned = despawned = 0
    bar = Progress(args.frames)
    for frame in range(1, args.frames + 1):
        t = time.perf_counter()
        s, d = step(world, rng, timings)
        frame_times.append(time.perf_counter() - t)
        spawned += s
        despawned += d
        resting = world.query(Resting).count()
        bar.update(
            frame,
            f"{frame_times[-1] * 1e3:6.2f} ms/frame, {len(world)} agents, {resting} resting",
        )
    pos = world.query(Position).to_arrow()
    checksum = float(
        np.sum(pos.column("Position.x").to_numpy(), dtype=np.float64)
        + np.sum(pos.column("Position.y").to_numpy(), dtype=np.float64)
    )
    median = float(np.median(frame_times))
    return {
        "demo": "bounce",
        "agents": len(world),
        "frames": args.frames,
        "seed": args.seed,
        "spawned": spawned,
        "despawned": despawned,
        "archetypes": len(world.archetypes_info()),
        "median_frame_ms": median * 1e3,
        "step_median_ms": {k: float(np.median(v)) * 1e3 for k, v in timings.items()},
        "move_ns_per_agent": float(np.median(timings["move"]))
        * 1e9
        / max(len(world), 1),
        "checksum": checksum,
    }
