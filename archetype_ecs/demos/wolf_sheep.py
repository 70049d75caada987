"""Wolf-sheep predation: behavior-tree animals on a torus grid, Lua-scripted grass.

Mesa's ``wolf_sheep`` example (Mesa 3.3, after Wilensky's NetLogo model) on the ECS.
Sheep and wolves are entities; each species runs two behavior trees, compiled to one
Numba tick over all its agents: a *move* tree (step to a preferred neighboring cell,
else to an allowed one, else stay) and a *life* tree (burn one unit of energy, eat
what the frame's resolution gave you, die below zero energy, else maybe breed by
splitting your energy). Grass patches are entities too; their regrowth rule is a Lua
script run as a system with declared permissions (reads and writes ``Grass`` only),
reading and writing the patches through the script batch API. Births and deaths go
through command buffers, applied at each phase's sync point.

One frame is Mesa's step, in three phases and a drawing one (each ends with a sync
point):

``sheep``
    ``sheep_senses`` (which neighbor cells are free of wolves, and which of those have
    grown grass) -> move tree -> ``sheep_graze`` (one sheep per grown patch eats it)
    -> life tree -> ``sheep_fates`` (despawn the dead, spawn lambs).
``wolves``
    ``wolf_senses`` (which neighbor cells hold sheep) -> move tree -> ``wolf_hunt``
    (each wolf eats at most one sheep of its cell; eaten sheep are despawned) ->
    life tree -> ``wolf_fates``.
``grass``
    ``grass.lua``: a grazed patch becomes bare for ``grass_regrowth_time`` frames,
    then grows back.
``render``
    ``render_looks`` (only with the ``render`` extra): the drawn position and the
    grass color follow the state, for ``--render``.

Every random draw is a counter-based stream keyed by ``(seed, stream, uid, frame)``
(:mod:`archetype_ecs.random`), where ``uid`` is an animal's birth number, so results do
not depend on rows, archetypes, iteration order or threads, and the plain-Python
:class:`ReferenceWolfSheep` reproduces a run exactly. Where Mesa lets agents act one at
a time in random order, this model resolves each phase simultaneously; the
differences are listed in ``docs/gallery/wolf_sheep.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype_ecs import (
    System,
    SystemContext,
    World,
    bool_,
    component,
    f32,
    f64,
    i32,
    i64,
    njit,
    system,
)
from archetype_ecs.random import (
    Rng,
    integers,
    random_u64,
    stream_id,
    uniform,
)
from archetype_ecs.resources import Time
from archetype_ecs.runner import ParamError, resolve_params
from behaviors.leaves import LeafRegistry, leaf
from behaviors.nodes import Action, Condition, ForceSuccess, Selector, Sequence
from behaviors.tick import behavior_system
from behaviors.tree import BehaviorTree
from scripting import ScriptEngine

__all__ = [
    "FRAMES",
    "GRASS_LUA",
    "PARAMS",
    "RECORD",
    "RENDER",
    "Animal",
    "Cell",
    "Energy",
    "Fate",
    "Grass",
    "Meadow",
    "Meal",
    "Pasture",
    "ReferenceWolfSheep",
    "Senses",
    "Spot",
    "Sheep",
    "Wolf",
    "build",
    "life_tree",
    "move_tree",
    "animal_state",
    "initial_animals",
    "initial_grass",
    "populations",
    "status",
    "summary",
]

Array = np.ndarray[Any, Any]

PARAMS: dict[str, int | float | str | bool] = {
    "width": 20,
    "height": 20,
    "initial_sheep": 100,
    "initial_wolves": 50,
    "sheep_reproduce": 0.04,
    "wolf_reproduce": 0.05,
    "wolf_gain_from_food": 20.0,
    "sheep_gain_from_food": 4.0,
    "grass_regrowth_time": 30,
}
"""Mesa 3.3's ``WolfSheep`` defaults (``grass=True``; the gains are floats here)."""

FRAMES: int = 100

# Stream ids of the model's random draws (stable across runs and machines).
STREAM_INIT = stream_id("wolf_sheep.init")
STREAM_GRASS = stream_id("wolf_sheep.grass")
STREAM_MOVE = stream_id("wolf_sheep.move")
STREAM_BREED = stream_id("wolf_sheep.breed")
STREAM_ORDER = stream_id("wolf_sheep.order")
STREAM_PREY = stream_id("wolf_sheep.prey")

# Von Neumann neighbors in bit order: bit d of a mask is the cell at (x + DX[d], y + DY[d]).
DX = np.array([0, 1, 0, -1], dtype=np.int64)
DY = np.array([1, 0, -1, 0], dtype=np.int64)

PREFERRED = 0
ALLOWED = 1

SUCCESS = 1
FAILURE = 2


@component
class Cell:
    """The grid cell an animal stands on, or a grass patch covers."""

    x: i32 = 0
    y: i32 = 0


@component
class Energy:
    """An animal's energy: -1 per frame, + food; below 0 it dies."""

    value: f64 = 0.0


@component
class Animal:
    """Birth number (the key of the animal's random streams) and species traits."""

    uid: i64 = 0
    gain: f64 = 0.0
    p_reproduce: f64 = 0.0


@component
class Senses:
    """Neighbor cells as 4-bit masks (bit d: the cell at ``DX[d], DY[d]``).

    ``preferred``: where the animal would like to go (sheep: no wolf and grown grass;
    wolves: sheep); ``allowed``: where it may go (sheep: no wolf; wolves: anywhere).
    Written each frame by the species' senses system, read by the move tree.
    """

    preferred: i32 = 0
    allowed: i32 = 0


