"""iter_simple ("move"): ``pos += vel * dt`` over N entities with Position and Velocity.

Variants
* ``raw_numba`` (baseline): the same ``@njit(cache=True)`` kernel over four plain
  contiguous float32 numpy arrays -- the floor for this loop.
* ``ecs_iter``: ``for ents, pos, vel in q: move(pos.x, pos.y, vel.dx, vel.dy, dt)``
  with ``q = world.query(Position, Velocity)`` (built once, in setup).
* ``ecs_for_each``: ``q.for_each(move, dt)``.
* ``esper``: the idiomatic esper loop (``for ent, (p, v) in
  esper.get_components(...)``) over Python objects; N <= 10^5 only.

Targets: ECS variants <= 1.3x ``raw_numba`` at N >= 10^5 and <= 2x at N = 10^4;
>= 150x faster than esper at N >= 10^5 (esper is measured at 10^5 only).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numba import njit

from benchmarks._ecs import ecs
from benchmarks._peers import (
    ESPER_MAX_N,
    EPosition,
    EVelocity,
    esper_spawn,
    esper_world,
)
from benchmarks._runner import RatioTarget, Scenario, SpeedupTarget, Target

DT = np.float32(1.0 / 60.0)


@njit(cache=True)
def move(x, y, dx, dy, dt):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        x[i] += dx[i] * dt
        y[i] += dy[i] * dt


_ECS_TARGETS = [
    RatioTarget(min_n=10**5, baseline="raw_numba", max_ratio=1.3),
    RatioTarget(min_n=10**4, max_n=10**5 - 1, baseline="raw_numba", max_ratio=2.0),
    SpeedupTarget(min_n=10**5, max_n=ESPER_MAX_N, other="esper", min_speedup=150.0),
]


class IterSimple(Scenario):
    params = (10**4, 10**5, 10**6, 10**7)
    baseline = "raw_numba"
    targets: ClassVar[dict[str, list[Target]]] = {
        "ecs_iter": _ECS_TARGETS,
        "ecs_for_each": _ECS_TARGETS,
    }
    variant_max_n: ClassVar[dict[str, int]] = {"esper": ESPER_MAX_N}
    notes = "esper only for N <= 1e5; kernels compiled in setup"

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(1)
        self.x = rng.random(n, dtype=np.float32)
        self.y = rng.random(n, dtype=np.float32)
        self.dx = rng.random(n, dtype=np.float32) - np.float32(0.5)
        self.dy = rng.random(n, dtype=np.float32) - np.float32(0.5)
        move(self.x, self.y, self.dx, self.dy, DT)  # compile (or load the cache)

    # -- raw numba -----------------------------------------------------------------
    def time_raw_numba(self, n: int) -> None:
        move(self.x, self.y, self.dx, self.dy, DT)

    # -- arrow-ecs -----------------------------------------------------------------
    def _ecs_world(self, n: int) -> Any:
        if not hasattr(self, "q"):
            e = ecs()
            self.world = e.World()
            self.world.spawn_batch(
                {
                    e.Position: {"x": self.x, "y": self.y},
                    e.Velocity: {"dx": self.dx, "dy": self.dy},
                }
            )
            self.q = self.world.query(e.Position, e.Velocity)
            if self.q.count() != n:
                msg = f"query matched {self.q.count()} entities, expected {n}"
                raise RuntimeError(msg)
        return self.q

    def setup_ecs_iter(self, n: int) -> None:
        self._ecs_world(n)
        self.time_ecs_iter(n)  # compile the view-typed specialisation

    def time_ecs_iter(self, n: int) -> None:
        for _ents, pos, vel in self.q:
            move(pos.x, pos.y, vel.dx, vel.dy, DT)

    def setup_ecs_for_each(self, n: int) -> None:
        self._ecs_world(n)
        self.time_ecs_for_each(n)

    def time_ecs_for_each(self, n: int) -> None:
        self.q.for_each(move, DT)

    # -- esper ---------------------------------------------------------------------
    def setup_esper(self, n: int) -> None:
        self.esper = esper_world("iter_simple")
        cols = (self.x, self.y, self.dx, self.dy)
        esper_spawn(self.esper, *(a.tolist() for a in cols))

    def time_esper(self, n: int) -> None:
        dt = float(DT)
        for _ent, (p, v) in self.esper.get_components(EPosition, EVelocity):
            p.x += v.dx * dt
            p.y += v.dy * dt

    def teardown(self, n: int) -> None:
        if hasattr(self, "esper"):
            self.esper.clear_database()
