"""Prefabs and scenes: spawning many copies of an entity tree in one call per archetype.

A :class:`Prefab` is a named template (components plus child prefabs), registered in
the world's :class:`Prefabs` resource and spawned by :func:`spawn_prefab`, directly or
through a command buffer. :func:`instantiate_scene` copies a live subtree instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype_ecs.commands import CommandBuffer
from archetype_ecs.component import ComponentSchema, schema_of
from archetype_ecs.errors import (
    E_LENGTH,
    E_NOT_ALIVE,
    EcsError,
    EntityNotAliveError,
    SchemaError,
    coded,
)
from archetype_ecs.hierarchy import ChildOf, hierarchy
from archetype_ecs.world import World

__all__ = [
    "Prefab",
    "PrefabNotFoundError",
    "Prefabs",
    "instantiate_scene",
    "prefabs",
    "spawn_prefab",
]

Array = np.ndarray[Any, Any]
Columns = dict[str, Array]
Target = World | CommandBuffer


class PrefabNotFoundError(EcsError, LookupError):
    """A prefab name is not registered in the world's :class:`Prefabs`."""


def _one_row(cls: type, value: object, where: str) -> Columns:
    """Validated one-row columns of a prefab component value."""
    s = schema_of(cls, where)
    if isinstance(value, type):
        if value is not s.cls:
            raise SchemaError(
                f"{where}: the value of {s.name} is the class {value.__name__}; give "
                f"None, a {s.name}(...) instance or a dict of field -> value"
            )
        value = None
    if value is not None and not isinstance(value, s.cls | dict):
        raise SchemaError(
            f"{where}: the value of {s.name} must be None, a {s.name}(...) instance "
            f"or a dict of field -> value, got {type(value).__name__}"
        )
    _, cols = s.coerce(value, 1)
    return {k: np.ascontiguousarray(v) for k, v in cols.items()}


@dataclass(frozen=True, eq=False)
class Prefab:
    """A template of an entity tree: a root's components and child prefabs.

    Parameters
    ----------
    name
        Registry key of a top-level prefab; for a child, its path segment (used in
        ``spawn_prefab`` overrides as ``"child/grandchild"``).
    components
        Component class -> ``None`` (defaults; tags), an instance, or a dict of
        field -> value (missing fields take the component's defaults).
    children
        Child prefabs; each copy of the root gets one copy of each child subtree,
        with ``ChildOf`` set (do not list ChildOf in a child's components).

    Raises
    ------
    SchemaError
        When a value does not fit its component, or children repeat a name.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Hp:
    ...     value: f32 = 10.0
    >>> w = World()
    >>> goblin = Prefab("goblin", {Hp: Hp(5.0)}, children=[Prefab("club", {Hp: None})])
    >>> _ = prefabs(w).register(goblin)
    >>> ids = spawn_prefab(w, "goblin", n=3, overrides={Hp: {"value": [1, 2, 3]}})
    >>> w.get_batch(ids, Hp)["value"].tolist()
    [1.0, 2.0, 3.0]
    >>> len(w)
    6
    """

    name: str
    components: Mapping[type, object] = field(default_factory=dict)
    children: Sequence[Prefab] = ()
    _columns: dict[type, Columns] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Validate every value now, so spawning never half-fails."""
        where = f"Prefab {self.name!r}"
        cols = {
            schema_of(c, where).cls: _one_row(c, v, where)
            for c, v in self.components.items()
        }
        object.__setattr__(self, "_columns", cols)
        object.__setattr__(self, "children", tuple(self.children))
        for c in self.children:
            if not isinstance(c, Prefab):
                raise SchemaError(
                    f"{where}: children must be Prefab objects, got {c!r}"
                )
            if ChildOf in c._columns:
                raise SchemaError(
                    f"{where}: child {c.name!r} lists ChildOf; spawn_prefab sets the "
                    "parent of children itself (give the root a ChildOf, or override "
                    "it, to attach copies to an existing entity)"
                )
        names = [c.name for c in self.children]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SchemaError(
                f"{where}: children names repeat {dup}; give siblings distinct names "
                "(overrides address children by path)"
            )

    def walk(self) -> list[tuple[str, int, int, Prefab]]:
        """``(path, level, parent position, prefab)`` of every node, breadth first."""
        out: list[tuple[str, int, int, Prefab]] = [("", 0, -1, self)]
        head = 0
        while head < len(out):
            path, level, _, node = out[head]
            for child in node.children:
                sub = f"{path}/{child.name}" if path else child.name
                out.append((sub, level + 1, head, child))
            head += 1
        return out


class Prefabs:
    """A world's prefab registry (a resource; get it with :func:`prefabs`)."""

    def __init__(self) -> None:
        """Create an empty registry."""
        self._by_name: dict[str, Prefab] = {}

    def register(self, prefab: Prefab, *, replace: bool = False) -> Prefab:
        """Add ``prefab`` under its name (``replace=True`` to overwrite)."""
        if not isinstance(prefab, Prefab):
            raise TypeError(f"register: expected a Prefab, got {type(prefab).__name__}")
        if prefab.name in self._by_name and not replace:
            raise ValueError(
                f"a prefab named {prefab.name!r} is already registered; pass "
                "replace=True to overwrite it"
            )
        self._by_name[prefab.name] = prefab
        return prefab

    def get(self, name: str) -> Prefab:
        """The prefab registered as ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise PrefabNotFoundError(
                f"no prefab named {name!r} (registered: {known}); register it with "
                f"prefabs(world).register(Prefab({name!r}, ...))"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._by_name)


def prefabs(world: World) -> Prefabs:
    """The world's :class:`Prefabs` registry (created on first use)."""
    reg = world.get_resource(Prefabs)
    if reg is None:
        reg = Prefabs()
        world.insert_resource(reg)
    return reg


