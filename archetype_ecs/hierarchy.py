"""Hierarchy: the ``ChildOf`` relationship, its children index, despawn policy, order.

``ChildOf(parent)`` is an ordinary one-field component, so children of different
parents share one archetype. ``hierarchy(world)`` returns the world's
:class:`Hierarchy` resource: a children index built lazily by Numba kernels from the
ChildOf columns and kept valid by observers, plus the despawn policy.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from archetype_ecs._hierarchy_kernels import (
    children_index_kernel,
    descendants_kernel,
    first_cycle_kernel,
    gather_children_kernel,
    levels_kernel,
)
from archetype_ecs._owner import world_of
from archetype_ecs.commands import CommandBuffer, _as_ids
from archetype_ecs.component import component, schema_of
from archetype_ecs.entity import Entity, pending_slot
from archetype_ecs.errors import (
    E_LENGTH,
    E_NOT_ALIVE,
    E_UNKNOWN_FIELD,
    EcsError,
    EntityNotAliveError,
    SchemaError,
    coded,
)
from archetype_ecs.observers import Trigger, on_add, on_remove, on_set
from archetype_ecs.world import World

if TYPE_CHECKING:
    from typing import TypeAlias

    EntityRef: TypeAlias = int
else:
    from archetype_ecs.schema import EntityRef

__all__ = [
    "ChildOf",
    "DespawnPolicy",
    "Hierarchy",
    "HierarchyCycleError",
    "dangling",
    "hierarchy",
    "hierarchy_order",
    "set_parent",
]

Array = np.ndarray[Any, Any]
DespawnPolicy = Literal["cascade", "orphan"]

_POLICIES = ("cascade", "orphan")
_MASK = np.uint64(0xFFFF_FFFF)
_SHIFT = np.uint64(32)
_MAX_LISTED = 5


@component
class ChildOf:
    """This entity is a child of ``parent`` (an entity id; 0 is the null entity).

    Set it with :func:`set_parent` (which refuses cycles); a plain ``world.insert``
    works too but is not checked. A ChildOf whose parent is not alive counts as no
    parent (find such entities with ``dangling(world, ChildOf, "parent")``).
    """

    parent: EntityRef = 0


class HierarchyCycleError(EcsError, ValueError):
    """A parent assignment would make an entity its own ancestor."""


@dataclass
class _Index:
    """Parent and children of every slot (built from the ChildOf columns)."""

    size: int
    parent_slot: Array  # int64[size]: parent slot, -1 for none (or a dead parent)
    parent_id: Array  # uint64[size]: parent id, 0 for none
    offsets: Array  # int64[size + 1]: CSR offsets into children
    children: Array  # int64[edges]: child slots, grouped by parent slot
    edges: int
    rows: int  # ChildOf rows at build time (a load / restore that fires no observer
    # still changes it)


@dataclass
class _Levels:
    """Breadth-first order of the hierarchy and the depth of every slot."""

    order: Array  # int64 slots, level by level
    offsets: Array  # int64[levels + 1] into order
    depth: Array  # int32[size]


def _slots(ids: Array) -> Array:
    return (ids & _MASK).astype(np.int64)


def _labels(ids: Array) -> str:
    shown = ", ".join(Entity(int(e)).label() for e in ids[:_MAX_LISTED])
    more = f" (and {len(ids) - _MAX_LISTED} more)" if len(ids) > _MAX_LISTED else ""
    return shown + more


def _is_pending(ids: Array) -> Array:
    pending: Array = ((ids >> _SHIFT) == 0) & (ids != 0)
    return pending


class Hierarchy:
    """The children index and despawn policy of one world's ``ChildOf`` relation.

    Get it with :func:`hierarchy`. Lookups take arrays of live entity ids and return
    arrays; the index is rebuilt (one O(entities) kernel pass) on the first lookup
    after a ChildOf was added, set or removed, or a member of the hierarchy was
    despawned.

    Attributes
    ----------
    on_despawn
        ``"cascade"`` (default): despawning an entity despawns all its
        descendants. ``"orphan"``: its children lose their ChildOf and become roots.
    version
        Bumped whenever the index is invalidated.
    rebuilds
        How many times the index was built (for tests and profiling).

    Notes
    -----
    Writes to ChildOf through raw column views bypass the observers that keep the
    index valid: call :meth:`invalidate` after such writes.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> w = World()
    >>> root = w.spawn()
    >>> kids = w.spawn_batch({}, n=2)
    >>> set_parent(w, kids, root)
    >>> h = hierarchy(w)
    >>> h.children(root).tolist() == kids.tolist()
    True
    >>> h.depth_of(kids).tolist()
    [1, 1]
    """

    def __init__(self, world: World, on_despawn: DespawnPolicy = "cascade") -> None:
        """Create the index of ``world`` (use :func:`hierarchy` instead)."""
        # Weak: the world holds its hierarchy, and a cycle would keep a dropped
        # world's tables alive until the next full GC pass.
        self._world_ref = weakref.ref(world)
        self._policy: DespawnPolicy = "cascade"
        self.on_despawn = on_despawn
        self.version = 0
        self.rebuilds = 0
        self._index: _Index | None = None
        self._levels: _Levels | None = None
        self._stamp = np.zeros(0, dtype=np.int64)
        self._epoch = 0
        # Caches of modules built on the hierarchy (transform plans), keyed by name.
        self.caches: dict[str, object] = {}

    @property
    def _world(self) -> World:
        return world_of(self._world_ref, "this hierarchy")

    @property
    def on_despawn(self) -> DespawnPolicy:
        """``"cascade"`` or ``"orphan"``: what despawning a parent does."""
        return self._policy

    @on_despawn.setter
    def on_despawn(self, policy: DespawnPolicy) -> None:
        if policy not in _POLICIES:
            raise ValueError(
                f"on_despawn must be 'cascade' (despawn descendants too) or 'orphan' "
                f"(children lose ChildOf), got {policy!r}"
            )
        self._policy = policy

    def __copy__(self) -> Hierarchy:
        """A Hierarchy is a view of its world: copies are the same object."""
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Hierarchy:
        """The same object, marked stale (snapshots copy resources around a restore
        that rewrites the tables without firing observers)."""
        self.invalidate()
        return self

    def _install(self) -> None:
        w = self._world
        for kind in (on_add, on_set, on_remove):
            w.observe(kind, ChildOf, self._on_change, name="hierarchy.invalidate")
        w.despawn_hooks.append(self._despawn_hook)

    def _on_change(self, trigger: Trigger) -> None:
        self.invalidate()

    def invalidate(self) -> None:
        """Drop the index; the next lookup rebuilds it from the ChildOf columns."""
        self._index = None
        self._levels = None
        self.version += 1

    # ------------------------------------------------------------------ building

    def _build(self) -> _Index:
        w = self._world
        size = w.entities.size
        parent_slot = np.full(size, -1, dtype=np.int64)
        parent_id = np.zeros(size, dtype=np.uint64)
        cid = w.component_id(ChildOf)
        key = schema_of(ChildOf).column_keys()[0]
        for t in w.tables:
            if cid not in t.component_set or not t.len:
                continue
            par = t.column(key)
            live = w.entities.is_alive_batch(par)
            kids = _slots(t.entities[live])
            parent_slot[kids] = _slots(par[live])
            parent_id[kids] = par[live]
        offsets, children = children_index_kernel(parent_slot)
        self.rebuilds += 1
        rows = self._rows()
        return _Index(
            size, parent_slot, parent_id, offsets, children, len(children), rows
        )

    def _rows(self) -> int:
        return self._world.query(ChildOf).count()

    def _index_now(self) -> _Index:
        idx = self._index
        size = self._world.entities.size
        if idx is not None and idx.rows != self._rows():  # changed behind observers
            self.invalidate()
            idx = None
        if idx is None:
            idx = self._index = self._build()
        elif idx.size < size:  # new slots since the build: none is in the hierarchy
            grow = size - idx.size
            idx.parent_slot = np.concatenate([idx.parent_slot, np.full(grow, -1)])
            idx.parent_id = np.concatenate(
                [idx.parent_id, np.zeros(grow, dtype=np.uint64)]
            )
            idx.offsets = np.concatenate(
                [idx.offsets, np.full(grow, idx.offsets[-1], dtype=np.int64)]
            )
            idx.size = size
            if self._levels is not None:
                self._levels.depth = np.concatenate(
                    [self._levels.depth, np.zeros(grow, dtype=np.int32)]
                )
        return idx

    def _levels_now(self) -> _Levels:
        idx = self._index_now()
        if self._levels is None:
            order, offsets, depth = levels_kernel(
                idx.parent_slot, idx.offsets, idx.children
            )
            roots = int(offsets[1]) if len(offsets) > 1 else 0
            if len(order) - roots != idx.edges:
                raise self._stored_cycle(idx, order)
            self._levels = _Levels(order, offsets, depth)
        return self._levels

    def _stored_cycle(self, idx: _Index, order: Array) -> HierarchyCycleError:
        reached = np.zeros(idx.size, dtype=np.bool_)
        reached[order] = True
        stuck = np.flatnonzero((idx.parent_slot >= 0) & ~reached)
        cycle = _cycle_from(idx.parent_slot, int(stuck[0]))
        path = " -> ".join(Entity(int(e)).label() for e in self._ids(cycle))
        ids = self._ids(cycle)
        return HierarchyCycleError(
            f"the ChildOf relation has a cycle: {path} (each arrow points from a "
            f"child to its parent); {len(stuck)} entities are on or below cycles. "
            "Cycles come only from writing ChildOf directly (world.insert / set / "
            "column views); set_parent refuses them. Break it with "
            f"world.remove_batch([{_labels(ids[:1])}], ChildOf)"
        )

    def _ids(self, slots: Array) -> Array:
        gen = self._world.entities.generation[slots].astype(np.uint64)
        out: Array = (gen << _SHIFT) | slots.astype(np.uint64)
        return out

    def _scratch(self, size: int) -> tuple[Array, int]:
        if len(self._stamp) < size:
            self._stamp = np.zeros(max(size, 2 * len(self._stamp)), dtype=np.int64)
            self._epoch = 0
        self._epoch += 1
        return self._stamp, self._epoch

    def _live_slots(self, entities: object, op: str) -> Array:
        ids = _as_ids(entities, op)
        alive = self._world.is_alive_batch(ids)
        if not alive.all():
            dead = ids[~alive]
            why = self._world.entities.describe_dead(int(dead[0]))
            raise EntityNotAliveError(
                coded(
                    E_NOT_ALIVE,
                    f"{op}: {len(dead)} of {len(ids)} entities are not alive "
                    f"({_labels(dead)}; {why}); pass live ids "
                    "(world.is_alive_batch(ids))",
                )
            )
        return _slots(ids)

    # ------------------------------------------------------------------- lookups

    def parent_of(self, entities: object) -> np.ndarray[Any, np.dtype[np.uint64]]:
        """The parent of each entity (0 where it has none), aligned with the input."""
        slots = self._live_slots(entities, "parent_of")
        out: np.ndarray[Any, np.dtype[np.uint64]] = self._index_now().parent_id[slots]
        return out

    def children_of(self, entities: object) -> tuple[Array, Array]:
        """Children of many entities as CSR: ``(offsets, children)``.

        The children of ``entities[i]`` are ``children[offsets[i]:offsets[i + 1]]``
        (ascending slot order, usually spawn order).
        """
        slots = self._live_slots(entities, "children_of")
        idx = self._index_now()
        offsets, kids = gather_children_kernel(idx.offsets, idx.children, slots)
        return offsets, self._ids(kids)

    def children(self, entity: int) -> Array:
        """The children of one entity."""
        return self.children_of(np.array([int(entity)], dtype=np.uint64))[1]

    def ancestors_of(self, entity: int) -> Array:
        """Parent, grandparent, ... up to the root (empty for a root)."""
        (slot,) = self._live_slots(
            np.array([int(entity)], dtype=np.uint64), "ancestors_of"
        )
        self._levels_now()  # refuses a stored cycle instead of looping
        parent = self._index_now().parent_slot
        chain = []
        cur = int(parent[slot])
        while cur >= 0:
            chain.append(cur)
            cur = int(parent[cur])
        return self._ids(np.array(chain, dtype=np.int64))

    def depth_of(self, entities: object) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Number of ancestors of each entity (0 for roots and unrelated entities)."""
        slots = self._live_slots(entities, "depth_of")
        depth = self._levels_now().depth
        out: np.ndarray[Any, np.dtype[np.int64]] = depth[slots].astype(np.int64)
        return out

    def descendants_of(self, entities: object) -> Array:
        """Every entity below any of ``entities`` (breadth first, each once).

        The given entities themselves are never listed.
        """
        slots = self._live_slots(entities, "descendants_of")
        idx = self._index_now()
        found = descendants_kernel(
            idx.offsets, idx.children, slots, *self._scratch(idx.size)
        )
        return self._ids(found)

    def roots(self) -> Array:
        """Entities that have children but no parent, in slot order."""
        lv = self._levels_now()
        end = int(lv.offsets[1]) if len(lv.offsets) > 1 else 0
        return self._ids(lv.order[:end])

    def levels(self) -> tuple[Array, Array]:
        """``(order, offsets)``: :meth:`order` split by depth (level ``d`` is
        ``order[offsets[d]:offsets[d + 1]]``)."""
        lv = self._levels_now()
        return self._ids(lv.order), lv.offsets.copy()

    def order(self) -> Array:
        """Every entity with a parent or a child, parents before children.

        Breadth first: the roots in slot order, then level by level, each level
        listing the children of the previous one parent by parent (stable: the same
        hierarchy always gives the same order).

        Raises
        ------
        HierarchyCycleError
            When ChildOf values written directly form a cycle.
        """
        return self._ids(self._levels_now().order)

    # ------------------------------------------------------------------- despawn

    def _despawn_hook(self, world: World, ids: Array) -> Array:
        idx = self._index_now()
        slots = _slots(ids)
        counts = idx.offsets[slots + 1] - idx.offsets[slots]
        parents = slots[counts > 0]
        if not len(parents):
            if (idx.parent_slot[slots] >= 0).any():
                self.invalidate()
            return ids
        if self._policy == "cascade":
            found = descendants_kernel(
                idx.offsets, idx.children, slots, *self._scratch(idx.size)
            )
            more = self._ids(found)
            self.invalidate()
            return np.concatenate([ids, more]) if len(more) else ids
        _, kids = gather_children_kernel(idx.offsets, idx.children, parents)
        kids = kids[~np.isin(kids, slots)]
        kid_ids = self._ids(kids)
        self.invalidate()
        if len(kid_ids):
            world._move(kid_ids, {}, frozenset({world.component_id(ChildOf)}))
        return ids


