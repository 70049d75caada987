"""Systems: a body plus its declared access, phase, ordering and run conditions.

Two kinds. A *kernel system* is a Numba kernel called once per matched archetype
with the query's column views (``@system(query=[...])`` on an ``@njit`` function);
a *Python system* is a plain function taking a :class:`SystemContext` (flagged as
``python`` in stats). Either way, views of components a system only reads are
read-only, so an undeclared write fails loudly instead of racing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from archetype_ecs.access import Access
from archetype_ecs.commands import CommandBuffer
from archetype_ecs.component import schema_of
from archetype_ecs.errors import E_UNDECLARED, UndeclaredAccessError, coded
from archetype_ecs.resources import Time
from archetype_ecs.table import ArchetypeTable, changed_key

if TYPE_CHECKING:
    from archetype_ecs.query import QueryState
    from archetype_ecs.world import World

__all__ = [
    "RunCondition",
    "System",
    "SystemContext",
    "every",
    "resource_equals",
    "system",
]

RunCondition = Callable[["World"], bool]


def every(k: int, offset: int = 0) -> RunCondition:
    """Run condition: frames where ``Time.frame % k == offset``.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> w = World()
    >>> w.resource(Time).frame = 4
    >>> every(2)(w), every(3)(w)
    (True, False)
    """
    if k < 1:
        raise ValueError(f"every(k): k must be >= 1, got {k}")
    if not 0 <= offset < k:
        raise ValueError(
            f"every({k}, offset={offset}): offset must be in [0, {k}) or the "
            "system would never run"
        )

    def cond(world: World) -> bool:
        return world.resource(Time).frame % k == offset

    cond.__name__ = f"every({k}, {offset})"
    return cond


def resource_equals(kind: type, attr: str, value: object) -> RunCondition:
    """Run condition: ``getattr(world.resource(kind), attr) == value``.

    Use it for "while a resource says so" (e.g. a ``Paused`` flag).
    """

    def cond(world: World) -> bool:
        return bool(getattr(world.resource(kind), attr) == value)

    cond.__name__ = f"{kind.__name__}.{attr} == {value!r}"
    return cond


@dataclass(eq=False)
class System:
    """A registered system: body, kind, access, scheduling and run statistics.

    Build one with :func:`system`; add it with ``world.add_system``.
    """

    name: str
    fn: Callable[..., Any]
    kind: str  # "kernel" | "python" | "exclusive"
    access: Access
    phase: str = "update"
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    run_if: tuple[RunCondition, ...] = ()
    commands: bool = False
    # kernel systems: the query and extra arguments
    query: tuple[type, ...] = ()
    without: tuple[type, ...] = ()
    optional: tuple[type, ...] = ()
    added: tuple[type, ...] = ()
    changed: tuple[type, ...] = ()
    args: Callable[[SystemContext], tuple[Any, ...]] | tuple[Any, ...] = ()
    entities: bool = False
    parallel_threshold: int = 20_000
    # run state (owned by the schedule)
    last_run: int = 0
    runs: int = 0
    order: int = -1
    _readers: dict[type, Any] = field(default_factory=dict)
    # ctx.query(...) arguments -> the access-checked QueryState (same every frame)
    _bound: dict[tuple[Any, ...], QueryState] = field(default_factory=dict)

    @property
    def is_python(self) -> bool:
        """True for plain-Python bodies (not a Numba kernel)."""
        return self.kind != "kernel"

    def describe(self) -> str:
        """``name [kind] phase: access``."""
        return f"{self.name} [{self.kind}] {self.phase}: {self.access.describe()}"


def _classes(items: Iterable[type]) -> tuple[type, ...]:
    return tuple(items)


def _is_numba(fn: object) -> bool:
    return hasattr(fn, "py_func") and hasattr(fn, "signatures")


@overload
def system(
    fn: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    phase: str = "update",
    query: Sequence[type] = (),
    without: Sequence[type] = (),
    optional: Sequence[type] = (),
    added: Sequence[type] = (),
    changed: Sequence[type] = (),
    reads: Sequence[type] = (),
    writes: Sequence[type] = (),
    resources: Sequence[type] = (),
    resources_mut: Sequence[type] = (),
    events: Sequence[type] = (),
    events_mut: Sequence[type] = (),
    commands: bool = False,
    args: Callable[[SystemContext], tuple[Any, ...]] | tuple[Any, ...] = (),
    entities: bool = False,
    before: Sequence[str] = (),
    after: Sequence[str] = (),
    sets: Sequence[str] = (),
    run_if: RunCondition | Sequence[RunCondition] = (),
    exclusive: bool = False,
    parallel_threshold: int = 20_000,
) -> System: ...
@overload
def system(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    phase: str = "update",
    query: Sequence[type] = (),
    without: Sequence[type] = (),
    optional: Sequence[type] = (),
    added: Sequence[type] = (),
    changed: Sequence[type] = (),
    reads: Sequence[type] = (),
    writes: Sequence[type] = (),
    resources: Sequence[type] = (),
    resources_mut: Sequence[type] = (),
    events: Sequence[type] = (),
    events_mut: Sequence[type] = (),
    commands: bool = False,
    args: Callable[[SystemContext], tuple[Any, ...]] | tuple[Any, ...] = (),
    entities: bool = False,
    before: Sequence[str] = (),
    after: Sequence[str] = (),
    sets: Sequence[str] = (),
    run_if: RunCondition | Sequence[RunCondition] = (),
    exclusive: bool = False,
    parallel_threshold: int = 20_000,
) -> Callable[[Callable[..., Any]], System]: ...
def system(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    phase: str = "update",
    query: Sequence[type] = (),
    without: Sequence[type] = (),
    optional: Sequence[type] = (),
    added: Sequence[type] = (),
    changed: Sequence[type] = (),
    reads: Sequence[type] = (),
    writes: Sequence[type] = (),
    resources: Sequence[type] = (),
    resources_mut: Sequence[type] = (),
    events: Sequence[type] = (),
    events_mut: Sequence[type] = (),
    commands: bool = False,
    args: Callable[[SystemContext], tuple[Any, ...]] | tuple[Any, ...] = (),
    entities: bool = False,
    before: Sequence[str] = (),
    after: Sequence[str] = (),
    sets: Sequence[str] = (),
    run_if: RunCondition | Sequence[RunCondition] = (),
    exclusive: bool = False,
    parallel_threshold: int = 20_000,
) -> System | Callable[[Callable[..., Any]], System]:
    """Declare a system (decorator or call).

    Parameters
    ----------
    fn
        A Numba ``@njit`` kernel (with ``query=``): called once per matched
        archetype as ``fn([rows,] *field_views, *args)``; or a Python function
        ``fn(ctx: SystemContext)``; or, with ``exclusive=True``, ``fn(world)``.
    name
        Unique name (default: the function's name).
    phase
        ``"startup"`` (once), ``"pre_update"``, ``"update"``, ``"post_update"`` or
        a user phase.
    query, without, optional, added, changed
        Kernel systems: the query. Field views come flat, in query order.
        ``added`` / ``changed`` filters pass only rows changed since this system
        last ran; the kernel then receives those ``rows`` (int64) first.
    reads, writes
        Components read / written. For kernel systems, query components default to
        read; list the written ones in ``writes``. Read views are read-only.
    resources, resources_mut
        Resources read / written.
    events, events_mut
        Event types read / sent.
    commands
        The system records structural changes in ``ctx.commands`` (applied at the
        phase's sync point, in system order).
    args
        Kernel systems: extra kernel arguments, a tuple or ``f(ctx) -> tuple``
        (e.g. ``lambda ctx: (ctx.time.dt,)``).
    entities
        Kernel systems: pass the entity-id column first (after ``rows``).
    before, after
        Names of systems or sets this one must run before / after (same phase).
    sets
        Named sets this system belongs to (constraints on a set apply to members).
    run_if
        Conditions evaluated each frame; all must hold for the system to run.
    exclusive
        ``fn(world)`` with whole-world access; runs alone, may change structure.
    parallel_threshold
        Below this many matched rows, the system is never worth a thread.

    Returns
    -------
    System
        Add it with ``world.add_system(system)``.

    Notes
    -----
    A kernel that returns a bool array (one per row handed to it) reports which
    rows it really changed; otherwise every row handed to a writing system counts
    as changed (for ``changed=`` filters).
    """

    def make(f: Callable[..., Any]) -> System:
        nm = name or str(getattr(f, "__name__", "system"))
        conds = (run_if,) if callable(run_if) else tuple(run_if)
        writes_t = _classes(writes)
        if exclusive:
            kind = "exclusive"
        elif _is_numba(f) or query:
            if not query:
                raise TypeError(f"system {nm!r}: a kernel system needs query=[...]")
            kind = "kernel"
            extra = set(writes_t) - set(query) - set(optional)
            if extra:
                raise TypeError(
                    f"system {nm!r}: writes {[schema_of(c).name for c in extra]} "
                    "are not in its query; a kernel system writes only its views"
                )
        else:
            kind = "python"
        read_t = set(reads) | set(query) | set(optional) | set(added) | set(changed)
        access = Access(
            reads=frozenset(read_t | set(writes_t)),
            writes=frozenset(writes_t),
            resource_reads=frozenset(set(resources) | set(resources_mut)),
            resource_writes=frozenset(resources_mut),
            event_reads=frozenset(events),
            event_writes=frozenset(events_mut),
            exclusive=exclusive,
        )
        return System(
            name=nm,
            fn=f,
            kind=kind,
            access=access,
            phase=phase,
            before=tuple(before),
            after=tuple(after),
            sets=tuple(sets),
            run_if=conds,
            commands=commands,
            query=_classes(query),
            without=_classes(without),
            optional=_classes(optional),
            added=_classes(added),
            changed=_classes(changed),
            args=args,
            entities=entities,
            parallel_threshold=parallel_threshold,
        )

    if fn is None:
        return make
    return make(fn)


class BoundQuery:
    """A query seen through one system run: access-checked views, change filters.

    Iterating yields ``(entities, *views)`` per archetype, or, for queries with
    ``added`` / ``changed`` filters, ``(entities, rows, *views)`` with the rows
    changed since the system last ran.
    """

    def __init__(self, ctx: SystemContext, state: QueryState) -> None:
        self._ctx = ctx
        self.state = state

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        st = self.state
        try:
            if st.is_filtered:
                yield from st.iter_since(self._ctx.last_run)
            else:
                yield from st
        finally:  # also when the body leaves the loop early: views were handed out
            self._ctx._handed.extend(st.tables())

    def for_each(
        self, kernel: Callable[..., Any], *args: Any, entities: bool = False
    ) -> None:
        """Like ``QueryState.for_each``, with this system's change-filter tick."""
        since = self._ctx.last_run if self.state.is_filtered else None
        self.state.for_each(kernel, *args, entities=entities, since=since)
        self._ctx._handed.extend(self.state.tables())

    def count(self) -> int:
        """Matched entities (ignoring change filters)."""
        return self.state.count()


class SystemContext:
    """What a Python system body gets: access-checked queries, resources, commands.

    Attributes
    ----------
    tick
        This run's change tick.
    last_run
        The change tick of this system's previous run (0 before the first).
    """

    def __init__(self, world: World, sys: System, tick: int) -> None:
        self._world = world
        self.system = sys
        self.tick = tick
        self.last_run = sys.last_run
        self._commands: CommandBuffer | None = None
        self._handed: list[ArchetypeTable] = []

    def _undeclared(self, what: str, fix: str) -> UndeclaredAccessError:
        return UndeclaredAccessError(
            coded(
                E_UNDECLARED,
                f"system {self.system.name!r} used {what} without declaring it; "
                f"add {fix} to its @system(...) declaration",
            )
        )

    @property
    def commands(self) -> CommandBuffer:
        """This run's command buffer (applied at the phase's sync point)."""
        if not self.system.commands:
            raise self._undeclared("ctx.commands", "commands=True")
        if self._commands is None:
            self._commands = CommandBuffer(self.system.name)
        return self._commands

    @property
    def world(self) -> World:
        """The world, for reads the declared access covers (structural calls are
        refused while the phase runs; record them in ``ctx.commands``)."""
        return self._world

    @property
    def time(self) -> Time:
        """The frame clock (always readable)."""
        return self._world.resource(Time)

    def query(
        self,
        *components: type,
        without: Iterable[type] = (),
        optional: Iterable[type] = (),
        added: Iterable[type] = (),
        changed: Iterable[type] = (),
    ) -> BoundQuery:
        """A query limited to this system's declared components.

        Views of components the system only reads are read-only.
        """
        args = (
            components,
            tuple(without),
            tuple(optional),
            tuple(added),
            tuple(changed),
        )
        key = (id(self._world), *args)
        state = self.system._bound.get(key)
        if state is None or state._world is not self._world:
            state = self._checked_query(*args)
            self.system._bound[key] = state
        return BoundQuery(self, state)

    def _checked_query(
        self,
        components: tuple[type, ...],
        without: tuple[type, ...],
        opt: tuple[type, ...],
        added: tuple[type, ...],
        changed: tuple[type, ...],
    ) -> QueryState:
        """The world's query for these arguments, after the access checks."""
        acc = self.system.access
        for c in (*components, *opt, *added, *changed):
            if c not in acc.reads and not acc.exclusive:
                name = schema_of(c).name
                raise self._undeclared(f"component {name}", f"reads=[{name}]")
        writable = [c for c in (*components, *opt) if c in acc.writes or acc.exclusive]
        untracked = [
            c
            for c in (*added, *changed)
            if self._world.components.id_of(c) not in self._world.components.tracked
        ]
        if untracked:
            # Adding tick columns moves no row, but it must not race other systems.
            with self._world._lock:
                self._world._start_tracking(untracked)
        return self._world.query(
            *components,
            without=without,
            optional=opt,
            added=added,
            changed=changed,
            writable=writable,
        )

    def resource(self, kind: type) -> Any:
        """A resource the system declared (``resources=`` or ``resources_mut=``)."""
        acc = self.system.access
        if kind is not Time and kind not in acc.resource_reads and not acc.exclusive:
            raise self._undeclared(
                f"resource {kind.__name__}", f"resources=[{kind.__name__}]"
            )
        return self._world.resource(kind)

    def resource_mut(self, kind: type) -> Any:
        """A resource the system declared as written (``resources_mut=``)."""
        acc = self.system.access
        if kind not in acc.resource_writes and not acc.exclusive:
            raise self._undeclared(
                f"resource {kind.__name__} for writing",
                f"resources_mut=[{kind.__name__}]",
            )
        return self._world.resource(kind)

    def send(self, event: object) -> None:
        """Send one event (type declared in ``events_mut=``)."""
        self._event_queue(type(event)).send(event)

    def send_batch(self, kind: type, columns: object, n: int | None = None) -> None:
        """Send events from columns (type declared in ``events_mut=``)."""
        self._event_queue(kind).send_batch(columns, n=n)

    def _event_queue(self, kind: type) -> Any:
        acc = self.system.access
        if kind not in acc.event_writes and not acc.exclusive:
            raise self._undeclared(
                f"sending {kind.__name__}", f"events_mut=[{kind.__name__}]"
            )
        return self._world.events.queue(kind)

    def read(self, kind: type) -> dict[str, np.ndarray[Any, Any]]:
        """Events of ``kind`` this system has not read yet (declared in ``events=``)."""
        acc = self.system.access
        if kind not in acc.event_reads and not acc.exclusive:
            raise self._undeclared(
                f"reading {kind.__name__}", f"events=[{kind.__name__}]"
            )
        reader = self.system._readers.get(kind)
        if reader is None:
            reader = self._world.events.reader(kind)
            self.system._readers[kind] = reader
        out: dict[str, np.ndarray[Any, Any]] = reader.read()
        return out


def kernel_args(ctx: SystemContext) -> tuple[Any, ...]:
    """The extra arguments of a kernel system for this run."""
    args = ctx.system.args
    return args(ctx) if callable(args) else tuple(args)


def run_kernel_system(
    ctx: SystemContext, state: QueryState
) -> list[tuple[ArchetypeTable, Any]]:
    """Call a kernel system over its query; returns per-table kernel results."""
    sys = ctx.system
    since = ctx.last_run if state.is_filtered else None
    return state.for_each(sys.fn, *kernel_args(ctx), entities=sys.entities, since=since)


def mark_written(
    world: World,
    sys: System,
    tick: int,
    results: Iterable[tuple[ArchetypeTable, Any]],
    since: int | None,
    state: QueryState | None,
) -> int:
    """Stamp ``changed`` ticks of the tracked components a system wrote.

    A bool-array result marks only those rows; anything else marks every row handed
    to the system. Returns the number of rows processed.
    """
    tracked = world.components.tracked
    rows_total = 0
    written = [
        schema_of(c).name
        for c in sys.access.writes
        if world.components.id_of(c) in tracked
    ]
    for table, result in results:
        mask = (
            result
            if isinstance(result, np.ndarray) and result.dtype == np.bool_
            else None
        )
        rows: slice | np.ndarray[Any, Any]
        if since is None or state is None:
            # Every row was handed: no index array (this runs after every system).
            rows_total += table.len
            if not written:
                continue
            rows = (
                slice(0, table.len)
                if mask is None
                else np.flatnonzero(mask[: table.len])
            )
        else:
            rows = state.filtered_rows(table, since)
            rows_total += len(rows)
            if not written:
                continue
            if mask is not None:
                rows = rows[mask[: len(rows)]]
        for name in written:
            key = changed_key(name)
            if key in table._specs:
                table._cols[key][rows] = tick
    return rows_total