@component
class Meal:
    """Whether this frame's resolution gave the animal food (a patch, a sheep)."""

    fed: bool_ = False


@component
class Fate:
    """Requests from the life tree, turned into commands by the fates system."""

    dies: bool_ = False
    breeds: bool_ = False


@component
class Sheep:
    """Tag: a sheep."""


@component
class Wolf:
    """Tag: a wolf."""


@component
class Grass:
    """A grass patch: grown or not, the frame it grows back, grazed this frame.

    A bare patch grows back at the end of frame ``regrow_at``. ``grazed`` is written
    by ``sheep_graze`` every frame and read by the grass rule.
    """

    fully_grown: bool_ = False
    regrow_at: i32 = 0
    grazed: bool_ = False


@component
class Spot:
    """Where the renderer draws an entity: the centre of its cell (``--render``)."""

    x: f32 = 0.0
    y: f32 = 0.0


@dataclass
class Pasture:
    """Resource: grid size, seed, regrowth time and the next birth number.

    Plain numbers, so ``world.save`` keeps it (and Lua scripts can read it).
    """

    width: int
    height: int
    seed: int
    regrowth_time: int
    next_uid: int


class Meadow:
    """Resource (scratch, rebuilt every frame): grown grass per cell as the frame's
    sheep phase began, indexed ``y * width + x``."""

    def __init__(self, cells: int) -> None:
        self.grown: Array = np.zeros(cells, dtype=np.bool_)


@dataclass
class Census:
    """Resource: populations at the end of every frame (appended by a frame-end hook)."""

    sheep: list[int] = field(default_factory=list)
    wolves: list[int] = field(default_factory=list)
    grass: list[int] = field(default_factory=list)


GRASS_LUA = """\
--! reads: Grass
--! writes: Grass
--! resources: Pasture, Time
-- The grass rule (Mesa's GrassPatch): a patch grazed in frame t is bare until the
-- end of frame t + regrowth_time, then grown. Only patches that change are written.
function run(b)
  local now = ecs.resource("Time").frame
  local regrow = ecs.resource("Pasture").regrowth_time
  local grown, due, grazed = b.Grass.fully_grown, b.Grass.regrow_at, b.Grass.grazed
  local ents, g, d, k = {}, {}, {}, 0
  for i = 1, b.n do
    if grazed[i] ~= 0 then
      k = k + 1
      ents[k], g[k], d[k] = b.entity[i], false, now + regrow
    elseif grown[i] == 0 and due[i] <= now then
      k = k + 1
      ents[k], g[k], d[k] = b.entity[i], true, due[i]
    end
  end
  if k > 0 then
    ecs.set_batch(ents, "Grass", {fully_grown = g, regrow_at = d})
  end
end
"""
"""The Lua grass rule, run as the ``grass.lua`` system in the ``grass`` phase."""


# ---------------------------------------------------------------- behavior-tree leaves


@njit
def _popcount4(mask: int) -> int:
    return (mask & 1) + (mask >> 1 & 1) + (mask >> 2 & 1) + (mask >> 3 & 1)


@njit
def _nth_bit(mask: int, k: int) -> int:
    """The direction of the ``k``-th set bit of a 4-bit mask (``k`` from 0)."""
    for d in range(4):
        if mask >> d & 1:
            if k == 0:
                return d
            k -= 1
    return -1


@leaf(
    "step",
    kind="action",
    reads=[Animal, Senses],
    writes=[Cell],
    resources={Pasture: ["width", "height", "seed"], Time: ["frame"]},
    params={"toward": PREFERRED},
)
@njit
def _step(
    i: int,
    uid: Array,
    gain: Array,
    p_reproduce: Array,
    preferred: Array,
    allowed: Array,
    x: Array,
    y: Array,
    width: int,
    height: int,
    seed: int,
    frame: int,
    toward: int,
) -> int:
    """Move to a uniformly chosen cell of the mask; FAILURE when the mask is empty."""
    mask = preferred[i] if toward == PREFERRED else allowed[i]
    n = _popcount4(mask)
    if n == 0:
        return FAILURE
    k = integers(0, n, seed, STREAM_MOVE, uid[i], frame, 0)
    d = _nth_bit(mask, k)
    x[i] = (x[i] + DX[d]) % width
    y[i] = (y[i] + DY[d]) % height
    return SUCCESS


@leaf("stay", kind="action")
@njit
def _stay(i: int) -> int:
    """Stay on the cell (a sheep surrounded by wolves)."""
    return SUCCESS


@leaf("metabolize", kind="action", writes=[Energy])
@njit
def _metabolize(i: int, value: Array) -> int:
    """Burn one unit of energy."""
    value[i] -= 1.0
    return SUCCESS


@leaf("fed", kind="condition", reads=[Meal])
@njit
def _fed(i: int, fed: Array) -> bool:
    """The frame's resolution gave this animal food."""
    return fed[i]  # type: ignore[no-any-return] # njit


@leaf("eat", kind="action", reads=[Animal], writes=[Energy])
@njit
def _eat(i: int, uid: Array, gain: Array, p_reproduce: Array, value: Array) -> int:
    """Gain the species' energy from food."""
    value[i] += gain[i]
    return SUCCESS


@leaf("starving", kind="condition", reads=[Energy])
@njit
def _starving(i: int, value: Array) -> bool:
    """Energy below zero (Mesa: ``energy < 0``)."""
    return value[i] < 0.0  # type: ignore[no-any-return] # njit


@leaf("die", kind="action", writes=[Fate])
@njit
def _die(i: int, dies: Array, breeds: Array) -> int:
    """Ask to be despawned at the sync point."""
    dies[i] = True
    return SUCCESS


