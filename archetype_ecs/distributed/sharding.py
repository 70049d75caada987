"""Spatially sharded worlds: one logical world split into a grid of regions on Ray actors.

Each region (shard) is a Ray actor that owns a full :class:`~archetype_ecs.World` holding
the agents whose position lies in the region. A frame of :class:`ShardedWorld` is four
bulk exchanges, all as Arrow tables that travel actor to actor through Ray's object
store (never through the driver):

1. **halo**: each shard sends copies of its agents within ``halo`` of a neighbor's
   region to that neighbor, which spawns them tagged :class:`Ghost`;
2. **compute**: every shard steps its world (the model's own systems, unchanged);
   ghosts are then despawned, so whatever the model wrote to them is discarded;
3. **routed commands**: ``set`` / ``despawn`` commands that a system applied to a ghost
   (seen by observers) are sent to the shard that owns the agent;
4. **migration**: agents whose position left the region move, as Arrow batches, to the
   shard that owns their new position.

Identity across shards is a :class:`GlobalId` (a 64-bit id unique in the logical world:
the entity id an agent had in the model's freshly built world, or, for agents spawned
later by shard ``s``, ``2**62 | s << 40 | counter``). Entity-typed fields are translated
to global ids when rows leave a shard and back to local ids when they arrive; a
reference whose target is in no local table is kept as ``2**63 | global id`` (a dead
id locally, restored when the target arrives, and reported as the global id by
:meth:`ShardedWorld.gather`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
from ray.exceptions import RayError

from archetype_ecs import World, component, on_remove, on_set, u64
from archetype_ecs.component import schema_of
from archetype_ecs.distributed._model import load_model, model_spec
from archetype_ecs.distributed._ray import ray_session
from archetype_ecs.distributed.errors import ShardingError
from archetype_ecs.observers import Trigger
from archetype_ecs.runner import Model, resolve_params
from archetype_ecs.serialization import load as _load
from archetype_ecs.serialization import save as _save

__all__ = [
    "FrameStats",
    "Ghost",
    "GlobalId",
    "Grid",
    "ShardInfo",
    "ShardedWorld",
    "single_world_state",
]

Array = np.ndarray[Any, Any]
Batch = tuple[list[str], pa.Table]  # (component names of the rows' archetype, rows)

#: High bit of an Entity field that holds a global id whose target is not local.
REMOTE_TAG = np.uint64(1 << 63)
#: Global ids of agents spawned during a sharded run start here.
SPAWN_BASE = 1 << 62
MANIFEST = "sharded.json"
FORMAT = "arrow-ecs-sharded"
FORMAT_VERSION = 1


@component
class GlobalId:
    """An agent's id in the logical (unsharded) world; unique across shards."""

    id: u64 = 0


@component
class Ghost:
    """Tag: a read-only copy of an agent owned by a neighboring shard (halo)."""


# ------------------------------------------------------------------------ grid


@dataclass(frozen=True)
class ShardInfo:
    """One region: index, grid cell, box (outer edges extend to infinity), the regions
    within its halo (``neighbors``: they exchange ghosts) and the regions it touches
    (``adjacent``, diagonals included: migrants normally go there)."""

    index: int
    cell: tuple[int, int]
    box: tuple[float, float, float, float]
    neighbors: tuple[int, ...]
    adjacent: tuple[int, ...]