def _cycle_from(parent_slot: Array, start: int) -> Array:
    """The slots of the cycle reached by walking up from ``start``, closed (a..a)."""
    seen: dict[int, int] = {}
    path: list[int] = []
    cur = start
    while cur >= 0 and cur not in seen:
        seen[cur] = len(path)
        path.append(cur)
        cur = int(parent_slot[cur])
    if cur < 0:  # pragma: no cover - callers pass a slot on or below a cycle
        return np.array(path, dtype=np.int64)
    loop = [*path[seen[cur] :], cur]
    return np.array(loop, dtype=np.int64)


def hierarchy(world: World, *, on_despawn: DespawnPolicy | None = None) -> Hierarchy:
    """The world's :class:`Hierarchy` (created and installed on first use).

    Installing registers observers on ChildOf (to keep the index valid) and a despawn
    hook (the despawn policy), and stores the Hierarchy as a world resource.

    Parameters
    ----------
    world
        The world.
    on_despawn
        Set the despawn policy: ``"cascade"`` (the default for a new hierarchy:
        despawning an entity despawns its descendants) or ``"orphan"`` (children
        lose ChildOf and become roots).

    Notes
    -----
    Install it before despawning parents: a world that has never called
    ``hierarchy(world)`` (directly or through ``set_parent``, ``spawn_prefab`` ...)
    applies no despawn policy.
    """
    h = world.get_resource(Hierarchy)
    if h is None:
        h = Hierarchy(world)
        # Stored before installing: installing registers ChildOf, whose first
        # registration calls hierarchy(world) again and must find this one.
        world.insert_resource(h)
        h._install()
    if on_despawn is not None:
        h.on_despawn = on_despawn
    return h


