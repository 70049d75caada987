"""World: owns entities, components, archetype tables, queries and resources.

The direct API (``spawn``, ``insert``, ``despawn`` ...) applies at once and raises on
bad input, leaving the world as it was. Command buffers (``world.apply``) apply in bulk
and report, rather than raise, commands on dead entities. Every structural operation is
a bulk operation over arrays: one-entity calls are batches of one.

Entity life cycle: spawn (gets a slot and a row) -> insert / remove (moves its row
between archetype tables) -> despawn (row swap-removed, slot generation bumped).
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from archetype_ecs import snapshot as _snapshot
from archetype_ecs._kernels import group_by_kernel, locate_kernel
from archetype_ecs._progress import Progress
from archetype_ecs._sanitize import check_world, sanitize_enabled
from archetype_ecs.archetype import ArchetypeInfo, Archetypes
from archetype_ecs.commands import ApplyReport, CommandBuffer, Op, _as_ids, _Command
from archetype_ecs.component import ComponentId, Components, ComponentSchema, schema_of
from archetype_ecs.entity import (
    GEN_SHIFT,
    Entity,
    EntityIndex,
    pending_slot,
)
from archetype_ecs.errors import (
    E_DTYPE,
    E_LENGTH,
    E_MISSING_COMPONENT,
    E_NOT_A_COMPONENT,
    E_NOT_ALIVE,
    E_RESOURCE,
    E_STRUCTURAL,
    E_UNKNOWN_FIELD,
    ComponentNotRegisteredError,
    EntityNotAliveError,
    InternalError,
    MissingComponentError,
    ObserverCascadeError,
    ResourceNotFoundError,
    SchemaError,
    StructuralChangeError,
    coded,
)
from archetype_ecs.events import Events
from archetype_ecs.executor import Executor
from archetype_ecs.observers import Observer, ObserverKind, Observers, Trigger
from archetype_ecs.profiling import Profiler, world_counts
from archetype_ecs.query import QueryState, spec_key
from archetype_ecs.random import Rng
from archetype_ecs.resources import Time
from archetype_ecs.schedule import Schedule
from archetype_ecs.snapshot import Snapshot, WorldDiff
from archetype_ecs.system import System
from archetype_ecs.table import ENTITY_COLUMN, ArchetypeTable, added_key, changed_key

if TYPE_CHECKING:
    from archetype_ecs.recorder import Recorder

__all__ = ["CommandSink", "World", "normalize_batch"]


class CommandSink(Protocol):
    """Receives every command run a world applies (see ``archetype_ecs.command_log``).

    ``values`` maps component classes to field columns aligned with ``ids`` (for
    spawn: the spawned entities' full values, EntityRefs resolved; for remove: empty
    dicts naming the removed components; for despawn: empty).
    """

    def record(
        self,
        source: str,
        op: Op,
        ids: np.ndarray[Any, Any],
        values: Mapping[type, Mapping[str, np.ndarray[Any, Any]]],
    ) -> None:
        """Record one applied command run."""


T = TypeVar("T")
Array = np.ndarray[Any, Any]
CompValues = dict[type, dict[str, Array]]

_MAX_LISTED = 5


def _component_of_column(name: str) -> tuple[str, str | None]:
    comp, _, field = name.partition(".")
    return comp, (field or None)


def _normalize_arrow(
    data: pa.Table | pa.RecordBatch, classes: Mapping[str, type], where: str
) -> tuple[int, CompValues]:
    grouped: dict[type, dict[str, Any]] = {}
    for name in data.column_names:
        comp, field = _component_of_column(name)
        cls = classes.get(comp)
        if cls is None:
            raise ComponentNotRegisteredError(
                coded(
                    E_NOT_A_COMPONENT,
                    f"{where}: column {name!r} names no component given in classes= "
                    f"(given: {sorted(classes)}); name columns '<Component>.<field>' "
                    "(a tag: '<Component>') and pass every component class in classes=",
                )
            )
        cols = grouped.setdefault(cls, {})
        if field is not None:
            cols[field] = data.column(name)
        elif not schema_of(cls).is_tag:
            raise SchemaError(
                coded(
                    E_UNKNOWN_FIELD,
                    f"{where}: column {name!r} names component {comp} without a field, "
                    f"but {comp} has fields {schema_of(cls).field_names()}; name the "
                    f"columns {', '.join(schema_of(cls).column_keys())}",
                )
            )
        elif not pa.types.is_boolean(data.column(name).type):
            raise SchemaError(
                coded(
                    E_DTYPE,
                    f"{where}: tag column {name!r} has type {data.column(name).type}; a "
                    "tag column must be bool (all true)",
                )
            )
        elif not pc.all(data.column(name)).as_py():
            raise SchemaError(
                coded(
                    E_DTYPE,
                    f"{where}: tag column {name!r} has false or null cells; one "
                    "spawn_batch makes one archetype, so every row carries the tag. "
                    "Filter the table and spawn the two parts separately",
                )
            )
    n = data.num_rows
    out: CompValues = {}
    for cls, cols in grouped.items():
        _, out[cls] = schema_of(cls).coerce(cols, n)
    return n, out


def normalize_batch(
    components: Mapping[type, object] | pa.Table | pa.RecordBatch,
    n: int | None,
    where: str,
    classes: Sequence[type] = (),
) -> tuple[int, CompValues]:
    """Validate spawn-batch input; return the row count and full columns per class.

    ``components`` maps a component class to ``None`` (defaults / tag), an instance
    (broadcast), a dict of field -> array, or (one-field components) an array; or it
    is an Arrow table whose columns are named ``"<Component>.<field>"`` (a tag as a
    column named ``"<Component>"``), with the classes given in ``classes``.
    """
    if isinstance(components, pa.Table | pa.RecordBatch):
        by_name = {schema_of(c, where).name: schema_of(c).cls for c in classes}
        return _normalize_arrow(components, by_name, where)
    if not isinstance(components, Mapping):
        raise SchemaError(
            f"{where}: expected a mapping of component class -> values or an Arrow "
            f"table, got {type(components).__name__}"
        )
    schemas = [schema_of(c, where) for c in components]
    resolved: dict[ComponentSchema, Any] = dict(
        zip(schemas, components.values(), strict=True)
    )
    # First pass: columns that fix n; then broadcast the rest.
    cols: CompValues = {}
    for s, v in resolved.items():
        if v is None or isinstance(v, s.cls):
            continue
        n_before = n
        n, cols[s.cls] = s.coerce(v, n)
        if n_before is not None and n != n_before:
            raise SchemaError(
                coded(E_LENGTH, f"{where}: {s.name} has {n} rows, others {n_before}")
            )
    if n is None:
        raise SchemaError(
            coded(E_LENGTH, f"{where}: cannot tell how many entities to spawn; pass n=")
        )
    for s, v in resolved.items():
        if s.cls not in cols:
            _, cols[s.cls] = s.coerce(v, n)
    return n, cols


def _registered_hook(ref: weakref.ref[World]) -> Callable[[ComponentSchema], None]:
    def hook(schema: ComponentSchema) -> None:
        world = ref()
        if world is not None:
            world._component_registered(schema)

    return hook


class World:
    """The container of all ECS state: entities, tables, queries, resources.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Position:
    ...     x: f32 = 0.0
    ...     y: f32 = 0.0
    >>> world = World()
    >>> e = world.spawn(Position(1.0, 2.0))
    >>> world.component(e, Position)
    Position(x=1.0, y=2.0)
    >>> len(world)
    1
    """

    def __init__(
        self,
        *,
        threads: int | None = None,
        seed: int = 0,
        dt: float = 1.0 / 60.0,
        strict: bool = False,
        profile: bool = True,
        deterministic: bool = False,
    ) -> None:
        """Create an empty world.

        Parameters
        ----------
        threads
            Worker threads for parallel system batches (default: CPU count; 1 runs
            everything on the calling thread). Results do not depend on it.
        seed
            Seed of the world's :class:`~archetype_ecs.random.Rng` resource.
        dt
            Fixed simulated seconds per frame (``Time.dt``).
        strict
            Make schedule ambiguities (conflicting systems without an order) errors.
        profile
            Record per-system timings (``world.stats()``, ``world.trace()``).
        deterministic
            Bit-identical results whatever ``threads`` is, also for kernels that use
            ``prange`` reductions: their Numba thread count is pinned to 1. (The
            schedule itself never runs conflicting systems at once, so systems
            without ``prange`` are deterministic in any mode.)
        """
        self.components = Components()
        # Through a weak reference: a bound method here would make a cycle, and keep
        # a dropped world's tables alive until the next full GC pass.
        self.components.on_register.append(_registered_hook(weakref.ref(self)))
        self.entities = EntityIndex()
        self.archetypes = Archetypes(self.components)
        self.change_tick = 1
        self._resources: dict[type, object] = {}
        self._queries: dict[tuple[object, ...], QueryState] = {}
        self._iter_depth = 0
        self._sanitize = sanitize_enabled()
        self.observers = Observers()
        self.max_observer_depth = 16
        self._observer_cmds: CommandBuffer | None = None
        self._observer_names: list[str] = []
        self._in_observer = False
        self._phase_active = 0
        self.token = uuid.uuid4().hex  # identifies this world (snapshots check it)
        # Relationship policies (e.g. hierarchy cascade) expand or adjust a despawn:
        # hook(world, ids) -> ids, called with live unique ids before anything moves.
        self.despawn_hooks: list[Callable[[World, Array], Array]] = []
        # Receives every applied command run (see archetype_ecs.command_log).
        self.command_log: CommandSink | None = None
        # Recorders snapshot chosen components at the end of every frame (see
        # archetype_ecs.recorder); other frame-end hooks run after them.
        self.recorders: list[Recorder] = []
        self.frame_end_hooks: list[Callable[[World], None]] = []
        # Extra per-name counters for world.stats() (the script engine's security
        # counters): each returns {name: {counter: value}}.
        self.stats_providers: list[Callable[[], Mapping[str, Mapping[str, int]]]] = []
        self.deterministic = deterministic
        self._lock = threading.Lock()
        self.schedule = Schedule(strict=strict)
        self.events = Events()
        self.profiler = Profiler(enabled=profile)
        self._executor = Executor(self, threads)
        self._resources[Time] = Time(dt=dt)
        self._resources[Rng] = Rng(seed)

    # ------------------------------------------------------------------ basics

    def __len__(self) -> int:
        return self.entities.alive_count

    @property
    def tables(self) -> list[ArchetypeTable]:
        """Every archetype table (index = archetype id), empty ones included."""
        return self.archetypes.tables

    def archetypes_info(self) -> list[ArchetypeInfo]:
        """Id, component names and entity count of every non-empty archetype."""
        return [a for a in self.archetypes.info() if a.rows]

    def component_id(self, component: object) -> ComponentId:
        """This world's id of a component class (registered on first use)."""
        return self.components.id_of(component)

    def is_alive(self, entity: int) -> bool:
        """True when ``entity`` is a live entity of this world."""
        return self.entities.is_alive(int(entity))

    def is_alive_batch(self, entities: object) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Vectorized :meth:`is_alive`."""
        return self.entities.is_alive_batch(_as_ids(entities, "is_alive_batch"))

    def _component_registered(self, schema: ComponentSchema) -> None:
        # A component class may carry world set-up of its own (``ChildOf`` installs
        # the hierarchy's despawn policy), run once per world on first use.
        install = getattr(schema.cls, "__ecs_on_register__", None)
        if install is not None:
            install(self)

    def _checked(self) -> None:
        """After a top-level change: run observer cascades, then sanitize checks."""
        if self._observer_cmds is not None and not self._in_observer:
            self._run_observer_cascade()
        if self._sanitize:
            check_world(self)

    # ---------------------------------------------------------------- observers

    def observe(
        self,
        kind: ObserverKind,
        component: type,
        callback: Callable[[Trigger], None],
        *,
        name: str | None = None,
    ) -> Observer:
        """Call ``callback(trigger)`` when ``component`` is added, removed or set.

        Parameters
        ----------
        kind
            ``on_add``, ``on_remove`` or ``on_set`` (from ``archetype_ecs``).
        component
            The component class to watch.
        callback
            Gets a :class:`~archetype_ecs.observers.Trigger` with the affected
            entities (an array: one call per bulk operation, never per entity).
        name
            Shown in stats and in cascade errors (default: the callback's name).

        Returns
        -------
        Observer
            The registration (with call counters).

        Notes
        -----
        Order: observers of one (kind, component) fire in registration order;
        ``on_remove`` fires before the data goes (values still readable),
        ``on_add`` / ``on_set`` after it is written. Within one bulk operation,
        components fire in the order of their ids, entities in table order.

        Examples
        --------
        >>> from archetype_ecs import World, component, f32, on_add
        >>> @component
        ... class Hp:
        ...     value: f32 = 10.0
        >>> w = World()
        >>> seen = []
        >>> _ = w.observe(on_add, Hp, lambda t: seen.append(len(t.entities)))
        >>> _ = w.spawn_batch({Hp: None}, n=3)
        >>> seen
        [3]
        """
        cid = self.components.id_of(component, "observe")
        label = name or str(getattr(callback, "__name__", "observer"))
        obs = Observer(label, kind, component, callback)
        self.observers.add(cid, obs)
        return obs

    def _emit(
        self,
        kind: ObserverKind,
        cid: ComponentId,
        ids: Array,
        values: Mapping[str, Array] | None = None,
    ) -> None:
        observers = self.observers.get(kind, cid)
        if not observers or not len(ids):
            return
        if self._observer_cmds is None:
            self._observer_cmds = CommandBuffer("observers")
        cls = self.components.schemas[cid].cls
        vals = None if values is None else {k: np.array(v) for k, v in values.items()}
        was = self._in_observer
        self._in_observer = True
        try:
            self._call_observers(observers, kind, cls, ids, vals)
        except BaseException:
            # The failed call's follow-up commands must not leak into a later call.
            self._observer_cmds = None
            self._observer_names = []
            raise
        finally:
            self._in_observer = was

    def _call_observers(
        self,
        observers: list[Observer],
        kind: ObserverKind,
        cls: type,
        ids: Array,
        vals: dict[str, Array] | None,
    ) -> None:
        cmds = self._observer_cmds
        if cmds is None:
            raise InternalError("observer buffer missing while observers run")
        for obs in observers:
            before = len(cmds)
            try:
                obs.callback(Trigger(kind, cls, ids, vals, self, cmds))
            except Exception as exc:
                exc.add_note(f"in observer {obs.name!r} ({kind.value} {cls.__name__})")
                raise
            obs.calls += 1
            obs.entities_seen += len(ids)
            if len(cmds) != before:
                self._observer_names.append(obs.name)

    def _run_observer_cascade(self) -> None:
        chain: list[list[str]] = []
        depth = 0
        while self._observer_cmds is not None and len(self._observer_cmds):
            buf, names = self._observer_cmds, self._observer_names
            self._observer_cmds, self._observer_names = None, []
            chain.append(sorted(set(names)))
            depth += 1
            if depth > self.max_observer_depth:
                path = " -> ".join("+".join(n) for n in chain)
                raise ObserverCascadeError(
                    f"observers kept recording commands for {depth} rounds (bound "
                    f"world.max_observer_depth={self.max_observer_depth}); chain: "
                    f"{path}. Break the loop (e.g. check before re-inserting) or raise "
                    "the bound"
                )
            self._apply_buffers((buf,), ApplyReport())
        self._observer_cmds = None
        self._observer_names = []

    def _emit_groups(
        self, kind: ObserverKind, per_cid: dict[ComponentId, list[Array]]
    ) -> None:
        for cid in sorted(per_cid):
            parts = per_cid[cid]
            self._emit(
                kind, cid, parts[0] if len(parts) == 1 else np.concatenate(parts)
            )

    def _emit_removals(self, ids: Array, cids: frozenset[ComponentId] | None) -> None:
        """Fire on_remove (before the change) for ids losing ``cids`` (None: all)."""
        per: dict[ComponentId, list[Array]] = {}
        for table, sel, _ in self._groups(ids):
            for cid in table.components:
                if (cids is None or cid in cids) and self.observers.get(
                    ObserverKind.REMOVE, cid
                ):
                    per.setdefault(cid, []).append(ids[sel])
        self._emit_groups(ObserverKind.REMOVE, per)

    def _check_not_iterating(self, op: str) -> None:
        if self._in_observer:
            raise StructuralChangeError(
                coded(
                    E_STRUCTURAL,
                    f"{op} is a structural change, refused inside an observer; record "
                    "it in trigger.commands (it applies in the same sync point)",
                )
            )
        if self._iter_depth or self._phase_active:
            raise StructuralChangeError(
                coded(
                    E_STRUCTURAL,
                    f"{op} is a structural change, refused while a query is being "
                    "iterated (views would dangle); record it in a CommandBuffer and "
                    "apply it after the loop",
                )
            )

    def _alive_ids(self, entities: object, op: str) -> Array:
        ids = _as_ids(entities, op)
        alive = self.entities.is_alive_batch(ids)
        if not alive.all():
            dead = ids[~alive]
            reasons = "; ".join(
                self.entities.describe_dead(int(e)) for e in dead[:_MAX_LISTED]
            )
            more = (
                f" (and {len(dead) - _MAX_LISTED} more)"
                if len(dead) > _MAX_LISTED
                else ""
            )
            raise EntityNotAliveError(
                coded(
                    E_NOT_ALIVE,
                    f"{op}: {len(dead)} of {len(ids)} entities are not alive: {reasons}{more}; "
                    "check world.is_alive_batch(ids) first, or use a CommandBuffer, which "
                    "skips and reports dead entities",
                )
            )
        return ids

    # ---------------------------------------------------------------- internals

    def _ids_of(self, values: CompValues) -> dict[ComponentId, dict[str, Array]]:
        return {self.components.id_of(c): v for c, v in values.items()}

    def _fill_row_values(
        self,
        out: dict[str, Array],
        comps: Mapping[ComponentId, Mapping[str, Array]],
        sel: Array | None,
        n: int,
    ) -> None:
        tracked = self.components.tracked
        tick = np.full(n, self.change_tick, dtype=np.uint32) if tracked else None
        for cid, cols in comps.items():
            s = self.components.schemas[cid]
            for fname, arr in cols.items():
                out[f"{s.name}.{fname}"] = arr if sel is None else arr[sel]
            if tick is not None and cid in tracked:
                out[added_key(s.name)] = tick
                out[changed_key(s.name)] = tick

    def _spawn(
        self,
        n: int,
        comps: Mapping[ComponentId, Mapping[str, Array]],
        *,
        emit: bool = True,
    ) -> Array:
        table = self.archetypes.get_or_create(comps)
        values: dict[str, Array] = {}
        self._fill_row_values(values, comps, None, n)  # validates before any change
        table.reserve(table.len + n)  # out of memory here: nothing has changed yet
        ids = self.entities.spawn(n, table.id, table.len)
        values[ENTITY_COLUMN] = ids
        table.append(values)
        if emit and self.observers.active:
            for cid in sorted(comps):
                self._emit(ObserverKind.ADD, cid, ids)
        return ids

    def _groups(self, ids: Array) -> Iterable[tuple[ArchetypeTable, Array, Array]]:
        """Split live unique ids by table: ``(table, positions into ids, rows)``.

        One pass over the entity index locates every id; groups come in table-id
        order, positions in input order within a group.
        """
        tabs, rows = locate_kernel(ids, self.entities.table, self.entities.row)
        if len(tabs) and (tabs == tabs[0]).all():
            yield self.tables[int(tabs[0])], np.arange(len(ids)), rows
            return
        order, offsets = group_by_kernel(tabs, len(self.tables))
        for tid in np.flatnonzero(np.diff(offsets)):
            sel = order[offsets[tid] : offsets[tid + 1]]
            yield self.tables[int(tid)], sel, rows[sel]

    def _remove_rows(self, table: ArchetypeTable, rows: Array) -> None:
        _, holes = table.swap_remove(rows)
        if len(holes):
            self.entities.place(table._cols[ENTITY_COLUMN][holes], table.id, holes)

    def _move(
        self,
        ids: Array,
        add: Mapping[ComponentId, Mapping[str, Array]],
        remove: frozenset[ComponentId],
    ) -> None:
        """Insert ``add`` (values aligned with ``ids``) and drop ``remove``, in bulk."""
        add_set = frozenset(add)
        observed = self.observers.active
        if observed and remove:
            self._emit_removals(ids, remove)
        added: dict[ComponentId, list[Array]] = {}
        overwritten: dict[ComponentId, list[Array]] = {}
        for src, sel, rows in self._groups(ids):
            gids = ids[sel]
            dst = self.archetypes.transition(src.id, add_set, remove)
            if observed:
                for c in add:
                    into = overwritten if c in src.component_set else added
                    into.setdefault(c, []).append(sel)
            if dst is src:
                self._write(src, rows, add, sel, added=False)
                continue
            keep = tuple(k for k in dst.keys if k in src._specs)
            values = src.gather(rows, keep)
            fresh = {c: v for c, v in add.items() if c not in src.component_set}
            self._fill_row_values(values, fresh, sel, len(gids))
            start = dst.append(values)
            self.entities.place_run(gids, dst.id, start)
            existing = {c: v for c, v in add.items() if c in src.component_set}
            if existing:
                new_rows = np.arange(start, start + len(gids))
                self._write(dst, new_rows, existing, sel, added=False)
            self._remove_rows(src, rows)
        if observed:
            for c in sorted(added):
                self._emit(ObserverKind.ADD, c, ids[np.concatenate(added[c])])
            for c in sorted(overwritten):
                pos = np.concatenate(overwritten[c])
                vals = {k: v[pos] for k, v in add[c].items()}
                self._emit(ObserverKind.SET, c, ids[pos], vals)

    def _write(
        self,
        table: ArchetypeTable,
        rows: Array,
        comps: Mapping[ComponentId, Mapping[str, Array]],
        sel: Array,
        *,
        added: bool,
    ) -> None:
        for cid, cols in comps.items():
            s = self.components.schemas[cid]
            for fname, arr in cols.items():
                table._cols[f"{s.name}.{fname}"][rows] = arr[sel]
            if cid in self.components.tracked:
                table._cols[changed_key(s.name)][rows] = self.change_tick
                if added:
                    table._cols[added_key(s.name)][rows] = self.change_tick

    def _despawn(self, ids: Array) -> None:
        for hook in self.despawn_hooks:
            ids = hook(self, ids)
        if self.observers.active:
            self._emit_removals(ids, None)
        for table, _, rows in self._groups(ids):
            self._remove_rows(table, rows)
        self.entities.release(ids)

    def _dedupe_last(self, ids: Array) -> Array | None:
        """Mask of each (live) id's last occurrence; None if ids are unique."""
        return self.entities.last_occurrences(ids)

    def _unique(self, ids: Array) -> Array:
        """Live ids without repeats, first occurrences in input order."""
        keep = self.entities.first_occurrences(ids)
        return ids if keep is None else ids[keep]

    # ----------------------------------------------------------------- spawning

    def spawn(self, *components: object) -> Entity:
        """Spawn one entity with these component instances (or tag classes).

        Returns
        -------
        Entity
            The new entity's id.

        Raises
        ------
        ComponentNotRegisteredError
            [E0002] when an argument is not a component.
        SchemaError
            When a value does not fit its field's dtype.
        StructuralChangeError
            [E0007] while a query is being iterated.
        """
        self._check_not_iterating("spawn")
        comps: dict[ComponentId, dict[str, Array]] = {}
        for c in components:
            s = schema_of(c, "spawn")
            cols = s.coerce(None, 1)[1] if isinstance(c, type) else s.columns_of(c)
            comps[self.components.id_of(s.cls)] = cols
        e = Entity(int(self._spawn(1, comps)[0]))
        self._checked()
        return e

    def spawn_batch(
        self,
        components: Mapping[type, object] | pa.Table | pa.RecordBatch,
        *,
        n: int | None = None,
        classes: Sequence[type] = (),
    ) -> np.ndarray[Any, np.dtype[np.uint64]]:
        """Spawn many entities of one archetype from columns.

        Parameters
        ----------
        components
            Mapping of component class -> values, where values is ``None`` (field
            defaults; tags), an instance (broadcast to every row), a dict of field
            name -> array (missing fields take defaults) or, for a one-field
            component, the array. Or an Arrow table / record batch with columns
            ``"<Component>.<field>"`` (pass the classes in ``classes``).
        n
            Number of entities, needed when no value is an array.
        classes
            Component classes named by an Arrow table's columns (tags included).

        Returns
        -------
        numpy.ndarray
            The new ids (uint64), in row order.

        Notes
        -----
        One bulk append per column: O(n) copies, no Python loop over entities.

        Examples
        --------
        >>> import numpy as np
        >>> from archetype_ecs import World, component, f32
        >>> @component
        ... class Vel:
        ...     dx: f32 = 0.0
        ...     dy: f32 = 0.0
        >>> w = World()
        >>> ids = w.spawn_batch({Vel: {"dx": np.arange(3)}})
        >>> w.get_batch(ids, Vel)["dx"]
        array([0., 1., 2.], dtype=float32)
        >>> len(w.spawn_batch({Vel: Vel(1.0, 1.0)}, n=5))
        5
        """
        self._check_not_iterating("spawn_batch")
        n, comps = normalize_batch(components, n, "spawn_batch", classes)
        ids = self._spawn(n, self._ids_of(comps))
        self._checked()
        return ids

    # ---------------------------------------------------------------- despawning

    def despawn(self, entity: int) -> None:
        """Despawn one live entity.

        Raises
        ------
        EntityNotAliveError
            [E0001] when the entity is not alive.
        """
        self.despawn_batch(np.array([int(entity)], dtype=np.uint64))

    def despawn_batch(self, entities: object) -> None:
        """Despawn many live entities (duplicates are despawned once).

        Raises
        ------
        EntityNotAliveError
            [E0001] when any entity is not alive; nothing is despawned then.
        """
        self._check_not_iterating("despawn")
        ids = self._alive_ids(entities, "despawn")
        self._despawn(self._unique(ids))
        self._checked()

    # ------------------------------------------------------- insert and remove

    def insert(self, entity: int, *components: object) -> None:
        """Insert component instances (or tag classes) on one entity.

        An existing component is overwritten in place (no move).
        """
        self._check_not_iterating("insert")
        ids = self._alive_ids(np.array([int(entity)], dtype=np.uint64), "insert")
        add: dict[ComponentId, dict[str, Array]] = {}
        for c in components:
            s = schema_of(c, "insert")
            add[self.components.id_of(s.cls)] = (
                s.coerce(None, 1)[1] if isinstance(c, type) else s.columns_of(c)
            )
        self._move(ids, add, frozenset())
        self._checked()

    def insert_batch(
        self, entities: object, component: type, values: object = None
    ) -> None:
        """Insert one component on many entities, with values as columns.

        ``values`` is as in :meth:`spawn_batch`. When an id repeats, its last values win.

        Raises
        ------
        EntityNotAliveError
            [E0001] when any entity is not alive; nothing changes then.
        SchemaError
            When values do not fit the component.
        """
        self._check_not_iterating("insert_batch")
        ids = self._alive_ids(entities, "insert_batch")
        s = schema_of(component, "insert_batch")
        _, cols = s.coerce(values, len(ids))
        self._insert_cols(ids, self.components.id_of(s.cls), cols)
        self._checked()

    def _insert_cols(
        self, ids: Array, cid: ComponentId, cols: dict[str, Array]
    ) -> None:
        last = self._dedupe_last(ids)
        if last is not None:
            ids = ids[last]
            cols = {k: v[last] for k, v in cols.items()}
        self._move(ids, {cid: cols}, frozenset())

    def remove(self, entity: int, *components: type) -> None:
        """Remove components from one entity (components it lacks are ignored)."""
        self.remove_batch(np.array([int(entity)], dtype=np.uint64), *components)

    def remove_batch(self, entities: object, *components: type) -> None:
        """Remove components from many entities (components they lack are ignored).

        Raises
        ------
        EntityNotAliveError
            [E0001] when any entity is not alive; nothing changes then.
        """
        self._check_not_iterating("remove")
        ids = self._alive_ids(entities, "remove")
        cids = frozenset(self.components.id_of(c, "remove") for c in components)
        self._move(self._unique(ids), {}, cids)
        self._checked()

    # ------------------------------------------------------------- get and set

    def has(self, entity: int, component: type) -> bool:
        """True when the live ``entity`` carries ``component`` (False if dead)."""
        e = int(entity)
        if not self.entities.is_alive(e):
            return False
        cid = self.components.id_of(component, "has")
        return (
            cid in self.tables[int(self.entities.table[e & 0xFFFF_FFFF])].component_set
        )

    def _locate_with(
        self, entity: int, component: type, op: str
    ) -> tuple[ArchetypeTable, int, ComponentSchema]:
        e = int(entity)
        s = schema_of(component, op)
        if not self.entities.is_alive(e):
            raise EntityNotAliveError(
                coded(
                    E_NOT_ALIVE,
                    f"{op}({s.name}): {self.entities.describe_dead(e)}; "
                    "check world.is_alive(e) or use world.get(e, C, default=None)",
                )
            )
        slot = e & 0xFFFF_FFFF
        table = self.tables[int(self.entities.table[slot])]
        cid = self.components.id_of(s.cls)
        if cid not in table.component_set:
            raise MissingComponentError(
                coded(
                    E_MISSING_COMPONENT,
                    f"{op}: entity {Entity(e).label()} has no {s.name} (it has "
                    f"[{', '.join(table.names)}]); insert it first or use "
                    "world.get(e, C, default=None)",
                )
            )
        return table, int(self.entities.row[slot]), s

    def component(self, entity: int, component: type[T]) -> T:
        """The value of one component of one entity, as a component instance.

        Raises
        ------
        EntityNotAliveError
            [E0001] when the entity is not alive.
        MissingComponentError
            [E0006] when it lacks the component.
        """
        table, row, s = self._locate_with(entity, component, "component")
        vals = {}
        for f in s.fields:
            v = table._cols[f"{s.name}.{f.name}"][row]
            vals[f.name] = tuple(v.tolist()) if f.type.shape else v.item()
        return component(**vals)

    @overload
    def get(self, entity: int, component: type[T]) -> T | None: ...
    @overload
    def get(self, entity: int, component: type[T], default: T) -> T: ...
    def get(
        self, entity: int, component: type[T], default: T | None = None
    ) -> T | None:
        """Like :meth:`component`, but ``default`` when dead or missing."""
        if not self.has(entity, component):
            return default
        return self.component(entity, component)

    def get_batch(self, entities: object, component: type) -> dict[str, Array]:
        """Field values of one component for many entities (copies, input order).

        Raises
        ------
        EntityNotAliveError
            [E0001] when any entity is not alive.
        MissingComponentError
            [E0006] when any entity lacks the component.
        """
        ids = self._alive_ids(entities, "get_batch")
        s = schema_of(component, "get_batch")
        cid = self.components.id_of(s.cls)
        out = {
            f.name: np.empty((len(ids), *f.type.shape), dtype=f.type.dtype)
            for f in s.fields
        }
        for table, sel, rows in self._groups(ids):
            self._require(table, cid, s, ids[sel], "get_batch")
            for f in s.fields:
                out[f.name][sel] = table._cols[f"{s.name}.{f.name}"][rows]
        return out

    def _require(
        self,
        table: ArchetypeTable,
        cid: ComponentId,
        s: ComponentSchema,
        ids: Array,
        op: str,
    ) -> None:
        if cid not in table.component_set:
            raise MissingComponentError(
                coded(
                    E_MISSING_COMPONENT,
                    f"{op}: {len(ids)} entities (e.g. {Entity(int(ids[0])).label()}) have "
                    f"no {s.name} (archetype [{', '.join(table.names)}]); insert it "
                    "first or filter with world.query(...)",
                )
            )

    def set(self, entity: int, *components: object) -> None:
        """Overwrite component values of one entity (it must carry them).

        Raises
        ------
        EntityNotAliveError
            [E0001] when the entity is not alive.
        MissingComponentError
            [E0006] when it lacks a component (use :meth:`insert` to add).
        """
        for c in components:
            if isinstance(c, type):
                s = schema_of(c, "set")
                raise SchemaError(
                    f"set: got the class {s.name}, expected an instance such as "
                    f"{s.name}({', '.join(s.field_names())}); use set_batch(ids, "
                    f"{s.name}, {{field: values}}) to write some fields only"
                )
        located = [self._locate_with(entity, type(c), "set") for c in components]
        cols = [
            s.columns_of(c) for c, (_, _, s) in zip(components, located, strict=True)
        ]
        ids = np.array([int(entity)], dtype=np.uint64)
        for (_, _, s), values in zip(located, cols, strict=True):
            self._set_cols(ids, self.components.id_of(s.cls), values)
        self._checked()

    def set_batch(self, entities: object, component: type, values: object) -> None:
        """Overwrite some or all fields of one component on many entities.

        Parameters
        ----------
        entities
            Live ids; when an id repeats, its last values win.
        component
            The component class.
        values
            A dict of field -> array (fields not named keep their values), an
            instance (broadcast), or for one-field components an array.

        Raises
        ------
        EntityNotAliveError, MissingComponentError, SchemaError
            Checked before anything is written.
        """
        ids = self._alive_ids(entities, "set_batch")
        s = schema_of(component, "set_batch")
        cid = self.components.id_of(s.cls)
        _, cols = s.coerce(values, len(ids))
        if isinstance(values, dict):
            cols = {k: v for k, v in cols.items() if k in values}
        groups = list(self._groups(ids))
        for table, sel, _ in groups:
            self._require(table, cid, s, ids[sel], "set_batch")
        last = self._dedupe_last(ids)
        if last is not None:
            self._set_cols(ids[last], cid, {k: v[last] for k, v in cols.items()})
        else:
            for table, sel, rows in groups:
                self._write(table, rows, {cid: cols}, sel, added=False)
            if self.observers.active:
                self._emit(ObserverKind.SET, cid, ids, cols)
        self._checked()

    def _set_cols(
        self, ids: Array, cid: ComponentId, cols: Mapping[str, Array]
    ) -> None:
        for table, sel, rows in self._groups(ids):
            self._write(table, rows, {cid: cols}, sel, added=False)
        if self.observers.active:
            self._emit(ObserverKind.SET, cid, ids, cols)

    # ------------------------------------------------------------------ queries

    def query(
        self,
        *components: type,
        without: Iterable[type] = (),
        optional: Iterable[type] = (),
        added: Iterable[type] = (),
        changed: Iterable[type] = (),
        writable: Iterable[type] | None = None,
    ) -> QueryState:
        """The cached query over entities with all ``components``.

        Parameters
        ----------
        *components
            Required components, in the order their views are yielded.
        without
            Entities with any of these are excluded.
        optional
            Yielded after the required views; ``None`` where an archetype lacks them.
        added, changed
            Change filters (rows whose component was added / changed after a
            reference tick); starts change tracking of those components. Iterate with
            ``query.iter_since(tick)`` or inside a system.
        writable
            Components whose views are writable (default: all); the others get
            read-only views, so a stray write raises instead of corrupting state.

        Returns
        -------
        QueryState
            Cached per spec: calling ``world.query(...)`` every frame is cheap.
        """
        ids = self.components.id_of
        req = tuple(ids(c, "query") for c in components)
        wo = tuple(ids(c, "query without=") for c in without)
        opt = tuple(ids(c, "query optional=") for c in optional)
        add = tuple(ids(c, "query added=") for c in added)
        chg = tuple(ids(c, "query changed=") for c in changed)
        wr = None if writable is None else frozenset(ids(c, "query") for c in writable)
        if any(c not in self.components.tracked for c in (*add, *chg)):
            self.track_changes(*added, *changed)
        key = spec_key(req, wo, opt, wr, add, chg)
        q = self._queries.get(key)
        if q is None:
            q = QueryState(self, req, wo, opt, writable=wr, added=add, changed=chg)
            self._queries[key] = q
        return q

    def track_changes(self, *components: type) -> None:
        """Store per-row added / changed ticks for these components from now on.

        Change tracking is paid for only by the components that use it: existing
        rows count as added and changed at tick 1 (the world's first), so a system's
        first run sees them all and later runs see only what changed since.

        Notes
        -----
        Structural change (adds tick columns to every table with the component).
        """
        self._check_not_iterating("track_changes")
        self._start_tracking(components)

    def _start_tracking(self, components: Iterable[type]) -> None:
        for c in components:
            cid = self.components.id_of(c, "track_changes")
            if cid in self.components.tracked:
                continue
            self.components.tracked.add(cid)
            for table in self.tables:
                if cid in table.component_set:
                    # Tick 1 is the world's first: a system's first run (last_run 0)
                    # sees every existing row; systems that already ran do not.
                    table.add_tick_columns(cid, 1)

    # ------------------------------------------------------------ systems, frames

    def add_system(self, *systems: System) -> None:
        """Register systems in the schedule (see :func:`archetype_ecs.system`)."""
        for sys in systems:
            self.schedule.add_system(sys)

    def replace_system(self, new: System) -> System:
        """Swap in a new declaration for the system named ``new.name`` (hot reload).

        At a sync point only: between frames or from a frame-end hook, never while
        a phase runs; see :meth:`Schedule.replace_system`. The system's cached query
        is rebuilt on its next run.

        Raises
        ------
        StructuralChangeError
            Called while a phase runs (from a system or an observer).
        """
        if self._phase_active or self._in_observer:
            raise StructuralChangeError(
                f"replace_system({new.name!r}) was called while a phase runs; call "
                "it at a sync point (a frame-end hook, or between world.step() calls)"
            )
        live = self.schedule.replace_system(new)
        self._executor._states.pop(new.name, None)
        return live

    def step(self) -> None:
        """Run one frame: ``Time`` advances, each phase runs, then its sync point.

        Notes
        -----
        ``startup`` systems run on the first step only. Structural changes made by
        systems go through command buffers applied at each phase's sync point.
        """
        self._check_not_iterating("step")
        self._executor.run_frame()

    def run(self, frames: int, *, progress: bool = False) -> None:
        """Run ``frames`` frames, optionally with a progress bar on stderr."""
        bar = Progress(frames) if progress else None
        for i in range(1, frames + 1):
            self.step()
            if bar is not None:
                bar.update(i, f"{len(self)} entities")

    def stats(self) -> pa.Table:
        """Per-system / per-phase timings as an Arrow table (see ``Profiler``).

        Counters from ``stats_providers`` (e.g. scripts' limit hits, refusals and
        violations) become extra int columns, filled on the rows of that name.
        """
        table: pa.Table = self.profiler.stats_table()
        extra: dict[str, dict[str, int]] = {}
        for provider in self.stats_providers:
            for name, counters in provider().items():
                extra.setdefault(name, {}).update(counters)
        if not extra:
            return table
        names = table.column("name").to_pylist()
        keys = sorted({k for counters in extra.values() for k in counters})
        for key in keys:
            values = [int(extra.get(n, {}).get(key, 0)) for n in names]
            table = table.append_column(key, pa.array(values, pa.int64()))
        return table

    def counts(self) -> dict[str, int]:
        """Entity, archetype, component and memory counts."""
        return world_counts(self)

    def trace(self, path: str) -> Path:
        """Write a Chrome trace-event JSON of recent frames (opens in Perfetto)."""
        return self.profiler.write_chrome_trace(path)

    def close(self) -> None:
        """Close recorders and release the worker threads."""
        for rec in tuple(self.recorders):
            rec.close()
        self._executor.close()

    # ----------------------------------------------------------------- analysis

    def to_arrow(
        self,
        *components: type,
        where: Any = None,
        without: Iterable[type] = (),
        optional: Iterable[type] = (),
    ) -> pa.Table:
        """One Arrow table: ``entity`` then ``<Component>.<field>``, zero-copy.

        See :func:`archetype_ecs.analysis.to_arrow` (``where`` takes a
        ``pyarrow.compute`` expression or a callable on the table).
        """
        from archetype_ecs import analysis

        return analysis.to_arrow(
            self, *components, where=where, without=without, optional=optional
        )

    def to_pandas(self, *components: type, **options: Any) -> Any:
        """Entity state as a pandas DataFrame (needs the ``analysis`` extra)."""
        from archetype_ecs import analysis

        return analysis.to_pandas(self, *components, **options)

    def to_polars(self, *components: type, **options: Any) -> Any:
        """Entity state as a Polars DataFrame (needs the ``analysis`` extra)."""
        from archetype_ecs import analysis

        return analysis.to_polars(self, *components, **options)

    def sql(self, query: str, **options: Any) -> pa.Table:
        """DuckDB SQL over one view per component; returns Arrow (``analysis`` extra)."""
        from archetype_ecs import analysis

        return analysis.sql(self, query, **options)

    def lookup(
        self, entities: object, *components: type, missing: str = "raise"
    ) -> pa.Table:
        """Rows of given entities, in order (:func:`archetype_ecs.analysis.lookup`)."""
        from archetype_ecs import analysis

        return analysis.lookup(self, entities, *components, missing=missing)  # type: ignore[arg-type] # checked at run time

    def record(self, *components: type, **options: Any) -> Recorder:
        """Start a :class:`~archetype_ecs.recorder.Recorder` of these components.

        It is called at the end of every frame until ``recorder.close()``.
        """
        from archetype_ecs.recorder import Recorder

        return Recorder(self, components, **options)

    def _repr_html_(self) -> str:
        from archetype_ecs._html import world_html

        return world_html(self)

    # ------------------------------------------------------------ persistence

    def snapshot(self) -> Snapshot:
        """In-memory copy of the state for rollback (see ``archetype_ecs.snapshot``)."""
        return _snapshot.snapshot(self)

    def restore(self, snap: Snapshot) -> None:
        """Roll back to a snapshot of this world (ids, values, resources, ticks)."""
        _snapshot.restore(self, snap)

    def diff(self, snap: Snapshot) -> WorldDiff:
        """Added, removed and changed rows since ``snap``, as Arrow tables."""
        return _snapshot.diff(self, snap)

    def save(self, path: str | Path, **options: Any) -> Path:
        """Save to a directory (see :func:`archetype_ecs.serialization.save`)."""
        from archetype_ecs.serialization import save

        return save(self, path, **options)

    # ---------------------------------------------------------------- resources

    def insert_resource(self, resource: object) -> None:
        """Store a singleton resource, keyed by its type (replaces an existing one)."""
        self._resources[type(resource)] = resource

    def resource(self, kind: type[T]) -> T:
        """The resource of type ``kind``.

        Raises
        ------
        ResourceNotFoundError
            [E0008] when the world holds none.
        """
        try:
            return self._resources[kind]  # type: ignore[return-value] # keyed by type
        except KeyError:
            held = ", ".join(t.__name__ for t in self._resources) or "none"
            raise ResourceNotFoundError(
                coded(
                    E_RESOURCE,
                    f"no resource of type {kind.__name__} (held: {held}); "
                    f"add one with world.insert_resource({kind.__name__}(...))",
                )
            ) from None

    def get_resource(self, kind: type[T], default: T | None = None) -> T | None:
        """The resource of type ``kind``, or ``default``."""
        return self._resources.get(kind, default)  # type: ignore[return-value] # keyed by type

    def has_resource(self, kind: type) -> bool:
        """True when a resource of type ``kind`` is held."""
        return kind in self._resources

    def remove_resource(self, kind: type[T]) -> T:
        """Remove and return the resource of type ``kind`` (raises if absent)."""
        value = self.resource(kind)
        del self._resources[kind]
        return value

    # ------------------------------------------------------------------ commands

    def apply(self, *buffers: CommandBuffer) -> ApplyReport:
        """Apply command buffers in order, in bulk, and empty them.

        Returns
        -------
        ApplyReport
            Applied count, skipped dead / missing ids, spawned ids.

        Notes
        -----
        Within a buffer, commands take effect in recording order; a despawn wins over
        later commands on that entity; commands on dead entities are skipped and
        reported, never raised. Consecutive same-kind commands apply as one bulk
        operation grouped by archetype transition.
        """
        self._check_not_iterating("apply")
        for buf in buffers:  # register (and name-check) components before any change
            for cmd in buf.commands():
                for cls in cmd.classes:
                    self.components.id_of(cls, f"apply({buf.name!r})")
        report = self._apply_buffers(buffers, ApplyReport())
        self._checked()
        return report

    def _apply_buffers(
        self, buffers: Sequence[CommandBuffer], report: ApplyReport
    ) -> ApplyReport:
        for buf in buffers:
            pending = np.zeros(buf.pending_count, dtype=np.uint64)
            if buf.pending_count or id(buf) not in report._pending:
                report._pending[id(buf)] = pending  # a repeat (emptied) keeps the first
            for cmd in buf.commands():
                self._apply_command(cmd, pending, report, buf.name)
            buf.clear()
        return report

    def _resolve(self, ids: Array, pending: Array) -> Array:
        is_pending = ((ids >> GEN_SHIFT) == 0) & (ids != 0)
        if not is_pending.any():
            return ids
        out = ids.copy()
        out[is_pending] = pending[pending_slot(ids[is_pending])]
        return out

    def _resolve_values(
        self, cmd: _Command, pending: Array
    ) -> dict[ComponentId, dict[str, Array]]:
        out: dict[ComponentId, dict[str, Array]] = {}
        for cls, cols in cmd.values().items():
            s = schema_of(cls)
            ents = {f.name for f in s.fields if f.type.is_entity}
            out[self.components.id_of(cls)] = {
                k: (self._resolve(v, pending) if k in ents else v)
                for k, v in cols.items()
            }
        return out

    def _apply_command(
        self, cmd: _Command, pending: Array, report: ApplyReport, source: str = ""
    ) -> None:
        if cmd.kind is Op.SPAWN:
            real = self._apply_spawn(cmd, pending, report)
            if self.command_log is not None:
                self.command_log.record(
                    source, cmd.kind, real, self._class_values(real, cmd.classes)
                )
            return
        values = self._resolve_values(cmd, pending)
        ids = self._resolve(cmd.ids(), pending)
        # One pass: liveness plus repeats (sequential semantics keep the last insert /
        # set of an entity, and the first despawn / remove).
        keep_last = cmd.kind in (Op.INSERT, Op.SET)
        status = self.entities.classify(ids, keep_last=keep_last)
        dead = status == 1
        if cmd.kind is Op.DESPAWN:
            dead |= status == 2  # a repeated despawn names a dead entity
        if dead.any():
            report._dead.append(ids[dead])
        if cmd.kind is Op.SET:
            applied_ids, applied_cols = self._apply_set(ids, status, values, report)
            if self.command_log is not None:
                ((cid, _),) = values.items()
                cls = self.components.schemas[cid].cls
                self.command_log.record(
                    source, cmd.kind, applied_ids, {cls: applied_cols}
                )
            return
        report.applied += len(ids) - int(np.count_nonzero(dead))
        keep = status == 0
        if not keep.all():
            ids = ids[keep]
            values = {
                c: {k: v[keep] for k, v in cols.items()} for c, cols in values.items()
            }
        if self.command_log is not None:  # before: a despawn hook may add entities
            by_class = {self.components.schemas[c].cls: v for c, v in values.items()}
            self.command_log.record(source, cmd.kind, ids, by_class)
        if cmd.kind is Op.DESPAWN:
            if self.despawn_hooks and len(ids) > 1:
                self._despawn_in_order(ids, report)
            else:
                self._despawn(ids)
        elif cmd.kind is Op.REMOVE:
            self._move(ids, {}, frozenset(values))
        else:
            self._move(ids, values, frozenset())

    def _despawn_in_order(self, ids: Array, report: ApplyReport) -> None:
        """Despawn one id at a time, as recorded: a relationship hook (cascade) may
        remove later ids of the same run, which then count as dead. The slow path,
        taken only when despawn hooks are installed."""
        for i in range(len(ids)):
            one = ids[i : i + 1]
            if not self.entities.is_alive(int(one[0])):
                report._dead.append(one)
                report.applied -= 1
                continue
            self._despawn(one)

    def _apply_spawn(self, cmd: _Command, pending: Array, report: ApplyReport) -> Array:
        # Spawn first, then resolve EntityRef values: a ref may name an entity spawned
        # earlier in this same coalesced run.
        raw = cmd.ids()
        if not len(raw):  # an empty spawn_batch records nothing to do
            return raw
        values = {self.components.id_of(c): v for c, v in cmd.values().items()}
        real = self._spawn(len(raw), values, emit=False)
        pending[pending_slot(raw)] = real
        resolved = self._resolve_values(cmd, pending)
        table = self.tables[int(self.entities.table[int(real[0]) & 0xFFFF_FFFF])]
        rows = np.arange(table.len - len(real), table.len)
        for cid, cols in resolved.items():
            s = self.components.schemas[cid]
            for f in s.fields:
                if f.type.is_entity:
                    table._cols[f"{s.name}.{f.name}"][rows] = cols[f.name]
        if self.observers.active:  # after the refs are resolved
            for cid in sorted(values):
                self._emit(ObserverKind.ADD, cid, real)
        report._spawned.append(real)
        report.applied += len(real)
        return real

    def _apply_set(
        self,
        ids: Array,
        status: Array,
        values: dict[ComponentId, dict[str, Array]],
        report: ApplyReport,
    ) -> tuple[Array, dict[str, Array]]:
        ((cid, cols),) = values.items()
        live = status != 1
        tabs, _ = locate_kernel(ids, self.entities.table, self.entities.row)
        has_c = np.array([cid in t.component_set for t in self.tables], dtype=np.bool_)
        has = live & has_c[np.where(live, tabs, 0)]
        missing = live & ~has
        if missing.any():
            report._missing.append(ids[missing])
        report.applied += int(np.count_nonzero(has))  # repeats included
        keep = has & (status == 0)
        if not keep.all():
            ids = ids[keep]
            cols = {k: v[keep] for k, v in cols.items()}
        self._set_cols(ids, cid, cols)
        return ids, cols

    def _class_values(
        self, ids: Array, classes: tuple[type, ...]
    ) -> dict[type, dict[str, Array]]:
        """Current values of ``classes`` for ``ids`` (all in one table), for logs."""
        return {c: self.get_batch(ids, c) for c in classes}

    def __repr__(self) -> str:
        return (
            f"<World entities={len(self)} archetypes={len(self.archetypes_info())} "
            f"components={len(self.components)}>"
        )
