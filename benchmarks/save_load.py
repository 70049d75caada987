"""save_load: save and load N entities with 6 components (44 bytes of fields + id).

The world holds one archetype: Position(x, y: f32), Velocity(dx, dy: f32),
Health(hp: i32), Mass(kg: f64), Target(to: EntityRef), Alive(on: bool), with a
free list (1% of the slots despawned before saving).

Variants
* ``raw_write`` (baseline for saves): ``pyarrow.ipc`` writes one file holding the same
  columns (``entity`` + the 8 fields) and fsyncs it -- the floor for "put these
  columns durably on disk as Arrow IPC".
* ``save_ipc``: ``save(world, folder)`` into the same directory every call (atomic:
  temporary folder, fsync, ``CURRENT`` swap, XXH3-128 checksum of every file,
  previous snapshot pruned).
* ``save_parquet``: the same with ``file_format="parquet"`` (compressed; info only).
* ``raw_read`` (baseline for loads): memory-map that IPC file, read it and copy every
  column into an owned numpy array -- the floor for "get these columns back as
  writable arrays".
* ``raw_read_t2``: the same with the copies split over two threads (info: what two
  cores give raw pyarrow + NumPy).
* ``load_ipc``: ``load(folder, World())``, exact (ids, generations, free list), into a
  fresh world built untimed before every call (default threads: one per core, so a
  10^6 load hashes, copies and checks the index on both cores); every file is hashed
  and validated.
* ``load_ipc_t1``: the same into ``World(threads=1)``: all on the calling thread
  (info only).
* ``load_parquet``: the same from the Parquet save (info only).
* ``load_remap``: ``load`` into a world that already holds 1,000 entities, so ids
  are remapped and the EntityRef column is rewritten (info only).

Targets (at 10^6, the size issue #4 names): ``save_ipc`` <= 1.25x ``raw_write`` and
``load_ipc`` <= 1.25x ``raw_read`` (>= 0.8x raw throughput). Smaller N are reported
for the fixed costs (at 10^5 a save's seven fsyncs and a load's per-file work weigh
more).
"""

import functools
import gc
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from benchmarks._runner import RatioTarget, Scenario, SkipVariant, Target


@functools.cache
def _load() -> SimpleNamespace:
    import archetype_ecs as ae
    from archetype_ecs.serialization import load, save

    @ae.component
    class Position:
        x: ae.f32 = 0.0
        y: ae.f32 = 0.0

    @ae.component
    class Velocity:
        dx: ae.f32 = 0.0
        dy: ae.f32 = 0.0

    @ae.component
    class Health:
        hp: ae.i32 = 100

    @ae.component
    class Mass:
        kg: ae.f64 = 1.0

    @ae.component
    class Target:
        to: ae.EntityRef = 0

    @ae.component
    class Alive:
        on: ae.bool_ = True

    classes = [Position, Velocity, Health, Mass, Target, Alive]
    return SimpleNamespace(ae=ae, save=save, load=load, classes=classes)


def _ecs() -> SimpleNamespace:
    try:
        return _load()
    except Exception as exc:
        msg = f"archetype_ecs unavailable ({type(exc).__name__}: {exc})"
        raise SkipVariant(msg) from exc


