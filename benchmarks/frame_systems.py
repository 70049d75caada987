"""frame_systems: one 7-system frame over N entities, modeled on abeimler/ecs_benchmark.

Every entity carries the six components of the public ecs_benchmark suite's
"complex systems" frame (one archetype):

* ``Position(x, y: f32)``, ``Velocity(dx, dy: f32)``
* ``Data(thingy: i32, dingy: f64, mingy: bool, numgy: u32)``
* ``Health(hp, maxhp, status: i32)``, ``Damage(atk, def_: i32)``, ``Sprite(character: u8)``

and one frame runs seven systems, in this order:

1. ``movement``: ``pos += vel * dt`` (writes Position, reads Velocity);
2. ``data``: ``thingy += 1``, ``dingy += 1e-4 * dt``, ``mingy = !mingy``,
   ``numgy = numgy * 1664525 + 1013904223`` (a 32-bit LCG) (writes Data);
3. ``more_complex``: a small data-dependent inner loop over ``thingy``, then
   ``dingy`` from Position / Velocity (reads Position, Velocity; writes Data);
4. ``health``: clamp ``hp``, set ``status`` (dead / respawn / alive) (writes Health);
5. ``damage``: ``hp -= max(atk - def_, 0)`` while alive (reads Damage, writes Health);
6. ``sprite``: ``character`` from ``status`` (reads Health, writes Sprite);
7. ``render``: read-only pass reducing Position and Sprite to a checksum, stored
   in a ``FrameChecksum`` resource (a Python system calling a kernel per archetype).

Variants
* ``hand`` (baseline): the same seven ``@njit`` kernels called by hand, in the same
  order, on plain numpy arrays (the floor: no schedule, no views, no Time).
* ``ecs_t1``: ``world.step()`` with the seven systems, ``World(threads=1)``.
* ``ecs_t2``: the same with ``World(threads=2)``: the schedule runs
  ``[movement, data, health]`` and then ``[more_complex, damage]`` as parallel
  batches (their accesses do not conflict), ``sprite`` and ``render`` alone.
* ``esper``: seven esper processors doing the same work per entity in Python
  (``esper.process(dt)``); N <= 10^5 only.  Compare it per entity (the per-unit
  column) with the ECS at 10^6.

Target: ``ecs_t1`` <= 1.3x ``hand`` at N = 10^6.

No ``from __future__ import annotations``: the component fields must be real
annotations, not strings naming a function-local module.
"""

import functools
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
from numba import njit

from benchmarks._peers import ESPER_MAX_N, EPosition, EVelocity, esper_world
from benchmarks._runner import RatioTarget, Scenario, SkipVariant, Target

DT = 1.0 / 60.0  # a Python float, as ``Time.dt`` hands it to the kernels

ALIVE, DEAD, SPAWN = 0, 1, 2
SPRITE_ALIVE, SPRITE_DEAD, SPRITE_SPAWN, SPRITE_NONE = 64, 124, 95, 32  # @ | _ ' '

# --------------------------------------------------------------------------- kernels
# One set of kernels for the hand baseline and the ECS systems (nogil, as
# archetype_ecs.njit compiles them, so the schedule may run them on threads).


@njit(cache=True, nogil=True)
def movement_kernel(x, y, dx, dy, dt):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        x[i] += dx[i] * dt
        y[i] += dy[i] * dt


@njit(cache=True, nogil=True)
def data_kernel(thingy, dingy, mingy, numgy, dt):  # type: ignore[no-untyped-def]
    for i in range(thingy.shape[0]):
        thingy[i] += 1
        dingy[i] += 0.0001 * dt
        mingy[i] = not mingy[i]
        numgy[i] = numgy[i] * np.uint32(1664525) + np.uint32(1013904223)


@njit(cache=True, nogil=True)
def more_complex_kernel(x, y, dx, dy, thingy, dingy, mingy, numgy):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        t = thingy[i]
        s = 0
        for k in range(t & 7):  # data-dependent inner loop, 0..7 iterations
            s += k * t
        d = (s % 10000) * 1e-4
        if x[i] > y[i]:
            dingy[i] = d + dx[i]
        else:
            dingy[i] = d + dy[i]


@njit(cache=True, nogil=True)
def health_kernel(hp, maxhp, status):  # type: ignore[no-untyped-def]
    for i in range(hp.shape[0]):
        if hp[i] <= 0 and status[i] != DEAD:
            hp[i] = 0
            status[i] = DEAD
        elif status[i] == DEAD and hp[i] == 0:
            hp[i] = maxhp[i]
            status[i] = SPAWN
        elif hp[i] >= maxhp[i] and status[i] != ALIVE:
            hp[i] = maxhp[i]
            status[i] = ALIVE
        else:
            status[i] = ALIVE