# ------------------------------------------------------------------- spawn_prefab


def _resolve(target: Target, prefab: Prefab | str, registry: Prefabs | None) -> Prefab:
    if isinstance(prefab, Prefab):
        return prefab
    if registry is None:
        if not isinstance(target, World):
            raise TypeError(
                f"spawn_prefab(commands, {prefab!r}): a command buffer has no prefab "
                "registry; pass registry=prefabs(world) (in a system: "
                "registry=ctx.resource(Prefabs)) or the Prefab object"
            )
        registry = prefabs(target)
    return registry.get(prefab)


def _override_columns(
    s: ComponentSchema, base: Columns | None, value: object, n: int, where: str
) -> Columns:
    """Prefab columns broadcast to ``n`` rows with the given fields replaced."""
    rows = {k: np.broadcast_to(v, (n, *v.shape[1:])) for k, v in (base or {}).items()}
    if base is None:
        _, rows = s.coerce(None, n)
    if value is None:
        return rows
    got_n, cols = s.coerce(value, n)
    if got_n != n:
        raise SchemaError(
            coded(E_LENGTH, f"{where}: {s.name} has {got_n} rows, expected n={n}")
        )
    named = set(value) if isinstance(value, dict) else set(cols)
    return {**rows, **{k: v for k, v in cols.items() if k in named}}


def _node_values(
    nodes: list[tuple[str, int, int, Prefab]],
    overrides: Mapping[object, object],
    n: int,
) -> list[dict[type, Columns]]:
    """Columns of every node (n rows each), overrides applied; validates all first."""
    by_path: dict[str, dict[object, object]] = {}
    for key, value in overrides.items():
        if isinstance(key, str):
            if not isinstance(value, Mapping):
                raise SchemaError(
                    f"spawn_prefab: overrides[{key!r}] must map component classes "
                    f"to values, got {type(value).__name__}"
                )
            by_path.setdefault(key, {}).update(value)
        else:
            by_path.setdefault("", {})[key] = value
    paths = {path for path, *_ in nodes}
    unknown = sorted(set(by_path) - paths)
    if unknown:
        raise SchemaError(
            f"spawn_prefab: overrides name no child {unknown}; children paths are "
            f"{sorted(p for p in paths if p)}"
        )
    out: list[dict[type, Columns]] = []
    for path, _, _, node in nodes:
        where = f"spawn_prefab({nodes[0][3].name!r}) {path or 'root'}"
        given = {schema_of(c, where).cls: v for c, v in by_path.get(path, {}).items()}
        if path and ChildOf in given:
            raise SchemaError(
                f"{where}: overrides set ChildOf of a child; spawn_prefab sets the "
                "parents of children itself (override ChildOf of the root only)"
            )
        values = {
            cls: _override_columns(schema_of(cls), node._columns.get(cls), v, n, where)
            for cls, v in {**dict.fromkeys(node._columns), **given}.items()
        }
        out.append(values)
    return out