@leaf(
    "fertile",
    kind="condition",
    reads=[Animal],
    resources={Pasture: ["seed"], Time: ["frame"]},
)
@njit
def _fertile(
    i: int, uid: Array, gain: Array, p_reproduce: Array, seed: int, frame: int
) -> bool:
    """Reproduce this frame, with the species' probability."""
    return uniform(seed, STREAM_BREED, uid[i], frame, 0) < p_reproduce[i]  # type: ignore[no-any-return] # njit


@leaf("breed", kind="action", writes=[Energy, Fate])
@njit
def _breed(i: int, value: Array, dies: Array, breeds: Array) -> int:
    """Split energy with an offspring (spawned at the sync point)."""
    value[i] /= 2.0
    breeds[i] = True
    return SUCCESS


LEAVES = (_step, _stay, _metabolize, _fed, _eat, _starving, _die, _fertile, _breed)


def move_tree(name: str) -> BehaviorTree:
    """The move tree (shared by both species; their senses differ).

    Examples
    --------
    >>> move_tree("sheep_move").n_nodes
    4
    """
    return BehaviorTree(
        Selector(
            [
                Action("step", toward=PREFERRED),
                Action("step", toward=ALLOWED),
                Action("stay"),
            ],
            memory=False,
        ),
        name,
    )


def life_tree(name: str) -> BehaviorTree:
    """The life tree: metabolize, eat, then die or maybe breed.

    Examples
    --------
    >>> life_tree("wolf_life").n_nodes
    14
    """
    return BehaviorTree(
        Sequence(
            [
                Action("metabolize"),
                ForceSuccess(Sequence([Condition("fed"), Action("eat")])),
                Selector(
                    [
                        Sequence([Condition("starving"), Action("die")]),
                        ForceSuccess(Sequence([Condition("fertile"), Action("breed")])),
                    ],
                    memory=False,
                ),
            ],
            memory=False,
        ),
        name,
    )


# The tick kernels of the trees, shared by every world this module builds: generated
# kernels have no file for Numba's disk cache, so without this each build would compile
# both tree shapes again (about two seconds each). Keyed like LeafRegistry.kernels.
_TREE_KERNELS: dict[tuple[object, ...], Any] = {}

SHEEP_MOVE = move_tree("sheep_move")
SHEEP_LIFE = life_tree("sheep_life")
WOLF_MOVE = move_tree("wolf_move")
WOLF_LIFE = life_tree("wolf_life")


# ---------------------------------------------------------------- columnar systems


def _cell_index(x: Array, y: Array, width: int) -> Array:
    return np.asarray(y, np.int64) * width + np.asarray(x, np.int64)


def _neighbor_cells(x: Array, y: Array, width: int, height: int) -> Array:
    """(n, 4) cell indices of each position's von Neumann neighbors, in bit order."""
    xs = (np.asarray(x, np.int64)[:, None] + DX[None, :]) % width
    ys = (np.asarray(y, np.int64)[:, None] + DY[None, :]) % height
    return ys * width + xs


def _masks(bits: Array) -> Array:
    """(n, 4) bools -> 4-bit masks (int32)."""
    weights = np.array([1, 2, 4, 8], dtype=np.int32)
    out: Array = (bits.astype(np.int32) * weights).sum(axis=1, dtype=np.int32)
    return out


def _occupied(ctx: SystemContext, tag: type, cells: int, width: int) -> Array:
    """Bool per cell: some entity tagged ``tag`` stands on it."""
    out = np.zeros(cells, dtype=np.bool_)
    for _, cell, _ in ctx.query(Cell, tag):
        out[_cell_index(cell.x, cell.y, width)] = True
    return out


@system(
    phase="sheep",
    reads=[Cell, Wolf, Sheep, Grass],
    writes=[Senses],
    resources=[Pasture],
    resources_mut=[Meadow],
)
def sheep_senses(ctx: SystemContext) -> None:
    """Sheep see the neighbor cells free of wolves, and which of those have grass.

    Also stores the grass grid as this frame began (``Meadow.grown``) for grazing.
    """
    p = ctx.resource(Pasture)
    w, h = p.width, p.height
    wolves = _occupied(ctx, Wolf, w * h, w)
    grown = np.zeros(w * h, dtype=np.bool_)
    for _, cell, grass in ctx.query(Cell, Grass):
        grown[_cell_index(cell.x, cell.y, w)] = grass.fully_grown
    ctx.resource_mut(Meadow).grown = grown
    for _, cell, senses, _ in ctx.query(Cell, Senses, Sheep):
        around = _neighbor_cells(cell.x, cell.y, w, h)
        safe = ~wolves[around]
        senses.allowed[:] = _masks(safe)
        senses.preferred[:] = _masks(safe & grown[around])


@system(phase="wolves", reads=[Cell, Sheep, Wolf], writes=[Senses], resources=[Pasture])
def wolf_senses(ctx: SystemContext) -> None:
    """Wolves see the neighbor cells holding sheep; they may go anywhere."""
    p = ctx.resource(Pasture)
    sheep = _occupied(ctx, Sheep, p.width * p.height, p.width)
    for _, cell, senses, _ in ctx.query(Cell, Senses, Wolf):
        senses.preferred[:] = _masks(
            sheep[_neighbor_cells(cell.x, cell.y, p.width, p.height)]
        )
        senses.allowed[:] = 15


def _first_per_cell(cells: Array, keys: Array, uids: Array) -> Array:
    """Indices of the entity with the smallest ``(key, uid)`` on each cell."""
    order = np.lexsort((uids, keys, cells))
    cs = cells[order]
    first = np.ones(len(cs), dtype=np.bool_)
    first[1:] = cs[1:] != cs[:-1]
    out: Array = order[first]
    return out


