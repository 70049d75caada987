"""spawn_batch: create N entities with Position(x, y: f32) and Velocity(dx, dy: f32).

Variants
* ``numpy`` (baseline): allocate four plain float32 columns and fill them from
  the same source arrays -- the floor for "put N rows of this data somewhere".
  No entity-id column: the baseline is deliberately the strict one.
* ``ecs``: ``world.spawn_batch({Position: {"x": xs, "y": ys}, Velocity: {...}})``
  into a fresh ``World`` (built untimed before every call).
* ``ecs_arrow``: the same from a ``pa.Table`` with "Position.x" ... columns
  (``world.spawn_batch(table, classes=(Position, Velocity))``).
* ``esper``: ``esper.create_entity(Position(..), Velocity(..))`` per entity into a
  cleared esper world; N <= 10^5 only (pure Python, ~1 us/entity).

Target: ``ecs`` <= 3x ``numpy`` per entity at N >= 10^5.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from benchmarks._ecs import ecs
from benchmarks._peers import ESPER_MAX_N, esper_spawn, esper_world
from benchmarks._runner import RatioTarget, Scenario, Target


class SpawnBatch(Scenario):
    params = (10**4, 10**5, 10**6, 10**7)
    baseline = "numpy"
    targets: ClassVar[dict[str, list[Target]]] = {
        "ecs": [RatioTarget(min_n=10**5, baseline="numpy", max_ratio=3.0)]
    }
    variant_max_n: ClassVar[dict[str, int]] = {"esper": ESPER_MAX_N}
    notes = "esper only for N <= 1e5; ECS world rebuilt (untimed) before every call"

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(2)
        self.xs = rng.random(n, dtype=np.float32)
        self.ys = rng.random(n, dtype=np.float32)
        self.dxs = rng.random(n, dtype=np.float32)
        self.dys = rng.random(n, dtype=np.float32)

    # -- numpy ---------------------------------------------------------------------
    def time_numpy(self, n: int) -> None:
        self.out = None  # free the previous result first, as the ECS variants do
        cols = []
        for src in (self.xs, self.ys, self.dxs, self.dys):
            col = np.empty(n, dtype=np.float32)
            col[:] = src
            cols.append(col)
        self.out = cols

    # -- arrow-ecs -----------------------------------------------------------------
    def setup_ecs(self, n: int) -> None:
        self.e = ecs()
        self.world: Any = None

    def setup_repeat_ecs(self, n: int) -> None:
        self.world = None  # free the previous world before building the next
        self.world = self.e.World()

    def time_ecs(self, n: int) -> None:
        e = self.e
        self.world.spawn_batch(
            {
                e.Position: {"x": self.xs, "y": self.ys},
                e.Velocity: {"dx": self.dxs, "dy": self.dys},
            }
        )

    def setup_ecs_arrow(self, n: int) -> None:
        import pyarrow as pa

        self.e = ecs()
        self.table = pa.table(
            {
                "Position.x": self.xs,
                "Position.y": self.ys,
                "Velocity.dx": self.dxs,
                "Velocity.dy": self.dys,
            }
        )

    setup_repeat_ecs_arrow = setup_repeat_ecs

    def time_ecs_arrow(self, n: int) -> None:
        self.world.spawn_batch(self.table, classes=(self.e.Position, self.e.Velocity))

    # -- esper ---------------------------------------------------------------------
    def setup_esper(self, n: int) -> None:
        self.esper = esper_world("spawn_batch")
        self.lists = [a.tolist() for a in (self.xs, self.ys, self.dxs, self.dys)]

    def setup_repeat_esper(self, n: int) -> None:
        self.esper.clear_database()

    def time_esper(self, n: int) -> None:
        esper_spawn(self.esper, *self.lists)

    def teardown(self, n: int) -> None:
        if hasattr(self, "esper"):
            self.esper.clear_database()
