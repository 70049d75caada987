"""Foragers: agents wander, burn energy, eat in a food patch, and starve.

A template for your own model: copy this file, change the components and systems, and
run it with

    arrow-ecs run examples/my_model.py
    arrow-ecs run examples/my_model.py --frames 500 --param agents=50000 --param patch=0.3

A model file is a plain Python module. ``arrow-ecs run`` (and
``archetype_ecs.runner.run_model`` from Python or a Ray task) imports it and uses:

- ``PARAMS``: the parameters and their defaults; each default's type is the
  parameter's type (``--param agents=5000`` is checked against it);
- ``FRAMES``: how many frames a run takes unless ``--frames`` says otherwise;
- ``build(*, seed, threads, **params)``: a world ready to step (required);
- ``summary(world)``: figures printed at the end (optional);
- ``status(world)``: short text shown live in the progress bar (optional);
- ``RECORD``: the components ``--record`` writes every frame (optional);
- ``RENDER``: how ``--render out.gif`` draws the agents (optional; needs the render
  extra, ``pip install 'arrow-ecs[render]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from archetype_ecs import Rng, SystemContext, World, component, f32, njit, system
from archetype_ecs.runner import resolve_params

PARAMS: dict[str, int | float | str | bool] = {
    "agents": 10_000,  # initial population
    "patch": 0.2,  # radius of the food patch, as a fraction of the field
    "cost": 0.01,  # energy burned per frame
}
FRAMES = 200


@component
class Position:
    """Where an agent is, in field units (the field is the unit square)."""

    x: f32 = 0.5
    y: f32 = 0.5


@component
class Energy:
    """What an agent has left; it starves at 0."""

    value: f32 = 1.0


@dataclass
class Settings:
    """Resource: this run's parameters, read by the systems."""

    patch: float
    cost: float
    starved: int = 0


RECORD = [Position, Energy]
RENDER: dict[str, Any] = {
    "width": 256,
    "height": 256,
    "bounds": (0.0, 0.0, 1.0, 1.0),
    "position": Position,  # draw every entity with a Position ...
    "shape": "circle",  # ... as a circle of `size` field units
    "size": 0.006,
}


@njit
def forage_kernel(
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    energy: np.ndarray[Any, Any],
    patch: float,
    cost: float,
) -> None:
    """Burn ``cost`` energy; agents inside the central patch eat instead."""
    for i in range(x.shape[0]):
        dx = x[i] - 0.5
        dy = y[i] - 0.5
        if dx * dx + dy * dy < patch * patch:
            energy[i] = min(energy[i] + 4.0 * cost, 1.0)
        else:
            energy[i] -= cost


@system(writes=[Position], resources=[Rng])
def wander(ctx: SystemContext) -> None:
    """Random steps, drawn per (entity, frame): no loop over agents, any thread count."""
    rng = ctx.resource(Rng)
    frame = ctx.time.frame
    for ents, pos in ctx.query(Position):
        step_x = rng.normal("wander-x", ents, frame) * 0.01
        step_y = rng.normal("wander-y", ents, frame) * 0.01
        pos.x[:] = np.clip(pos.x + step_x, 0.0, 1.0)
        pos.y[:] = np.clip(pos.y + step_y, 0.0, 1.0)


@system(
    query=[Position, Energy],
    writes=[Energy],
    resources=[Settings],
    args=lambda ctx: (
        ctx.world.resource(Settings).patch,
        ctx.world.resource(Settings).cost,
    ),
    after=["wander"],
)
@njit
def forage(
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    value: np.ndarray[Any, Any],
    patch: float,
    cost: float,
) -> None:
    """Kernel system: ``forage_kernel`` over every agent's columns."""
    forage_kernel(x, y, value, patch, cost)


@system(reads=[Energy], resources_mut=[Settings], commands=True, after=["forage"])
def starve(ctx: SystemContext) -> None:
    """Despawn agents whose energy ran out (applied at the phase's sync point)."""
    settings = ctx.resource_mut(Settings)
    for ents, energy in ctx.query(Energy):
        dead = ents[energy.value <= 0.0]
        if len(dead):
            ctx.commands.despawn_batch(dead)
            settings.starved += len(dead)


def build(*, seed: int = 0, threads: int | None = None, **params: Any) -> World:
    """A world with ``agents`` foragers scattered over the unit square."""
    p = resolve_params(PARAMS, params, model="my_model")
    n = int(p["agents"])
    rng = np.random.default_rng(seed)
    world = World(seed=seed, threads=threads)
    world.insert_resource(Settings(patch=float(p["patch"]), cost=float(p["cost"])))
    world.spawn_batch(
        {
            Position: {"x": rng.random(n), "y": rng.random(n)},
            Energy: {"value": rng.uniform(0.5, 1.0, n)},
        }
    )
    world.add_system(wander, forage, starve)
    return world


def summary(world: World) -> dict[str, Any]:
    """Survivors, deaths, and the survivors' mean energy."""
    energy = world.to_arrow(Energy).column("Energy.value").to_numpy()
    return {
        "alive": len(world),
        "starved": world.resource(Settings).starved,
        "mean_energy": float(energy.mean()) if len(energy) else 0.0,
    }


def status(world: World) -> str:
    """Live text for the progress bar."""
    return f"{len(world):,} alive, {world.resource(Settings).starved:,} starved"