class Grid:
    """A ``gx`` x ``gy`` grid of regions over ``bounds = (xmin, ymin, xmax, ymax)``.

    Region of a point: column = number of inner x edges <= x (likewise rows). On a
    bounded axis the edge regions extend to infinity, so points outside the bounds
    belong to them and no agent is ever lost. On a periodic axis (a torus, as
    ``WorldBounds(mode="wrap")``) coordinates are taken modulo the period, the last
    region touches the first, and halos wrap around; ghosts keep their coordinates,
    so the model measures distances to the nearest image, as it does in one world.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        bounds: tuple[float, float, float, float],
        halo: float,
        periodic: tuple[bool, bool] = (False, False),
    ) -> None:
        gx, gy = shape
        for name, v in (("columns", gx), ("rows", gy)):
            if type(v) is not int or v < 1:
                raise ShardingError(f"shards: {name} must be an int >= 1, got {v!r}")
        x0, y0, x1, y1 = (float(b) for b in bounds)
        if not (x1 > x0 and y1 > y0) or not all(map(math.isfinite, (x0, y0, x1, y1))):
            raise ShardingError(
                f"bounds {bounds!r}: give finite (xmin, ymin, xmax, ymax) with "
                "xmax > xmin and ymax > ymin"
            )
        if not math.isfinite(halo) or halo < 0:
            raise ShardingError(
                f"halo {halo!r}: give a finite width >= 0 (the interaction radius)"
            )
        self.shape = (gx, gy)
        self.bounds = (x0, y0, x1, y1)
        self.halo = float(halo)
        self.periodic = (bool(periodic[0]), bool(periodic[1]))
        self.period = (x1 - x0, y1 - y0)
        self.x_edges = np.linspace(x0, x1, gx + 1)
        self.y_edges = np.linspace(y0, y1, gy + 1)
        self.count = gx * gy

    def _wrap(self, v: Array, axis: int) -> Array:
        if not self.periodic[axis]:
            return v
        lo = self.bounds[axis]
        return lo + np.mod(v - lo, self.period[axis])

    def region(self, x: Array, y: Array) -> Array:
        """Shard index of every point (int64)."""
        ix = np.searchsorted(self.x_edges[1:-1], self._wrap(x, 0), side="right")
        iy = np.searchsorted(self.y_edges[1:-1], self._wrap(y, 1), side="right")
        return (iy * self.shape[0] + ix).astype(np.int64)

    def _span(self, s: int, axis: int) -> tuple[float, float]:
        edges, n = (
            (self.x_edges, self.shape[0])
            if axis == 0
            else (self.y_edges, self.shape[1])
        )
        i = s % self.shape[0] if axis == 0 else s // self.shape[0]
        lo, hi = float(edges[i]), float(edges[i + 1])
        if not self.periodic[axis]:
            lo = -math.inf if i == 0 else lo
            hi = math.inf if i == n - 1 else hi
        return lo, hi

    def box(self, s: int) -> tuple[float, float, float, float]:
        """Region ``s`` as ``[x0, x1) x [y0, y1)`` (bounded axes: outer edges infinite)."""
        (x0, x1), (y0, y1) = self._span(s, 0), self._span(s, 1)
        return (x0, y0, x1, y1)

    def _axis_mask(self, s: int, axis: int, v: Array) -> Array:
        lo, hi = self._span(s, axis)
        h = self.halo
        if not self.periodic[axis]:
            return (v >= lo - h) & (v < hi + h)
        period = self.period[axis]
        if hi - lo + 2 * h >= period:
            return np.ones(len(v), bool)
        return np.mod(v - (lo - h), period) < hi - lo + 2 * h

    def near_border(self, s: int, x: Array, y: Array) -> Array:
        """Rows of points of region ``s`` within ``halo`` of its border (a superset of
        every neighbor's halo rows: those must cross the border to reach one)."""
        near = np.zeros(len(x), bool)
        for axis, v, cells in ((0, x, self.shape[0]), (1, y, self.shape[1])):
            if cells == 1:
                continue  # no other region along this axis
            lo, hi = self._span(s, axis)
            w = self._wrap(v, axis)
            # A hair wider than the halo: halo_mask rounds differently (it wraps
            # v - edge), and a point exactly ``halo`` from the border may land on
            # either side of it there; scanning a few more rows is harmless.
            h = self.halo + 1e-9 * self.period[axis]
            near |= (w - lo <= h) | (hi - w <= h)
        return np.flatnonzero(near)

    def outside(self, s: int, x: Array, y: Array) -> Array:
        """Rows of points that are not in region ``s``."""
        (x0, x1), (y0, y1) = self._span(s, 0), self._span(s, 1)
        xw, yw = self._wrap(x, 0), self._wrap(y, 1)
        return np.flatnonzero(~((xw >= x0) & (xw < x1) & (yw >= y0) & (yw < y1)))

    def halo_mask(self, target: int, x: Array, y: Array) -> Array:
        """Points within the halo of region ``target`` (its box grown by ``halo``,
        around the wrap on periodic axes)."""
        return self._axis_mask(target, 0, x) & self._axis_mask(target, 1, y)

    def _overlap(self, s: int, t: int, axis: int, grow: float, *, closed: bool) -> bool:
        a0, a1 = self._span(t, axis)
        b0, b1 = self._span(s, axis)
        shifts = (
            (-self.period[axis], 0.0, self.period[axis])
            if self.periodic[axis]
            else (0.0,)
        )
        for d in shifts:
            lo, hi = a0 - grow + d, a1 + grow + d
            if (lo <= b1 and b0 <= hi) if closed else (lo < b1 and b0 < hi):
                return True
        return False

    def info(self, s: int) -> ShardInfo:
        """Index, cell, box, halo neighbors and adjacent regions of region ``s``."""
        near, touching = [], []
        for t in range(self.count):
            if t == s:
                continue
            if all(self._overlap(s, t, a, self.halo, closed=False) for a in (0, 1)):
                near.append(t)
            if all(self._overlap(s, t, a, 0.0, closed=True) for a in (0, 1)):
                touching.append(t)
        cell = (s % self.shape[0], s // self.shape[0])
        return ShardInfo(s, cell, self.box(s), tuple(near), tuple(touching))


# ----------------------------------------------------------------- the actor


def _bytes(batches: Sequence[Batch]) -> int:
    return sum(t.nbytes for _, t in batches)


class Shard:
    """One region's world (the body of a Ray actor; usable in-process for tests).

    Parameters
    ----------
    spec
        Model file path or module name.
    params, seed, threads
        Passed to the model's ``build``.
    grid, index
        The region grid and this shard's index in it.
    position
        ``("Comp.field", "Comp.field")`` columns holding x and y.
    restore
        A save folder of this shard: the model's world is built for its systems and
        resources, emptied, and the save is loaded into it (ids restored exactly).
    """

    def __init__(
        self,
        spec: str,
        params: dict[str, Any],
        seed: int,
        threads: int | None,
        grid: Grid,
        index: int,
        position: tuple[str, str],
        restore: tuple[str, int] | None = None,
    ) -> None:
        model = load_model(spec)
        self.module = model.module
        self.grid = grid
        self.index = index
        self.info = grid.info(index)
        self.world: World = model.build(
            seed=seed,
            threads=threads,
            **resolve_params(model.params, params, model=model.name),
        )
        w = self.world
        self.gid_cid = w.components.id_of(GlobalId)
        self.ghost_cid = w.components.id_of(Ghost)
        self.classes = {s.name: s.cls for s in w.components}
        (pc_name, self.fx), (pc2, self.fy) = (p.split(".", 1) for p in position)
        if pc_name != pc2 or pc_name not in self.classes:
            raise ShardingError(
                f"position {position!r}: both columns must be fields of one component "
                f"the model registers (it has {sorted(self.classes)})"
            )
        self.pos_cls = self.classes[pc_name]
        self.pos_cid = w.components.id_of(self.pos_cls)
        self._quiet = False
        self._ghosts: Array = np.empty(0, np.uint64)
        self._outbox: list[tuple[Any, ...]] = []
        self._export_s = 0.0
        self._export_cpu_s = 0.0
        self.next_id = 0
        self._ref_fields = self._entity_fields()
        if restore is None:
            self._keep_region()
        else:
            folder, self.next_id = restore
            self._despawn(self._all_entities())
            _load(folder, w)
        self.classes = {s.name: s.cls for s in w.components}
        self._ref_fields = self._entity_fields()
        for s in list(w.components):
            if s.cls in (GlobalId, Ghost) or not s.fields:
                continue
            w.observe(on_set, s.cls, self._on_ghost_set, name=f"route-set-{s.name}")
        w.observe(on_remove, GlobalId, self._on_ghost_despawn, name="route-despawn")

    # ------------------------------------------------------------ helpers
    def _entity_fields(self) -> list[tuple[type, str]]:
        return [
            (s.cls, f.name)
            for s in self.world.components
            if s.cls is not GlobalId
            for f in s.fields
            if f.type.is_entity
        ]

    @contextlib.contextmanager
    def _silent(self) -> Iterator[None]:
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _all_entities(self) -> Array:
        parts = [t.entities for t in self.world.tables if t.len]
        return np.concatenate(parts) if parts else np.empty(0, np.uint64)

    def _despawn(self, ids: Array) -> None:
        if len(ids):
            with self._silent():
                self.world.despawn_batch(ids)

    def _keep_region(self) -> None:
        """First build: give every entity its GlobalId, keep the ones in this region."""
        ids = self._all_entities()
        if len(ids) and int(ids.max()) >= SPAWN_BASE:
            raise ShardingError(
                "the model's initial entity ids exceed 2**62; cannot shard"
            )
        w = self.world
        with self._silent():
            if len(ids):
                w.insert_batch(ids, GlobalId)
                w.set_batch(ids, GlobalId, {"id": ids})
        leaving = []
        for t in list(w.tables):
            if not t.len:
                continue
            ents = t.entities.copy()
            if self.pos_cid in t.components:
                rb = t.batch((self.pos_cid,))
                x = rb.column(f"{self.pos_cls.__name__}.{self.fx}").to_numpy()
                y = rb.column(f"{self.pos_cls.__name__}.{self.fy}").to_numpy()
                leaving.append(ents[self.grid.region(x, y) != self.index])
            elif self.index != 0:  # entities without a position live on shard 0
                leaving.append(ents)
        gone = np.concatenate(leaving) if leaving else np.empty(0, np.uint64)
        self._unresolve(gone)
        self._despawn(gone)

    def _names(self, table: Any) -> list[str]:
        schemas = self.world.components.schemas
        return [schemas[c].name for c in table.components]

    def _id_map(self, *, owned_only: bool) -> tuple[Array, Array]:
        """(local ids, global ids) of every entity with a GlobalId (sorted by local)."""
        loc, glo = [], []
        for t in self.world.tables:
            if t.len and self.gid_cid in t.components:
                if owned_only and self.ghost_cid in t.components:
                    continue
                rb = t.batch((self.gid_cid,))
                loc.append(rb.column(0).to_numpy())
                glo.append(rb.column(1).to_numpy())
        if not loc:
            e = np.empty(0, np.uint64)
            return e, e
        local, glob = np.concatenate(loc), np.concatenate(glo)
        order = np.argsort(local, kind="stable")
        return local[order], glob[order]

    def _to_global(self, refs: Array, local: Array, glob: Array) -> Array:
        refs = refs.astype(np.uint64)
        out = np.zeros_like(refs)
        remote = (refs & REMOTE_TAG) != 0
        out[remote] = refs[remote] & ~REMOTE_TAG
        if len(local):
            pos = np.minimum(np.searchsorted(local, refs), len(local) - 1)
            hit = (local[pos] == refs) & ~remote & (refs != 0)
            out[hit] = glob[pos[hit]]
        return out

    def _to_local(self, refs: Array, glob_sorted: Array, local_by_glob: Array) -> Array:
        refs = refs.astype(np.uint64)
        out = np.where(refs == 0, np.uint64(0), refs | REMOTE_TAG).astype(np.uint64)
        if len(glob_sorted):
            pos = np.minimum(np.searchsorted(glob_sorted, refs), len(glob_sorted) - 1)
            hit = (glob_sorted[pos] == refs) & (refs != 0)
            out[hit] = local_by_glob[pos[hit]]
        return out

    def _export_rows(
        self, table: Any, rows: Array, local: Array, glob: Array
    ) -> pa.Table:
        rb = table.batch().take(pa.array(rows))
        t = pa.Table.from_batches([rb]).drop_columns(["entity"])
        for cls, fname in self._ref_fields:
            key = f"{cls.__name__}.{fname}"
            if key in t.column_names:
                col = t.column(key).to_numpy()
                i = t.column_names.index(key)
                t = t.set_column(
                    i, t.field(i), pa.array(self._to_global(col, local, glob))
                )
        return t

    def _spawn(self, batches: Sequence[Batch], extra: Sequence[type]) -> Array:
        if not batches:
            return np.empty(0, np.uint64)
        g2l = None
        out = []
        for names, t in batches:
            if not t.num_rows:
                continue
            classes = [self.classes[n] for n in names] + list(extra)
            if self._ref_fields:
                if g2l is None:
                    local, glob = self._id_map(owned_only=False)
                    o = np.argsort(glob, kind="stable")
                    g2l = (glob[o], local[o])
                for cls, fname in self._ref_fields:
                    key = f"{cls.__name__}.{fname}"
                    if key in t.column_names:
                        i = t.column_names.index(key)
                        col = self._to_local(t.column(key).to_numpy(), *g2l)
                        t = t.set_column(i, t.field(i), pa.array(col))
            with self._silent():
                out.append(self.world.spawn_batch(t, classes=classes))
        return np.concatenate(out) if out else np.empty(0, np.uint64)

    def _rewrite_refs(self, fn: Callable[[Array], Array]) -> None:
        """Apply ``fn`` to every Entity field of every owned row (writes changed rows)."""
        w = self.world
        for cls, fname in self._ref_fields:
            for ents, view in w.query(cls, without=[Ghost]):
                old = np.asarray(getattr(view, fname)).copy()
                new = fn(old)
                changed = new != old
                if changed.any():
                    pending = (ents[changed].copy(), new[changed])
                else:
                    continue
                with self._silent():
                    w.set_batch(pending[0], cls, {fname: pending[1]})

    def _unresolve(self, leaving: Array) -> None:
        """References to entities about to leave become ``REMOTE_TAG | global``."""
        if not self._ref_fields or not len(leaving):
            return
        local, glob = self._id_map(owned_only=False)
        leave = np.sort(leaving)

        def fn(old: Array) -> Array:
            pos = np.minimum(np.searchsorted(leave, old), len(leave) - 1)
            hit = leave[pos] == old
            if not hit.any():
                return old
            out = old.copy()
            gpos = np.searchsorted(local, old[hit])
            out[hit] = glob[gpos] | REMOTE_TAG
            return out

        self._rewrite_refs(fn)

    def _resolve(self) -> None:
        """``REMOTE_TAG | global`` references whose target is now local become local."""
        if not self._ref_fields:
            return
        local, glob = self._id_map(owned_only=False)
        o = np.argsort(glob, kind="stable")
        gs, ls = glob[o], local[o]

        def fn(old: Array) -> Array:
            remote = (old & REMOTE_TAG) != 0
            if not remote.any() or not len(gs):
                return old
            g = old & ~REMOTE_TAG
            pos = np.minimum(np.searchsorted(gs, g), len(gs) - 1)
            hit = remote & (gs[pos] == g)
            out = old.copy()
            out[hit] = ls[pos[hit]]
            return out

        self._rewrite_refs(fn)

    # --------------------------------------------------- observers (routing)
    def _ghost_rows(self, ents: Array) -> tuple[Array, Array]:
        if not len(self._ghosts) or not len(ents):
            return np.empty(0, np.int64), np.empty(0, np.uint64)
        hit = np.isin(ents, self._ghosts)
        idx = np.flatnonzero(hit)
        return idx, ents[idx]

    def _on_ghost_set(self, trig: Trigger) -> None:
        if self._quiet:
            return
        idx, ghosts = self._ghost_rows(np.asarray(trig.entities))
        if not len(idx):
            return
        gids = self.world.get_batch(ghosts, GlobalId)["id"]
        values = {k: np.asarray(v)[idx] for k, v in (trig.values or {}).items()}
        self._outbox.append(("set", trig.component.__name__, np.asarray(gids), values))

    def _on_ghost_despawn(self, trig: Trigger) -> None:
        if self._quiet:
            return
        idx, ghosts = self._ghost_rows(np.asarray(trig.entities))
        if not len(idx):
            return
        gids = self.world.get_batch(ghosts, GlobalId)["id"]
        self._outbox.append(("despawn", "", np.asarray(gids), {}))

    # --------------------------------------------------------- frame stages
    def _owned_position_tables(self) -> Iterator[Any]:
        for t in self.world.tables:
            if (
                t.len
                and self.pos_cid in t.components
                and self.gid_cid in t.components
                and self.ghost_cid not in t.components
            ):
                yield t

    def _xy(self, t: Any) -> tuple[Array, Array]:
        rb = t.batch((self.pos_cid,))
        name = self.pos_cls.__name__
        return (
            rb.column(f"{name}.{self.fx}").to_numpy(),
            rb.column(f"{name}.{self.fy}").to_numpy(),
        )

    def export_halo(self) -> Any:
        """Copies of owned agents within each halo neighbor's region grown by ``halo``.

        Returns one list of batches per ``info.neighbors`` entry, in that order (as
        a tuple, or the single list when there is one neighbor: one Ray return each).
        """
        t0, c0 = time.perf_counter(), time.process_time()
        targets = self.info.neighbors
        out: list[list[Batch]] = [[] for _ in targets]
        local, glob = (
            self._id_map(owned_only=False) if self._ref_fields else (None, None)
        )
        for t in self._owned_position_tables():
            x, y = self._xy(t)
            near = self.grid.near_border(self.index, x, y)
            if not len(near):
                continue
            xs, ys = x[near], y[near]
            for k, target in enumerate(targets):
                rows = near[self.grid.halo_mask(target, xs, ys)]
                if len(rows):
                    out[k].append(
                        (self._names(t), self._export_rows(t, rows, local, glob))  # type: ignore[arg-type]
                    )
        self._export_s = time.perf_counter() - t0
        self._export_cpu_s = time.process_time() - c0
        return out[0] if len(out) == 1 else tuple(out)

    def import_ghosts(self, *incoming: list[Batch]) -> dict[str, float]:
        """Spawn the neighbors' halo copies as :class:`Ghost` entities."""
        t0, c0 = time.perf_counter(), time.process_time()
        batches = [b for part in incoming for b in part]
        self._ghosts = np.sort(self._spawn(batches, [Ghost]))
        self._resolve()
        return {
            "halo_bytes": float(_bytes(batches)),
            "ghosts": float(len(self._ghosts)),
            "work_s": self._export_s + time.perf_counter() - t0,
            "cpu_s": self._export_cpu_s + time.process_time() - c0,
        }

    def step(self) -> dict[str, Any]:
        """Step the world, then drop the ghosts; returns timing and routed commands."""
        t0, c0 = time.perf_counter(), time.process_time()
        self.world.step()
        t1, c1 = time.perf_counter(), time.process_time()
        ghosts = self._ghosts
        if len(ghosts):
            alive = ghosts[self.world.is_alive_batch(ghosts)]
            self._unresolve(alive)
            self._despawn(alive)
        self._ghosts = np.empty(0, np.uint64)
        self._assign_new_ids()
        outbox, self._outbox = self._outbox, []
        return {
            "step_s": t1 - t0,
            "cpu_s": c1 - c0,
            "drop_s": time.perf_counter() - t1,
            "routed": outbox,
        }

    def _assign_new_ids(self) -> None:
        fresh = [
            t.entities.copy()
            for t in self.world.tables
            if t.len and self.gid_cid not in t.components
        ]
        if not fresh:
            return
        ids = np.concatenate(fresh)
        gids = (
            np.uint64(SPAWN_BASE)
            | np.uint64(self.index << 40)
            | (np.arange(len(ids), dtype=np.uint64) + np.uint64(self.next_id))
        )
        self.next_id += len(ids)
        with self._silent():
            self.world.insert_batch(ids, GlobalId)
            self.world.set_batch(ids, GlobalId, {"id": gids})

    def apply_routed(self, ops: Sequence[tuple[Any, ...]]) -> int:
        """Apply routed ``set`` / ``despawn`` commands to the agents this shard owns."""
        local, glob = self._id_map(owned_only=True)
        if not len(local):
            return 0
        o = np.argsort(glob, kind="stable")
        gs, ls = glob[o], local[o]
        done = 0
        for kind, name, gids, values in ops:
            g = np.asarray(gids, np.uint64)
            pos = np.minimum(np.searchsorted(gs, g), len(gs) - 1)
            hit = gs[pos] == g
            if not hit.any():
                continue
            ids = ls[pos[hit]]
            with self._silent():
                if kind == "set":
                    cls = self.classes[name]
                    self.world.set_batch(
                        ids, cls, {k: np.asarray(v)[hit] for k, v in values.items()}
                    )
                else:
                    self._unresolve(ids)
                    self.world.despawn_batch(ids)
            done += int(hit.sum())
        return done

    def export_migrants(self) -> Any:
        """The owned agents now in another region, removed here.

        Returns one list of batches per ``info.adjacent`` entry, then a list of
        ``(target, batch)`` for agents that jumped farther (one Ray return each; the
        single list when there is no adjacent region).
        """
        t0, c0 = time.perf_counter(), time.process_time()
        slot = {t: k for k, t in enumerate(self.info.adjacent)}
        out: list[list[Batch]] = [[] for _ in self.info.adjacent]
        far: list[tuple[int, Batch]] = []
        leaving = []
        local, glob = (
            self._id_map(owned_only=False) if self._ref_fields else (None, None)
        )
        for t in list(self._owned_position_tables()):
            x, y = self._xy(t)
            moving = self.grid.outside(self.index, x, y)
            if not len(moving):
                continue
            dest = self.grid.region(x[moving], y[moving])
            ents = t.entities
            names = self._names(t)
            for target in np.unique(dest).tolist():
                rows = moving[dest == target]
                batch = (names, self._export_rows(t, rows, local, glob))  # type: ignore[arg-type]
                if target in slot:
                    out[slot[target]].append(batch)
                else:
                    far.append((int(target), batch))
            leaving.append(ents[moving].copy())
        if leaving:
            ids = np.concatenate(leaving)
            self._unresolve(ids)
            self._despawn(ids)
        self._export_s = time.perf_counter() - t0
        self._export_cpu_s = time.process_time() - c0
        return (*out, far) if out else far

    def import_migrants(self, *incoming: list[Batch]) -> dict[str, float]:
        """Spawn agents arriving from other shards (ids remapped, refs translated)."""
        t0, c0 = time.perf_counter(), time.process_time()
        batches = [b for part in incoming for b in part]
        n = len(self._spawn(batches, []))
        self._resolve()
        return {
            "migration_bytes": float(_bytes(batches)),
            "migrants": float(n),
            "work_s": self._export_s + time.perf_counter() - t0,
            "cpu_s": self._export_cpu_s + time.process_time() - c0,
        }

    # --------------------------------------------------------------- queries
    def count(self) -> int:
        """Owned entities (ghosts excluded)."""
        return sum(
            t.len for t in self.world.tables if self.ghost_cid not in t.components
        )

    def gather(self, names: Sequence[str]) -> pa.Table:
        """Owned rows of these components with ``global_id`` (Entity fields global)."""
        classes = [self.classes[n] for n in names]
        t = self.world.to_arrow(GlobalId, *classes, without=[Ghost])
        t = t.drop_columns(["entity"]).rename_columns(
            ["global_id", *t.column_names[2:]]
        )
        if self._ref_fields:
            local, glob = self._id_map(owned_only=False)
            for cls, fname in self._ref_fields:
                key = f"{cls.__name__}.{fname}"
                if key in t.column_names:
                    i = t.column_names.index(key)
                    col = self._to_global(t.column(key).to_numpy(), local, glob)
                    t = t.set_column(i, t.field(i), pa.array(col))
        return t

    def save(self, folder: str) -> dict[str, Any]:
        """Save this shard's world (no ghosts exist between frames)."""
        _save(self.world, folder)
        return {"folder": folder, "entities": self.count(), "next_id": self.next_id}

    def frame(self) -> int:
        """The world's frame counter."""
        from archetype_ecs.resources import Time

        return int(self.world.resource(Time).frame)


# ------------------------------------------------------------ the driver side


@dataclass(frozen=True)
class FrameStats:
    """Wall time of one sharded frame by stage (seconds) and bytes exchanged.

    ``*_s`` are wall times seen by the driver (stages end with a barrier);
    ``*_work_s`` the slowest shard's own wall time in that stage (export + import,
    or its ``world.step``) and ``*_cpu_s`` its CPU time, so the differences are
    orchestration, transfer and waiting for a core.
    """

    frame: int
    total_s: float
    halo_s: float
    compute_s: float
    routing_s: float
    migration_s: float
    halo_bytes: int
    migration_bytes: int
    ghosts: int
    migrants: int
    routed: int
    compute_work_s: float = 0.0
    compute_cpu_s: float = 0.0
    halo_work_s: float = 0.0
    migration_work_s: float = 0.0
    halo_cpu_s: float = 0.0
    migration_cpu_s: float = 0.0


def _hint(module: ModuleType, key: str, params: Mapping[str, Any]) -> Any:
    hints = getattr(module, "SHARDING", None)
    if not isinstance(hints, Mapping) or key not in hints:
        return None
    value = hints[key]
    return value(params) if callable(value) else value


def _cause(exc: BaseException) -> str:
    """The innermost ``SomeError: message`` line of a Ray error's remote traceback."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    errors = [ln for ln in lines if _ERROR_LINE.match(ln)]
    return errors[-1] if errors else (lines[-1] if lines else type(exc).__name__)


_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit): ")


def _actor_class() -> Any:
    return ray.remote(Shard)


class ShardedWorld:
    """One logical world split over a ``gx`` x ``gy`` grid of Ray actors.

    Parameters
    ----------
    model
        A model (file path, module name or module; the model protocol) whose
        ``build(seed=..., threads=..., **params)`` gives the whole initial world.
        Each shard builds it and keeps its region (so the initial state is the
        single world's, entity for entity).
    shards
        Grid shape ``(columns, rows)``, or an int for ``(n, 1)``.
    params, seed, threads
        Passed to ``build`` (params merged over the model's ``PARAMS``).
    bounds
        ``(xmin, ymin, xmax, ymax)`` split into the grid (default: the model's
        ``SHARDING["bounds"]``). Agents outside belong to the edge regions.
    halo
        Ghost width: at least the interaction radius times the neighbor passes per
        frame (default: ``SHARDING["halo"]``).
    position
        ``("Comp.x", "Comp.y")`` columns of the position (default:
        ``SHARDING["position"]`` or ``("Position.x", "Position.y")``).
    periodic
        The world wraps around (a torus) on both axes, or on ``(x, y)``; halos then
        wrap too (default: ``SHARDING["periodic"]`` or False).
    address
        Ray cluster address; ``None`` starts a local Ray instance (or uses the one
        this process joined). Nothing else changes on a cluster.
    actor_options
        ``ray.remote`` options of the shard actors (default: no CPU reservation,
        spread over nodes; pass ``{"num_cpus": k}`` to reserve ``k`` cores per shard
        on a shared cluster).

    Raises
    ------
    ShardingError
        Bad grid, bounds, halo or position, checked before any actor starts.
    """

    def __init__(
        self,
        model: str | Path | ModuleType | Model,
        *,
        shards: int | tuple[int, int] = 2,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        threads: int | None = 1,
        bounds: tuple[float, float, float, float] | None = None,
        halo: float | None = None,
        position: tuple[str, str] | None = None,
        periodic: bool | tuple[bool, bool] | None = None,
        address: str | None = None,
        actor_options: Mapping[str, Any] | None = None,
        _restore: Sequence[tuple[str, int]] | None = None,
    ) -> None:
        loaded = load_model(model)
        self.spec = model_spec(loaded)
        module = loaded.module
        merged = resolve_params(loaded.params, params, model=loaded.name)
        self.params = dict(params or {})
        shape = (shards, 1) if isinstance(shards, int) else tuple(shards)
        if len(shape) != 2:
            raise ShardingError(f"shards={shards!r}: give an int or (columns, rows)")
        bounds = bounds if bounds is not None else _hint(module, "bounds", merged)
        if bounds is None:
            raise ShardingError(
                "bounds=(xmin, ymin, xmax, ymax) is needed (the model defines no "
                "SHARDING['bounds'])"
            )
        halo = halo if halo is not None else _hint(module, "halo", merged)
        if halo is None:
            raise ShardingError(
                "halo= (the interaction radius) is needed (the model defines no "
                "SHARDING['halo'])"
            )
        pos = (
            position
            or _hint(module, "position", merged)
            or ("Position.x", "Position.y")
        )
        pos = (str(pos[0]), str(pos[1]))
        comp, _, fx = pos[0].partition(".")
        comp2, _, fy = pos[1].partition(".")
        cls = getattr(module, comp, None)
        try:
            fields = {f.name for f in schema_of(cls).fields}
        except Exception:  # not a component class
            fields = set()
        if comp != comp2 or not {fx, fy} <= fields:
            raise ShardingError(
                f"position={pos!r}: give two fields of one component class of the "
                f"model, as ('Comp.x', 'Comp.y')"
            )
        if periodic is None:
            periodic = _hint(module, "periodic", merged) or False
        wrap = (periodic, periodic) if isinstance(periodic, bool) else tuple(periodic)
        if len(wrap) != 2:
            raise ShardingError(f"periodic={periodic!r}: give a bool or (x, y) bools")
        self.grid = Grid(shape, bounds, float(halo), (bool(wrap[0]), bool(wrap[1])))
        self.infos = [self.grid.info(s) for s in range(self.grid.count)]
        self.position = pos
        self.seed = seed
        self.threads = threads
        self.frame = 0
        self.stats: list[FrameStats] = []
        self._session: contextlib.AbstractContextManager[bool] | None = ray_session(
            address
        )
        self._started = self._session.__enter__()
        try:
            S = self.grid.count
            if actor_options is None:
                # No CPU reservation: an actor holds what it reserves for its whole
                # life, so two sharded worlds (or a sweep beside one) on a small
                # instance would wait for each other forever. SPREAD still places
                # the shards on different nodes of a cluster.
                actor_options = {"num_cpus": 0, "scheduling_strategy": "SPREAD"}
            cls_ = _actor_class().options(**actor_options)
            self.actors = [
                cls_.remote(
                    self.spec,
                    self.params,
                    seed,
                    threads,
                    self.grid,
                    s,
                    pos,
                    None if _restore is None else _restore[s],
                )
                for s in range(S)
            ]
            ray.get([a.count.remote() for a in self.actors])
            if _restore is not None:
                self.frame = int(ray.get(self.actors[0].frame.remote()))
        except RayError as exc:
            self.close()
            raise ShardingError(
                f"a shard of model {self.spec!r} failed to start: "
                f"{_cause(exc)}; fix the model or its parameters (the shard's "
                "traceback is chained below)"
            ) from exc
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------- running
    def step(self, frames: int = 1) -> list[FrameStats]:
        """Run ``frames`` frames (halo, compute, routed commands, migration each).

        Returns
        -------
        list of FrameStats
            Per frame: wall time by stage and bytes exchanged (also appended to
            ``self.stats``).
        """
        try:
            return self._step(frames)
        except RayError as exc:
            raise ShardingError(
                f"frame {self.frame + 1} failed in a shard: {_cause(exc)}; the shards "
                "may now be at different frames: close this world and load the last "
                "save (the shard's traceback is chained below)"
            ) from exc

    def _step(self, frames: int) -> list[FrameStats]:
        out = []
        S = self.grid.count
        for _ in range(frames):
            t0 = time.perf_counter()
            if S > 1:
                incoming: list[list[Any]] = [[] for _ in range(S)]
                for s, a in enumerate(self.actors):
                    near = self.infos[s].neighbors
                    if not near:
                        continue
                    r = a.export_halo.options(num_returns=len(near)).remote()
                    for t, ref in zip(near, [r] if len(near) == 1 else r, strict=True):
                        incoming[t].append(ref)
                hs = ray.get(
                    [
                        self.actors[t].import_ghosts.remote(*incoming[t])
                        for t in range(S)
                    ]
                )
            else:
                hs = [{"halo_bytes": 0.0, "ghosts": 0.0, "work_s": 0.0, "cpu_s": 0.0}]
            t1 = time.perf_counter()
            ss = ray.get([a.step.remote() for a in self.actors])
            t2 = time.perf_counter()
            ops = [op for st in ss for op in st["routed"]]
            routed = (
                sum(ray.get([a.apply_routed.remote(ops) for a in self.actors]))
                if ops
                else 0
            )
            t3 = time.perf_counter()
            if S > 1:
                arriving: list[list[Any]] = [[] for _ in range(S)]
                far_refs = []
                for s, a in enumerate(self.actors):
                    adj = self.infos[s].adjacent
                    r = a.export_migrants.options(num_returns=len(adj) + 1).remote()
                    refs = list(r) if adj else [r]
                    for t, ref in zip(adj, refs[:-1], strict=True):
                        arriving[t].append(ref)
                    far_refs.append(refs[-1])
                for pairs in ray.get(far_refs):  # rare: agents that skipped a region
                    for t, batch in pairs:
                        arriving[t].append([batch])
                ms = ray.get(
                    [
                        self.actors[t].import_migrants.remote(*arriving[t])
                        for t in range(S)
                    ]
                )
            else:
                ms = [
                    {
                        "migration_bytes": 0.0,
                        "migrants": 0.0,
                        "work_s": 0.0,
                        "cpu_s": 0.0,
                    }
                ]
            t4 = time.perf_counter()
            self.frame += 1
            st = FrameStats(
                frame=self.frame,
                total_s=t4 - t0,
                halo_s=t1 - t0,
                compute_s=t2 - t1,
                routing_s=t3 - t2,
                migration_s=t4 - t3,
                halo_bytes=int(sum(h["halo_bytes"] for h in hs)),
                migration_bytes=int(sum(m["migration_bytes"] for m in ms)),
                ghosts=int(sum(h["ghosts"] for h in hs)),
                migrants=int(sum(m["migrants"] for m in ms)),
                routed=int(routed),
                compute_work_s=max(r["step_s"] + r["drop_s"] for r in ss),
                compute_cpu_s=max(r["cpu_s"] for r in ss),
                halo_work_s=max(h["work_s"] for h in hs),
                migration_work_s=max(m["work_s"] for m in ms),
                halo_cpu_s=max(h["cpu_s"] for h in hs),
                migration_cpu_s=max(m["cpu_s"] for m in ms),
            )
            self.stats.append(st)
            out.append(st)
        return out

    # ------------------------------------------------------------- queries
    def counts(self) -> list[int]:
        """Owned entities per shard (ghosts excluded)."""
        return [int(c) for c in ray.get([a.count.remote() for a in self.actors])]

    def __len__(self) -> int:
        return sum(self.counts())

    def gather(self, *components: str | type) -> pa.Table:
        """The whole state as one table sorted by ``global_id``.

        Columns: ``global_id`` then ``<Component>.<field>`` of each component (rows
        of entities that carry all of them); Entity fields hold global ids.
        """
        names = [c if isinstance(c, str) else c.__name__ for c in components]
        parts = ray.get([a.gather.remote(names) for a in self.actors])
        table = pa.concat_tables(parts)
        return table.take(pc.sort_indices(table, [("global_id", "ascending")]))

    # ------------------------------------------------------------ commands
    def _route(self, ops: list[tuple[Any, ...]], n: int, what: str) -> None:
        done = sum(ray.get([a.apply_routed.remote(ops) for a in self.actors]))
        if done != n:
            raise ShardingError(
                f"{what}: {n - done} of {n} global ids are owned by no shard (dead or "
                "never existed); the others were applied"
            )

    def set(
        self,
        global_ids: Sequence[int] | Array,
        component: str | type,
        values: Mapping[str, Any],
    ) -> None:
        """Set fields of ``component`` on agents by global id, on their owning shards."""
        g = np.asarray(global_ids, np.uint64)
        name = component if isinstance(component, str) else component.__name__
        self._route(
            [("set", name, g, {k: np.asarray(v) for k, v in values.items()})],
            len(g),
            "set",
        )

    def despawn(self, global_ids: Sequence[int] | Array) -> None:
        """Despawn agents by global id on their owning shards."""
        g = np.asarray(global_ids, np.uint64)
        self._route([("despawn", "", g, {})], len(g), "despawn")

    # --------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Save every shard (``path/save-N/shard-S``, one world save each) + a manifest.

        The manifest ``path/sharded.json`` is replaced last and atomically, so a
        crash mid-save leaves the previous save loadable. Needs a file system that
        every node sees (local runs always do).
        """
        root = Path(path).resolve()
        root.mkdir(parents=True, exist_ok=True)
        n = 1 + max(
            (
                int(p.name.split("-")[1])
                for p in root.glob("save-*")
                if p.name.split("-")[1].isdigit()
            ),
            default=0,
        )
        folder = root / f"save-{n:06d}"
        shards = ray.get(
            [
                a.save.remote(str(folder / f"shard-{s}"))
                for s, a in enumerate(self.actors)
            ]
        )
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.spec,
            "params": self.params,
            "seed": self.seed,
            "threads": self.threads,
            "shards": list(self.grid.shape),
            "bounds": list(self.grid.bounds),
            "halo": self.grid.halo,
            "position": list(self.position),
            "periodic": list(self.grid.periodic),
            "frame": self.frame,
            "save": folder.name,
            "shard_saves": [
                {
                    "folder": f"{folder.name}/shard-{s}",
                    "entities": d["entities"],
                    "next_id": d["next_id"],
                }
                for s, d in enumerate(shards)
            ],
        }
        fd, tmp = tempfile.mkstemp(prefix=".sharded.", dir=root)
        with os.fdopen(fd, "w") as f:
            json.dump(manifest, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(root / MANIFEST)
        for old in root.glob("save-*"):
            if old.name != folder.name:
                shutil.rmtree(old, ignore_errors=True)
        return root / MANIFEST

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        address: str | None = None,
        actor_options: Mapping[str, Any] | None = None,
    ) -> ShardedWorld:
        """Rebuild a sharded world from :meth:`save` (same grid, ids and frame)."""
        root = Path(path)
        mpath = root / MANIFEST
        try:
            m = json.loads(mpath.read_text())
        except (OSError, ValueError) as exc:
            raise ShardingError(
                f"{mpath}: missing or unreadable ({exc}); not a sharded save"
            ) from exc
        if (
            not isinstance(m, dict)
            or m.get("format") != FORMAT
            or m.get("format_version") != FORMAT_VERSION
        ):
            raise ShardingError(
                f"{mpath}: not a version-{FORMAT_VERSION} arrow-ecs sharded save"
            )
        restore = [
            (str(root / d["folder"]), int(d["next_id"])) for d in m["shard_saves"]
        ]
        return cls(
            m["model"],
            shards=(int(m["shards"][0]), int(m["shards"][1])),
            params=m["params"],
            seed=int(m["seed"]),
            threads=m["threads"],
            bounds=tuple(m["bounds"]),
            halo=float(m["halo"]),
            position=(m["position"][0], m["position"][1]),
            periodic=(bool(m["periodic"][0]), bool(m["periodic"][1])),
            address=address,
            actor_options=actor_options,
            _restore=restore,
        )

    # ----------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Stop the actors (and the local Ray instance if this world started it)."""
        for a in getattr(self, "actors", []):
            with contextlib.suppress(Exception):
                ray.kill(a)
        self.actors = []
        session, self._session = getattr(self, "_session", None), None
        if session is not None:
            session.__exit__(None, None, None)

    def __enter__(self) -> ShardedWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def single_world_state(world: World, *components: type) -> pa.Table:
    """A plain world's rows as :meth:`ShardedWorld.gather` shows them (for comparisons).

    ``global_id`` is the entity id (what a sharded run assigns to the initial agents),
    rows sorted by it.
    """
    t = world.to_arrow(*components)
    t = t.rename_columns(["global_id", *t.column_names[1:]])
    return t.take(pc.sort_indices(t, [("global_id", "ascending")]))
