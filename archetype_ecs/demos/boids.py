"""Boids: flocking with the spatial hash grid (separation, alignment, cohesion).

Every boid steers by the boids within ``radius``: toward their center (cohesion),
toward their mean velocity (alignment) and away from those closer than
``separation``; its speed is then kept within ``[min_speed, max_speed]``. The world
is a periodic square (``WorldBounds`` in ``"wrap"`` mode), so distances and centers
are taken to the nearest image.

Systems: ``physics_grid`` (``pre_update``) rebuilds the ``SpatialGrid`` over every
``Position2D``; ``boids_flock`` (``update``) runs one Numba kernel over all boids,
scanning the grid's cells around each; ``physics_integrate`` and ``physics_bounds``
(``post_update``) move the boids and wrap them around.

``mode="simultaneous"`` (the default) is order-independent: every boid reads the
state of the frame's start, and its neighbor sums are taken in 64-bit fixed point
(each pair's contribution is rounded to a multiple of 2**-32, then summed as
integers), so a boid's new velocity does not depend on the order boids are stored or
visited in -- not on the grid's cell size, the thread count or a sharding of the
world. ``mode="sequential"`` updates boids one at a time in storage order, each
seeing the velocities already updated this frame (the textbook loop; its result
depends on storage order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from archetype_ecs import SystemContext, World, system
from archetype_ecs._jit import njit, prange
from archetype_ecs.physics import (
    Position2D,
    SpatialGrid,
    Velocity2D,
    WorldBounds,
    add_physics,
)
from archetype_ecs.physics.grid import (
    cell_id,
    cell_range,
    min_image,
    min_image_reference,
)
from archetype_ecs.runner import ParamError, resolve_params

__all__ = [
    "DT",
    "FRAMES",
    "PARAMS",
    "RECORD",
    "RENDER",
    "Flock",
    "build",
    "flock",
    "polarization",
    "status",
    "steer_reference",
    "steer_sequential_kernel",
    "steer_simultaneous_kernel",
    "steer_simultaneous_serial",
    "summary",
]

Array = np.ndarray[Any, Any]

PARAMS: dict[str, int | float | str | bool] = {
    "agents": 10_000,
    "size": 0.0,
    "radius": 5.0,
    "separation": 2.0,
    "cohesion": 0.01,
    "alignment": 0.1,
    "avoidance": 0.05,
    "min_speed": 3.0,
    "max_speed": 5.0,
    "mode": "simultaneous",
}
"""Parameters and defaults. ``size`` is the side of the square world; 0 picks it so
that a boid has about ``NEIGHBORS`` boids within ``radius`` on average."""

FRAMES: int = 300
"""Frames a run takes by default."""

DT = 0.1
"""Simulated seconds per frame."""

NEIGHBORS = 15
MODES = ("simultaneous", "sequential")
SCALE = 2.0**32  # fixed-point unit of the neighbor sums

RECORD: list[type] = [Position2D, Velocity2D]
"""Components ``arrow-ecs run --record`` writes every frame."""

RENDER: dict[str, Any] = {
    "width": 480,
    "height": 480,
    "position": Position2D,
    "shape": "circle",
    "size": 0.6,
    "color": (30, 90, 160, 255),
}
"""How ``--render out.gif`` draws the boids (Renderer options)."""


@dataclass
class Flock:
    """Resource: the steering rule's parameters.

    Attributes
    ----------
    radius
        Boids within this distance are neighbors.
    separation
        Neighbors closer than this push the boid away.
    cohesion, alignment, avoidance
        Weights of the steering terms (per frame).
    min_speed, max_speed
        Speed limits applied after steering.
    mode
        ``"simultaneous"`` (order-independent) or ``"sequential"``.
    """

    radius: float = 5.0
    separation: float = 2.0
    cohesion: float = 0.01
    alignment: float = 0.1
    avoidance: float = 0.05
    min_speed: float = 3.0
    max_speed: float = 5.0
    mode: str = "simultaneous"


@njit
def _fx(v: float) -> np.int64:
    """``v`` in fixed point (multiples of 1 / SCALE), rounded to nearest."""
    return np.int64(np.floor(v * SCALE + 0.5))


@njit
def _limit(vx: float, vy: float, vmin: float, vmax: float) -> tuple[float, float]:
    s = math.sqrt(vx * vx + vy * vy)
    if s > vmax:
        return vx * (vmax / s), vy * (vmax / s)
    if 0.0 < s < vmin:
        return vx * (vmin / s), vy * (vmin / s)
    return vx, vy


@njit
def _sums(
    i: int,
    qx: float,
    qy: float,
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    vx: Array,
    vy: Array,
    radius: float,
    sep: float,
) -> tuple[int, np.int64, np.int64, np.int64, np.int64, np.int64, np.int64]:
    """Fixed-point neighbor sums of boid ``i`` at ``(qx, qy)``: count, offsets to
    neighbors, their velocities, and minus the offsets of the too-close ones."""
    r2 = radius * radius
    s2 = sep * sep
    px = geom[6]
    py = geom[7]
    n = 0
    ox = np.int64(0)
    oy = np.int64(0)
    avx = np.int64(0)
    avy = np.int64(0)
    rx = np.int64(0)
    ry = np.int64(0)
    cx0, cx1, cy0, cy1 = cell_range(geom, qx, qy, radius)
    for cy in range(cy0, cy1 + 1):
        for cx in range(cx0, cx1 + 1):
            c = cell_id(geom, cx, cy)
            s = cell_start[c]
            for slot in range(s, s + cell_count[c]):
                j = order[slot]
                if j == i:
                    continue
                dx = min_image(sx[slot] - qx, px)
                dy = min_image(sy[slot] - qy, py)
                d2 = dx * dx + dy * dy
                if d2 <= r2:
                    n += 1
                    fdx = _fx(dx)
                    fdy = _fx(dy)
                    ox += fdx
                    oy += fdy
                    avx += _fx(vx[j])
                    avy += _fx(vy[j])
                    if d2 < s2:
                        rx -= fdx
                        ry -= fdy
    return n, ox, oy, avx, avy, rx, ry


@njit
def _new_velocity(
    i: int,
    qx: float,
    qy: float,
    vx: Array,
    vy: Array,
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    params: Array,
) -> tuple[float, float]:
    n, ox, oy, avx, avy, rx, ry = _sums(
        i,
        qx,
        qy,
        geom,
        cell_start,
        cell_count,
        order,
        sx,
        sy,
        vx,
        vy,
        params[0],
        params[1],
    )
    ux = vx[i]
    uy = vy[i]
    if n > 0:
        inv = 1.0 / (n * SCALE)
        ux = ux + params[2] * (ox * inv) + params[3] * (avx * inv - ux)
        ux = ux + params[4] * (rx / SCALE)
        uy = uy + params[2] * (oy * inv) + params[3] * (avy * inv - uy)
        uy = uy + params[4] * (ry / SCALE)
    a, b = _limit(ux, uy, params[5], params[6])
    return float(a), float(b)


def _steer_simultaneous(
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    params: Array,
    out_vx: Array,
    out_vy: Array,
) -> None:
    # Boids in cell order (neighbors share cells: cache-friendly); each writes
    # only its own output.
    for k in prange(x.shape[0]):
        i = order[k]
        a, b = _new_velocity(
            i, sx[k], sy[k], vx, vy, geom, cell_start, cell_count, order, sx, sy, params
        )
        out_vx[i] = a
        out_vy[i] = b


steer_simultaneous_kernel = njit(_steer_simultaneous, parallel=True)
"""New velocities of all boids into ``out_vx`` / ``out_vy``, every boid reading the
frame-start ``vx`` / ``vy`` (parallel over boids; order-independent)."""
steer_simultaneous_serial = njit(_steer_simultaneous)
"""The same code on the calling thread (for small flocks; identical results)."""
PARALLEL_MIN = 20_000


@njit
def steer_sequential_kernel(
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    geom: Array,
    cell_start: Array,
    cell_count: Array,
    order: Array,
    sx: Array,
    sy: Array,
    params: Array,
) -> None:
    """Update velocities in place, boid 0 first: later boids see earlier updates."""
    for i in range(x.shape[0]):
        a, b = _new_velocity(
            i, x[i], y[i], vx, vy, geom, cell_start, cell_count, order, sx, sy, params
        )
        vx[i] = a
        vy[i] = b


def _fx_ref(v: Array) -> Array:
    return np.floor(v * SCALE + 0.5).astype(np.int64)


def steer_reference(
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    period: tuple[float, float],
    params: Array,
) -> tuple[Array, Array]:
    """Brute-force twin of :func:`steer_simultaneous_kernel` (all pairs, O(n^2)).

    Integer sums are exact in any order, so this must equal the grid kernel bit for
    bit.
    """
    radius, sep, wc, wa, ws, vmin, vmax = (float(v) for v in params[:7])
    out_vx = np.empty_like(vx)
    out_vy = np.empty_like(vy)
    for i in range(x.shape[0]):  # reference implementation: a loop is fine here
        dx = x - x[i]
        dy = y - y[i]
        dx = min_image_reference(dx, period[0])
        dy = min_image_reference(dy, period[1])
        d2 = dx * dx + dy * dy
        near = d2 <= radius * radius
        near[i] = False
        close = near & (d2 < sep * sep)
        n = int(near.sum())
        ux, uy = float(vx[i]), float(vy[i])
        if n:
            inv = 1.0 / (n * SCALE)
            ox, oy = int(_fx_ref(dx[near]).sum()), int(_fx_ref(dy[near]).sum())
            avx, avy = int(_fx_ref(vx[near]).sum()), int(_fx_ref(vy[near]).sum())
            rx, ry = -int(_fx_ref(dx[close]).sum()), -int(_fx_ref(dy[close]).sum())
            ux = ux + wc * (float(ox) * inv) + wa * (float(avx) * inv - ux)
            ux = ux + ws * (float(rx) / SCALE)
            uy = uy + wc * (float(oy) * inv) + wa * (float(avy) * inv - uy)
            uy = uy + ws * (float(ry) / SCALE)
        s = math.sqrt(ux * ux + uy * uy)
        if s > vmax:
            ux, uy = ux * (vmax / s), uy * (vmax / s)
        elif 0.0 < s < vmin:
            ux, uy = ux * (vmin / s), uy * (vmin / s)
        out_vx[i], out_vy[i] = ux, uy
    return out_vx, out_vy


def _params_array(f: Flock) -> Array:
    return np.array(
        [
            f.radius,
            f.separation,
            f.cohesion,
            f.alignment,
            f.avoidance,
            f.min_speed,
            f.max_speed,
        ],
        dtype=np.float64,
    )


@system(
    name="boids_flock",
    reads=[Position2D],
    writes=[Velocity2D],
    resources=[SpatialGrid, Flock],
)
def flock(ctx: SystemContext) -> None:
    """Steer every boid from the grid built in ``pre_update`` (one kernel call).

    Velocities are gathered into grid order (``SpatialGrid.index_of``), steered,
    and written back; with one archetype the gather is the identity.
    """
    sg: SpatialGrid = ctx.resource(SpatialGrid)
    cfg: Flock = ctx.resource(Flock)
    grid = sg.grid
    if grid is None or grid.n == 0:
        return
    parts = [
        (sg.index_of(ents), vel) for ents, _, vel in ctx.query(Position2D, Velocity2D)
    ]
    vx = np.zeros(grid.n)
    vy = np.zeros(grid.n)
    for idx, vel in parts:
        vx[idx] = vel.x
        vy[idx] = vel.y
    params = _params_array(cfg)
    args = (*grid.arrays(), params)
    if cfg.mode == "sequential":
        steer_sequential_kernel(grid.x, grid.y, vx, vy, *args)
        out_vx, out_vy = vx, vy
    else:
        out_vx = np.empty(grid.n)
        out_vy = np.empty(grid.n)
        steer = (
            steer_simultaneous_kernel
            if grid.n >= PARALLEL_MIN
            else steer_simultaneous_serial
        )
        steer(grid.x, grid.y, vx, vy, *args, out_vx, out_vy)
    for idx, vel in parts:
        vel.x[:] = out_vx[idx]
        vel.y[:] = out_vy[idx]


def _require(ok: bool, message: str) -> None:  # noqa: FBT001 # a predicate
    if not ok:
        raise ParamError(f"model 'boids': {message}")


def _checked(p: dict[str, Any]) -> tuple[int, float, Flock]:
    agents = p["agents"]
    _require(agents >= 0, f"agents must be >= 0, got {agents}")
    for name in ("radius", "separation", "min_speed", "max_speed"):
        _require(
            math.isfinite(p[name]) and p[name] > 0, f"{name} must be > 0, got {p[name]}"
        )
    for name in ("cohesion", "alignment", "avoidance"):
        _require(
            math.isfinite(p[name]) and p[name] >= 0,
            f"{name} must be >= 0, got {p[name]}",
        )
    _require(
        p["min_speed"] <= p["max_speed"],
        f"min_speed ({p['min_speed']}) must not exceed max_speed ({p['max_speed']})",
    )
    _require(p["mode"] in MODES, f"mode must be one of {MODES}, got {p['mode']!r}")
    size = float(p["size"])
    if size == 0.0:
        size = max(math.sqrt(agents * math.pi * p["radius"] ** 2 / NEIGHBORS), 1.0)
    _require(
        math.isfinite(size) and size > 0, f"size must be > 0 (or 0: auto), got {size}"
    )
    cfg = Flock(
        radius=p["radius"],
        separation=p["separation"],
        cohesion=p["cohesion"],
        alignment=p["alignment"],
        avoidance=p["avoidance"],
        min_speed=p["min_speed"],
        max_speed=p["max_speed"],
        mode=p["mode"],
    )
    return int(agents), size, cfg


def _render_components(n: int) -> dict[type, Any]:
    """Render components for the boids when the render extra is installed."""
    try:
        from archetype_ecs.render import Color, Shape, Size
    except ImportError:  # no Pillow: the model runs, it just cannot be drawn
        return {}
    return {
        Shape: {"kind": np.zeros(n, np.uint8)},
        Size: {"radius": np.full(n, 0.6, np.float32)},
        Color: {
            "r": np.full(n, 30, np.uint8),
            "g": np.full(n, 90, np.uint8),
            "b": np.full(n, 160, np.uint8),
            "a": np.full(n, 255, np.uint8),
        },
    }


def build(*, seed: int = 0, threads: int | None = None, **params: Any) -> World:
    """A flock of ``agents`` boids at random places and headings, ready to step.

    Parameters
    ----------
    seed
        Seeds the initial positions and velocities: the same seed gives the same run.
    threads
        Worker threads (default: CPU count); results do not depend on it.
    **params
        See ``PARAMS``.

    Raises
    ------
    ParamError
        When a parameter is unknown, of the wrong type or out of range.

    Examples
    --------
    >>> world = build(agents=200, seed=1)
    >>> world.step()
    >>> summary(world)["agents"]
    200
    """
    p = resolve_params(PARAMS, params, model="boids")
    agents, size, cfg = _checked(p)
    rng = np.random.default_rng(seed)
    world = World(seed=seed, threads=threads, dt=DT)
    add_physics(
        world,
        bounds=WorldBounds(0.0, 0.0, size, size, mode="wrap"),
        grid_cell_size=cfg.radius,
    )
    world.insert_resource(cfg)
    world.add_system(flock)
    heading = rng.uniform(0.0, 2.0 * math.pi, agents)
    speed = rng.uniform(cfg.min_speed, cfg.max_speed, agents)
    world.spawn_batch(
        {
            Position2D: {
                "x": rng.uniform(0.0, size, agents),
                "y": rng.uniform(0.0, size, agents),
            },
            Velocity2D: {"x": speed * np.cos(heading), "y": speed * np.sin(heading)},
            **_render_components(agents),
        }
    )
    return world


def polarization(world: World) -> float:
    """Order parameter: length of the mean unit heading (0 disordered, 1 aligned)."""
    t = world.query(Velocity2D).to_arrow()
    vx = t.column("Velocity2D.x").to_numpy()
    vy = t.column("Velocity2D.y").to_numpy()
    if not vx.shape[0]:
        return 0.0
    s = np.hypot(vx, vy)
    s[s == 0] = 1.0
    return float(np.hypot((vx / s).mean(), (vy / s).mean()))


def summary(world: World) -> dict[str, Any]:
    """End figures: flock order, mean speed, the grid's share of the systems' time,
    a position checksum (the same for a seed on every run and thread count). The
    runner adds the per-system times (``system_mean_ms``) itself."""
    t = world.query(Position2D, Velocity2D).to_arrow()
    x = t.column("Position2D.x").to_numpy()
    y = t.column("Position2D.y").to_numpy()
    speed = np.hypot(
        t.column("Velocity2D.x").to_numpy(), t.column("Velocity2D.y").to_numpy()
    )
    systems = {
        r["name"]: r["mean_ms"]
        for r in world.stats().to_pylist()
        if r["kind"] == "system"
    }
    total = sum(systems.values())
    grid_ms = systems.get("physics_grid", 0.0)
    return {
        "agents": int(x.shape[0]),
        "size": world.resource(WorldBounds).size[0],
        "mode": world.resource(Flock).mode,
        "polarization": polarization(world),
        "mean_speed": float(speed.mean()) if speed.shape[0] else 0.0,
        "grid_share": grid_ms / total if total > 0 else 0.0,
        "checksum": float(np.sum(x, dtype=np.float64) + np.sum(y, dtype=np.float64)),
    }


def status(world: World) -> str:
    """Live text for the progress bar: the flock's order parameter."""
    return f"polarization {polarization(world):.3f}"
