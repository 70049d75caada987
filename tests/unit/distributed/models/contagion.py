"""Contagion: drifting agents; sick agents infect their neighbors through commands.

A test model for sweeps and sharded worlds. Order-independent: infection is an
idempotent ``set`` (sick = 1) of every agent within ``radius`` of a sick agent,
decided from the positions at the frame's start; movement is a per-agent update.
Only owned agents infect (``without=[Ghost]``), so an infection whose target sits in a
neighbor shard reaches it only through a routed command. Every agent also has a
``Partner`` (an Entity reference to another agent), kept consistent across shards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archetype_ecs import EntityRef, SystemContext, World, component, f64, i32, system
from archetype_ecs.distributed import Ghost

PARAMS: dict[str, int | float | str | bool] = {
    "agents": 300,
    "size": 40.0,
    "radius": 1.5,
    "speed": 1.0,
    "fail_seed": -1,
}
FRAMES = 10
SHARDING: dict[str, Any] = {
    "position": ("Position.x", "Position.y"),
    "bounds": lambda p: (0.0, 0.0, float(p["size"]), float(p["size"])),
    "halo": lambda p: float(p["radius"]),
}


@component
class Position:
    x: f64 = 0.0
    y: f64 = 0.0


@component
class Velocity:
    vx: f64 = 0.0
    vy: f64 = 0.0


@component
class Health:
    sick: i32 = 0


@component
class Partner:
    target: EntityRef = 0


RECORD: list[type] = [Position, Health]


def build(*, seed: int = 0, threads: int | None = None, **params: Any) -> World:
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise TypeError(f"contagion: unknown parameters {unknown}")
    p = {**PARAMS, **params}
    if seed == p["fail_seed"]:
        raise RuntimeError(f"contagion: seed {seed} is the failing seed (test)")
    n = int(p["agents"])
    size, radius, speed = float(p["size"]), float(p["radius"]), float(p["speed"])
    rng = np.random.default_rng(seed)
    world = World(seed=seed, threads=threads)
    angle = rng.random(n) * 2 * np.pi
    ids = world.spawn_batch(
        {
            Position: {"x": rng.random(n) * size, "y": rng.random(n) * size},
            Velocity: {"vx": np.cos(angle) * speed, "vy": np.sin(angle) * speed},
            Health: {"sick": (rng.random(n) < 0.05).astype(np.int32)},
        }
    )
    world.insert_batch(ids, Partner)
    world.set_batch(ids, Partner, {"target": ids[rng.permutation(n)]})

    @system(reads=[Position, Health], commands=True, name="infect")
    def infect(ctx: SystemContext) -> None:
        ents, xs, ys, sick = [], [], [], []
        for e, pos, h in ctx.query(Position, Health):
            ents.append(e)
            xs.append(pos.x)
            ys.append(pos.y)
            sick.append(h.sick)
        if not ents:
            return
        e, x, y = np.concatenate(ents), np.concatenate(xs), np.concatenate(ys)
        sources = [
            (pos.x[h.sick == 1], pos.y[h.sick == 1])
            for _, pos, h in ctx.query(Position, Health, without=[Ghost])
        ]
        sx = np.concatenate([s[0] for s in sources]) if sources else np.empty(0)
        sy = np.concatenate([s[1] for s in sources]) if sources else np.empty(0)
        hit = np.zeros(len(e), bool)
        for i in range(len(sx)):
            hit |= (x - sx[i]) ** 2 + (y - sy[i]) ** 2 < radius * radius
        if hit.any():
            targets = e[hit]
            ctx.commands.set_batch(
                targets, Health, {"sick": np.ones(len(targets), np.int32)}
            )

    @system(writes=[Position, Velocity], after=["infect"], name="drift")
    def drift(ctx: SystemContext) -> None:
        for _, pos, vel in ctx.query(Position, Velocity):
            pos.x[:] += vel.vx
            pos.y[:] += vel.vy
            low, high = pos.x < 0, pos.x > size
            pos.x[low] = -pos.x[low]
            pos.x[high] = 2 * size - pos.x[high]
            vel.vx[low | high] = -vel.vx[low | high]
            low, high = pos.y < 0, pos.y > size
            pos.y[low] = -pos.y[low]
            pos.y[high] = 2 * size - pos.y[high]
            vel.vy[low | high] = -vel.vy[low | high]

    world.add_system(infect, drift)
    return world


def summary(world: World) -> dict[str, Any]:
    t = world.to_arrow(Position, Health)
    return {
        "agents": t.num_rows,
        "sick": int(np.sum(t.column("Health.sick").to_numpy())),
        "x_sum": float(np.sort(t.column("Position.x").to_numpy()).sum()),
    }