@njit(cache=True, nogil=True)
def damage_kernel(hp, maxhp, status, atk, def_):  # type: ignore[no-untyped-def]
    for i in range(hp.shape[0]):
        total = atk[i] - def_[i]
        if hp[i] > 0 and total > 0:
            hp[i] = max(hp[i] - total, 0)


@njit(cache=True, nogil=True)
def sprite_kernel(hp, maxhp, status, character):  # type: ignore[no-untyped-def]
    for i in range(hp.shape[0]):
        s = status[i]
        if s == ALIVE:
            character[i] = SPRITE_ALIVE
        elif s == DEAD:
            character[i] = SPRITE_DEAD
        elif s == SPAWN:
            character[i] = SPRITE_SPAWN
        else:
            character[i] = SPRITE_NONE


@njit(cache=True, nogil=True)
def render_kernel(x, y, character):  # type: ignore[no-untyped-def]
    acc = 0.0
    for i in range(x.shape[0]):
        acc += x[i] + 0.5 * y[i] + character[i]
    return acc


class FrameChecksum:
    """Resource written by the render system."""

    def __init__(self) -> None:
        self.value = 0.0


# ------------------------------------------------------------------------ components


@functools.cache
def _load() -> SimpleNamespace:
    import archetype_ecs as ae

    @ae.component
    class Position:
        x: ae.f32 = 0.0
        y: ae.f32 = 0.0

    @ae.component
    class Velocity:
        dx: ae.f32 = 0.0
        dy: ae.f32 = 0.0

    @ae.component
    class Data:
        thingy: ae.i32 = 0
        dingy: ae.f64 = 0.0
        mingy: ae.bool_ = False
        numgy: ae.u32 = 0

    @ae.component
    class Health:
        hp: ae.i32 = 0
        maxhp: ae.i32 = 0
        status: ae.i32 = 0

    @ae.component
    class Damage:
        atk: ae.i32 = 0
        def_: ae.i32 = 0

    @ae.component
    class Sprite:
        character: ae.u8 = 32

    return SimpleNamespace(
        ae=ae,
        Position=Position,
        Velocity=Velocity,
        Data=Data,
        Health=Health,
        Damage=Damage,
        Sprite=Sprite,
    )


def _ecs() -> SimpleNamespace:
    try:
        return _load()
    except Exception as exc:
        msg = f"archetype_ecs unavailable ({type(exc).__name__}: {exc})"
        raise SkipVariant(msg) from exc


def make_systems(e: SimpleNamespace) -> list[Any]:
    """Fresh System objects (they carry per-world run state) for one world."""
    system = e.ae.system
    dt_arg = lambda ctx: (ctx.time.dt,)  # noqa: E731

    @system(reads=[e.Position, e.Sprite], resources_mut=[FrameChecksum])  # type: ignore[untyped-decorator]
    def render(ctx: Any) -> None:
        total = 0.0
        for _ents, pos, spr in ctx.query(e.Position, e.Sprite):
            total += render_kernel(pos.x, pos.y, spr.character)
        ctx.resource_mut(FrameChecksum).value = total

    return [
        system(
            movement_kernel,
            name="movement",
            query=[e.Position, e.Velocity],
            writes=[e.Position],
            args=dt_arg,
        ),
        system(data_kernel, name="data", query=[e.Data], writes=[e.Data], args=dt_arg),
        system(
            more_complex_kernel,
            name="more_complex",
            query=[e.Position, e.Velocity, e.Data],
            writes=[e.Data],
        ),
        system(health_kernel, name="health", query=[e.Health], writes=[e.Health]),
        system(
            damage_kernel,
            name="damage",
            query=[e.Health, e.Damage],
            writes=[e.Health],
        ),
        system(
            sprite_kernel,
            name="sprite",
            query=[e.Health, e.Sprite],
            writes=[e.Sprite],
        ),
        render,
    ]


# ---------------------------------------------------------------------------- esper


class EData:
    __slots__ = ("dingy", "mingy", "numgy", "thingy")

    def __init__(self, thingy: int, dingy: float, *, mingy: bool, numgy: int) -> None:
        self.thingy = thingy
        self.dingy = dingy
        self.mingy = mingy
        self.numgy = numgy