def _ranks_in_cell(cells: Array, keys: Array, uids: Array) -> tuple[Array, Array]:
    """Order by ``(cell, key, uid)`` and each entity's rank within its cell."""
    order = np.lexsort((uids, keys, cells))
    cs = cells[order]
    rank = np.arange(len(cs)) - np.searchsorted(cs, cs, side="left")
    return order, rank


@system(
    phase="sheep",
    reads=[Cell, Animal, Sheep],
    writes=[Meal, Grass],
    resources=[Pasture, Meadow, Rng],
    after=["behavior_sheep_move"],
)
def sheep_graze(ctx: SystemContext) -> None:
    """On each grown patch, the sheep with the smallest order key eats the grass.

    The order key (``random_u64`` of stream ``wolf_sheep.order``, ties by uid) stands
    for Mesa's random activation order: the first sheep to act on a patch eats it.
    """
    p = ctx.resource(Pasture)
    frame = ctx.time.frame
    chunks = [
        (cell, animal, meal)
        for _, cell, animal, meal, _ in ctx.query(Cell, Animal, Meal, Sheep)
    ]
    grazed = np.zeros(p.width * p.height, dtype=np.bool_)
    if chunks:
        cells = np.concatenate([_cell_index(c.x, c.y, p.width) for c, _, _ in chunks])
        uids = np.concatenate([a.uid for _, a, _ in chunks])
        fed = np.zeros(len(cells), dtype=np.bool_)
        hungry = np.flatnonzero(ctx.resource(Meadow).grown[cells])
        keys = ctx.resource(Rng).random_u64(STREAM_ORDER, uids[hungry], tick=frame)
        winners = hungry[_first_per_cell(cells[hungry], keys, uids[hungry])]
        fed[winners] = True
        grazed[cells[winners]] = True
        start = 0
        for _, _, meal in chunks:
            meal.fed[:] = fed[start : start + len(meal.fed)]
            start += len(meal.fed)
    for _, cell, grass in ctx.query(Cell, Grass):
        grass.grazed[:] = grazed[_cell_index(cell.x, cell.y, p.width)]


@system(
    phase="wolves",
    reads=[Cell, Animal, Sheep, Wolf],
    writes=[Meal],
    resources=[Pasture, Rng],
    commands=True,
    after=["behavior_wolf_move"],
)
def wolf_hunt(ctx: SystemContext) -> None:
    """On each cell, the k-th wolf (by order key) eats the k-th sheep (by prey key).

    Mesa's wolves act one at a time in random order and each eats a random sheep of
    its cell: the same as ranking the wolves by a random key and matching them with
    the sheep ranked by another. Eaten sheep are despawned at the sync point.
    """
    p = ctx.resource(Pasture)
    rng = ctx.resource(Rng)
    frame = ctx.time.frame
    s_ents, s_cells, s_uids = [], [], []
    for ents, cell, animal, _ in ctx.query(Cell, Animal, Sheep):
        s_ents.append(np.asarray(ents))
        s_cells.append(_cell_index(cell.x, cell.y, p.width))
        s_uids.append(np.asarray(animal.uid))
    chunks = [
        (cell, animal, meal)
        for _, cell, animal, meal, _ in ctx.query(Cell, Animal, Meal, Wolf)
    ]
    if not chunks:
        return
    w_cells = np.concatenate([_cell_index(c.x, c.y, p.width) for c, _, _ in chunks])
    w_uids = np.concatenate([a.uid for _, a, _ in chunks])
    fed = np.zeros(len(w_cells), dtype=np.bool_)
    if s_ents:
        sheep_cells = np.concatenate(s_cells)
        sheep_uids = np.concatenate(s_uids)
        s_order, _ = _ranks_in_cell(
            sheep_cells, rng.random_u64(STREAM_PREY, sheep_uids, tick=frame), sheep_uids
        )
        sorted_cells = sheep_cells[s_order]
        w_order, w_rank = _ranks_in_cell(
            w_cells, rng.random_u64(STREAM_ORDER, w_uids, tick=frame), w_uids
        )
        wc = w_cells[w_order]
        first = np.searchsorted(sorted_cells, wc, side="left")
        count = np.searchsorted(sorted_cells, wc, side="right") - first
        eats = w_rank < count
        fed[w_order[eats]] = True
        eaten = s_order[first[eats] + w_rank[eats]]
        if len(eaten):
            ctx.commands.despawn_batch(np.concatenate(s_ents)[eaten])
    start = 0
    for _, _, meal in chunks:
        meal.fed[:] = fed[start : start + len(meal.fed)]
        start += len(meal.fed)