def spawn_prefab(
    target: Target,
    prefab: Prefab | str,
    n: int = 1,
    overrides: Mapping[object, object] | None = None,
    *,
    registry: Prefabs | None = None,
) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Spawn ``n`` copies of a prefab tree: one ``spawn_batch`` per node group.

    Parameters
    ----------
    target
        A world (spawns now) or a command buffer (records spawns; returns pending
        ids, resolved with ``report.resolve(buffer, ids)`` after ``world.apply``).
    prefab
        A :class:`Prefab` or the name of a registered one.
    n
        Number of copies.
    overrides
        Per-copy values as columns of length ``n`` (or one value, broadcast):
        ``{Comp: {field: column}}`` for the root (an instance or, for one-field
        components, a column also works; components the prefab lacks are added),
        and ``{"child/path": {Comp: {field: column}}}`` for children. Give the root
        ``{ChildOf: {"parent": ids}}`` to attach the copies to existing entities.
    registry
        The registry to look names up in: required for a command buffer target with
        a name (in a system: ``ctx.resource(Prefabs)``); default ``prefabs(world)``.

    Returns
    -------
    numpy.ndarray
        The ``n`` root ids (pending ids for a command buffer).

    Notes
    -----
    Nodes of one depth level with the same component set are spawned together, so
    a tree of k nodes costs at most k ``spawn_batch`` calls whatever ``n`` is.
    Everything is validated before the first spawn.
    """
    if n < 0:
        raise ValueError(f"spawn_prefab: n must be >= 0, got {n}")
    root = _resolve(target, prefab, registry)
    nodes = root.walk()
    values = _node_values(nodes, overrides or {}, n)
    if isinstance(target, World) and len(nodes) > 1:
        hierarchy(target)  # so despawning a root cascades
    ids: list[Array] = [np.empty(0, dtype=np.uint64)] * len(nodes)
    levels = max(level for _, level, _, _ in nodes) + 1
    for level in range(levels):
        groups: dict[tuple[type, ...], list[int]] = {}
        for i, (_, lvl, _, _) in enumerate(nodes):
            if lvl == level:
                key = tuple(sorted(values[i], key=lambda c: schema_of(c).name))
                groups.setdefault(key, []).append(i)
        for classes, members in groups.items():
            batch = _group_batch(classes, members, nodes, values, ids, n)
            spawned = target.spawn_batch(batch, n=n * len(members))
            for j, i in enumerate(members):
                ids[i] = spawned[j * n : (j + 1) * n]
    out: np.ndarray[Any, np.dtype[np.uint64]] = ids[0]
    return out


def _group_batch(
    classes: tuple[type, ...],
    members: list[int],
    nodes: list[tuple[str, int, int, Prefab]],
    values: list[dict[type, Columns]],
    ids: list[Array],
    n: int,
) -> dict[type, object]:
    batch: dict[type, object] = {}
    for cls in classes:
        s = schema_of(cls)
        if s.is_tag:
            batch[cls] = None
            continue
        batch[cls] = {
            f.name: np.concatenate([values[i][cls][f.name] for i in members])
            for f in s.fields
        }
    parents = [nodes[i][2] for i in members]
    if parents[0] >= 0:
        batch[ChildOf] = {"parent": np.concatenate([ids[p] for p in parents])}
    return batch


# --------------------------------------------------------------- instantiate_scene


@dataclass(eq=False)
class _Group:
    """Subtree entities of one depth level and one archetype, with their values."""

    members: Array  # positions in the subtree
    depth: int
    classes: tuple[type, ...]
    values: dict[type, Columns]  # m rows per field


def _subtree(world: World, root: int) -> tuple[Array, Array]:
    """``root`` and its descendants (parents first) and their depth below ``root``."""
    h = hierarchy(world)
    top = np.array([int(root)], dtype=np.uint64)
    ids = np.concatenate([top, h.descendants_of(top)])
    depth = h.depth_of(ids) - h.depth_of(top)[0]
    return ids, depth


def _scene_groups(
    world: World, subtree: Array, depth: Array, *, copy: bool = False
) -> list[_Group]:
    """The subtree's entities grouped by (depth, archetype), parents first, with
    their values (``copy=True``: owned arrays that outlive later world changes)."""
    slots = (subtree & np.uint64(0xFFFF_FFFF)).astype(np.int64)
    tables = world.entities.table[slots]
    groups = []
    for d in range(int(depth.max()) + 1):
        at_level = np.flatnonzero(depth == d)
        for tid in np.unique(tables[at_level]):
            members = at_level[tables[at_level] == tid]
            table = world.tables[int(tid)]
            classes = tuple(table.schemas[c].cls for c in table.components)
            values = {}
            for c in classes:
                if not schema_of(c).is_tag:
                    got = world.get_batch(subtree[members], c)
                    values[c] = (
                        {k: np.array(v) for k, v in got.items()} if copy else got
                    )
            groups.append(_Group(members, d, classes, values))
    return groups


def _remap(
    refs: Array,
    lookup: tuple[Array, Array],
    new_ids: Array,
    n: int,
    *,
    keep_outside: bool = True,
) -> tuple[Array, Array]:
    """Refs of m entities tiled to ``n`` copies, subtree refs mapped to the copies.

    Refs outside the subtree are kept (``keep_outside``) or become the null entity.
    Returns the ``(n * m, ...)`` column (copy-major) and a mask of refs whose
    target copy did not exist yet (``new_ids`` still 0).
    """
    sorted_ids, order = lookup
    m = refs.shape[0]
    flat = refs.reshape(m, -1)
    pos = np.minimum(np.searchsorted(sorted_ids, flat), len(sorted_ids) - 1)
    inside = (sorted_ids[pos] == flat) & (flat != 0)
    outside = flat[None, :, :] if keep_outside else np.uint64(0)
    copies = np.where(
        inside[None, :, :], new_ids[order[pos]].transpose(2, 0, 1), outside
    )  # (n, m, k)
    missing = inside[None, :, :] & (copies == 0)
    shape = (n * m, *refs.shape[1:])
    return copies.reshape(shape), missing.reshape(shape)


def _copy_subtree(
    groups: list[_Group],
    ids: Array,
    sink: Target,
    n: int,
    *,
    root_values: Mapping[type, Columns] | None = None,
    detach_root: bool = False,
) -> Array:
    """Spawn ``n`` copies of a grouped subtree into ``sink``; returns the root copies.

    One ``spawn_batch`` per group, whatever ``n`` is; EntityRefs into the subtree
    point at the same copy. ``detach_root`` (scenes): the root copies get no
    ``ChildOf`` and refs leaving the subtree become null; otherwise (copies of a
    live subtree) they are kept. ``root_values`` adds or replaces components of the
    root copies (n rows per field).
    """
    given_root = root_values or {}
    order = np.argsort(ids, kind="stable")
    lookup = (ids[order], order)
    new_ids = np.zeros((len(ids), n), dtype=np.uint64)
    fixes: list[tuple[_Group, type, str]] = []
    for g in groups:
        m = len(g.members)
        classes = list(g.classes)
        if g.depth == 0:
            if detach_root:
                classes = [c for c in classes if c is not ChildOf]
            classes += [c for c in given_root if c not in classes]
        batch: dict[type, object] = {}
        for cls in classes:
            given = given_root.get(cls, {}) if g.depth == 0 else {}
            if cls not in g.values and not given:
                batch[cls] = None
                continue
            cols: Columns = {}
            for f in schema_of(cls).fields:
                if f.name in given:
                    cols[f.name] = given[f.name]
                    continue
                if cls not in g.values:
                    continue  # a new component's missing fields take defaults
                col = g.values[cls][f.name]
                if f.type.is_entity:
                    cols[f.name], missing = _remap(
                        col, lookup, new_ids, n, keep_outside=not detach_root
                    )
                    if missing.any():
                        fixes.append((g, cls, f.name))
                else:
                    cols[f.name] = np.tile(col, (n,) + (1,) * (col.ndim - 1))
            batch[cls] = cols
        spawned = sink.spawn_batch(batch, n=n * m)
        new_ids[g.members] = spawned.reshape(n, m).T
    for g, cls, fname in fixes:  # refs to copies spawned later: now they exist
        col, _ = _remap(
            g.values[cls][fname], lookup, new_ids, n, keep_outside=not detach_root
        )
        sink.set_batch(new_ids[g.members].T.reshape(-1), cls, {fname: col})
    out: Array = new_ids[0].copy()
    return out


def instantiate_scene(
    world: World,
    root: int,
    n: int = 1,
    *,
    commands: CommandBuffer | None = None,
) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """Copy the subtree of ``root`` (root and all descendants) ``n`` times.

    Every copy gets new ids; ``ChildOf`` parents and every other EntityRef field
    that points inside the subtree are remapped to the same copy, references to
    outside entities are kept (so the root copies keep the root's own parent).
    One ``spawn_batch`` per depth level and archetype, whatever ``n`` is.

    Parameters
    ----------
    world
        The world the subtree lives in.
    root
        A live entity.
    n
        Number of copies.
    commands
        Record the spawns in this buffer instead of spawning now (the returned ids
        are then pending ids of the buffer).

    Returns
    -------
    numpy.ndarray
        The ``n`` copies of ``root``.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> from archetype_ecs.hierarchy import hierarchy, set_parent
    >>> w = World()
    >>> car = w.spawn()
    >>> wheels = w.spawn_batch({}, n=4)
    >>> set_parent(w, wheels, car)
    >>> cars = instantiate_scene(w, car, n=10)
    >>> len(w), int(hierarchy(w).children_of(cars)[0][-1])
    (55, 40)
    """
    if n < 0:
        raise ValueError(f"instantiate_scene: n must be >= 0, got {n}")
    if not world.is_alive(root):
        raise EntityNotAliveError(
            coded(
                E_NOT_ALIVE,
                f"instantiate_scene: {world.entities.describe_dead(int(root))}; pass "
                "a live root entity",
            )
        )
    subtree, depth = _subtree(world, int(root))
    sink: Target = world if commands is None else commands
    return _copy_subtree(_scene_groups(world, subtree, depth), subtree, sink, n)