def _fsync(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


class SaveLoad(Scenario):
    params = (10**4, 10**5, 10**6)
    baseline = "raw_write"
    targets: ClassVar[dict[str, list[Target]]] = {
        "save_ipc": [RatioTarget(min_n=10**6, baseline="raw_write", max_ratio=1.25)],
        "load_ipc": [RatioTarget(min_n=10**6, baseline="raw_read", max_ratio=1.25)],
    }
    notes = (
        "one archetype, 6 components (8 fields, 44 B + 8 B id per entity), 1% of "
        "slots free; ratio column vs raw_write (compare load_* with raw_read)"
    )

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(8)
        self.dir = Path(tempfile.mkdtemp(prefix="bench-save-load-"))
        self.n = n
        m = n + max(1, n // 100)  # spawned; the extra 1% are despawned
        self.cols = {
            "x": rng.random(m, dtype=np.float32),
            "y": rng.random(m, dtype=np.float32),
            "dx": rng.random(m, dtype=np.float32),
            "dy": rng.random(m, dtype=np.float32),
            "hp": rng.integers(0, 100, m, dtype=np.int32),
            "kg": rng.random(m),
            "on": rng.random(m) < 0.9,
        }
        self.world: Any = None
        self.target: Any = None
        self.out: Any = None

    def _world(self) -> Any:
        """The world to save (built once per N): n live entities and a free list."""
        if self.world is None:
            e = _ecs()
            c = self.cols
            pos, vel, health, mass, target, alive = e.classes
            world = e.ae.World(threads=1)
            ids = world.spawn_batch(
                {
                    pos: {"x": c["x"], "y": c["y"]},
                    vel: {"dx": c["dx"], "dy": c["dy"]},
                    health: {"hp": c["hp"]},
                    mass: {"kg": c["kg"]},
                    target: None,
                    alive: {"on": c["on"]},
                }
            )
            rng = np.random.default_rng(9)
            world.set_batch(ids, target, {"to": rng.choice(ids, len(ids))})
            gone = rng.choice(len(ids), len(ids) - self.n, replace=False)
            world.despawn_batch(ids[gone])
            self.world = world
        return self.world

    # -- raw pyarrow ---------------------------------------------------------------
    def _raw_table(self) -> Any:
        import pyarrow as pa

        world = self._world()
        table = next(t for t in world.tables if t.len)
        return pa.Table.from_batches([table.batch()])

    def setup_raw_write(self, n: int) -> None:
        self.raw = self._raw_table()
        self.raw_path = self.dir / "raw.arrow"

    def time_raw_write(self, n: int) -> None:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        with (
            pa.OSFile(str(self.raw_path), "wb") as sink,
            ipc.new_file(sink, self.raw.schema) as writer,
        ):
            writer.write_table(self.raw)
        _fsync(self.raw_path)

    def setup_raw_read(self, n: int) -> None:
        self.setup_raw_write(n)
        self.time_raw_write(n)

    def time_raw_read(self, n: int) -> None:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        self.out = None
        with pa.memory_map(str(self.raw_path), "r") as src:
            table = ipc.open_file(src).read_all()
            out = {}
            for name in table.column_names:
                col = table.column(name).combine_chunks()
                if pa.types.is_fixed_size_list(col.type):
                    flat = col.flatten().to_numpy(zero_copy_only=False)
                    out[name] = flat.reshape(len(col), -1).copy()
                else:
                    out[name] = np.array(col.to_numpy(zero_copy_only=False))
        self.out = out

    def setup_raw_read_t2(self, n: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.setup_raw_read(n)
        self.pool = ThreadPoolExecutor(1)

    def time_raw_read_t2(self, n: int) -> None:
        """raw_read with the copies split over two threads (what two cores give)."""
        import pyarrow as pa
        import pyarrow.ipc as ipc

        self.out = None
        with pa.memory_map(str(self.raw_path), "r") as src:
            table = ipc.open_file(src).read_all()
            srcs, out = {}, {}
            for name in table.column_names:
                col = table.column(name).combine_chunks()
                if pa.types.is_fixed_size_list(col.type):
                    flat = col.flatten().to_numpy(zero_copy_only=False)
                    srcs[name] = flat.reshape(len(col), -1)
                else:
                    srcs[name] = col.to_numpy(zero_copy_only=False)
                out[name] = np.empty_like(srcs[name])
            half = len(table) // 2

            def copy(lo: int, hi: int) -> None:
                for name, a in srcs.items():
                    np.copyto(out[name][lo:hi], a[lo:hi])

            other = self.pool.submit(copy, 0, half)
            copy(half, len(table))
            other.result()
        self.out = out

    # -- arrow-ecs: save -----------------------------------------------------------
    def setup_save_ipc(self, n: int) -> None:
        self.e = _ecs()
        self._world()
        self.save_dir = self.dir / "ipc"

    def time_save_ipc(self, n: int) -> None:
        self.e.save(self.world, self.save_dir)

    def setup_save_parquet(self, n: int) -> None:
        self.e = _ecs()
        self._world()
        self.pq_dir = self.dir / "parquet"

    def time_save_parquet(self, n: int) -> None:
        self.e.save(self.world, self.pq_dir, file_format="parquet")

    # -- arrow-ecs: load -----------------------------------------------------------
    def setup_load_ipc(self, n: int) -> None:
        self.setup_save_ipc(n)
        self.time_save_ipc(n)
        self.target = None

    def _drop_target(self) -> None:
        """Free the previous call's world now: a World holds reference cycles (its
        executor, hooks), so dropping it leaves its tables to the next GC pass, and
        the runner turns the GC off while timing."""
        self.target = None
        gc.collect()

    def setup_repeat_load_ipc(self, n: int) -> None:
        self._drop_target()
        self.target = self.e.ae.World()  # default threads: one per core

    def setup_load_ipc_t1(self, n: int) -> None:
        self.setup_load_ipc(n)

    def setup_repeat_load_ipc_t1(self, n: int) -> None:
        self._drop_target()
        self.target = self.e.ae.World(threads=1)

    def time_load_ipc_t1(self, n: int) -> None:
        self.time_load_ipc(n)

    def time_load_ipc(self, n: int) -> None:
        self.e.load(self.save_dir, self.target, components=self.e.classes)

    def setup_load_parquet(self, n: int) -> None:
        self.setup_save_parquet(n)
        self.time_save_parquet(n)
        self.target = None

    setup_repeat_load_parquet = setup_repeat_load_ipc

    def time_load_parquet(self, n: int) -> None:
        self.e.load(self.pq_dir, self.target, components=self.e.classes)

    def setup_load_remap(self, n: int) -> None:
        self.setup_load_ipc(n)

    def setup_repeat_load_remap(self, n: int) -> None:
        self._drop_target()
        self.target = self.e.ae.World(threads=1)
        self.target.spawn_batch({self.e.classes[0]: None}, n=1000)

    def time_load_remap(self, n: int) -> None:
        self.e.load(self.save_dir, self.target, components=self.e.classes)

    def teardown(self, n: int) -> None:
        if getattr(self, "pool", None) is not None:
            self.pool.shutdown()
        self.world = self.target = self.out = None
        shutil.rmtree(self.dir, ignore_errors=True)
