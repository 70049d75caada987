"""iter_frag: per-archetype fixed cost of a query.

64 archetypes x 100 rows: every entity has Position, plus one of the 2**6 = 64
subsets of six tag components TagA..TagF, so ``world.query(Position)`` matches
64 archetypes of 100 rows each.  Each timed call hands every archetype's views
to a no-op Numba kernel, so it measures only the per-archetype overhead
(query iteration, view creation, Numba dispatch).

Variants
* ``raw_numba`` (baseline): a Python loop calling the no-op kernel on 64
  pre-built (x, y) numpy array pairs -- the floor (Numba dispatch only).
* ``ecs_iter``: ``for ents, pos in q: noop(pos.x, pos.y)``.
* ``ecs_for_each``: ``q.for_each(noop)``.

Target: ECS variants <= 5 us per archetype.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numba import njit

from benchmarks._ecs import ecs
from benchmarks._runner import PerUnitTarget, Scenario, Target

ARCHETYPES = 64
ROWS = 100


@njit(cache=True)
def noop(x, y):  # type: ignore[no-untyped-def]
    return None


_TARGET = [PerUnitTarget(max_seconds=5e-6, unit="archetype")]


class IterFrag(Scenario):
    params = (ARCHETYPES * ROWS,)
    baseline = "raw_numba"
    unit = "archetype"
    targets: ClassVar[dict[str, list[Target]]] = {
        "ecs_iter": _TARGET,
        "ecs_for_each": _TARGET,
    }
    notes = "N = 64 archetypes x 100 rows; per-unit column is per archetype"

    def units(self, n: int) -> int:
        return ARCHETYPES

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(5)
        self.pairs = [
            (rng.random(ROWS, dtype=np.float32), rng.random(ROWS, dtype=np.float32))
            for _ in range(ARCHETYPES)
        ]
        noop(*self.pairs[0])

    def time_raw_numba(self, n: int) -> None:
        for x, y in self.pairs:
            noop(x, y)

    def _ecs_query(self) -> Any:
        if not hasattr(self, "q"):
            e = ecs()
            self.world = e.World()
            for mask in range(ARCHETYPES):
                spec: dict[Any, Any] = {e.Position: None}
                for bit, tag in enumerate(e.tags):
                    if mask >> bit & 1:
                        spec[tag] = None
                self.world.spawn_batch(spec, n=ROWS)
            self.q = self.world.query(e.Position)
            matched = sum(1 for _ in self.q)
            if matched != ARCHETYPES or self.q.count() != ARCHETYPES * ROWS:
                msg = f"query matched {matched} archetypes, {self.q.count()} rows"
                raise RuntimeError(msg)
        return self.q

    def setup_ecs_iter(self, n: int) -> None:
        self._ecs_query()
        self.time_ecs_iter(n)

    def time_ecs_iter(self, n: int) -> None:
        for _ents, pos in self.q:
            noop(pos.x, pos.y)

    def setup_ecs_for_each(self, n: int) -> None:
        self._ecs_query()
        self.time_ecs_for_each(n)

    def time_ecs_for_each(self, n: int) -> None:
        self.q.for_each(noop)