def _fates_system(
    name: str, phase: str, tag: type, trees: tuple[BehaviorTree, ...], after: str
) -> System:
    """The system turning a species' ``Fate`` requests into despawns and births.

    Offspring appear on the parent's cell with the parent's (halved) energy and
    traits, and a fresh state of each tree; they get birth numbers in the order of
    their parents' numbers, so numbering does not depend on rows.
    """
    states = [t.state_component for t in trees]

    def fates(ctx: SystemContext) -> None:
        p = ctx.resource_mut(Pasture)
        parents: list[tuple[Array, ...]] = []
        for ents, cell, energy, animal, fate, _ in ctx.query(
            Cell, Energy, Animal, Fate, tag
        ):
            dead = fate.dies.copy()
            born = fate.breeds & ~dead
            if dead.any():
                ctx.commands.despawn_batch(np.asarray(ents)[dead])
            cols = (cell.x, cell.y, energy.value, animal.uid, animal.gain)
            parents.append(
                tuple(np.asarray(c)[born] for c in (*cols, animal.p_reproduce))
            )
            fate.dies[:] = False
            fate.breeds[:] = False
        if not parents:
            return
        x, y, value, parent, gain, p_reproduce = (
            np.concatenate(c) for c in zip(*parents, strict=True)
        )
        n = len(parent)
        if not n:
            return
        order = np.argsort(parent, kind="stable")
        uids = np.arange(p.next_uid, p.next_uid + n, dtype=np.int64)
        p.next_uid += n
        spawn: dict[type, Any] = {
            Cell: {"x": x[order], "y": y[order]},
            Energy: {"value": value[order]},
            Animal: {
                "uid": uids,
                "gain": gain[order],
                "p_reproduce": p_reproduce[order],
            },
            Senses: None,
            Meal: None,
            Fate: None,
            tag: None,
        }
        spawn.update(dict.fromkeys(states))
        spawn.update(_looks("wolf" if tag is Wolf else "sheep", x, y))
        ctx.commands.spawn_batch(spawn, n=n)

    fates.__name__ = name
    return system(
        fates,
        name=name,
        phase=phase,
        reads=[Cell, Energy, Animal, tag],
        writes=[Fate],
        resources_mut=[Pasture],
        commands=True,
        after=[after],
    )


# ---------------------------------------------------------------- rendering

RENDER: dict[str, Any] = {
    "width": 480,
    "height": 480,
    "position": Spot,
    "background": (150, 115, 70, 255),
}
"""How ``--render out.gif`` draws the model: green grown grass on brown soil, white
sheep (circles), dark wolves (triangles). Entities get the render components only
when the ``render`` extra (Pillow) is installed; the simulation is the same."""

# Per kind: shape, half-extent (cells), color, layer.
LOOKS: dict[str, tuple[str, float, tuple[int, int, int, int], int]] = {
    "grass": ("square", 0.5, (70, 150, 50, 255), 0),
    "sheep": ("circle", 0.3, (245, 245, 245, 255), 1),
    "wolf": ("triangle", 0.42, (35, 35, 35, 255), 2),
}
# A bare patch is drawn in the soil's color (drawn, so the fitted view is the grid).
BARE = (150, 115, 70, 255)


def _looks(
    kind: str, x: Array, y: Array, grown: Array | None = None
) -> dict[type, Any]:
    """Render components of ``len(x)`` entities of ``kind``; ``{}`` without Pillow."""
    try:
        from archetype_ecs.render import Color, Layer, Shape, Size, shape_kind
    except ImportError:  # no render extra: the model runs, it just cannot be drawn
        return {}
    shape, radius, rgba, layer = LOOKS[kind]
    n = len(x)
    color = np.tile(np.array(rgba, np.uint8), (n, 1))
    if grown is not None:
        color[~np.asarray(grown, np.bool_)] = BARE
    return {
        Spot: {
            "x": np.asarray(x, np.float32) + np.float32(0.5),
            "y": np.asarray(y, np.float32) + np.float32(0.5),
        },
        Shape: {"kind": np.full(n, int(shape_kind(shape)), np.uint8)},
        Size: {"radius": np.full(n, radius, np.float32)},
        Color: {k: color[:, j] for j, k in enumerate("rgba")},
        Layer: {"value": np.full(n, layer, np.int32)},
    }


def _render_system() -> System | None:
    """A system in the ``render`` phase that moves the animals' ``Spot`` to their
    cells and colors the grass (None without the render extra)."""
    try:
        from archetype_ecs.render import Color
    except ImportError:
        return None

    def render_looks(ctx: SystemContext) -> None:
        for _, cell, spot, _ in ctx.query(Cell, Spot, Animal):
            spot.x[:] = cell.x + np.float32(0.5)
            spot.y[:] = cell.y + np.float32(0.5)
        grown_rgb, bare_rgb = LOOKS["grass"][2], BARE
        for _, grass, color in ctx.query(Grass, Color):
            for j, k in enumerate("rgb"):
                getattr(color, k)[:] = np.where(
                    grass.fully_grown, grown_rgb[j], bare_rgb[j]
                )

    return system(
        render_looks,
        phase="render",
        reads=[Cell, Animal, Grass],
        writes=[Spot, Color],
    )


# ---------------------------------------------------------------- building a world

RECORD: list[type] = [Cell, Energy, Animal]
"""Components ``--record`` writes (positions, energies, birth numbers)."""


def _check(ok: bool, message: str) -> None:  # noqa: FBT001 # a predicate, not a flag
    if not ok:
        raise ParamError(f"model 'wolf_sheep': {message}")


def _resolve(params: dict[str, Any]) -> dict[str, Any]:
    """``PARAMS`` updated with ``params``, each checked (names, types, ranges)."""
    out: dict[str, Any] = resolve_params(PARAMS, params, model="wolf_sheep")
    for name in ("width", "height"):
        _check(
            out[name] >= 3,
            f"{name} must be at least 3 (a 4-neighbor torus), got {out[name]}",
        )
    _check(
        out["width"] * out["height"] < 2**31,
        "the grid must have fewer than 2**31 cells",
    )
    for name in ("initial_sheep", "initial_wolves"):
        _check(out[name] >= 0, f"{name} must be >= 0, got {out[name]}")
    for name in ("sheep_reproduce", "wolf_reproduce"):
        _check(
            0.0 <= out[name] <= 1.0,
            f"{name} is a probability in [0, 1], got {out[name]}",
        )
    for name in ("sheep_gain_from_food", "wolf_gain_from_food"):
        _check(
            bool(np.isfinite(out[name])) and out[name] >= 0.0,
            f"{name} must be finite and >= 0, got {out[name]}",
        )
    _check(
        out["grass_regrowth_time"] >= 1,
        f"grass_regrowth_time must be >= 1, got {out['grass_regrowth_time']}",
    )
    return out


