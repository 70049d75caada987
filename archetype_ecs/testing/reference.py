"""ReferenceWorld: a slow, obviously-correct model of :class:`~archetype_ecs.World`.

An esper-style dict of entity id -> {component class -> tuple of field values}, with the
same direct API (``spawn``, ``insert_batch``, ``set``, ``query`` ...) and the same command
semantics as ``World.apply``, written one entity at a time so that it is easy to read.
Tests run the same operations on a ``World`` and a ``ReferenceWorld`` and compare.

Entity ids are modelled exactly: a slot's id is ``generation << 32 | index``, generations
start at 1, a despawn bumps the slot's generation and pushes the slot on a LIFO free
list, and spawns take recycled slots (most recently freed first) before fresh ones. So
ids, the free list and the generations can be compared with the world's entity index.

:class:`HierarchyReferenceWorld` adds the ``ChildOf`` hierarchy (parents, children,
depths, order), the despawn policy (cascade / orphan, freeing slots in the world's
order), ``set_parent`` with its cycle checks, ``spawn_prefab`` and
``instantiate_scene``.

Commands are given as :class:`CommandPlan` objects (see
:func:`archetype_ecs.testing.strategies.command_buffers`): a plan is a list of
``CommandBuffer`` method calls that builds a real buffer for the world and replays, call
by call, on the reference. Pending ids are the symbolic :class:`Pending` markers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from archetype_ecs.commands import CommandBuffer
from archetype_ecs.component import ComponentSchema, schema_of
from archetype_ecs.entity import Entity
from archetype_ecs.errors import EntityNotAliveError, MissingComponentError
from archetype_ecs.hierarchy import ChildOf, HierarchyCycleError
from archetype_ecs.schema import FieldType

__all__ = [
    "MAX_GENERATION",
    "CommandPlan",
    "Pending",
    "HierarchyReferenceWorld",
    "PlannedCommand",
    "ReferenceReport",
    "ReferenceWorld",
    "cast_value",
    "values_equal",
]

MAX_GENERATION = 0xFFFF_FFFF

Row = tuple[Any, ...]


def cast_value(ftype: FieldType, value: object) -> Any:
    """One field value as the world stores it: cast to the field's dtype, as Python.

    Scalars become ``bool`` / ``int`` / ``float`` (a float32 field rounds to float32);
    vectors become tuples.

    Examples
    --------
    >>> from archetype_ecs import f32, u8
    >>> cast_value(f32[2], [0.1, 2])
    (0.10000000149011612, 2.0)
    >>> cast_value(u8, 7)
    7
    """
    # dtype= converts Python ints exactly (np.asarray alone may go through float64)
    out = np.asarray(value, dtype=ftype.dtype).tolist()
    return tuple(out) if ftype.shape else out


def values_equal(a: object, b: object) -> bool:
    """Exact equality of field values, rows or component tuples; NaN equals NaN.

    Examples
    --------
    >>> values_equal((1.0, float("nan")), (1.0, float("nan")))
    True
    >>> values_equal((1.0,), (1.5,))
    False
    """
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(
            values_equal(x, y) for x, y in zip(a, b, strict=True)
        )
    if (
        isinstance(a, float)
        and isinstance(b, float)
        and math.isnan(a)
        and math.isnan(b)
    ):
        return True
    return bool(a == b)


class Pending(NamedTuple):
    """The ``k``-th entity spawned by a :class:`CommandPlan` (0-based), before applying."""

    k: int

    def __repr__(self) -> str:
        return f"Pending({self.k})"


class PlannedCommand(NamedTuple):
    """One ``CommandBuffer`` method call: method name and positional arguments."""

    method: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        parts = [_short(a) for a in self.args] + [
            f"{k}={_short(v)}" for k, v in self.kwargs
        ]
        return f"cmd.{self.method}({', '.join(parts)})"


def _short(obj: object) -> str:
    if isinstance(obj, type):
        return obj.__name__
    if isinstance(obj, np.ndarray):
        return f"np.array({obj.tolist()!r}, dtype=np.{obj.dtype})"
    if isinstance(obj, dict):
        return (
            "{" + ", ".join(f"{_short(k)}: {_short(v)}" for k, v in obj.items()) + "}"
        )
    if isinstance(obj, list):
        return "[" + ", ".join(_short(v) for v in obj) + "]"
    if isinstance(obj, int) and not isinstance(obj, bool) and obj >> 32:
        return repr(Entity(obj))
    return repr(obj)


def _materialize(obj: object, resolve: Callable[[Pending], int]) -> Any:
    """Replace every :class:`Pending` inside ids, instances, dicts and lists."""
    if isinstance(obj, Pending):
        return resolve(obj)
    if isinstance(obj, list):
        return [_materialize(v, resolve) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v, resolve) for v in obj)
    if isinstance(obj, dict):
        return {k: _materialize(v, resolve) for k, v in obj.items()}
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        return np.asarray(_materialize(obj.tolist(), resolve), dtype=np.uint64)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: _materialize(getattr(obj, f.name), resolve)
            for f in dataclasses.fields(obj)
        }
        return dataclasses.replace(obj, **changes)
    return obj


class CommandPlan:
    """A replayable recipe for one ``CommandBuffer``: a list of method calls.

    Ids and ``EntityRef`` values may be :class:`Pending` markers, meaning "the entity
    spawned by the k-th spawn of this plan". :meth:`build` records the calls into a
    fresh ``CommandBuffer`` (markers become the buffer's pending ids);
    :meth:`ReferenceWorld.apply` replays them on the model.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Hp:
    ...     value: f32 = 1.0
    >>> plan = CommandPlan()
    >>> p = plan.spawn(Hp(2.0))
    >>> plan.set(p, Hp(3.0))
    >>> plan
    CommandPlan([cmd.spawn(Hp(value=2.0)), cmd.set(Pending(0), Hp(value=3.0))])
    >>> buffer, pending = plan.build()
    >>> report = World().apply(buffer)
    >>> len(report.spawned)
    1
    """

    def __init__(self, commands: Iterable[PlannedCommand] = ()) -> None:
        self.commands: list[PlannedCommand] = list(commands)
        self.spawn_count = sum(_spawned_by(c) for c in self.commands)

    def __repr__(self) -> str:
        return f"CommandPlan({self.commands!r})"

    def __len__(self) -> int:
        return len(self.commands)

    def _add(self, method: str, *args: object, **kwargs: object) -> None:
        cmd = PlannedCommand(method, args, tuple(kwargs.items()))
        self.commands.append(cmd)
        self.spawn_count += _spawned_by(cmd)

    def spawn(self, *components: object) -> Pending:
        """Plan ``CommandBuffer.spawn``; returns the marker of the new entity."""
        p = Pending(self.spawn_count)
        self._add("spawn", *components)
        return p

    def spawn_batch(
        self, components: Mapping[type, object], *, n: int
    ) -> list[Pending]:
        """Plan ``CommandBuffer.spawn_batch`` of ``n`` rows; returns their markers."""
        first = self.spawn_count
        self._add("spawn_batch", dict(components), n=n)
        return [Pending(first + i) for i in range(n)]

    def despawn(self, entity: int | Pending) -> None:
        """Plan ``CommandBuffer.despawn``."""
        self._add("despawn", entity)

    def despawn_batch(self, entities: Sequence[int | Pending]) -> None:
        """Plan ``CommandBuffer.despawn_batch``."""
        self._add("despawn_batch", list(entities))

    def insert(self, entity: int | Pending, *components: object) -> None:
        """Plan ``CommandBuffer.insert`` (instances or tag classes)."""
        self._add("insert", entity, *components)

    def insert_batch(
        self, entities: Sequence[int | Pending], component: type, values: object = None
    ) -> None:
        """Plan ``CommandBuffer.insert_batch``."""
        self._add("insert_batch", list(entities), component, values)

    def remove(self, entity: int | Pending, *components: type) -> None:
        """Plan ``CommandBuffer.remove``."""
        self._add("remove", entity, *components)

    def remove_batch(
        self, entities: Sequence[int | Pending], *components: type
    ) -> None:
        """Plan ``CommandBuffer.remove_batch``."""
        self._add("remove_batch", list(entities), *components)

    def set(self, entity: int | Pending, *components: object) -> None:
        """Plan ``CommandBuffer.set``."""
        self._add("set", entity, *components)

    def set_batch(
        self, entities: Sequence[int | Pending], component: type, values: object
    ) -> None:
        """Plan ``CommandBuffer.set_batch``."""
        self._add("set_batch", list(entities), component, values)

    def build(self, name: str = "commands") -> tuple[CommandBuffer, list[Entity]]:
        """Record the plan into a fresh ``CommandBuffer``.

        Returns
        -------
        (CommandBuffer, list of Entity)
            The buffer and the pending id of every :class:`Pending` marker, in order.
        """
        buffer = CommandBuffer(name)
        pending: list[Entity] = []

        def resolve(p: Pending) -> int:
            return int(pending[p.k])

        for cmd in self.commands:
            args = _materialize(cmd.args, resolve)
            if cmd.method in {
                "despawn_batch",
                "insert_batch",
                "remove_batch",
                "set_batch",
            }:
                args = (np.asarray(args[0], dtype=np.uint64), *args[1:])
            kwargs = dict(_materialize(cmd.kwargs, resolve))
            out = getattr(buffer, cmd.method)(*args, **kwargs)
            if cmd.method == "spawn":
                pending.append(out)
            elif cmd.method == "spawn_batch":
                pending.extend(Entity(int(e)) for e in out)
        return buffer, pending


def _spawned_by(cmd: PlannedCommand) -> int:
    if cmd.method == "spawn":
        return 1
    if cmd.method == "spawn_batch":
        return int(dict(cmd.kwargs)["n"])
    return 0


class ReferenceReport:
    """What :meth:`ReferenceWorld.apply` did; mirrors ``ApplyReport``.

    ``dead`` and ``missing`` list skipped ids in recording order; ``pending`` maps each
    applied plan to the real ids of its :class:`Pending` markers.
    """

    def __init__(self) -> None:
        self.applied = 0
        self.dead: list[int] = []
        self.missing: list[int] = []
        self.spawned: list[int] = []
        self.pending: list[list[int]] = []

    @property
    def skipped(self) -> int:
        """Number of commands skipped (dead plus missing)."""
        return len(self.dead) + len(self.missing)

    def __repr__(self) -> str:
        return (
            f"ReferenceReport(applied={self.applied}, dead={self.dead}, "
            f"missing={self.missing}, spawned={self.spawned})"
        )


def _rows(schema: ComponentSchema, values: object, n: int) -> list[Row]:
    """``n`` rows of full field values from None / instance / dict / one-field array."""
    if values is None or isinstance(values, type):
        given: dict[str, Any] = {}
    elif isinstance(values, schema.cls):
        given = {f.name: [getattr(values, f.name)] * n for f in schema.fields}
    elif isinstance(values, dict):
        given = dict(values)
    else:
        given = {schema.fields[0].name: values}
    cols = []
    for f in schema.fields:
        if f.name in given:
            col = _column(given[f.name], f.type, n)
        else:
            col = [cast_value(f.type, f.default)] * n
        cols.append(col)
    return [tuple(c[i] for c in cols) for i in range(n)]


def _column(values: object, ftype: FieldType, n: int) -> list[Any]:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        values = values.to_pylist()
    arr = np.asarray(values, dtype=ftype.dtype)
    if arr.shape == ftype.shape:  # one value, broadcast
        return [cast_value(ftype, arr)] * n
    rows = arr.tolist()
    return [tuple(r) for r in rows] if ftype.shape else rows


def _partial_rows(
    schema: ComponentSchema, values: object, n: int
) -> list[dict[int, Any]]:
    """Per row, field position -> new value (``set_batch`` leaves other fields alone)."""
    if isinstance(values, dict):
        pos = {f.name: i for i, f in enumerate(schema.fields)}
        cols = {
            pos[name]: _column(v, schema.fields[pos[name]].type, n)
            for name, v in values.items()
        }
        return [{i: c[r] for i, c in cols.items()} for r in range(n)]
    return [dict(enumerate(row)) for row in _rows(schema, values, n)]


def _instance_row(obj: object) -> tuple[type, Row]:
    """(class, full row) of a component instance or a tag / all-defaults class."""
    s = schema_of(obj)
    return s.cls, _rows(s, obj, 1)[0]


def _ids(entities: object) -> list[int]:
    if isinstance(entities, list | tuple):  # np.asarray could go through float64
        return [int(e) for e in entities]
    return [int(e) for e in np.asarray(entities).reshape(-1).tolist()]


class ReferenceWorld:
    """Model of :class:`~archetype_ecs.World`: a dict of entity -> {class -> row}.

    Direct calls raise the same exceptions as the world (``EntityNotAliveError``,
    ``MissingComponentError``) after checking everything, so a failed call changes
    nothing. Inputs are assumed valid (schema errors are the world's business).

    Attributes
    ----------
    entities
        Live entity id -> {component class -> tuple of field values in declaration
        order}, in spawn order.
    generations
        Current generation of every slot ever handed out.
    free
        The free list, bottom of the stack first (the next spawn takes the last).
    despawned
        Every id that was alive once and is not any more (for "stale ids stay dead").

    Examples
    --------
    >>> from archetype_ecs import component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> ref = ReferenceWorld()
    >>> e = ref.spawn(Pos(1.5))
    >>> e, ref.component(e, Pos)
    (Entity(0v1), Pos(x=1.5))
    >>> ref.despawn(e)
    >>> ref.spawn()
    Entity(0v2)
    """

    def __init__(self) -> None:
        self.entities: dict[int, dict[type, Row]] = {}
        self.generations: list[int] = []
        self.free: list[int] = []
        self.despawned: set[int] = set()

    # -------------------------------------------------------------- entity ids

    def __len__(self) -> int:
        return len(self.entities)

    def __repr__(self) -> str:
        return f"<ReferenceWorld entities={len(self)}>"

    def is_alive(self, entity: int) -> bool:
        """True when ``entity`` is live."""
        return int(entity) in self.entities

    def _allocate(self) -> int:
        if self.free:
            index = self.free.pop()
        else:
            index = len(self.generations)
            self.generations.append(1)
        return (self.generations[index] << 32) | index

    def _release(self, entity: int) -> None:
        del self.entities[entity]
        self.despawned.add(entity)
        index = entity & 0xFFFF_FFFF
        if self.generations[index] == MAX_GENERATION:
            return  # retired: the generation would wrap, the slot is never reused
        self.generations[index] += 1
        self.free.append(index)

    def _check_alive(self, ids: Iterable[int]) -> None:
        dead = [e for e in ids if e not in self.entities]
        if dead:
            raise EntityNotAliveError(f"not alive: {[Entity(e) for e in dead]}")

    def _check_has(self, ids: Iterable[int], cls: type) -> None:
        lacking = [e for e in ids if cls not in self.entities[e]]
        if lacking:
            raise MissingComponentError(
                f"{[Entity(e) for e in lacking]} have no {schema_of(cls).name}"
            )

    # ---------------------------------------------------------------- spawning

    def _spawn_rows(self, comps: list[dict[type, Row]]) -> list[int]:
        out = []
        for row in comps:
            e = self._allocate()
            self.entities[e] = dict(row)
            out.append(e)
        return out

    def spawn(self, *components: object) -> Entity:
        """Spawn one entity from instances or tag classes (a repeated class: last wins)."""
        return Entity(self._spawn_rows([dict(_instance_row(c) for c in components)])[0])

    def spawn_batch(
        self,
        components: Mapping[type, object] | pa.Table | pa.RecordBatch,
        *,
        n: int | None = None,
        classes: Sequence[type] = (),
    ) -> np.ndarray[Any, np.dtype[np.uint64]]:
        """Spawn ``n`` entities; values as in ``World.spawn_batch``."""
        if isinstance(components, pa.Table | pa.RecordBatch):
            rows = components.num_rows
            components, n = self._from_arrow(components, classes), rows
        if n is None:
            n = next(
                _row_count(schema_of(c), v)
                for c, v in components.items()
                if _is_columns(c, v)
            )
        per_class = {c: _rows(schema_of(c), v, n) for c, v in components.items()}
        rows = [{c: r[i] for c, r in per_class.items()} for i in range(n)]
        return np.asarray(self._spawn_rows(rows), dtype=np.uint64)

    @staticmethod
    def _from_arrow(
        data: pa.Table | pa.RecordBatch, classes: Sequence[type]
    ) -> dict[type, object]:
        by_name = {schema_of(c).name: c for c in classes}
        out: dict[type, dict[str, Any]] = {}
        for name in data.column_names:
            comp, _, field = name.partition(".")
            cols = out.setdefault(by_name[comp], {})
            if field:
                cols[field] = data.column(name).to_pylist()
        return dict(out)

    # -------------------------------------------------------------- despawning

    def despawn(self, entity: int) -> None:
        """Despawn one live entity (raises ``EntityNotAliveError`` otherwise)."""
        self.despawn_batch([entity])

    def despawn_batch(self, entities: object) -> None:
        """Despawn live entities in order; a repeated id is despawned once."""
        ids = _ids(entities)
        self._check_alive(ids)
        for e in dict.fromkeys(ids):
            self._release(e)

    # -------------------------------------------------------- insert and remove

    def insert(self, entity: int, *components: object) -> None:
        """Insert (or overwrite) components given as instances or tag classes."""
        e = int(entity)
        self._check_alive([e])
        for c in components:
            cls, row = _instance_row(c)
            self.entities[e][cls] = row

    def insert_batch(
        self, entities: object, component: type, values: object = None
    ) -> None:
        """Insert one component on many entities; a repeated id takes its last values."""
        ids = _ids(entities)
        self._check_alive(ids)
        for e, row in zip(
            ids, _rows(schema_of(component), values, len(ids)), strict=True
        ):
            self.entities[e][schema_of(component).cls] = row

    def remove(self, entity: int, *components: type) -> None:
        """Remove components (absent ones are ignored)."""
        self.remove_batch([entity], *components)

    def remove_batch(self, entities: object, *components: type) -> None:
        """Remove components from many entities (absent ones are ignored)."""
        ids = _ids(entities)
        self._check_alive(ids)
        for e in ids:
            for c in components:
                self.entities[e].pop(c, None)

    # ------------------------------------------------------------- get and set

    def has(self, entity: int, component: type) -> bool:
        """True when the live ``entity`` carries ``component``."""
        return component in self.entities.get(int(entity), {})

    def row(self, entity: int, component: type) -> Row:
        """The field values of one component of one entity, as a tuple."""
        e = int(entity)
        self._check_alive([e])
        self._check_has([e], component)
        return self.entities[e][component]

    def component(self, entity: int, component: type) -> Any:
        """The component as an instance (raises like ``World.component``)."""
        names = schema_of(component).field_names()
        return component(**dict(zip(names, self.row(entity, component), strict=True)))

    def get(self, entity: int, component: type, default: object = None) -> Any:
        """Like :meth:`component`, but ``default`` when dead or missing."""
        if not self.has(entity, component):
            return default
        return self.component(entity, component)

    def get_batch(self, entities: object, component: type) -> dict[str, list[Any]]:
        """Field name -> list of values, in input order."""
        ids = _ids(entities)
        self._check_alive(ids)
        self._check_has(ids, component)
        names = schema_of(component).field_names()
        return {
            n: [self.entities[e][component][i] for e in ids]
            for i, n in enumerate(names)
        }

    def set(self, entity: int, *components: object) -> None:
        """Overwrite components the entity carries (raises if dead or missing)."""
        e = int(entity)
        self._check_alive([e])
        rows = [_instance_row(c) for c in components]
        for cls, _ in rows:
            self._check_has([e], cls)
        for cls, row in rows:
            self.entities[e][cls] = row

    def set_batch(self, entities: object, component: type, values: object) -> None:
        """Overwrite the given fields on many entities; a repeated id: last wins."""
        ids = _ids(entities)
        self._check_alive(ids)
        self._check_has(ids, component)
        for e, changes in zip(
            ids, _partial_rows(schema_of(component), values, len(ids)), strict=True
        ):
            self._update(e, component, changes)

    def _update(self, e: int, cls: type, changes: dict[int, Any]) -> None:
        row = list(self.entities[e][cls])
        for i, v in changes.items():
            row[i] = v
        self.entities[e][cls] = tuple(row)

    # ----------------------------------------------------------------- queries

    def query(
        self,
        *components: type,
        without: Iterable[type] = (),
        optional: Iterable[type] = (),
    ) -> dict[int, tuple[Row | None, ...]]:
        """Entity -> one row per required then optional component (``None`` if absent).

        Examples
        --------
        >>> from archetype_ecs import component, f32
        >>> @component
        ... class Pos:
        ...     x: f32 = 0.0
        >>> @component
        ... class Frozen:
        ...     pass
        >>> ref = ReferenceWorld()
        >>> a, b = ref.spawn(Pos(1.0)), ref.spawn(Pos(2.0), Frozen)
        >>> ref.query(Pos, without=[Frozen]) == {a: ((1.0,),)}
        True
        >>> ref.query(Pos, optional=[Frozen])[b]
        ((2.0,), ())
        """
        without, optional = tuple(without), tuple(optional)
        out: dict[int, tuple[Row | None, ...]] = {}
        for e, comps in self.entities.items():
            if all(c in comps for c in components) and not any(
                c in comps for c in without
            ):
                out[e] = tuple(comps.get(c) for c in components + optional)
        return out

    # ---------------------------------------------------------------- commands

    def apply(self, *plans: CommandPlan) -> ReferenceReport:
        """Replay command plans in order, with ``World.apply`` semantics.

        Within a plan, commands take effect in recording order, one entity at a time;
        a command on a dead entity is skipped and listed in ``dead``; a ``set`` on an
        entity lacking the component is skipped and listed in ``missing``; an
        ``EntityRef`` value naming a pending entity becomes that entity's real id.
        """
        report = ReferenceReport()
        for plan in plans:
            pending: list[int] = []
            report.pending.append(pending)

            def resolve(p: Pending, pending: list[int] = pending) -> int:
                return pending[p.k]

            for cmd in plan.commands:
                args = _materialize(cmd.args, resolve)
                kwargs = dict(_materialize(cmd.kwargs, resolve))
                getattr(self, f"_cmd_{cmd.method}")(report, pending, *args, **kwargs)
        return report

    def _cmd_spawn(
        self, report: ReferenceReport, pending: list[int], *comps: object
    ) -> None:
        e = int(self.spawn(*comps))
        pending.append(e)
        report.spawned.append(e)
        report.applied += 1

    def _cmd_spawn_batch(
        self,
        report: ReferenceReport,
        pending: list[int],
        comps: dict[type, object],
        *,
        n: int,
    ) -> None:
        ids = [int(e) for e in self.spawn_batch(comps, n=n)]
        pending.extend(ids)
        report.spawned.extend(ids)
        report.applied += len(ids)

    def _live(self, report: ReferenceReport, e: int) -> bool:
        if e in self.entities:
            return True
        report.dead.append(e)
        return False

    def _cmd_despawn(self, report: ReferenceReport, pending: list[int], e: int) -> None:
        self._cmd_despawn_batch(report, pending, [e])

    def _cmd_despawn_batch(
        self, report: ReferenceReport, pending: list[int], ids: list[int]
    ) -> None:
        for e in ids:
            if self._live(report, e):
                self._release(e)
                report.applied += 1

    def _cmd_insert(
        self, report: ReferenceReport, pending: list[int], e: int, *comps: object
    ) -> None:
        for c in comps:
            if self._live(report, e):
                cls, row = _instance_row(c)
                self.entities[e][cls] = row
                report.applied += 1

    def _cmd_insert_batch(
        self,
        report: ReferenceReport,
        pending: list[int],
        ids: list[int],
        component: type,
        values: object = None,
    ) -> None:
        s = schema_of(component)
        for e, row in zip(ids, _rows(s, values, len(ids)), strict=True):
            if self._live(report, e):
                self.entities[e][s.cls] = row
                report.applied += 1

    def _cmd_remove(
        self, report: ReferenceReport, pending: list[int], e: int, *comps: type
    ) -> None:
        self._cmd_remove_batch(report, pending, [e], *comps)

    def _cmd_remove_batch(
        self, report: ReferenceReport, pending: list[int], ids: list[int], *comps: type
    ) -> None:
        for e in ids:
            if self._live(report, e):
                for c in comps:
                    self.entities[e].pop(c, None)
                report.applied += 1

    def _cmd_set(
        self, report: ReferenceReport, pending: list[int], e: int, *comps: object
    ) -> None:
        for c in comps:
            cls, row = _instance_row(c)
            self._set_one(report, e, cls, dict(enumerate(row)))

    def _cmd_set_batch(
        self,
        report: ReferenceReport,
        pending: list[int],
        ids: list[int],
        component: type,
        values: object,
    ) -> None:
        s = schema_of(component)
        for e, changes in zip(ids, _partial_rows(s, values, len(ids)), strict=True):
            self._set_one(report, e, s.cls, changes)

    def _set_one(
        self, report: ReferenceReport, e: int, cls: type, changes: dict[int, Any]
    ) -> None:
        if not self._live(report, e):
            return
        if cls not in self.entities[e]:
            report.missing.append(e)
            return
        self._update(e, cls, changes)
        report.applied += 1


def _is_columns(cls: type, values: object) -> bool:
    """True when ``values`` fixes the row count (columns, not None / class / instance)."""
    if values is None or isinstance(values, type | cls):
        return False
    return not isinstance(values, dict) or bool(values)


def _row_count(schema: ComponentSchema, values: object) -> int:
    if not isinstance(values, dict):
        return len(np.asarray(values))
    col = next(iter(values.values()))
    return len(np.asarray(col))


# --------------------------------------------------------------------- hierarchy


def _slot(entity: int) -> int:
    return int(entity) & 0xFFFF_FFFF


class HierarchyReferenceWorld(ReferenceWorld):
    """:class:`ReferenceWorld` plus the ``ChildOf`` hierarchy, its despawn policy,
    prefabs and scenes (``archetype_ecs.hierarchy`` / ``archetype_ecs.prefab``).

    ``ChildOf`` is an ordinary component of the model (a one-field row ``(parent,)``);
    the hierarchy is computed from it on demand, one entity at a time. A ``ChildOf``
    whose parent is not alive counts as no parent. Ordered results follow the world's
    documented orders: children in ascending slot order, descendants breadth first
    (the given entities first, each once), roots in slot order, levels parent by
    parent.

    Despawns apply ``on_despawn`` (``"cascade"``, ``"orphan"``, or ``None`` for a world
    whose hierarchy was never created). A direct ``despawn_batch`` frees the given
    entities (first occurrences, in order) and then their descendants breadth first,
    in one bulk; a despawn *command* takes effect one entity at a time, so a later
    command naming an entity that an earlier cascade despawned finds it dead.

    Examples
    --------
    >>> ref = HierarchyReferenceWorld()
    >>> root, a, b = ref.spawn(), ref.spawn(), ref.spawn()
    >>> ref.set_parent([a, b], root)
    >>> ref.children(root) == [a, b], ref.depth(b)
    (True, 1)
    >>> ref.despawn(root)
    >>> len(ref), ref.free
    (0, [0, 1, 2])
    """

    def __init__(self, on_despawn: str | None = "cascade") -> None:
        super().__init__()
        self.on_despawn = on_despawn

    def copy(self) -> HierarchyReferenceWorld:
        """An independent copy (rows are tuples, so one level of dict copies)."""
        out = type(self)(self.on_despawn)
        out.entities = {e: dict(c) for e, c in self.entities.items()}
        out.generations = list(self.generations)
        out.free = list(self.free)
        out.despawned = set(self.despawned)
        return out

    # ---------------------------------------------------------------- lookups

    def parent(self, entity: int) -> int:
        """The parent of a live entity: its ChildOf parent if alive, else 0."""
        row = self.entities[int(entity)].get(ChildOf)
        if row is None or row[0] not in self.entities:
            return 0
        return int(row[0])

    def children_map(self) -> dict[int, list[int]]:
        """Parent -> children (ascending slot order), for every live parent."""
        out: dict[int, list[int]] = {}
        for e in sorted(self.entities, key=_slot):
            p = self.parent(e)
            if p:
                out.setdefault(p, []).append(e)
        return out

    def children(self, entity: int) -> list[int]:
        """The children of a live entity, in ascending slot order."""
        return self.children_map().get(int(entity), [])

    def descendants(self, entities: Iterable[int]) -> list[int]:
        """Everything below ``entities``: breadth first, each once, starts excluded."""
        kids = self.children_map()
        queue = [int(e) for e in entities]
        seen = set(queue)
        out: list[int] = []
        head = 0
        while head < len(queue):
            for c in kids.get(queue[head], []):
                if c not in seen:
                    seen.add(c)
                    out.append(c)
                    queue.append(c)
            head += 1
        return out

    def ancestors(self, entity: int) -> list[int]:
        """Parent, grandparent ... of a live entity (assumes no cycle)."""
        out: list[int] = []
        p = self.parent(entity)
        while p:
            out.append(p)
            p = self.parent(p)
        return out

    def depth(self, entity: int) -> int:
        """Number of ancestors."""
        return len(self.ancestors(entity))

    def roots(self) -> list[int]:
        """Entities with children and no parent, in slot order."""
        kids = self.children_map()
        return [e for e in sorted(kids, key=_slot) if not self.parent(e)]

    def levels(self) -> list[list[int]]:
        """The hierarchy level by level: roots, then children parent by parent."""
        kids = self.children_map()
        out: list[list[int]] = []
        level = self.roots()
        while level:
            out.append(level)
            level = [c for p in level for c in kids.get(p, [])]
        return out

    def order(self) -> list[int]:
        """Every entity with a parent or a child, parents first (the levels joined)."""
        return [e for level in self.levels() for e in level]

    def find_cycle(self, parents: Mapping[int, int] | None = None) -> list[int]:
        """The entities of one parent cycle (empty when there is none)."""
        if parents is None:
            parents = {e: self.parent(e) for e in self.entities}
        done: set[int] = set()
        for start in parents:
            path: list[int] = []
            on_path: set[int] = set()
            cur = start
            while cur and cur not in done:
                if cur in on_path:
                    return path[path.index(cur) :]
                on_path.add(cur)
                path.append(cur)
                cur = parents.get(cur, 0)
            done |= on_path
        return []

    # -------------------------------------------------------------- despawning

    def _despawn_tree(self, starts: list[int]) -> None:
        """Despawn live, distinct ``starts`` in one bulk, applying the policy."""
        if self.on_despawn == "cascade":
            ids = starts + self.descendants(starts)
        else:
            ids = starts
            if self.on_despawn == "orphan":
                gone = set(starts)
                kids = self.children_map()
                for p in starts:
                    for c in kids.get(p, []):
                        if c not in gone:
                            self.entities[c].pop(ChildOf, None)
        for e in ids:
            self._release(e)

    def despawn_batch(self, entities: object) -> None:
        """Despawn live entities (first occurrences, in order), then the policy."""
        ids = _ids(entities)
        self._check_alive(ids)
        self._despawn_tree(list(dict.fromkeys(ids)))

    def _cmd_despawn_batch(
        self, report: ReferenceReport, pending: list[int], ids: list[int]
    ) -> None:
        for e in ids:
            if self._live(report, e):
                self._despawn_tree([e])
                report.applied += 1

    # --------------------------------------------------------------- set_parent

    def check_set_parent(
        self, children: object, parents: object
    ) -> list[tuple[int, int]]:
        """Validate like ``set_parent``; returns the (child, parent) pairs to apply.

        Raises ``EntityNotAliveError`` for a dead child, then for a dead non-zero
        parent, then ``HierarchyCycleError`` for a self-parent, then for a cycle.
        """
        kids = _ids(children)
        if isinstance(parents, int | np.integer):
            pars = [int(parents)] * len(kids)
        else:
            pars = _ids(parents)
        last: dict[int, int] = {}
        for k, p in zip(kids, pars, strict=True):
            last.pop(k, None)
            last[k] = p
        self._check_alive(list(last))
        self._check_alive([p for p in last.values() if p])
        own = [k for k, p in last.items() if k == p]
        if own:
            raise HierarchyCycleError(f"{Entity(own[0])} cannot be its own parent")
        parents_now = {e: self.parent(e) for e in self.entities}
        parents_now.update(last)
        cycle = self.find_cycle(parents_now)
        if cycle:
            raise HierarchyCycleError(f"cycle {[Entity(e) for e in cycle]}")
        return list(last.items())

    def set_parent(self, children: object, parents: object) -> None:
        """``set_parent(world, children, parents)``: checks, then insert / remove."""
        for k, p in self.check_set_parent(children, parents):
            if p:
                self.entities[k][ChildOf] = (p,)
            else:
                self.entities[k].pop(ChildOf, None)

    # ------------------------------------------------------------------ prefabs

    def spawn_prefab(
        self, prefab: Any, n: int = 1, overrides: Mapping[object, object] | None = None
    ) -> list[int]:
        """Model of ``spawn_prefab(world, prefab, n, overrides)``; returns the roots.

        Nodes are walked breadth first; each depth level spawns its nodes grouped by
        component set (groups in order of first node, sorted by name as the key), a
        group's nodes one after the other, ``n`` copies each: the world's allocation
        order, so ids stay exact.
        """
        nodes: list[tuple[str, int, int, Any]] = [("", 0, -1, prefab)]
        head = 0
        while head < len(nodes):
            path, level, _, node = nodes[head]
            for c in node.children:
                nodes.append(
                    (f"{path}/{c.name}" if path else c.name, level + 1, head, c)
                )
            head += 1
        given: dict[str, dict[type, object]] = {}
        for key, value in (overrides or {}).items():
            if isinstance(key, str):
                given.setdefault(key, {}).update(value)  # type: ignore[call-overload]
            else:
                given.setdefault("", {})[schema_of(key).cls] = value
        rows: list[dict[type, list[Row]]] = []
        for path, _, _, node in nodes:
            per_class: dict[type, list[Row]] = {}
            mine = given.get(path, {})
            for cls in dict.fromkeys([*node.components, *mine]):
                s = schema_of(cls)
                base = node.components.get(cls) if cls in node.components else None
                col = _rows(s, base, n)
                if cls in mine:
                    col = [
                        tuple(changes.get(i, v) for i, v in enumerate(row))
                        for row, changes in zip(
                            col, _partial_rows(s, mine[cls], n), strict=True
                        )
                    ]
                per_class[s.cls] = col
            rows.append(per_class)
        ids: list[list[int]] = [[] for _ in nodes]
        for level in range(max(lvl for _, lvl, _, _ in nodes) + 1):
            groups: dict[tuple[str, ...], list[int]] = {}
            for i, (_, lvl, _, _) in enumerate(nodes):
                if lvl == level:
                    key = tuple(sorted(schema_of(c).name for c in rows[i]))
                    groups.setdefault(key, []).append(i)
            for members in groups.values():
                for i in members:
                    parent_pos = nodes[i][2]
                    for copy in range(n):
                        e = self._allocate()
                        comps = {c: r[copy] for c, r in rows[i].items()}
                        if parent_pos >= 0:
                            comps[ChildOf] = (ids[parent_pos][copy],)
                        self.entities[e] = comps
                        ids[i].append(e)
        return ids[0]

    def instantiate_scene(
        self, root: int, n: int = 1, *, table_of: Callable[[int], int]
    ) -> list[int]:
        """Model of ``instantiate_scene(world, root, n)``; returns the root copies.

        The subtree (root, then descendants breadth first) spawns depth level by
        depth level, each level's entities grouped by the table they live in
        (``table_of``: the world's table id of an entity, the one layout detail the
        model takes from the world), ``n`` copies per group, copy-major. Every
        EntityRef value (ChildOf included) naming a subtree entity names the same
        copy's entity; others are kept.
        """
        self._check_alive([int(root)])
        subtree = [int(root), *self.descendants([int(root)])]
        where = {e: i for i, e in enumerate(subtree)}
        base = self.depth(root)
        depth = [self.depth(e) - base for e in subtree]
        copies: list[list[int]] = [[0] * n for _ in subtree]
        order: list[tuple[int, list[int]]] = []
        for d in range(max(depth) + 1):
            at = [i for i in range(len(subtree)) if depth[i] == d]
            for tid in sorted({table_of(subtree[i]) for i in at}):
                order.append((d, [i for i in at if table_of(subtree[i]) == tid]))
        for _, members in order:
            for copy in range(n):
                for i in members:
                    copies[i][copy] = self._allocate()
        for i, e in enumerate(subtree):
            for copy in range(n):
                comps: dict[type, Row] = {}
                for cls, row in self.entities[e].items():
                    comps[cls] = tuple(
                        _remap_refs(f.type, v, where, copies, copy)
                        for f, v in zip(schema_of(cls).fields, row, strict=True)
                    )
                self.entities[copies[i][copy]] = comps
        return list(copies[0])


def _remap_refs(
    ftype: FieldType,
    value: Any,
    where: Mapping[int, int],
    copies: Sequence[Sequence[int]],
    copy: int,
) -> Any:
    if not ftype.is_entity:
        return value
    if ftype.shape:
        return tuple(_remap_one(v, where, copies, copy) for v in value)
    return _remap_one(value, where, copies, copy)


def _remap_one(
    value: int, where: Mapping[int, int], copies: Sequence[Sequence[int]], copy: int
) -> int:
    i = where.get(value) if value else None
    return value if i is None else copies[i][copy]
