"""despawn: despawn a random half of N entities (Position + Velocity).

Variants
* ``raw_numpy`` (baseline): compact the four component columns and the entity-id
  column, dropping a random half of the rows (given as row indices in random
  order), with one mask -> ``flatnonzero`` -> ``take`` per column.  No
  entity -> row index is maintained.
* ``ecs_cmd``: ``cmd.despawn_batch(half); world.apply(cmd)`` (recording included).
* ``ecs_direct``: ``world.despawn_batch(half)``.
* ``esper``: ``delete_entity`` per entity then ``clear_dead_entities()``;
  N <= 10^5 only.

The ECS and esper worlds are rebuilt (untimed) before every call.

Target: ``ecs_cmd`` <= 2x ``raw_numpy``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from benchmarks._ecs import ecs
from benchmarks._peers import ESPER_MAX_N, esper_spawn, esper_world
from benchmarks._runner import RatioTarget, Scenario, Target


class Despawn(Scenario):
    params = (10**4, 10**5, 10**6)
    baseline = "raw_numpy"
    targets: ClassVar[dict[str, list[Target]]] = {
        "ecs_cmd": [RatioTarget(baseline="raw_numpy", max_ratio=2.0)]
    }
    variant_max_n: ClassVar[dict[str, int]] = {"esper": ESPER_MAX_N}
    notes = (
        "random half, in random order; worlds rebuilt (untimed) before every "
        "call; esper N <= 1e5"
    )

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(4)
        self.cols = {
            "x": rng.random(n, dtype=np.float32),
            "y": rng.random(n, dtype=np.float32),
            "dx": rng.random(n, dtype=np.float32),
            "dy": rng.random(n, dtype=np.float32),
        }
        self.ids = np.arange(n, dtype=np.uint64)
        self.half_rows = rng.permutation(n)[: n // 2]

    # -- raw numpy -----------------------------------------------------------------
    def time_raw_numpy(self, n: int) -> None:
        self.out = None  # free the previous result first, as the ECS variants do
        keep = np.ones(n, dtype=np.bool_)
        keep[self.half_rows] = False
        rows = np.flatnonzero(keep)
        self.out = [c.take(rows) for c in (*self.cols.values(), self.ids)]

    # -- arrow-ecs -----------------------------------------------------------------
    def setup_ecs_cmd(self, n: int) -> None:
        self.e = ecs()
        self.world: Any = None

    def setup_repeat_ecs_cmd(self, n: int) -> None:
        e = self.e
        self.world = None
        self.world = e.World()
        ents = self.world.spawn_batch(
            {
                e.Position: {"x": self.cols["x"], "y": self.cols["y"]},
                e.Velocity: {"dx": self.cols["dx"], "dy": self.cols["dy"]},
            }
        )
        self.half = ents[self.half_rows]

    def time_ecs_cmd(self, n: int) -> None:
        cmd = self.e.CommandBuffer()
        cmd.despawn_batch(self.half)
        self.world.apply(cmd)

    setup_ecs_direct = setup_ecs_cmd
    setup_repeat_ecs_direct = setup_repeat_ecs_cmd

    def time_ecs_direct(self, n: int) -> None:
        self.world.despawn_batch(self.half)

    # -- esper ---------------------------------------------------------------------
    def setup_esper(self, n: int) -> None:
        self.esper = esper_world("despawn")
        self.lists = [c.tolist() for c in self.cols.values()]

    def setup_repeat_esper(self, n: int) -> None:
        self.esper.clear_database()
        ents = esper_spawn(self.esper, *self.lists)
        self.esper_half = [ents[i] for i in self.half_rows.tolist()]

    def time_esper(self, n: int) -> None:
        delete = self.esper.delete_entity
        for ent in self.esper_half:
            delete(ent)
        self.esper.clear_dead_entities()

    def teardown(self, n: int) -> None:
        if hasattr(self, "esper"):
            self.esper.clear_database()