def initial_animals(
    seed: int, first_uid: int, n: int, width: int, height: int, gain: float
) -> tuple[Array, Array, Array, Array]:
    """Birth numbers, cells and energies of ``n`` initial animals (Mesa's draws).

    Cells are uniform on the grid, energy is ``uniform * 2 * gain``; each animal's
    draws are keyed by its uid on stream ``wolf_sheep.init``, tick 0.
    """
    rng = Rng(seed)
    uids = np.arange(first_uid, first_uid + n, dtype=np.int64)
    x = rng.integers(0, width, STREAM_INIT, uids, tick=0, counter=0)
    y = rng.integers(0, height, STREAM_INIT, uids, tick=0, counter=1)
    energy = rng.uniform(STREAM_INIT, uids, tick=0, counter=2) * 2.0 * gain
    return uids, x, y, energy


def initial_grass(
    seed: int, width: int, height: int, regrowth: int
) -> tuple[Array, Array]:
    """Per cell (index ``y * width + x``): grown, and the frame it grows at the end of.

    Mesa: a patch is grown with probability 1/2, else its countdown ``c`` is uniform
    on ``[0, regrowth)`` and it grows at the end of step ``c`` (``c = 0``: grown).
    """
    rng = Rng(seed)
    cells = np.arange(width * height, dtype=np.int64)
    heads = rng.uniform(STREAM_GRASS, cells, tick=0, counter=0) < 0.5
    countdown = rng.integers(0, regrowth, STREAM_GRASS, cells, tick=0, counter=1)
    countdown[heads] = 0
    return countdown == 0, countdown.astype(np.int32)


def _spawn_animals(
    world: World,
    tag: type,
    trees: tuple[BehaviorTree, ...],
    cols: tuple[Array, ...],
    gain: float,
    p: float,
) -> None:
    uids, x, y, energy = cols
    spawn: dict[type, Any] = {
        Cell: {"x": x, "y": y},
        Energy: {"value": energy},
        Animal: {
            "uid": uids,
            "gain": np.full(len(uids), gain),
            "p_reproduce": np.full(len(uids), p),
        },
        Senses: None,
        Meal: None,
        Fate: None,
        tag: None,
    }
    spawn.update({t.state_component: None for t in trees})
    spawn.update(_looks("wolf" if tag is Wolf else "sheep", x, y))
    world.spawn_batch(spawn, n=len(uids))


def _census(world: World) -> None:
    sheep, wolves, grass = populations(world)
    c = world.resource(Census)
    c.sheep.append(sheep)
    c.wolves.append(wolves)
    c.grass.append(grass)


