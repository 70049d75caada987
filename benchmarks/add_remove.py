"""add_remove: insert a tag on every other entity, then remove it again.

N entities with Position + Velocity; ``half = ents[::2]``.

Variants
* ``raw_numpy`` (baseline): what moving those rows between two tables costs with
  plain numpy: gather the half (Position.x/y, Velocity.dx/dy and the entity-id
  column) into new arrays, compact the rest, then move them back (append the
  moved rows to the compacted table).  Rows are gathered with integer ``take``
  (much faster than boolean-mask indexing on a scattered mask).  It does not
  maintain an entity -> row index, which the ECS must.
* ``ecs_cmd``: ``cmd.insert_batch(half, Tag); world.apply(cmd)``, then
  ``cmd.remove_batch(half, Tag); world.apply(cmd)`` with fresh CommandBuffers.
* ``ecs_direct``: ``world.insert_batch(half, Tag)``; ``world.remove_batch(half, Tag)``
  (no command buffer) -- to show what the buffer itself costs.
* ``esper``: ``add_component`` / ``remove_component`` per entity; N <= 10^5 only.

The ECS world is rebuilt (untimed) before every call, so every timed call moves
every-other row out of one freshly spawned table, as in the first frame.

Target: ``ecs_cmd`` <= 2x ``raw_numpy``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from benchmarks._ecs import ecs
from benchmarks._peers import ESPER_MAX_N, ETag, esper_spawn, esper_world
from benchmarks._runner import RatioTarget, Scenario, Target


class AddRemove(Scenario):
    params = (10**4, 10**5, 10**6)
    baseline = "raw_numpy"
    targets: ClassVar[dict[str, list[Target]]] = {
        "ecs_cmd": [RatioTarget(baseline="raw_numpy", max_ratio=2.0)]
    }
    variant_max_n: ClassVar[dict[str, int]] = {"esper": ESPER_MAX_N}
    notes = (
        "half = every other entity; ECS world rebuilt (untimed) before every call; "
        "esper N <= 1e5"
    )

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(3)
        self.cols = {
            "x": rng.random(n, dtype=np.float32),
            "y": rng.random(n, dtype=np.float32),
            "dx": rng.random(n, dtype=np.float32),
            "dy": rng.random(n, dtype=np.float32),
        }
        self.ids = np.arange(n, dtype=np.uint64)
        self.half_rows = np.arange(0, n, 2)

    # -- raw numpy -----------------------------------------------------------------
    def time_raw_numpy(self, n: int) -> None:
        self.out = None  # free the previous result first, as the ECS variants do
        cols = [*self.cols.values(), self.ids]
        moving = np.zeros(n, dtype=np.bool_)
        moving[self.half_rows] = True
        kept_rows = np.flatnonzero(~moving)
        moved = [c.take(self.half_rows) for c in cols]  # rows go to the Tag table
        kept = [c.take(kept_rows) for c in cols]  # the source table is compacted
        # removing the tag moves them back: append to the compacted source table
        self.out = [np.concatenate((k, m)) for k, m in zip(kept, moved, strict=True)]

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
        self.half = ents[::2].copy()

    def time_ecs_cmd(self, n: int) -> None:
        e = self.e
        cmd = e.CommandBuffer()
        cmd.insert_batch(self.half, e.Tag)
        self.world.apply(cmd)
        cmd = e.CommandBuffer()
        cmd.remove_batch(self.half, e.Tag)
        self.world.apply(cmd)

    setup_ecs_direct = setup_ecs_cmd
    setup_repeat_ecs_direct = setup_repeat_ecs_cmd

    def time_ecs_direct(self, n: int) -> None:
        self.world.insert_batch(self.half, self.e.Tag)
        self.world.remove_batch(self.half, self.e.Tag)

    # -- esper ---------------------------------------------------------------------
    def setup_esper(self, n: int) -> None:
        self.esper = esper_world("add_remove")
        ents = esper_spawn(self.esper, *(c.tolist() for c in self.cols.values()))
        self.esper_half = ents[::2]
        self.tag = ETag()

    def time_esper(self, n: int) -> None:
        add, remove = self.esper.add_component, self.esper.remove_component
        tag = self.tag
        for ent in self.esper_half:
            add(ent, tag)
        for ent in self.esper_half:
            remove(ent, ETag)

    def teardown(self, n: int) -> None:
        if hasattr(self, "esper"):
            self.esper.clear_database()
