"""Queries: which archetypes hold the components asked for, and views into them.

``world.query(Position, Velocity, without=[Frozen], optional=[Mass])`` returns a cached
:class:`QueryState`. Its archetype match list is updated incrementally as archetypes
appear; per-archetype views are rebuilt only after a structural change of that table.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from archetype_ecs._owner import world_of
from archetype_ecs.component import ComponentId
from archetype_ecs.errors import QueryFilterError
from archetype_ecs.schema import ENTITY_METADATA
from archetype_ecs.table import ENTITY_COLUMN, ArchetypeTable, added_key, changed_key

if TYPE_CHECKING:
    from archetype_ecs.world import World

__all__ = ["QueryState"]


@contextlib.contextmanager
def _iterating(world: World) -> Iterator[None]:
    """Refuse structural changes while views are out.

    Inside a running phase the phase itself holds that guard (systems may iterate on
    worker threads), so only the main-thread path counts.
    """
    if world._phase_active:
        yield
        return
    world._iter_depth += 1
    try:
        yield
    finally:
        world._iter_depth -= 1


class QueryState:
    """A query's cached archetype matches and per-archetype views.

    Iterating yields, per non-empty matched archetype, ``(entities, view, view, ...)``:
    the entity-id column and one ``<Component>View`` (attribute access, unpackable) of numpy
    column views per requested component (``None`` for an optional component the
    archetype lacks; tags give an empty view).

    Notes
    -----
    Views are valid until the next structural change; structural changes are refused
    while a query is being iterated. Obtain queries through :meth:`World.query`.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> w = World()
    >>> _ = w.spawn_batch({Pos: {"x": [1.0, 2.0]}})
    >>> for ents, pos in w.query(Pos):
    ...     pos.x += 1.0
    >>> w.query(Pos).to_arrow().column("Pos.x").to_pylist()
    [2.0, 3.0]
    """

    def __init__(
        self,
        world: World,
        required: tuple[ComponentId, ...],
        without: tuple[ComponentId, ...],
        optional: tuple[ComponentId, ...],
        *,
        writable: frozenset[ComponentId] | None = None,
        added: tuple[ComponentId, ...] = (),
        changed: tuple[ComponentId, ...] = (),
    ) -> None:
        # Weak: the world caches its queries, and a cycle would keep a dropped
        # world's tables alive until the next full GC pass.
        self._world_ref = weakref.ref(world)
        self.required = required
        self.without = frozenset(without)
        self.optional = optional
        self._requested = required + optional
        self._required_set = frozenset(required)
        # Change filters only pass rows that have the filtered component.
        self._match_set = frozenset(required) | frozenset(added) | frozenset(changed)
        # None: every view writable (world.query); else read-only views for the rest.
        self.writable = writable
        self.added = added
        self.changed = changed
        self.matched: list[ArchetypeTable] = []
        self._seen = 0
        self._items: dict[
            int, tuple[int, tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]
        ] = {}

    @property
    def _world(self) -> World:
        return world_of(self._world_ref, "this query")

    @property
    def is_filtered(self) -> bool:
        """True when the query has ``added`` / ``changed`` filters."""
        return bool(self.added or self.changed)

    def _update(self) -> None:
        world = self._world
        tables = world.archetypes.tables
        if self._seen == len(tables):
            return
        with world._lock:  # systems on worker threads may share this query
            self._match_new(tables)

    def _match_new(self, tables: list[ArchetypeTable]) -> None:
        for t in tables[self._seen :]:
            if self._match_set <= t.component_set and not (
                self.without & t.component_set
            ):
                self.matched.append(t)
        self._seen = len(tables)

    def _view(self, t: ArchetypeTable, c: ComponentId) -> Any:
        view = t.component_view(c)
        if self.writable is None or c in self.writable:
            return view
        frozen = []
        for arr in view:
            ro = arr.view()
            ro.flags.writeable = False
            frozen.append(ro)
        return type(view)(*frozen)

    def _item(self, t: ArchetypeTable) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        cached = self._items.get(t.id)
        if cached is not None and cached[0] == t.version:
            return cached[3], cached[1]
        views = tuple(
            self._view(t, c) if c in t.component_set else None for c in self._requested
        )
        ents = t.entities.view()
        ents.flags.writeable = False  # ids are never written through a query
        item = (ents, *views)
        flat_fields: list[Any] = []
        for v in views:
            if v is not None:
                flat_fields.extend(v)
        flat = (ents, *flat_fields)
        # (version, flat args with entities, flat args without, iteration item)
        self._items[t.id] = (t.version, flat, tuple(flat_fields), item)
        return item, flat

    def tables(self) -> list[ArchetypeTable]:
        """Matched tables, including empty ones, in archetype-creation order."""
        self._update()
        return list(self.matched)

    def filtered_rows(self, t: ArchetypeTable, since: int) -> np.ndarray[Any, Any]:
        """Rows of ``t`` passing the ``added`` / ``changed`` filters since tick ``since``.

        A row passes when every ``added`` component was added, and every ``changed``
        component changed, after ``since`` (ticks compare as ``tick > since``).
        """
        mask = np.ones(t.len, dtype=np.bool_)
        schemas = self._world.components.schemas
        for c in self.added:
            mask &= t.column(added_key(schemas[c].name)) > since
        for c in self.changed:
            mask &= t.column(changed_key(schemas[c].name)) > since
        return np.flatnonzero(mask)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        if self.is_filtered:
            raise QueryFilterError(
                "a query with added= / changed= filters needs a reference tick: "
                "iterate it inside a system (ctx.query(...)) or call "
                "query.iter_since(tick)"
            )
        self._update()
        with _iterating(self._world):
            for t in self.matched:
                if t.len:
                    yield self._item(t)[0]

    def iter_since(self, since: int) -> Iterator[tuple[Any, ...]]:
        """Iterate a filtered query: ``(entities, rows, *views)`` per archetype.

        ``entities`` are the ids of the passing rows; ``rows`` index the full-table
        ``views`` (so kernels loop ``for i in rows``). Archetypes with no passing
        row are skipped.
        """
        self._update()
        with _iterating(self._world):
            for t in self.matched:
                if not t.len:
                    continue
                rows = self.filtered_rows(t, since)
                if len(rows):
                    item = self._item(t)[0]
                    yield (item[0][rows], rows, *item[1:])

    def for_each(
        self,
        kernel: Callable[..., Any],
        *args: Any,
        entities: bool = False,
        since: int | None = None,
    ) -> list[tuple[ArchetypeTable, Any]]:
        """Call ``kernel(*field_views, *args)`` once per non-empty matched archetype.

        Parameters
        ----------
        kernel
            Usually a Numba ``@njit`` function. Field views come flat, in query order
            (components in the order given, fields in declaration order); optional
            components the archetype lacks contribute nothing, so use ``for_each``
            with optional components only when every archetype has them or the kernel
            takes varargs.
        *args
            Extra arguments after the views (e.g. ``dt``).
        entities
            Pass the entity-id column (uint64) first.
        since
            For filtered queries: the reference tick; the kernel then gets the
            passing ``rows`` (int64) before the views.

        Returns
        -------
        list
            ``(table, kernel result)`` per call, for callers that use the results
            (systems read a returned bool mask as "rows really changed").

        Notes
        -----
        The per-archetype argument tuple is cached; the fixed cost is one dispatch
        per archetype.
        """
        self._update()
        if self.is_filtered and since is None:
            raise QueryFilterError(
                "for_each on a query with added= / changed= filters needs since=<tick>"
            )
        results: list[tuple[ArchetypeTable, Any]] = []
        world = self._world
        guard = not world._phase_active  # inline: this is the per-frame hot path
        if guard:
            world._iter_depth += 1
        try:
            which = 1 if entities else 2
            items = self._items
            for t in self.matched:
                if not t.len:
                    continue
                cached = items.get(t.id)
                if cached is None or cached[0] != t.version:
                    self._item(t)
                    cached = items[t.id]
                flat: tuple[Any, ...] = cached[which]  # type: ignore[assignment] # 1 or 2
                if since is None:
                    results.append((t, kernel(*flat, *args)))
                    continue
                rows = self.filtered_rows(t, since)
                if len(rows):
                    results.append((t, kernel(rows, *flat, *args)))
        finally:
            if guard:
                world._iter_depth -= 1
        return results

    def _repr_html_(self) -> str:
        from archetype_ecs._html import query_html

        return query_html(self)

    def count(self) -> int:
        """Number of entities the query matches."""
        self._update()
        return sum(t.len for t in self.matched)

    def __len__(self) -> int:
        return self.count()

    def entities(self) -> np.ndarray[Any, np.dtype[np.uint64]]:
        """All matched entity ids (a copy), in table order."""
        self._update()
        parts = [t.entities for t in self.matched if t.len]
        if not parts:
            return np.empty(0, dtype=np.uint64)
        return np.concatenate(parts)

    def _arrow_schema(self) -> pa.Schema:
        schemas = self._world.components.schemas
        fields = [
            pa.field(
                ENTITY_COLUMN, pa.uint64(), nullable=False, metadata=ENTITY_METADATA
            )
        ]
        for c in self._requested:
            s = schemas[c]
            opt = c not in self._required_set
            if s.is_tag and opt:
                fields.append(pa.field(s.name, pa.bool_(), nullable=False))
            for f in s.fields:
                fields.append(
                    pa.field(f"{s.name}.{f.name}", f.type.arrow_type, nullable=opt)
                )
        return pa.schema(fields)

    def to_arrow(self) -> pa.Table:
        """One ``pyarrow.Table`` of the matched rows: ``entity`` then the fields.

        Optional components the archetype lacks appear as nulls; an optional tag
        appears as a bool column. Zero-copy per archetype where Arrow allows (not for
        bool fields).
        """
        self._update()
        schema = self._arrow_schema()
        batches = []
        for t in self.matched:
            if not t.len:
                continue
            cols: list[pa.Array] = [t.batch(()).column(0)]
            for c in self._requested:
                s = t.schemas.get(c) or self._world.components.schemas[c]
                has = c in t.component_set
                if s.is_tag and c not in self._required_set:
                    cols.append(pa.array(np.full(t.len, has)))
                for key in s.column_keys():
                    if has:
                        cols.append(t._arrow_column(key))
                    else:
                        cols.append(pa.nulls(t.len, schema.field(key).type))
            batches.append(pa.RecordBatch.from_arrays(cols, schema=schema))
        return pa.Table.from_batches(batches, schema=schema)


def spec_key(
    required: Sequence[ComponentId],
    without: Sequence[ComponentId],
    optional: Sequence[ComponentId],
    writable: frozenset[ComponentId] | None = None,
    added: Sequence[ComponentId] = (),
    changed: Sequence[ComponentId] = (),
) -> tuple[object, ...]:
    """Cache key of a query spec (order of required / optional matters for views)."""
    return (
        tuple(required),
        tuple(sorted(set(without))),
        tuple(optional),
        None if writable is None else tuple(sorted(writable)),
        tuple(sorted(set(added))),
        tuple(sorted(set(changed))),
    )