def hierarchy_order(world: World) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Entities of the hierarchy sorted by depth, parents first (see ``Hierarchy.order``)."""
    out: np.ndarray[Any, np.dtype[np.uint64]] = hierarchy(world).order()
    return out


# ---------------------------------------------------------------------- set_parent


def _parent_column(parents: object, n: int) -> Array:
    if isinstance(parents, int | np.integer):
        return np.full(n, int(parents), dtype=np.uint64)
    out = _as_ids(parents, "set_parent")
    if len(out) != n:
        raise SchemaError(
            coded(
                E_LENGTH,
                f"set_parent: {len(out)} parents for {n} children; pass one parent "
                "per child, or one parent for all",
            )
        )
    return out


def _last_wins(kids: Array, parents: Array) -> tuple[Array, Array]:
    if len(kids) < 2:
        return kids, parents
    _, first_rev = np.unique(kids[::-1], return_index=True)
    if len(first_rev) == len(kids):
        return kids, parents
    keep = np.sort(len(kids) - 1 - first_rev)
    return kids[keep], parents[keep]


def _refuse_dead(world: World, ids: Array, bad: Array, role: str) -> None:
    if not bad.any():
        return
    dead = ids[bad]
    why = world.entities.describe_dead(int(dead[0]))
    raise EntityNotAliveError(
        coded(
            E_NOT_ALIVE,
            f"set_parent: {int(bad.sum())} {role} are not alive ({_labels(dead)}; "
            f"{why}); nothing was changed. Pass live ids (0 as a parent detaches)",
        )
    )


def _check_set_parent(
    world: World, kids: Array, parents: Array, *, pending_ok: bool
) -> None:
    """Refuse dead entities and cycles; the world is not touched."""
    kid_live = world.is_alive_batch(kids)
    kid_pending = _is_pending(kids) if pending_ok else np.zeros(len(kids), np.bool_)
    _refuse_dead(world, kids, ~kid_live & ~kid_pending, "children")
    attach = parents != 0
    par_live = world.is_alive_batch(parents)
    par_pending = _is_pending(parents) if pending_ok else np.zeros(len(kids), np.bool_)
    _refuse_dead(world, parents, attach & ~par_live & ~par_pending, "parents")
    own = attach & (kids == parents)
    if own.any():
        label = Entity(int(kids[own][0])).label()
        raise HierarchyCycleError(
            f"set_parent: entity {label} cannot be its own parent; nothing was changed"
        )
    h = hierarchy(world)
    idx = h._index_now()
    size = len(idx.parent_slot)
    # Pending entities (spawned in the same buffer) get virtual slots after the
    # world's, so cycles through them, and moves onto them, are checked too.
    pend = np.concatenate([kids[kid_pending], parents[attach & par_pending]])
    extra = int(pending_slot(pend).max()) + 1 if len(pend) else 0
    new_parent = np.full(size + extra, -1, dtype=idx.parent_slot.dtype)
    new_parent[:size] = idx.parent_slot

    def slot(ids: Array, pending: Array) -> Array:
        out = np.empty(len(ids), dtype=np.int64)
        out[~pending] = _slots(ids[~pending])
        out[pending] = size + pending_slot(ids[pending])
        return out

    ks = slot(kids, kid_pending)
    ps = np.where(
        attach, slot(np.where(attach, parents, kids), attach & par_pending), -1
    )
    new_parent[ks] = ps
    on_cycle = first_cycle_kernel(new_parent, ks)
    if on_cycle >= 0:
        if on_cycle >= size or (new_parent[:size] >= size).any():
            raise HierarchyCycleError(
                "set_parent: these changes (with entities pending in the buffer) would "
                "create a cycle; nothing was recorded"
            )
        raise _cycle_error(h, new_parent, on_cycle, ks)


def _cycle_error(
    h: Hierarchy, new_parent: Array, on_cycle: int, changed: Array
) -> HierarchyCycleError:
    loop = _cycle_from(new_parent, on_cycle)
    # Start the listing at a child whose parent this call changes.
    starts = [i for i, s in enumerate(loop[:-1]) if s in set(changed.tolist())]
    first = starts[0] if starts else 0
    loop = np.concatenate([loop[first:-1], loop[:first], loop[first : first + 1]])
    ids = h._ids(loop)
    child, parent = Entity(int(ids[0])).label(), Entity(int(ids[1])).label()
    path = " -> ".join(Entity(int(e)).label() for e in ids)
    return HierarchyCycleError(
        f"set_parent: making {parent} the parent of {child} would create a cycle "
        f"{path} (each arrow points from a child to its parent): with this call's "
        f"changes {parent} would be a descendant of {child}. Nothing was changed; "
        "pick a "
        f"parent outside {child}'s subtree, or detach {parent} first "
        f"(set_parent(world, {parent}, 0))"
    )


def set_parent(
    target: World | CommandBuffer,
    children: object,
    parents: object,
    *,
    world: World | None = None,
) -> None:
    """Make ``parents`` the parents of ``children`` (an insert of ``ChildOf``).

    Parameters
    ----------
    target
        A world (applies now) or a command buffer (records inserts / removes;
        pending ids of that buffer are allowed).
    children
        Entity ids; when one repeats, its last parent wins.
    parents
        One parent per child, or one id for all; 0 detaches (removes ChildOf).
    world
        With a command buffer: the world to check against now (liveness and
        cycles among entities alive in it). Without it, nothing is checked until
        the buffer applies, and a cycle recorded in a buffer is reported by the
        next hierarchy lookup.

    Raises
    ------
    HierarchyCycleError
        When a parent is the child itself or one of its descendants (after all of
        this call's changes); nothing is changed.
    EntityNotAliveError
        [E0001] when a child or a (non-zero) parent is not alive.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> w = World()
    >>> a, b = w.spawn(), w.spawn()
    >>> set_parent(w, [b], a)
    >>> try:
    ...     set_parent(w, [a], b)
    ... except HierarchyCycleError as exc:
    ...     print(str(exc)[:50])
    set_parent: making 1v1 the parent of 0v1 would cre
    """
    kids = _as_ids(children, "set_parent")
    pars = _parent_column(parents, len(kids))
    kids, pars = _last_wins(kids, pars)
    check = target if isinstance(target, World) else world
    if check is not None:
        _check_set_parent(check, kids, pars, pending_ok=not isinstance(target, World))
    detach = pars == 0
    if isinstance(target, World):
        hierarchy(target)
        if detach.any():
            target.remove_batch(kids[detach], ChildOf)
        if not detach.all():
            target.insert_batch(kids[~detach], ChildOf, {"parent": pars[~detach]})
        return
    if detach.any():
        target.remove_batch(kids[detach], ChildOf)
    if not detach.all():
        target.insert_batch(kids[~detach], ChildOf, {"parent": pars[~detach]})


# ------------------------------------------------------------------------ dangling


def dangling(
    world: World, component: type, field: str
) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Entities whose EntityRef ``field`` of ``component`` names a dead entity.

    The null entity (0) is not dangling. For vector fields (``EntityRef[k]``) an
    entity is listed when any element dangles. Vectorized per archetype.

    Raises
    ------
    SchemaError
        [E0005] when ``component`` has no such field, or it is not an EntityRef.

    Examples
    --------
    >>> from archetype_ecs import EntityRef, World, component
    >>> @component
    ... class Aim:
    ...     target: EntityRef = 0
    >>> w = World()
    >>> prey = w.spawn()
    >>> hunter = w.spawn(Aim(target=prey))
    >>> idle = w.spawn(Aim())
    >>> w.despawn(prey)
    >>> dangling(w, Aim, "target").tolist() == [hunter]
    True
    """
    s = schema_of(component, "dangling")
    spec = next((f for f in s.fields if f.name == field), None)
    if spec is None or not spec.type.is_entity:
        what = "has no field" if spec is None else f"is {spec.type!r}, not EntityRef:"
        refs = [f.name for f in s.fields if f.type.is_entity]
        raise SchemaError(
            coded(
                E_UNKNOWN_FIELD,
                f"dangling: {s.name} {what} {field!r}; its EntityRef fields are {refs}",
            )
        )
    cid = world.component_id(s.cls)
    key = f"{s.name}.{field}"
    found: list[Array] = []
    for t in world.tables:
        if cid not in t.component_set or not t.len:
            continue
        refs_2d = t.column(key).reshape(t.len, -1)
        alive = world.is_alive_batch(refs_2d.reshape(-1)).reshape(refs_2d.shape)
        bad = ((refs_2d != 0) & ~alive).any(axis=1)
        if bad.any():
            found.append(t.entities[bad])
    if not found:
        return np.empty(0, dtype=np.uint64)
    out: np.ndarray[Any, np.dtype[np.uint64]] = np.concatenate(found)
    return out


# Installing the hierarchy when a world first meets ChildOf makes the despawn policy
# hold even for worlds that only ever write ChildOf by hand.
ChildOf.__ecs_on_register__ = staticmethod(hierarchy)  # type: ignore[attr-defined] # hook read by World
