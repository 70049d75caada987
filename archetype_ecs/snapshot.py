"""In-memory snapshots of a world for rollback, and diffs against them.

``snap = world.snapshot()`` copies every table's live columns, the entity index and the
resources; ``world.restore(snap)`` puts them back (ids included); ``world.diff(snap)``
lists added, removed and changed rows as Arrow tables.

Why copies and not copy-on-write: Numba systems write columns in place through raw
views, so copy-on-write would need a write barrier on every system run; a full copy of
live rows is one memcpy per column (see benchmarks/snapshot.py for the cost).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from archetype_ecs._kernels import group_by_kernel
from archetype_ecs.component import ComponentId
from archetype_ecs.entity import split
from archetype_ecs.errors import EcsError
from archetype_ecs.table import ENTITY_COLUMN

if TYPE_CHECKING:
    from archetype_ecs.world import World

__all__ = ["Snapshot", "WorldDiff", "diff", "restore", "snapshot"]

Array = np.ndarray[Any, Any]


@dataclass
class Snapshot:
    """A copy of a world's state at one moment (see :func:`snapshot`)."""

    world_token: str
    tables: dict[int, tuple[tuple[ComponentId, ...], dict[str, Array]]]
    generation: Array
    table_of: Array
    row_of: Array
    free: Array
    size: int
    alive: int
    change_tick: int
    resources: dict[type, object]
    skipped_resources: list[str] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        """Bytes held by the copied columns and index arrays."""
        cols = sum(a.nbytes for _, c in self.tables.values() for a in c.values())
        return int(
            cols + self.generation.nbytes + self.table_of.nbytes + self.row_of.nbytes
        )


@dataclass
class WorldDiff:
    """Rows that differ between a snapshot and the world now.

    Attributes
    ----------
    added
        ``entity`` ids alive now but not in the snapshot.
    removed
        ``entity`` ids in the snapshot but not alive now.
    changed
        Per component name: ``entity``, then ``<field>_before`` / ``<field>_after``
        for rows alive in both with that component in both whose values differ.
    components_added, components_removed
        ``(entity, component)`` rows for entities alive in both that gained / lost
        a component.
    """

    added: pa.Table
    removed: pa.Table
    changed: dict[str, pa.Table]
    components_added: pa.Table
    components_removed: pa.Table

    def __repr__(self) -> str:
        ch = {k: v.num_rows for k, v in self.changed.items()}
        return (
            f"WorldDiff(added={self.added.num_rows}, removed={self.removed.num_rows}, "
            f"changed={ch}, components_added={self.components_added.num_rows}, "
            f"components_removed={self.components_removed.num_rows})"
        )


def snapshot(world: World) -> Snapshot:
    """Copy the world's state (live rows, entity index, resources).

    Notes
    -----
    O(live rows) copy. Resources are deep-copied; one that cannot be copied is kept
    by reference and named in ``skipped_resources``.
    """
    tables = {
        t.id: (t.components, {k: t.column(k).copy() for k in t.keys})
        for t in world.tables
        if t.len
    }
    idx = world.entities
    resources: dict[type, object] = {}
    skipped: list[str] = []
    for kind, value in world._resources.items():
        try:
            resources[kind] = copy.deepcopy(value)
        except Exception:
            resources[kind] = value
            skipped.append(kind.__qualname__)
    return Snapshot(
        world_token=world.token,
        tables=tables,
        generation=idx.generation[: idx.size].copy(),
        table_of=idx.table[: idx.size].copy(),
        row_of=idx.row[: idx.size].copy(),
        free=idx.free_list(),
        size=idx.size,
        alive=idx.alive_count,
        change_tick=world.change_tick,
        resources=resources,
        skipped_resources=skipped,
    )


def restore(world: World, snap: Snapshot) -> None:
    """Put the world back to ``snap`` (taken from this same world).

    Raises
    ------
    EcsError
        When the snapshot was taken from another world, or a query is iterating.

    Notes
    -----
    Structural change: every table is rewritten (tables created after the snapshot
    are emptied); views are invalidated. Ticks restore too.
    """
    if snap.world_token != world.token:
        raise EcsError(
            "restore: this snapshot was taken from another world; snapshots are for "
            "rolling back the world they came from (use save / load to move state)"
        )
    world._check_not_iterating("restore")
    for t in world.tables:
        saved = snap.tables.get(t.id)
        if saved is None:
            t.len = 0
            t.version += 1
            continue
        _, cols = saved
        n = len(cols[ENTITY_COLUMN])
        t.reserve(n)
        for key in t.keys:
            src = cols.get(key)
            if src is None:  # a tick column started after the snapshot
                t._cols[key][:n] = 1
            else:
                t._cols[key][:n] = src
        t.len = n
        t.version += 1
    idx = world.entities
    if snap.size > len(idx.generation):
        idx._grow(snap.size)
    idx.generation[: snap.size] = snap.generation
    idx.table[: snap.size] = snap.table_of
    idx.row[: snap.size] = snap.row_of
    idx.size = snap.size
    idx._free = snap.free.copy()
    idx._nfree = len(snap.free)
    idx.alive_count = snap.alive
    world.change_tick = max(world.change_tick, snap.change_tick)
    world._resources.clear()
    world._resources.update({k: copy.deepcopy(v) for k, v in snap.resources.items()})
    world._checked()


def _snap_ids(snap: Snapshot) -> Array:
    parts = [cols[ENTITY_COLUMN] for _, cols in snap.tables.values()]
    return np.concatenate(parts) if parts else np.empty(0, np.uint64)


def _locate_in_snap(snap: Snapshot, ids: Array) -> tuple[Array, Array]:
    slot, _ = split(ids)
    return snap.table_of[slot], snap.row_of[slot]


