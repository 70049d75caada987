"""observers: what one ``on_add`` observer adds to a bulk insert, per entity.

N entities with Position + Velocity.  One timed call inserts ``Health(hp: i32)``
on all of them with ``world.insert_batch(ids, Health, {"hp": values})`` (every
row moves to the ``[Position, Velocity, Health]`` table); the component is
removed again, untimed, before every call.

Variants
* ``no_observer`` (baseline): the insert_batch with no observer registered.
* ``observer``: the same with one ``on_add`` observer on ``Health`` whose
  callback does one trivial vectorized op on ``trigger.entities`` (counts the
  entities whose slot index is even into a counter).
* ``callback_only``: that callback alone, called by hand on an N-id array: the
  user's own work, so ``observer - no_observer - callback_only`` is what the
  observer machinery adds.

The ratio column is observer / no observer; the observer's cost per entity is
``(observer - no_observer) / N`` (see docs/benchmarks.md).  No target is set by
issue #3 beyond reporting it.

No ``from __future__ import annotations``: the component fields must be real
annotations, not strings naming a function-local module.
"""

import functools
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from benchmarks._ecs import ecs
from benchmarks._runner import Scenario, SkipVariant, Target

INDEX_MASK = np.uint64(0xFFFF_FFFF)


@functools.cache
def _load() -> SimpleNamespace:
    import archetype_ecs as ae

    @ae.component
    class Health:
        hp: ae.i32 = 0

    return SimpleNamespace(Health=Health)


def _health() -> Any:
    try:
        return _load().Health
    except Exception as exc:
        msg = f"archetype_ecs unavailable ({type(exc).__name__}: {exc})"
        raise SkipVariant(msg) from exc


class _Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.even = 0

    def __call__(self, trigger: Any) -> None:
        self.calls += 1
        self.even += int(np.count_nonzero((trigger.entities & INDEX_MASK) % 2 == 0))


class Observers(Scenario):
    params = (10**4, 10**5)
    baseline = "no_observer"
    targets: ClassVar[dict[str, list[Target]]] = {}
    notes = "insert_batch of one i32 component on N entities; removed untimed each call"

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(17)
        self.x = rng.random(n, dtype=np.float32)
        self.hp = rng.integers(0, 100, n, dtype=np.int32)

    def _world(self, n: int, *, observed: bool) -> Any:
        e = ecs()
        health = _health()
        world = e.World(threads=1)
        ids = world.spawn_batch(
            {e.Position: {"x": self.x, "y": self.x}, e.Velocity: None}
        )
        counter = _Counter()
        if observed:
            world.observe(e.ae.on_add, health, counter, name="count_even")
        return SimpleNamespace(world=world, ids=ids, health=health, counter=counter)

    def _reset(self, s: SimpleNamespace) -> None:
        if s.world.has(int(s.ids[0]), s.health):
            s.world.remove_batch(s.ids, s.health)

    def _insert(self, s: SimpleNamespace) -> None:
        s.world.insert_batch(s.ids, s.health, {"hp": self.hp})

    # -- no observer ----------------------------------------------------------------
    def setup_no_observer(self, n: int) -> None:
        self.plain = self._world(n, observed=False)
        self._insert(self.plain)

    def setup_repeat_no_observer(self, n: int) -> None:
        self._reset(self.plain)

    def time_no_observer(self, n: int) -> None:
        self._insert(self.plain)

    # -- one on_add observer --------------------------------------------------------
    def setup_observer(self, n: int) -> None:
        self.obs = self._world(n, observed=True)
        self._insert(self.obs)
        if self.obs.counter.calls != 1:
            raise RuntimeError("the on_add observer did not fire once per insert_batch")

    def setup_repeat_observer(self, n: int) -> None:
        self._reset(self.obs)

    def time_observer(self, n: int) -> None:
        self._insert(self.obs)

    # -- the callback alone ---------------------------------------------------------
    def setup_callback_only(self, n: int) -> None:
        ids = np.arange(n, dtype=np.uint64) | (np.uint64(1) << np.uint64(32))
        self.trigger = SimpleNamespace(entities=ids)
        self.counter = _Counter()

    def time_callback_only(self, n: int) -> None:
        self.counter(self.trigger)

    def teardown(self, n: int) -> None:
        for name in ("plain", "obs"):
            s = getattr(self, name, None)
            if s is not None:
                s.world.close()