class EHealth:
    __slots__ = ("hp", "maxhp", "status")

    def __init__(self, hp: int, maxhp: int, status: int) -> None:
        self.hp = hp
        self.maxhp = maxhp
        self.status = status


class EDamage:
    __slots__ = ("atk", "def_")

    def __init__(self, atk: int, def_: int) -> None:
        self.atk = atk
        self.def_ = def_


class ESprite:
    __slots__ = ("character",)

    def __init__(self, character: int) -> None:
        self.character = character


class _EsperProc:
    """An esper processor (duck-typed: esper only calls ``process``)."""

    priority = 0

    def __init__(self, esper: Any) -> None:
        self.get = esper.get_components


class EMovement(_EsperProc):
    def process(self, dt: float) -> None:
        for _e, (p, v) in self.get(EPosition, EVelocity):
            p.x += v.dx * dt
            p.y += v.dy * dt


class EDataProc(_EsperProc):
    def process(self, dt: float) -> None:
        for _e, (d,) in self.get(EData):
            d.thingy += 1
            d.dingy += 0.0001 * dt
            d.mingy = not d.mingy
            d.numgy = (d.numgy * 1664525 + 1013904223) & 0xFFFF_FFFF


class EMoreComplex(_EsperProc):
    def process(self, dt: float) -> None:
        for _e, (p, v, d) in self.get(EPosition, EVelocity, EData):
            t = d.thingy
            s = 0
            for k in range(t & 7):
                s += k * t
            dd = (s % 10000) * 1e-4
            d.dingy = dd + (v.dx if p.x > p.y else v.dy)


class EHealthProc(_EsperProc):
    def process(self, dt: float) -> None:
        for _e, (h,) in self.get(EHealth):
            if h.hp <= 0 and h.status != DEAD:
                h.hp = 0
                h.status = DEAD
            elif h.status == DEAD and h.hp == 0:
                h.hp = h.maxhp
                h.status = SPAWN
            elif h.hp >= h.maxhp and h.status != ALIVE:
                h.hp = h.maxhp
                h.status = ALIVE
            else:
                h.status = ALIVE


class EDamageProc(_EsperProc):
    def process(self, dt: float) -> None:
        for _e, (h, d) in self.get(EHealth, EDamage):
            total = d.atk - d.def_
            if h.hp > 0 and total > 0:
                h.hp = max(h.hp - total, 0)


_SPRITES = {ALIVE: SPRITE_ALIVE, DEAD: SPRITE_DEAD, SPAWN: SPRITE_SPAWN}


class ESpriteProc(_EsperProc):
    def process(self, dt: float) -> None:
        sprites = _SPRITES
        for _e, (h, s) in self.get(EHealth, ESprite):
            s.character = sprites.get(h.status, SPRITE_NONE)


class ERender(_EsperProc):
    checksum = 0.0

    def process(self, dt: float) -> None:
        acc = 0.0
        for _e, (p, s) in self.get(EPosition, ESprite):
            acc += p.x + 0.5 * p.y + s.character
        self.checksum = acc


ESPER_PROCESSORS = (
    EMovement,
    EDataProc,
    EMoreComplex,
    EHealthProc,
    EDamageProc,
    ESpriteProc,
    ERender,
)


# ------------------------------------------------------------------------- scenario