def diff(world: World, snap: Snapshot) -> WorldDiff:
    """Compare the world now with ``snap`` (vectorized per component).

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Hp:
    ...     value: f32 = 10.0
    >>> w = World()
    >>> ids = w.spawn_batch({Hp: None}, n=3)
    >>> snap = w.snapshot()
    >>> w.set_batch(ids[:1], Hp, {"value": [1.0]})
    >>> w.despawn(ids[2])
    >>> d = w.diff(snap)
    >>> d.removed.num_rows, d.changed["Hp"].column("value_after").to_pylist()
    (1, [1.0])
    """
    if snap.world_token != world.token:
        raise EcsError(
            "diff: this snapshot was taken from another world (component and table "
            "ids differ between worlds); diff against a snapshot of this world"
        )
    before = _snap_ids(snap)
    now = _world_ids(world)
    in_both = np.intersect1d(before, now, assume_unique=True)
    added = np.setdiff1d(now, before, assume_unique=True)
    removed = np.setdiff1d(before, now, assume_unique=True)
    changed: dict[str, pa.Table] = {}
    comp_added: list[tuple[Array, str]] = []
    comp_removed: list[tuple[Array, str]] = []
    if len(in_both):
        s_tab, s_row = _locate_in_snap(snap, in_both)
        n_tab = world.entities.table[split(in_both)[0]]
        n_row = world.entities.row[split(in_both)[0]]
        for cid, schema in enumerate(world.components.schemas):
            had = _has(snap, s_tab, ComponentId(cid))
            has = np.array(
                [ComponentId(cid) in t.component_set for t in world.tables], np.bool_
            )[n_tab]
            if (has & ~had).any():
                comp_added.append((in_both[has & ~had], schema.name))
            if (had & ~has).any():
                comp_removed.append((in_both[had & ~has], schema.name))
            both = had & has
            if not both.any() or not schema.fields:
                continue
            table = _changed_rows(
                world, snap, schema, in_both, both, s_tab, s_row, n_tab, n_row
            )
            if table.num_rows:
                changed[schema.name] = table
    return WorldDiff(
        added=pa.table({"entity": pa.array(added, pa.uint64())}),
        removed=pa.table({"entity": pa.array(removed, pa.uint64())}),
        changed=changed,
        components_added=_pairs(comp_added),
        components_removed=_pairs(comp_removed),
    )


def _world_ids(world: World) -> Array:
    parts = [t.entities for t in world.tables if t.len]
    return np.concatenate(parts) if parts else np.empty(0, np.uint64)


def _has(snap: Snapshot, tabs: Array, cid: ComponentId) -> Array:
    lookup = np.zeros(max(snap.tables, default=-1) + 1, dtype=np.bool_)
    for tid, (comps, _) in snap.tables.items():
        lookup[tid] = cid in comps
    ok = tabs < len(lookup)
    out = np.zeros(len(tabs), dtype=np.bool_)
    out[ok] = lookup[tabs[ok]]
    return out


def _gather(
    sources: dict[int, dict[str, Array]],
    key: str,
    tabs: Array,
    rows: Array,
    like: Array,
) -> Array:
    out = np.empty((len(tabs), *like.shape[1:]), dtype=like.dtype)
    if not len(tabs):
        return out
    order, offsets = group_by_kernel(tabs.astype(np.int32), int(tabs.max()) + 1)
    for tid in np.flatnonzero(np.diff(offsets)):
        sel = order[offsets[tid] : offsets[tid + 1]]
        out[sel] = sources[int(tid)][key][rows[sel]]
    return out


def _changed_rows(
    world: World,
    snap: Snapshot,
    schema: Any,
    ids: Array,
    both: Array,
    s_tab: Array,
    s_row: Array,
    n_tab: Array,
    n_row: Array,
) -> pa.Table:
    snap_cols = {tid: cols for tid, (_, cols) in snap.tables.items()}
    now_cols = {t.id: {k: t.column(k) for k in t.keys} for t in world.tables if t.len}
    before_vals: dict[str, Array] = {}
    after_vals: dict[str, Array] = {}
    differs = np.zeros(int(both.sum()), dtype=np.bool_)
    for f in schema.fields:
        key = f"{schema.name}.{f.name}"
        like = np.empty((0, *f.type.shape), dtype=f.type.dtype)
        b = _gather(snap_cols, key, s_tab[both], s_row[both], like)
        a = _gather(now_cols, key, n_tab[both], n_row[both], like)
        neq = (b != a) & ~((b != b) & (a != a))  # NaN == NaN counts as unchanged
        differs |= neq.reshape(len(neq), -1).any(axis=1) if neq.ndim > 1 else neq
        before_vals[f.name], after_vals[f.name] = b, a
    cols: dict[str, pa.Array] = {"entity": pa.array(ids[both][differs], pa.uint64())}
    for f in schema.fields:
        for label, vals in (("before", before_vals), ("after", after_vals)):
            v = vals[f.name][differs]
            if f.type.shape:
                cols[f"{f.name}_{label}"] = pa.FixedSizeListArray.from_arrays(
                    pa.array(v.reshape(-1)), f.type.shape[0]
                )
            else:
                cols[f"{f.name}_{label}"] = pa.array(v)
    return pa.table(cols)


def _pairs(items: list[tuple[Array, str]]) -> pa.Table:
    ents = [pa.array(a, pa.uint64()) for a, _ in items]
    names = [pa.array([n] * len(a), pa.string()) for a, n in items]
    return pa.table(
        {
            "entity": pa.concat_arrays(ents) if ents else pa.array([], pa.uint64()),
            "component": pa.concat_arrays(names)
            if names
            else pa.array([], pa.string()),
        }
    )
