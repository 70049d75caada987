"""Flock: order-independent flocking, the reference model for sharded runs.

Every agent steers by its neighbors within ``radius`` (cohesion, alignment,
separation), then moves and bounces off the walls of a ``size`` x ``size`` box. The
update is simultaneous (all new velocities come from the positions of the frame's
start) and each agent's neighbor sums are taken in 64-bit fixed point (every pair's
contribution is rounded to a multiple of 2**-32 and summed as integers), so the result
does not depend on the order agents are stored or visited in: a sharded run equals the
single-world run bit for bit. The neighbor search is a cell list (Numba), over every
agent the system sees, in every archetype (so ghosts of a sharded run count).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archetype_ecs import SystemContext, World, component, f64, system
from archetype_ecs._jit import njit

__all__ = [
    "FRAMES",
    "PARAMS",
    "RECORD",
    "SHARDING",
    "Position",
    "Velocity",
    "build",
    "flock_kernel",
    "flock_reference",
    "summary",
]

Array = np.ndarray[Any, Any]

PARAMS: dict[str, int | float | str | bool] = {
    "agents": 2000,
    "size": 100.0,
    "radius": 2.0,
    "speed": 1.0,
    "dt": 0.5,
}
FRAMES: int = 100
#: How a sharded world splits this model: bounds and halo as functions of the params.
SHARDING: dict[str, Any] = {
    "position": ("Position.x", "Position.y"),
    "bounds": lambda p: (0.0, 0.0, float(p["size"]), float(p["size"])),
    "halo": lambda p: float(p["radius"]),
}

COHESION = 0.05
ALIGNMENT = 0.1
SEPARATION = 0.02
SCALE = 2.0**32  # fixed-point unit of the neighbor sums


@component
class Position:
    """Where an agent is, in box units."""

    x: f64 = 0.0
    y: f64 = 0.0


@component
class Velocity:
    """Box units per time unit."""

    vx: f64 = 0.0
    vy: f64 = 0.0


RECORD: list[type] = [Position, Velocity]


@njit
def _fx(v: float) -> np.int64:
    return np.int64(np.floor(v * SCALE + 0.5))


@njit
def flock_kernel(
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    size: float,
    radius: float,
    speed: float,
    dt: float,
    nx: Array,
    ny: Array,
    nvx: Array,
    nvy: Array,
) -> None:
    """New positions / velocities of all agents (simultaneous, order-independent)."""
    n = x.shape[0]
    cells = max(int(np.ceil(size / radius)), 1)
    cell = np.empty(n, np.int64)
    count = np.zeros(cells * cells + 1, np.int64)
    for i in range(n):
        cx = min(max(int(x[i] / radius), 0), cells - 1)
        cy = min(max(int(y[i] / radius), 0), cells - 1)
        cell[i] = cy * cells + cx
        count[cell[i] + 1] += 1
    for c in range(cells * cells):
        count[c + 1] += count[c]
    order = np.empty(n, np.int64)
    fill = count[:-1].copy()
    for i in range(n):
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    r2 = radius * radius
    for i in range(n):
        cx = cell[i] % cells
        cy = cell[i] // cells
        k = 0
        sx = np.int64(0)
        sy = np.int64(0)
        svx = np.int64(0)
        svy = np.int64(0)
        qx = np.int64(0)
        qy = np.int64(0)
        for oy in range(max(cy - 1, 0), min(cy + 2, cells)):
            for ox in range(max(cx - 1, 0), min(cx + 2, cells)):
                c = oy * cells + ox
                for m in range(count[c], count[c + 1]):
                    j = order[m]
                    dx = x[j] - x[i]
                    dy = y[j] - y[i]
                    d2 = dx * dx + dy * dy
                    if d2 <= 0.0 or d2 >= r2:
                        continue
                    k += 1
                    sx += _fx(dx)
                    sy += _fx(dy)
                    svx += _fx(vx[j])
                    svy += _fx(vy[j])
                    inv = 1.0 / max(d2, 1e-6)
                    qx += _fx(-dx * inv)
                    qy += _fx(-dy * inv)
        ax = 0.0
        ay = 0.0
        if k > 0:
            ax = (
                COHESION * (sx / SCALE) / k
                + ALIGNMENT * ((svx / SCALE) / k - vx[i])
                + SEPARATION * (qx / SCALE)
            )
            ay = (
                COHESION * (sy / SCALE) / k
                + ALIGNMENT * ((svy / SCALE) / k - vy[i])
                + SEPARATION * (qy / SCALE)
            )
        wx = vx[i] + ax * dt
        wy = vy[i] + ay * dt
        s = np.sqrt(wx * wx + wy * wy)
        if s > speed:
            wx = wx * (speed / s)
            wy = wy * (speed / s)
        px = x[i] + wx * dt
        py = y[i] + wy * dt
        if px < 0.0:
            px = -px
            wx = -wx
        elif px > size:
            px = 2.0 * size - px
            wx = -wx
        if py < 0.0:
            py = -py
            wy = -wy
        elif py > size:
            py = 2.0 * size - py
            wy = -wy
        nx[i] = px
        ny[i] = py
        nvx[i] = wx
        nvy[i] = wy


def flock_reference(
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    size: float,
    radius: float,
    speed: float,
    dt: float,
) -> tuple[Array, Array, Array, Array]:
    """Plain NumPy twin of :func:`flock_kernel` (all pairs; for tests)."""
    n = len(x)
    out = [np.empty(n) for _ in range(4)]

    def fx(v: Array) -> Array:
        return np.floor(v * SCALE + 0.5).astype(np.int64)

    for i in range(n):
        dx = x - x[i]
        dy = y - y[i]
        d2 = dx * dx + dy * dy
        near = (d2 > 0.0) & (d2 < radius * radius)
        k = int(near.sum())
        ax = ay = 0.0
        if k:
            inv = 1.0 / np.maximum(d2[near], 1e-6)
            sx, sy = fx(dx[near]).sum(), fx(dy[near]).sum()
            svx, svy = fx(vx[near]).sum(), fx(vy[near]).sum()
            qx, qy = fx(-dx[near] * inv).sum(), fx(-dy[near] * inv).sum()
            ax = (
                COHESION * (sx / SCALE) / k
                + ALIGNMENT * ((svx / SCALE) / k - vx[i])
                + SEPARATION * (qx / SCALE)
            )
            ay = (
                COHESION * (sy / SCALE) / k
                + ALIGNMENT * ((svy / SCALE) / k - vy[i])
                + SEPARATION * (qy / SCALE)
            )
        wx, wy = vx[i] + ax * dt, vy[i] + ay * dt
        s = np.sqrt(wx * wx + wy * wy)
        if s > speed:
            wx, wy = wx * (speed / s), wy * (speed / s)
        px, py = x[i] + wx * dt, y[i] + wy * dt
        if px < 0.0:
            px, wx = -px, -wx
        elif px > size:
            px, wx = 2.0 * size - px, -wx
        if py < 0.0:
            py, wy = -py, -wy
        elif py > size:
            py, wy = 2.0 * size - py, -wy
        out[0][i], out[1][i], out[2][i], out[3][i] = px, py, wx, wy
    return out[0], out[1], out[2], out[3]


def _flock_system(size: float, radius: float, speed: float, dt: float) -> Any:
    @system(reads=[Position, Velocity], writes=[Position, Velocity], name="flock")
    def flock(ctx: SystemContext) -> None:
        """Gather every agent (all archetypes), step the flock, write back per table."""
        parts = list(ctx.query(Position, Velocity))
        if not parts:
            return
        x = np.concatenate([p.x for _, p, _ in parts])
        y = np.concatenate([p.y for _, p, _ in parts])
        vx = np.concatenate([v.vx for _, _, v in parts])
        vy = np.concatenate([v.vy for _, _, v in parts])
        nx, ny, nvx, nvy = (np.empty_like(x) for _ in range(4))
        flock_kernel(x, y, vx, vy, size, radius, speed, dt, nx, ny, nvx, nvy)
        start = 0
        for _, p, v in parts:
            stop = start + len(p.x)
            p.x[:] = nx[start:stop]
            p.y[:] = ny[start:stop]
            v.vx[:] = nvx[start:stop]
            v.vy[:] = nvy[start:stop]
            start = stop

    return flock


def build(*, seed: int = 0, threads: int | None = None, **params: Any) -> World:
    """A flock of ``agents`` agents at random places, headings and speeds.

    Raises
    ------
    TypeError
        On an unknown parameter or a value of the wrong type.
    """
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise TypeError(
            f"flock: unknown parameter(s) {unknown}; it has {sorted(PARAMS)}"
        )
    p = {**PARAMS, **params}
    agents = p["agents"]
    if not isinstance(agents, int) or isinstance(agents, bool) or agents < 0:
        raise TypeError(f"flock: agents must be an int >= 0, got {agents!r}")
    size, radius = float(p["size"]), float(p["radius"])
    speed, dt = float(p["speed"]), float(p["dt"])
    if size <= 0 or radius <= 0:
        raise TypeError(f"flock: size and radius must be > 0, got {size}, {radius}")
    rng = np.random.default_rng(seed)
    world = World(seed=seed, threads=threads)
    angle = rng.random(agents) * 2 * np.pi
    v = rng.random(agents) * speed
    world.spawn_batch(
        {
            Position: {"x": rng.random(agents) * size, "y": rng.random(agents) * size},
            Velocity: {"vx": np.cos(angle) * v, "vy": np.sin(angle) * v},
        }
    )
    world.add_system(_flock_system(size, radius, speed, dt))
    return world


def summary(world: World) -> dict[str, Any]:
    """Agent count, mean speed and the centroid."""
    t = world.to_arrow(Position, Velocity)
    vx = t.column("Velocity.vx").to_numpy()
    vy = t.column("Velocity.vy").to_numpy()
    n = t.num_rows
    return {
        "agents": n,
        "mean_speed": float(np.mean(np.hypot(vx, vy))) if n else 0.0,
        "cx": float(np.mean(t.column("Position.x").to_numpy())) if n else 0.0,
        "cy": float(np.mean(t.column("Position.y").to_numpy())) if n else 0.0,
    }