class FrameSystems(Scenario):
    params = (10**5, 10**6)
    baseline = "hand"
    targets: ClassVar[dict[str, list[Target]]] = {
        "ecs_t1": [RatioTarget(min_n=10**6, baseline="hand", max_ratio=1.3)],
    }
    variant_max_n: ClassVar[dict[str, int]] = {"esper": ESPER_MAX_N}
    notes = "7 systems, one archetype of 6 components; esper only for N <= 1e5"

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(7)
        self.init: dict[str, dict[str, np.ndarray[Any, Any]]] = {
            "Position": {
                "x": rng.random(n, dtype=np.float32) * 100,
                "y": rng.random(n, dtype=np.float32) * 100,
            },
            "Velocity": {
                "dx": rng.random(n, dtype=np.float32) - np.float32(0.5),
                "dy": rng.random(n, dtype=np.float32) - np.float32(0.5),
            },
            "Data": {
                "thingy": rng.integers(0, 1000, n, dtype=np.int32),
                "dingy": rng.random(n),
                "mingy": rng.random(n) < 0.5,
                "numgy": rng.integers(0, 2**32, n, dtype=np.uint32),
            },
            "Health": {
                "hp": rng.integers(0, 101, n, dtype=np.int32),
                "maxhp": np.full(n, 100, dtype=np.int32),
                "status": np.full(n, ALIVE, dtype=np.int32),
            },
            "Damage": {
                "atk": rng.integers(0, 20, n, dtype=np.int32),
                "def_": rng.integers(0, 20, n, dtype=np.int32),
            },
            "Sprite": {"character": np.full(n, SPRITE_NONE, dtype=np.uint8)},
        }

    # -- hand-called kernels on plain arrays ----------------------------------------
    def setup_hand(self, n: int) -> None:
        self.a = {c: {k: v.copy() for k, v in f.items()} for c, f in self.init.items()}
        self.hand_checksum = FrameChecksum()
        self.time_hand(n)  # compile (or load the cache)

    def time_hand(self, n: int) -> None:
        a = self.a
        p, v, d = a["Position"], a["Velocity"], a["Data"]
        h, dm, s = a["Health"], a["Damage"], a["Sprite"]
        movement_kernel(p["x"], p["y"], v["dx"], v["dy"], DT)
        data_kernel(d["thingy"], d["dingy"], d["mingy"], d["numgy"], DT)
        more_complex_kernel(
            p["x"], p["y"], v["dx"], v["dy"],
            d["thingy"], d["dingy"], d["mingy"], d["numgy"],
        )  # fmt: skip
        health_kernel(h["hp"], h["maxhp"], h["status"])
        damage_kernel(h["hp"], h["maxhp"], h["status"], dm["atk"], dm["def_"])
        sprite_kernel(h["hp"], h["maxhp"], h["status"], s["character"])
        self.hand_checksum.value = render_kernel(p["x"], p["y"], s["character"])

    # -- arrow-ecs ------------------------------------------------------------------
    def _world(self, n: int, threads: int) -> Any:
        e = _ecs()
        world = e.ae.World(threads=threads, dt=DT)
        world.spawn_batch(
            {
                getattr(e, c): {k: v.copy() for k, v in f.items()}
                for c, f in self.init.items()
            }
        )
        world.insert_resource(FrameChecksum())
        world.add_system(*make_systems(e))
        for _ in range(2):  # compile the read-only-view specialisations
            world.step()
        if len(world.archetypes_info()) != 1 or len(world) != n:
            raise RuntimeError(f"expected one archetype of {n} rows: {world!r}")
        return world

    def setup_ecs_t1(self, n: int) -> None:
        self.w1 = self._world(n, threads=1)

    def time_ecs_t1(self, n: int) -> None:
        self.w1.step()

    def setup_ecs_t2(self, n: int) -> None:
        self.w2 = self._world(n, threads=2)

    def time_ecs_t2(self, n: int) -> None:
        self.w2.step()

    # -- esper ----------------------------------------------------------------------
    def setup_esper(self, n: int) -> None:
        esper = esper_world("frame_systems")
        for proc in list(esper._processors):  # clear_database keeps processors
            esper.remove_processor(type(proc))
        i = self.init
        cols = [
            i["Position"]["x"], i["Position"]["y"],
            i["Velocity"]["dx"], i["Velocity"]["dy"],
            i["Data"]["thingy"], i["Data"]["dingy"], i["Data"]["mingy"],
            i["Data"]["numgy"],
            i["Health"]["hp"], i["Health"]["maxhp"], i["Health"]["status"],
            i["Damage"]["atk"], i["Damage"]["def_"], i["Sprite"]["character"],
        ]  # fmt: skip
        create = esper.create_entity
        for x, y, dx, dy, th, di, mi, nu, hp, mx, st, at, de, ch in zip(
            *(c.tolist() for c in cols), strict=True
        ):
            create(
                EPosition(x, y),
                EVelocity(dx, dy),
                EData(th, di, mingy=mi, numgy=nu),
                EHealth(hp, mx, st),
                EDamage(at, de),
                ESprite(ch),
            )
        for prio, kind in zip(range(7, 0, -1), ESPER_PROCESSORS, strict=True):
            esper.add_processor(kind(esper), priority=prio)  # higher runs first
        self.esper = esper
        esper.process(DT)

    def time_esper(self, n: int) -> None:
        self.esper.process(DT)

    def teardown(self, n: int) -> None:
        for name in ("w1", "w2"):
            world = getattr(self, name, None)
            if world is not None:
                world.close()
        if hasattr(self, "esper"):
            self.esper.clear_database()
            for proc in list(self.esper._processors):  # clear_database keeps them
                self.esper.remove_processor(type(proc))
