"""Sugarscape: agents roam a sugar landscape that grows back at once (rules G-inf, M).

Epstein & Axtell's *Growing Artificial Societies* (1996), chapter II, with immediate
growback. Each step every cell regrows to its capacity (rule G-infinity); then agents
act one at a time in a seeded random order (rule M): look along the four lattice
directions as far as their vision, move to the unoccupied cell with the most sugar
(their own cell counts; the nearest among equals; a seeded random one among equally
near equals), harvest all of it, burn their metabolism, and die when their sugar
falls to zero or below, which frees the cell for the agents still to act.

Variant: the structure of Mesa's ``sugarscape_g1mt`` example (random activation,
move -> eat -> maybe die per agent, a two-peaked sugar map with capacities 0..4,
a non-toroidal grid by default) without spice and trade, growback G-infinity instead
of G1, and E&A's lattice-direction vision (Mesa's example scans the whole von Neumann
diamond). Defaults are E&A's chapter II figures: 400 agents on 50 x 50, endowment
5..25, metabolism 1..4, vision 1..6.

Design: the landscape is a resource of dense numpy grids (capacity, current sugar,
occupant), not one entity per cell. Cells never appear or disappear, are addressed by
coordinate (a grid *is* their index), and every step touches all of them (growback);
as entities they would need a coordinate -> entity index anyway. Agents are entities
(``Location``, ``Sugar``, ``Traits``); one Numba kernel runs the whole serial step
over their columns, and the dead are despawned through the command buffer. The
activation order is a random key of each entity id, so a run does not depend on row
order and a plain-Python model keyed by entity id reproduces it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype_ecs import Entity, SystemContext, World, component, i32, i64, system
from archetype_ecs.demos._abm_kernels import forage_kernel, gini
from archetype_ecs.errors import EcsError
from archetype_ecs.random import Rng, stream_id
from archetype_ecs.runner import ParamError, resolve_params

__all__ = [
    "FRAMES",
    "PARAMS",
    "RECORD",
    "Landscape",
    "Location",
    "Sugar",
    "Traits",
    "build",
    "status",
    "summary",
    "two_peaks",
]

PARAMS: dict[str, int | float | str | bool] = {
    "agents": 400,
    "width": 50,
    "height": 50,
    "max_sugar": 4,
    "endowment_min": 5,
    "endowment_max": 25,
    "metabolism_min": 1,
    "metabolism_max": 4,
    "vision_min": 1,
    "vision_max": 6,
    "torus": False,
}
FRAMES: int = 200
STREAM = "sugarscape.forage"
Array = np.ndarray[Any, Any]


@component
class Location:
    """The cell an agent stands on (column ``x``, row ``y``)."""

    x: i32 = 0
    y: i32 = 0


@component
class Sugar:
    """Sugar an agent carries; it dies when this falls to zero or below."""

    amount: i64 = 0


@component
class Traits:
    """Fixed per agent: sugar burned per step and how many cells it sees."""

    metabolism: i32 = 1
    vision: i32 = 1


@dataclass
class Landscape:
    """Resource: the sugar grids, the rule's random stream and population figures.

    The fields are plain JSON values, so ``world.save`` keeps the resource and
    ``load(..., resources=[Landscape])`` restores it; the grids are rebuilt from
    them (``capacity`` is :func:`two_peaks` of the size, and under G-infinity the
    next step's growback refills ``level`` anyway).

    Attributes
    ----------
    width, height, max_sugar
        The grid's size and the capacity of its hilltops.
    torus
        Whether vision and movement wrap around the edges.
    stream
        Stream id of the draws (``stream_id("sugarscape.forage")``).
    deaths
        Agents that died in the last step; ``deaths_total`` since the start.
    population
        Agents alive after each step.
    capacity
        (Not a field.) Most sugar each cell holds, int64, shape ``(height, width)``.
    level
        (Not a field.) Sugar on each cell now; after a step, harvested cells show 0
        until the next step's growback.
    occupant
        (Not a field.) Kernel scratch: row of the agent on each cell, -1 when empty.
    """

    width: int
    height: int
    max_sugar: int = 4
    torus: bool = False
    stream: int = field(default_factory=lambda: stream_id(STREAM))
    deaths: int = 0
    deaths_total: int = 0
    population: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.capacity = two_peaks(self.width, self.height, self.max_sugar)
        self.level = self.capacity.copy()
        self.occupant = np.full((self.height, self.width), -1, dtype=np.int64)
        self._order = np.empty(0, dtype=np.int64)
        self._keys = np.empty(0, dtype=np.uint64)
        self._dead = np.empty(0, dtype=np.bool_)

    def scratch_for(self, n: int) -> tuple[Array, Array, Array]:
        """Order, key and death-flag scratch arrays of length ``n`` (reused)."""
        if self._order.shape[0] < n:
            self._order = np.empty(n, dtype=np.int64)
            self._keys = np.empty(n, dtype=np.uint64)
            self._dead = np.empty(n, dtype=np.bool_)
        return self._order[:n], self._keys[:n], self._dead[:n]


def two_peaks(width: int, height: int, max_sugar: int = 4) -> Array:
    """The classic two-hill sugar map, scaled to ``width`` x ``height``.

    Peaks of ``max_sugar`` sit at 30% / 70% and 70% / 30% of the grid; capacity
    drops by one every ``0.12 * min(width, height)`` cells of distance from the
    nearer peak, down to 0.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(height, width)``.

    Examples
    --------
    >>> cap = two_peaks(50, 50)
    >>> cap.shape, int(cap.max()), int(cap.min())
    ((50, 50), 4, 0)
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    band = max(0.12 * min(width, height), 1.0)
    peaks = ((0.7 * width, 0.3 * height), (0.3 * width, 0.7 * height))
    dist = np.min([np.hypot(xx - px, yy - py) for px, py in peaks], axis=0)
    capacity: Array = np.clip(max_sugar - np.floor(dist / band), 0, max_sugar)
    return capacity.astype(np.int64)


@system(
    writes=[Location, Sugar],
    reads=[Traits],
    resources=[Rng],
    resources_mut=[Landscape],
    commands=True,
)
def forage(ctx: SystemContext) -> None:
    """Growback, then every agent moves, eats and maybe dies (one kernel call)."""
    land = ctx.resource_mut(Landscape)
    parts = list(ctx.query(Location, Sugar, Traits))
    if not parts:  # nobody left: the landscape still grows back (G-infinity)
        np.copyto(land.level, land.capacity)
        land.deaths = 0
        land.population.append(0)
        return
    cols = [
        [p[0] for p in parts],
        [p[1].x for p in parts],
        [p[1].y for p in parts],
        [p[2].amount for p in parts],
        [p[3].metabolism for p in parts],
        [p[3].vision for p in parts],
    ]
    ents, x, y, sugar, met, vis = (
        c[0] if len(c) == 1 else np.concatenate(c) for c in cols
    )
    for column in (ents, met, vis):  # read-only like the views: one kernel signature
        column.flags.writeable = False
    _check_locations(ents, x, y, land)
    order, keys, dead = land.scratch_for(ents.shape[0])
    with np.errstate(over="ignore"):  # the hash wraps on purpose (NUMBA_DISABLE_JIT)
        deaths = forage_kernel(
            ents, x, y, sugar, met, vis, dead, order, keys,
            land.level, land.capacity, land.occupant, land.torus,
            ctx.resource(Rng).seed, land.stream, ctx.time.frame,
        )  # fmt: skip
    if deaths < 0:
        a = -1 - int(deaths)
        raise EcsError(
            f"sugarscape: agent {Entity(int(ents[a]))} stands on cell x={int(x[a])}, "
            f"y={int(y[a])}, which another agent already holds; the rules allow one "
            "agent per cell: give each agent its own Location"
        )
    if len(parts) > 1:  # several archetypes: write the gathered columns back
        start = 0
        for _, loc, sug, _traits in parts:
            stop = start + loc.x.shape[0]
            loc.x[:], loc.y[:], sug.amount[:] = (
                x[start:stop],
                y[start:stop],
                sugar[start:stop],
            )
            start = stop
    if deaths:
        ctx.commands.despawn_batch(ents[dead])
    land.deaths = int(deaths)
    land.deaths_total += int(deaths)
    land.population.append(int(ents.shape[0]) - int(deaths))


def _check_locations(ents: Array, x: Array, y: Array, land: Landscape) -> None:
    """Refuse agents off the grid before the kernel indexes it (no bounds checks)."""
    off = (x < 0) | (x >= land.width) | (y < 0) | (y >= land.height)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise EcsError(
            f"sugarscape: agent {Entity(int(ents[i]))} stands at x={int(x[i])}, "
            f"y={int(y[i])}, outside the {land.width} x {land.height} landscape "
            f"({int(off.sum())} agent(s) off the grid); keep Location in "
            f"0 <= x < {land.width}, 0 <= y < {land.height}"
        )


def _require(ok: bool, message: str) -> None:  # noqa: FBT001 # a predicate
    """Raise :class:`~archetype_ecs.runner.ParamError` with ``message`` unless ``ok``."""
    if not ok:
        raise ParamError(f"model 'sugarscape': {message}")


def _check(p: dict[str, int | float | str | bool]) -> None:
    """Refuse parameters that cannot make a world, before anything is built."""
    w, h, n = int(p["width"]), int(p["height"]), int(p["agents"])
    _require(w >= 1 and h >= 1, f"width and height must be >= 1, got {w} x {h}")
    _require(
        0 <= n <= w * h,
        f"agents must be in [0, width * height = {w * h}] (one agent per cell), "
        f"got {n}",
    )
    _require(int(p["max_sugar"]) >= 0, f"max_sugar must be >= 0, got {p['max_sugar']}")
    for trait, low in (("endowment", 1), ("metabolism", 0), ("vision", 0)):
        lo, hi = int(p[f"{trait}_min"]), int(p[f"{trait}_max"])
        _require(
            low <= lo <= hi,
            f"need {low} <= {trait}_min <= {trait}_max, got {trait}_min={lo}, "
            f"{trait}_max={hi}",
        )
    if p["torus"]:
        v = int(p["vision_max"])
        _require(
            2 * v < min(w, h),
            f"on a torus vision_max must be < min(width, height) / 2 = "
            f"{min(w, h) / 2:g} so that no cell is seen twice, got {v}",
        )


def build(*, seed: int = 0, threads: int | None = None, **params: Any) -> World:
    """A Sugarscape world ready to step: landscape resource, agents, the rule system.

    Parameters
    ----------
    seed
        World seed: placement, endowments and every step's draws follow from it.
    threads
        Worker threads (results do not depend on it).
    **params
        See ``PARAMS``: ``agents``, ``width``, ``height``, ``max_sugar``, the
        inclusive ranges ``endowment_min/max``, ``metabolism_min/max``,
        ``vision_min/max``, and ``torus``.

    Returns
    -------
    World
        Agents on distinct random cells of a full :func:`two_peaks` landscape.

    Raises
    ------
    ParamError
        When a parameter is unknown, of the wrong type or out of range (more agents
        than cells, an empty range, a vision that wraps a torus onto itself).

    Examples
    --------
    >>> world = build(seed=2, agents=100, width=20, height=20)
    >>> world.run(10)
    >>> 0 < summary(world)["agents"] <= 100
    True
    """
    p = resolve_params(PARAMS, params, model="sugarscape")
    _check(p)
    w, h, n = int(p["width"]), int(p["height"]), int(p["agents"])
    rng = np.random.default_rng(seed)
    cells = rng.choice(w * h, size=n, replace=False)

    def draw(trait: str) -> Array:
        return rng.integers(
            int(p[f"{trait}_min"]), int(p[f"{trait}_max"]), n, endpoint=True
        )

    world = World(seed=seed, threads=threads)
    world.insert_resource(
        Landscape(
            width=w, height=h, max_sugar=int(p["max_sugar"]), torus=bool(p["torus"])
        )
    )
    world.spawn_batch(
        {
            Location: {"x": cells % w, "y": cells // w},
            Sugar: {"amount": draw("endowment")},
            Traits: {"metabolism": draw("metabolism"), "vision": draw("vision")},
        }
    )
    world.add_system(forage)
    return world


def _column(world: World, component: type, name: str) -> Array:
    cols = [getattr(view, name) for _, view in world.query(component)]
    return np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)


def summary(world: World) -> dict[str, Any]:
    """End figures: population, deaths, wealth (sugar) statistics and Gini.

    Examples
    --------
    >>> world = build(seed=0)
    >>> world.run(5)
    >>> s = summary(world)
    >>> s["agents"] + s["deaths_total"]
    400
    """
    land = world.resource(Landscape)
    sugar = _column(world, Sugar, "amount")
    vision = _column(world, Traits, "vision")
    met = _column(world, Traits, "metabolism")
    n = int(sugar.shape[0])
    return {
        "agents": n,
        "deaths_total": land.deaths_total,
        "mean_sugar": float(sugar.mean()) if n else 0.0,
        "total_sugar": int(sugar.sum()),
        "gini": gini(sugar),
        "mean_vision": float(vision.mean()) if n else 0.0,
        "mean_metabolism": float(met.mean()) if n else 0.0,
        "sugar_on_landscape": int(land.level.sum()),
    }


def status(world: World) -> str:
    """Live figures: agents alive and deaths in the last step."""
    land = world.resource(Landscape)
    return f"{len(world)} agents, {land.deaths} died"


RECORD: list[type] = [Location, Sugar]
