"""schedule_overhead: fixed cost per frame of 30 trivial systems over 50 archetypes.

50 archetypes x 4 rows: every entity has Position plus one of the first 50 of the
2**6 subsets of the six tags TagA..TagF, so every system's query (``[Position]``)
matches all 50 archetypes.  30 kernel systems, each a no-op ``@njit`` kernel over
the Position views (read only, so no system conflicts with another), are
registered in the ``update`` phase.  A frame is therefore 30 x 50 = 1,500
(system, archetype) pairs of pure overhead: run conditions, change ticks, query
update, view lookup, Numba dispatch, written-tick marking, profiler records,
Time and the event rotation.  The per-unit column is per (system, archetype) pair.

Variants
* ``raw_numba`` (baseline): a Python loop calling the no-op kernel on 1,500
  pre-built (x, y) array pairs -- bare Numba dispatch, the floor.
* ``for_each``: the 30 systems' queries driven by hand (``q.for_each(noop)`` for
  each system's query state): query dispatch without the schedule.
* ``step``: ``world.step()``, ``World(threads=1)`` (profiling on, the default).
* ``step_noprof``: the same with ``World(threads=1, profile=False)``.

Target: ``step`` <= 5 us per (system, archetype) pair.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numba import njit

from benchmarks._ecs import ecs
from benchmarks._runner import PerUnitTarget, Scenario, Target

SYSTEMS = 30
ARCHETYPES = 50
ROWS = 4
PAIRS = SYSTEMS * ARCHETYPES


@njit(cache=True, nogil=True)
def noop(x, y):  # type: ignore[no-untyped-def]
    return None


_TARGET: list[Target] = [PerUnitTarget(max_seconds=5e-6, unit="pair")]


class ScheduleOverhead(Scenario):
    params = (ARCHETYPES * ROWS,)
    baseline = "raw_numba"
    unit = "pair"
    targets: ClassVar[dict[str, list[Target]]] = {
        "step": _TARGET,
        "step_noprof": _TARGET,
    }
    notes = (
        "N = 50 archetypes x 4 rows; 30 no-op kernel systems; "
        "per-unit column is per (system, archetype) pair"
    )

    def units(self, n: int) -> int:
        return PAIRS

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(11)
        self.pairs = [
            (rng.random(ROWS, dtype=np.float32), rng.random(ROWS, dtype=np.float32))
            for _ in range(PAIRS)
        ]
        noop(*self.pairs[0])

    def time_raw_numba(self, n: int) -> None:
        for x, y in self.pairs:
            noop(x, y)

    def _world(self, *, profile: bool) -> Any:
        e = ecs()
        world = e.World(threads=1, profile=profile)
        for mask in range(ARCHETYPES):
            spec: dict[Any, Any] = {e.Position: None}
            for bit, tag in enumerate(e.tags):
                if mask >> bit & 1:
                    spec[tag] = None
            world.spawn_batch(spec, n=ROWS)
        systems = [
            e.ae.system(noop, name=f"noop_{i:02d}", query=[e.Position])
            for i in range(SYSTEMS)
        ]
        world.add_system(*systems)
        plan = world.schedule.plan()["update"]
        if len(plan.order) != SYSTEMS or len(plan.batches) != 1:
            raise RuntimeError(f"expected one batch of {SYSTEMS} systems: {plan}")
        world.step()  # compile the read-only-view specialisation
        matched = sum(1 for t in world.query(e.Position).tables() if t.len)
        if matched != ARCHETYPES:
            raise RuntimeError(f"query matched {matched} archetypes, not {ARCHETYPES}")
        return world

    def setup_for_each(self, n: int) -> None:
        self.w_fe = self._world(profile=False)
        ex = self.w_fe._executor
        self.states = [ex._state(s) for s in self.w_fe.schedule.systems]
        self.time_for_each(n)

    def time_for_each(self, n: int) -> None:
        for q in self.states:
            q.for_each(noop)

    def setup_step(self, n: int) -> None:
        self.w = self._world(profile=True)

    def time_step(self, n: int) -> None:
        self.w.step()

    def setup_step_noprof(self, n: int) -> None:
        self.w_np = self._world(profile=False)

    def time_step_noprof(self, n: int) -> None:
        self.w_np.step()

    def teardown(self, n: int) -> None:
        for name in ("w", "w_np", "w_fe"):
            world = getattr(self, name, None)
            if world is not None:
                world.close()
