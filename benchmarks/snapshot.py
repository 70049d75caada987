"""snapshot: copy and roll back the state of N entities with 6 components.

The world is the one of ``save_load``: one archetype with Position(x, y: f32),
Velocity(dx, dy: f32), Health(hp: i32), Mass(kg: f64), Target(to: EntityRef),
Alive(on: bool) -- 45 bytes per row with the entity id -- plus the entity index
(16 bytes per slot).

Variants
* ``numpy_copy`` (baseline): ``arr.copy()`` of the same 9 columns and the 3 index
  arrays -- the floor for copying this state.
* ``snapshot``: ``world.snapshot()`` (live columns, index, free list, resources).
* ``restore``: ``world.restore(snap)`` (columns and index copied back, every table
  rewritten, views invalidated).
* ``diff``: ``world.diff(snap)`` after 1% of the rows changed one field (info only).

Units are bytes of state (61 per entity), so the per-unit column reads as ns/byte:
1 ns/byte is 1 GB/s, 0.1 ns/byte is 10 GB/s.

Targets: none set by the issue; ``snapshot`` and ``restore`` should stay within a small
factor (<= 2x) of ``numpy_copy``.
"""

from typing import Any, ClassVar

import numpy as np

from benchmarks._runner import RatioTarget, Scenario, Target
from benchmarks.save_load import _ecs

ROW_BYTES = 8 + 4 * 4 + 4 + 8 + 8 + 1  # entity + x, y, dx, dy + hp + kg + to + on
SLOT_BYTES = 4 + 4 + 8  # generation, table, row


class SnapshotRestore(Scenario):
    params = (10**4, 10**5, 10**6)
    baseline = "numpy_copy"
    unit = "byte"
    targets: ClassVar[dict[str, list[Target]]] = {
        "snapshot": [RatioTarget(min_n=10**5, baseline="numpy_copy", max_ratio=2.0)],
        "restore": [RatioTarget(min_n=10**5, baseline="numpy_copy", max_ratio=2.0)],
    }
    notes = "per unit = ns/byte of state (1 ns/byte = 1 GB/s); 61 bytes per entity"

    def units(self, n: int) -> int:
        return n * (ROW_BYTES + SLOT_BYTES)

    def _build(self, n: int) -> tuple[Any, np.ndarray]:
        pos, vel, health, mass, target, alive = self.e.classes
        rng = np.random.default_rng(3)
        world = self.e.ae.World(threads=1)
        ids = world.spawn_batch(
            {
                pos: {"x": rng.random(n, dtype=np.float32), "y": np.zeros(n)},
                vel: {"dx": rng.random(n, dtype=np.float32), "dy": np.ones(n)},
                health: {"hp": rng.integers(0, 100, n, dtype=np.int32)},
                mass: {"kg": rng.random(n)},
                target: None,
                alive: {"on": rng.random(n) < 0.5},
            }
        )
        world.set_batch(ids, target, {"to": rng.choice(ids, n)})
        return world, ids

    def setup(self, n: int) -> None:
        self.e = _ecs()
        self.world, self.ids = self._build(n)
        self.table = next(t for t in self.world.tables if t.len)
        self.snap: Any = None
        self.out: Any = None

    # -- numpy ---------------------------------------------------------------------
    def setup_numpy_copy(self, n: int) -> None:
        idx = self.world.entities
        self.arrays = [self.table.column(k) for k in self.table.keys]
        self.arrays += [idx.generation[:n], idx.table[:n], idx.row[:n]]
        assert sum(a.nbytes for a in self.arrays) == self.units(n)

    def time_numpy_copy(self, n: int) -> None:
        self.out = None
        self.out = [a.copy() for a in self.arrays]

    # -- arrow-ecs -----------------------------------------------------------------
    def time_snapshot(self, n: int) -> None:
        self.snap = None
        self.snap = self.world.snapshot()

    def setup_restore(self, n: int) -> None:
        self.snap = self.world.snapshot()

    def time_restore(self, n: int) -> None:
        self.world.restore(self.snap)

    def setup_diff(self, n: int) -> None:
        # Its own world: the other variants restore theirs while samples interleave.
        self.diff_world, ids = self._build(n)
        self.diff_snap = self.diff_world.snapshot()
        some = ids[::100]
        pos = self.e.classes[0]
        self.diff_world.set_batch(some, pos, {"y": np.full(len(some), 5.0)})

    def time_diff(self, n: int) -> None:
        self.out = None
        self.out = self.diff_world.diff(self.diff_snap)

    def teardown(self, n: int) -> None:
        self.world = self.snap = self.out = self.diff_world = self.diff_snap = None