def build(*, seed: int = 0, threads: int | None = None, **params: Any) -> World:
    """A wolf-sheep world ready to step (one ``world.step()`` is one Mesa step).

    Parameters
    ----------
    seed
        The world seed, in ``[0, 2**63)``; the same seed gives the same run.
    threads
        Worker threads of the world's executor; results do not depend on it.
    **params
        Any of :data:`PARAMS` (Mesa's names and defaults).

    Returns
    -------
    World
        Grass patches, sheep and wolves spawned; the ``sheep``, ``wolves`` and
        ``grass`` phases scheduled; resources :class:`Pasture`, :class:`Meadow`,
        :class:`Census` and the world's :class:`~scripting.ScriptEngine`.

    Raises
    ------
    ParamError
        On an unknown parameter, a value of the wrong type or out of range, or a
        seed outside ``[0, 2**63)``; nothing is built.

    Examples
    --------
    >>> world = build(seed=1, width=10, height=10, initial_sheep=20, initial_wolves=5)
    >>> populations(world)[:2]
    (20, 5)
    >>> world.close()
    """
    p = _resolve(params)
    _check(
        type(seed) is int and 0 <= seed < 2**63,
        f"seed must be an int in [0, 2**63), got {seed!r}",
    )
    w, h = p["width"], p["height"]
    world = World(seed=seed, threads=threads, dt=1.0)
    world.schedule.add_phase("sheep", after="update")
    world.schedule.add_phase("wolves", after="sheep")
    world.schedule.add_phase("grass", after="wolves")
    world.schedule.add_phase("render", after="grass")

    grown, countdown = initial_grass(seed, w, h, p["grass_regrowth_time"])
    cells = np.arange(w * h)
    gx, gy = (cells % w).astype(np.int32), (cells // w).astype(np.int32)
    world.spawn_batch(
        {
            Cell: {"x": gx, "y": gy},
            Grass: {"fully_grown": grown, "regrow_at": countdown},
            **_looks("grass", gx, gy, grown),
        }
    )
    ns, nw = p["initial_sheep"], p["initial_wolves"]
    sg, wg = p["sheep_gain_from_food"], p["wolf_gain_from_food"]
    _spawn_animals(
        world,
        Sheep,
        (SHEEP_MOVE, SHEEP_LIFE),
        initial_animals(seed, 0, ns, w, h, sg),
        sg,
        p["sheep_reproduce"],
    )
    _spawn_animals(
        world,
        Wolf,
        (WOLF_MOVE, WOLF_LIFE),
        initial_animals(seed, ns, nw, w, h, wg),
        wg,
        p["wolf_reproduce"],
    )

    world.insert_resource(Pasture(w, h, seed, p["grass_regrowth_time"], ns + nw))
    world.insert_resource(Meadow(w * h))
    world.insert_resource(Census())
    registry = LeafRegistry.of(world)
    registry.register(*LEAVES)
    registry.kernels = _TREE_KERNELS
    world.add_system(
        sheep_senses,
        behavior_system(world, SHEEP_MOVE, phase="sheep", after=["sheep_senses"]),
        sheep_graze,
        behavior_system(world, SHEEP_LIFE, phase="sheep", after=["sheep_graze"]),
        _fates_system(
            "sheep_fates",
            "sheep",
            Sheep,
            (SHEEP_MOVE, SHEEP_LIFE),
            "behavior_sheep_life",
        ),
        wolf_senses,
        behavior_system(world, WOLF_MOVE, phase="wolves", after=["wolf_senses"]),
        wolf_hunt,
        behavior_system(world, WOLF_LIFE, phase="wolves", after=["wolf_hunt"]),
        _fates_system(
            "wolf_fates", "wolves", Wolf, (WOLF_MOVE, WOLF_LIFE), "behavior_wolf_life"
        ),
    )
    engine = ScriptEngine(world, components=[Grass], resources=[Pasture])
    world.insert_resource(engine)
    world.add_system(
        engine.system(engine.load(GRASS_LUA, name="grass.lua"), phase="grass")
    )
    looks = _render_system()
    if looks is not None:
        world.add_system(looks)
    world.frame_end_hooks.append(_census)
    return world


def populations(world: World) -> tuple[int, int, int]:
    """``(sheep, wolves, grown grass patches)`` now: Mesa's data collector figures."""
    grass = sum(int(np.count_nonzero(g.fully_grown)) for _, g in world.query(Grass))
    return world.query(Sheep).count(), world.query(Wolf).count(), grass


def status(world: World) -> str:
    """Short live text for the progress bar."""
    sheep, wolves, grass = populations(world)
    return f"{sheep} sheep, {wolves} wolves, {grass} grown patches"


def summary(world: World) -> dict[str, Any]:
    """End figures: populations now, their extremes over the run, the frame."""
    sheep, wolves, grass = populations(world)
    c = world.resource(Census)
    return {
        "frame": world.resource(Time).frame,
        "sheep": sheep,
        "wolves": wolves,
        "grass": grass,
        "sheep_max": max(c.sheep, default=sheep),
        "wolves_max": max(c.wolves, default=wolves),
        "sheep_min": min(c.sheep, default=sheep),
        "wolves_min": min(c.wolves, default=wolves),
    }


# ---------------------------------------------------------------- plain-Python reference


@dataclass
class _Beast:
    wolf: bool
    x: int
    y: int
    energy: float
    gain: float
    p_reproduce: float


class ReferenceWolfSheep:
    """The same model as plain Python objects, one agent at a time (for tests).

    It draws the same counter-based random numbers (same streams, keys and
    counters) with the scalar functions of :mod:`archetype_ecs.random`, so a run
    from the same seed matches :func:`build`'s world exactly. Slow on purpose: a
    loop over agents, dicts of cells, no numpy.

    Parameters
    ----------
    seed
        As for :func:`build`.
    **params
        As for :func:`build`.

    Examples
    --------
    >>> ref = ReferenceWolfSheep(seed=1, width=10, height=10, initial_sheep=20, initial_wolves=5)
    >>> ref.step()
    >>> ref.frame
    1
    """

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        p = _resolve(params)
        self.seed = seed
        self.width, self.height = int(p["width"]), int(p["height"])
        self.regrowth = int(p["grass_regrowth_time"])
        self.frame = 0
        self.grown: list[bool] = []
        self.regrow_at: list[int] = []
        for c in range(self.width * self.height):
            left = 0
            if not uniform(seed, STREAM_GRASS, c, 0, 0) < 0.5:
                left = int(integers(0, self.regrowth, seed, STREAM_GRASS, c, 0, 1))
            self.grown.append(left == 0)
            self.regrow_at.append(left)
        self.animals: dict[int, _Beast] = {}
        uid = 0
        for wolf, n, gain, p_rep in (
            (
                False,
                p["initial_sheep"],
                p["sheep_gain_from_food"],
                p["sheep_reproduce"],
            ),
            (True, p["initial_wolves"], p["wolf_gain_from_food"], p["wolf_reproduce"]),
        ):
            for _ in range(n):
                x = int(integers(0, self.width, seed, STREAM_INIT, uid, 0, 0))
                y = int(integers(0, self.height, seed, STREAM_INIT, uid, 0, 1))
                energy = float(uniform(seed, STREAM_INIT, uid, 0, 2)) * 2.0 * gain
                self.animals[uid] = _Beast(wolf, x, y, energy, gain, p_rep)
                uid += 1
        self.next_uid = uid
        self._births: list[int] = []

    def _cell(self, x: int, y: int) -> int:
        return y * self.width + x

    def _neighbors(self, a: _Beast) -> list[tuple[int, int]]:
        return [
            ((a.x + int(DX[d])) % self.width, (a.y + int(DY[d])) % self.height)
            for d in range(4)
        ]

    def _move(
        self, uid: int, a: _Beast, preferred: list[bool], allowed: list[bool]
    ) -> None:
        for mask in (preferred, allowed):
            options = [d for d in range(4) if mask[d]]
            if options:
                k = int(
                    integers(
                        0, len(options), self.seed, STREAM_MOVE, uid, self.frame, 0
                    )
                )
                a.x, a.y = self._neighbors(a)[options[k]]
                return

    def _order(self, stream: int, uid: int) -> tuple[int, int]:
        return int(random_u64(self.seed, stream, uid, self.frame, 0)), uid

    def _live(self, uid: int, a: _Beast, fed: bool) -> bool:  # noqa: FBT001 # internal
        """The life tree for one agent; False when it dies. Records a birth."""
        a.energy -= 1.0
        if fed:
            a.energy += a.gain
        if a.energy < 0.0:
            return False
        if uniform(self.seed, STREAM_BREED, uid, self.frame, 0) < a.p_reproduce:
            a.energy /= 2.0
            self._births.append(uid)
        return True

    def _phase(self, wolves: bool, fed: set[int]) -> None:  # noqa: FBT001 # internal
        """Life and fates of one species (after its moves and meals)."""
        self._births = []
        for uid in sorted(self.animals):
            a = self.animals[uid]
            if a.wolf == wolves and not self._live(uid, a, uid in fed):
                del self.animals[uid]
        for parent in sorted(self._births):
            a = self.animals[parent]
            self.animals[self.next_uid] = _Beast(
                a.wolf, a.x, a.y, a.energy, a.gain, a.p_reproduce
            )
            self.next_uid += 1

    def step(self) -> None:
        """One frame: sheep, then wolves, then the grass rule."""
        self.frame += 1
        grazed = self._sheep_turn()
        self._wolf_turn()
        self._grass_turn(grazed)

    def _sheep_turn(self) -> set[int]:
        """Sheep move, graze, live; returns the grazed cells."""
        grown = list(self.grown)
        wolf_cells = {self._cell(a.x, a.y) for a in self.animals.values() if a.wolf}
        sheep = [u for u in sorted(self.animals) if not self.animals[u].wolf]
        for uid in sheep:
            a = self.animals[uid]
            safe = [self._cell(x, y) not in wolf_cells for x, y in self._neighbors(a)]
            grassy = [
                s and grown[self._cell(x, y)]
                for s, (x, y) in zip(safe, self._neighbors(a), strict=True)
            ]
            self._move(uid, a, grassy, safe)
        eaters: dict[int, tuple[tuple[int, int], int]] = {}
        for uid in sheep:
            c = self._cell(self.animals[uid].x, self.animals[uid].y)
            key = self._order(STREAM_ORDER, uid)
            if grown[c] and (c not in eaters or key < eaters[c][0]):
                eaters[c] = (key, uid)
        self._phase(False, {uid for _, uid in eaters.values()})
        return set(eaters)

    def _wolf_turn(self) -> None:
        """Wolves move, hunt, live."""
        sheep_cells: dict[int, list[tuple[tuple[int, int], int]]] = {}
        for uid, a in self.animals.items():
            if not a.wolf:
                sheep_cells.setdefault(self._cell(a.x, a.y), []).append(
                    (self._order(STREAM_PREY, uid), uid)
                )
        wolves = [u for u in sorted(self.animals) if self.animals[u].wolf]
        for uid in wolves:
            a = self.animals[uid]
            near = [self._cell(x, y) in sheep_cells for x, y in self._neighbors(a)]
            self._move(uid, a, near, [True] * 4)
        packs: dict[int, list[tuple[tuple[int, int], int]]] = {}
        for uid in wolves:
            a = self.animals[uid]
            packs.setdefault(self._cell(a.x, a.y), []).append(
                (self._order(STREAM_ORDER, uid), uid)
            )
        fed: set[int] = set()
        for c, pack in packs.items():
            prey = sorted(sheep_cells.get(c, []))
            for (_, wolf), (_, victim) in zip(sorted(pack), prey, strict=False):
                fed.add(wolf)
                del self.animals[victim]
        self._phase(True, fed)

    def _grass_turn(self, grazed: set[int]) -> None:
        """The grass rule of ``GRASS_LUA``, patch by patch."""
        for c in range(self.width * self.height):
            if c in grazed:
                self.grown[c] = False
                self.regrow_at[c] = self.frame + self.regrowth
            elif not self.grown[c] and self.regrow_at[c] <= self.frame:
                self.grown[c] = True

    def populations(self) -> tuple[int, int, int]:
        """``(sheep, wolves, grown grass patches)``, like :func:`populations`."""
        wolves = sum(a.wolf for a in self.animals.values())
        return len(self.animals) - wolves, wolves, sum(self.grown)

    def state(self) -> dict[str, list[Any]]:
        """Every animal by uid: ``uid, wolf, x, y, energy`` lists."""
        uids = sorted(self.animals)
        a = [self.animals[u] for u in uids]
        return {
            "uid": uids,
            "wolf": [b.wolf for b in a],
            "x": [b.x for b in a],
            "y": [b.y for b in a],
            "energy": [b.energy for b in a],
        }


def animal_state(world: World) -> dict[str, list[Any]]:
    """Every animal of ``world`` by uid, shaped like :meth:`ReferenceWolfSheep.state`."""
    parts = []
    for wolf, tag in ((False, Sheep), (True, Wolf)):
        for _, cell, energy, animal, _ in world.query(Cell, Energy, Animal, tag):
            parts.append(
                (
                    np.asarray(animal.uid),
                    np.full(len(animal.uid), wolf),
                    np.asarray(cell.x),
                    np.asarray(cell.y),
                    np.asarray(energy.value),
                )
            )
    if not parts:
        return {k: [] for k in ("uid", "wolf", "x", "y", "energy")}
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    order = np.argsort(cols[0], kind="stable")
    return {
        k: c[order].tolist()
        for k, c in zip(("uid", "wolf", "x", "y", "energy"), cols, strict=True)
    }
