"""CommandBuffer: structural changes recorded as columnar batches, applied in bulk.

Systems, behavior trees and scripts never change storage while it is iterated; they
record commands here. ``world.apply(buffer)`` applies them at a sync point.

Rules (see docs/commands.md):

- buffers apply in the order given; within a buffer, commands take effect in
  recording order (consecutive commands of the same kind and component coalesce into
  one bulk operation without changing that order);
- a despawn wins over every later command on that entity in the buffer (they find the
  entity dead and are skipped);
- commands that name dead entities are skipped and reported in the
  :class:`ApplyReport` (count and ids); they never raise mid-apply;
- malformed commands (not a component, unknown field, wrong dtype or shape) raise
  when they are recorded, so applying never half-fails.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from archetype_ecs.component import ComponentSchema, schema_of
from archetype_ecs.entity import GEN_SHIFT, Entity, pending_slot
from archetype_ecs.errors import (
    E_LENGTH,
    E_NOT_ALIVE,
    EntityNotAliveError,
    SchemaError,
    coded,
)

__all__ = ["ApplyReport", "CommandBuffer", "Op"]

Array = np.ndarray[Any, Any]


class Op(enum.IntEnum):
    """Command kinds, as stored in a command log."""

    SPAWN = 0
    DESPAWN = 1
    INSERT = 2
    REMOVE = 3
    SET = 4


def _run_key(kind: Op, comps: Mapping[type, Mapping[str, Array]]) -> tuple[Any, ...]:
    # Consecutive commands coalesce only when kind, classes and fields all match.
    return (kind, tuple((c, tuple(cols)) for c, cols in comps.items()))


class _Command:
    """One coalesced run of commands: same kind, same component(s)."""

    __slots__ = ("classes", "id_chunks", "key", "kind", "value_chunks")

    def __init__(self, kind: Op, comps: Mapping[type, Mapping[str, Array]]) -> None:
        self.kind = kind
        self.classes = tuple(comps)
        self.key = _run_key(kind, comps)
        self.id_chunks: list[Array] = []
        self.value_chunks: dict[type, dict[str, list[Array]]] = {
            c: {f: [] for f in cols} for c, cols in comps.items()
        }

    def ids(self) -> Array:
        if len(self.id_chunks) == 1:
            return self.id_chunks[0]
        return np.concatenate(self.id_chunks)

    def values(self) -> dict[type, dict[str, Array]]:
        return {
            c: {
                f: (ch[0] if len(ch) == 1 else np.concatenate(ch))
                for f, ch in fields.items()
            }
            for c, fields in self.value_chunks.items()
        }

    def __len__(self) -> int:
        return sum(len(c) for c in self.id_chunks)


class ApplyReport:
    """What applying command buffers did.

    Attributes
    ----------
    applied
        Number of commands that took effect (one per entity per command).
    dead
        Ids named by commands that were skipped because the entity was not alive
        (despawned earlier, stale, or a pending id that was never spawned).
    missing
        Ids skipped by ``set`` because the entity lacked the component.
    spawned
        Real ids of the entities spawned, in recording order.
    """

    def __init__(self) -> None:
        self.applied = 0
        self._dead: list[Array] = []
        self._missing: list[Array] = []
        self._spawned: list[Array] = []
        self._pending: dict[int, Array] = {}

    @staticmethod
    def _cat(parts: list[Array]) -> Array:
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)

    @property
    def dead(self) -> Array:
        """Ids of skipped commands on dead entities (with repeats, in order)."""
        return self._cat(self._dead)

    @property
    def missing(self) -> Array:
        """Ids of skipped ``set`` commands on entities lacking the component."""
        return self._cat(self._missing)

    @property
    def spawned(self) -> Array:
        """Real ids of spawned entities, in recording order."""
        return self._cat(self._spawned)

    @property
    def skipped(self) -> int:
        """Number of commands skipped (dead plus missing)."""
        return sum(len(a) for a in self._dead) + sum(len(a) for a in self._missing)

    def resolve(self, buffer: CommandBuffer, ids: int | Iterable[int]) -> Any:
        """Map pending ids of ``buffer`` to the real ids they became."""
        table = self._pending.get(id(buffer))
        if table is None:
            raise KeyError("this report did not apply that buffer")
        if isinstance(ids, int):
            return Entity(int(table[pending_slot(np.array([ids], np.uint64))[0]]))
        return table[pending_slot(np.asarray(ids, dtype=np.uint64))]

    def __repr__(self) -> str:
        return (
            f"ApplyReport(applied={self.applied}, skipped={self.skipped}, "
            f"spawned={sum(len(a) for a in self._spawned)})"
        )


def _as_ids(entities: object, where: str) -> Array:
    if isinstance(entities, list | tuple):
        # A Python list may mix ints and numpy ids (which numpy would promote to
        # float64); convert each exactly. A slow path for small lists only.
        try:
            vals = [operator.index(e) for e in entities]
        except TypeError:
            vals = None
        if vals is not None:
            if any(v < 0 or v > 0xFFFF_FFFF_FFFF_FFFF for v in vals):
                raise SchemaError(
                    f"{where}: entity ids must not be negative and must fit 64 bits"
                )
            return np.array(vals, dtype=np.uint64)
    arr = np.asarray(entities)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise SchemaError(
            f"{where}: entity ids must be a 1-d array of integer ids, got "
            f"{type(entities).__name__} of dtype {arr.dtype} and shape {arr.shape}"
        )
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise SchemaError(f"{where}: entity ids must not be negative")
    return arr.astype(np.uint64, copy=False)


def _instance_columns(
    c: object, where: str, *, tags: bool = True
) -> tuple[type, dict[str, Array]]:
    """Validated one-row columns of an instance (or, if allowed, a class's defaults)."""
    s = schema_of(c, where)
    if isinstance(c, type):
        if tags:  # a class stands for its default values (a tag has none)
            return s.cls, s.coerce(None, 1)[1]
        raise SchemaError(
            f"{where}: got the class {s.name}, expected an instance such as "
            f"{s.name}({', '.join(s.field_names())}); pass values, or use the _batch "
            "form with a dict of field -> array"
        )
    return s.cls, s.columns_of(c)


class CommandBuffer:
    """Records spawn, despawn, insert, remove and set as columnar batches.

    ``spawn`` returns a *pending* id (generation 0) that other commands of the same
    buffer may name; it becomes a real entity when the buffer is applied
    (``report.spawned``, ``report.resolve(buffer, pending)``). A buffer is emptied by
    applying it.

    Examples
    --------
    >>> from archetype_ecs import World, CommandBuffer, component, f32
    >>> @component
    ... class Hp:
    ...     value: f32 = 10.0
    >>> w = World()
    >>> cmd = CommandBuffer()
    >>> p = cmd.spawn(Hp(3.0))
    >>> cmd.set(p, Hp(4.0))
    >>> report = w.apply(cmd)
    >>> w.component(report.resolve(cmd, p), Hp)
    Hp(value=4.0)
    """

    def __init__(self, name: str = "commands") -> None:
        self.name = name
        self._commands: list[_Command] = []
        self._next_pending = 0

    def __len__(self) -> int:
        """Number of recorded commands (one per entity per command)."""
        return sum(len(c) for c in self._commands)

    @property
    def pending_count(self) -> int:
        """Number of entities this buffer will spawn."""
        return self._next_pending

    def clear(self) -> None:
        """Drop every recorded command (pending ids become meaningless)."""
        self._commands.clear()
        self._next_pending = 0

    def commands(self) -> list[_Command]:
        """The coalesced command runs, in recording order (for the world to apply)."""
        return self._commands

    def _run(self, kind: Op, comps: Mapping[type, Mapping[str, Array]]) -> _Command:
        last = self._commands[-1] if self._commands else None
        if last is not None and last.key == _run_key(kind, comps):
            return last
        cmd = _Command(kind, comps)
        self._commands.append(cmd)
        return cmd

    def _check_pending(self, ids: Array, where: str) -> None:
        pending = (ids >> GEN_SHIFT) == 0
        if np.any(pending & (ids != 0)):
            idx = pending_slot(ids[pending & (ids != 0)])
            bad = idx[idx >= self._next_pending] + 1
            if len(bad):
                raise EntityNotAliveError(
                    coded(
                        E_NOT_ALIVE,
                        f"{where}: pending id {int(bad[0])} was not spawned by this "
                        f"buffer ({self.name!r}); pending ids are only valid in the "
                        "buffer that made them",
                    )
                )

    def _ids(self, entities: object, where: str) -> Array:
        ids = _as_ids(entities, where)
        self._check_pending(ids, where)
        return ids

    def _values(
        self, schema: ComponentSchema, values: object, n: int, where: str
    ) -> dict[str, Array]:
        got_n, cols = schema.coerce(values, n)
        if got_n != n:
            raise SchemaError(
                coded(E_LENGTH, f"{where}: {got_n} rows of values for {n} entities")
            )
        return cols

    def _check_refs(self, comps: Mapping[type, Mapping[str, Array]]) -> None:
        """EntityRef values may hold pending ids too: they must be this buffer's."""
        for cls, cols in comps.items():
            s = schema_of(cls)
            for f in s.fields:
                if f.type.is_entity and f.name in cols:
                    refs = np.ascontiguousarray(cols[f.name]).reshape(-1)
                    self._check_pending(refs, f"{self.name}: {s.name}.{f.name}")

    def _record(
        self, kind: Op, ids: Array, comps: Mapping[type, dict[str, Array]]
    ) -> None:
        self._check_refs(comps)
        run = self._run(kind, comps)
        run.id_chunks.append(ids)
        for cls, cols in comps.items():
            chunks = run.value_chunks[cls]
            for fname, arr in cols.items():
                chunks[fname].append(arr)

    def spawn(self, *components: object) -> Entity:
        """Record the spawn of one entity with these component instances.

        Returns
        -------
        Entity
            A pending id, usable in later commands of this buffer.
        """
        comps = dict(_instance_columns(c, f"{self.name}.spawn") for c in components)
        self._check_refs(comps)  # refs may name earlier pending ids, not this one
        pending = Entity(self._next_pending + 1)  # pending ids count from 1; 0 is null
        self._next_pending += 1
        self._record(Op.SPAWN, np.array([pending], dtype=np.uint64), comps)
        return pending

    def spawn_batch(
        self, components: Mapping[type, object], *, n: int | None = None
    ) -> Array:
        """Record the spawn of ``n`` entities from columns (see ``World.spawn_batch``).

        Returns
        -------
        numpy.ndarray
            Pending ids (uint64), usable in later commands of this buffer.
        """
        from archetype_ecs.world import normalize_batch  # shared with World.spawn_batch

        n, comps = normalize_batch(components, n, f"{self.name}.spawn_batch")
        self._check_refs(comps)  # refs may name earlier pending ids, not these
        ids = np.arange(
            self._next_pending + 1, self._next_pending + 1 + n, dtype=np.uint64
        )
        self._next_pending += n
        self._record(Op.SPAWN, ids, comps)
        return ids

    def despawn(self, entity: int) -> None:
        """Record the despawn of one entity."""
        self._record(Op.DESPAWN, self._ids(entity, f"{self.name}.despawn"), {})

    def despawn_batch(self, entities: object) -> None:
        """Record the despawn of many entities."""
        self._record(Op.DESPAWN, self._ids(entities, f"{self.name}.despawn_batch"), {})

    def insert(self, entity: int, *components: object) -> None:
        """Record inserting component instances (or tag classes) on one entity."""
        ids = self._ids(entity, f"{self.name}.insert")
        checked = [_instance_columns(c, f"{self.name}.insert") for c in components]
        self._check_refs(dict(checked))  # validate everything before recording
        for cls, cols in checked:
            self._record(Op.INSERT, ids, {cls: cols})

    def insert_batch(
        self, entities: object, component: type, values: object = None
    ) -> None:
        """Record inserting one component on many entities (values as columns)."""
        where = f"{self.name}.insert_batch"
        ids = self._ids(entities, where)
        s = schema_of(component, where)
        self._record(Op.INSERT, ids, {s.cls: self._values(s, values, len(ids), where)})

    def remove(self, entity: int, *components: type) -> None:
        """Record removing components from one entity (absent ones are ignored)."""
        self.remove_batch(entity, *components)

    def remove_batch(self, entities: object, *components: type) -> None:
        """Record removing components from many entities."""
        where = f"{self.name}.remove"
        ids = self._ids(entities, where)
        classes = tuple(schema_of(c, where).cls for c in components)
        self._record(Op.REMOVE, ids, {c: {} for c in classes})

    def set(self, entity: int, *components: object) -> None:
        """Record overwriting component values of one entity (it must have them)."""
        ids = self._ids(entity, f"{self.name}.set")
        checked = [
            _instance_columns(c, f"{self.name}.set", tags=False) for c in components
        ]
        self._check_refs(dict(checked))
        for cls, cols in checked:
            self._record(Op.SET, ids, {cls: cols})

    def set_batch(self, entities: object, component: type, values: object) -> None:
        """Record overwriting some or all fields of one component on many entities.

        Fields not named in ``values`` keep their current values.
        """
        where = f"{self.name}.set_batch"
        ids = self._ids(entities, where)
        s = schema_of(component, where)
        if isinstance(values, dict):
            cols = {
                k: v
                for k, v in self._values(s, values, len(ids), where).items()
                if k in values
            }
        else:
            cols = self._values(s, values, len(ids), where)
        self._record(Op.SET, ids, {s.cls: cols})

    def _repr_html_(self) -> str:
        from archetype_ecs._html import commands_html

        return commands_html(self)

    def __repr__(self) -> str:
        return f"<CommandBuffer {self.name!r}: {len(self)} commands in {len(self._commands)} runs>"
