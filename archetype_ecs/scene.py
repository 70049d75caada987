"""Scenes: saved hierarchies loaded into, unloaded from and switched in a running world.

A scene is a root entity with its subtree (``ChildOf``), saved to disk by
:func:`save_scene` with the ordinary save machinery (a save directory holding just
that subtree). :class:`Scene` reads and checks such a save once and keeps its columns
in memory; :meth:`Scene.instantiate` copies it ``n`` times into a world or a command
buffer, with ``EntityRef`` fields (``ChildOf`` parents included) remapped to each copy.
:class:`SceneManager` (``scenes(world)``) queues load / unload / switch requests and
applies them at the end of the frame (a sync point), or at :meth:`SceneManager.flush`
between frames; it never changes the world while systems run.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archetype_ecs.commands import CommandBuffer
from archetype_ecs.component import schema_of
from archetype_ecs.errors import (
    E_LENGTH,
    E_NOT_ALIVE,
    E_STRUCTURAL,
    EcsError,
    EntityNotAliveError,
    SchemaError,
    SerializationError,
    StructuralChangeError,
    coded,
)
from archetype_ecs.hierarchy import ChildOf, hierarchy
from archetype_ecs.prefab import _copy_subtree, _Group, _scene_groups, _subtree
from archetype_ecs.serialization import load, save
from archetype_ecs.world import World

__all__ = [
    "Scene",
    "SceneError",
    "SceneInstance",
    "SceneManager",
    "save_scene",
    "scenes",
]

Array = np.ndarray[Any, Any]
Columns = dict[str, Array]
Target = World | CommandBuffer


class SceneError(SerializationError):
    """A scene file is missing, corrupt or not a scene, or a scene request is bad.

    The world is unchanged when it is raised.
    """


# ---------------------------------------------------------------- copying subtrees


def _outside_refs(groups: list[_Group], lookup: tuple[Array, Array]) -> int:
    """How many non-null EntityRef values point outside the subtree."""
    sorted_ids = lookup[0]
    count = 0
    for g in groups:
        for cls, cols in g.values.items():
            if g.depth == 0 and cls is ChildOf:
                continue  # the root's own parent is dropped, not counted
            for f in schema_of(cls).fields:
                if f.type.is_entity:
                    flat = cols[f.name].reshape(-1)
                    pos = np.minimum(
                        np.searchsorted(sorted_ids, flat), len(sorted_ids) - 1
                    )
                    count += int(
                        np.count_nonzero((sorted_ids[pos] != flat) & (flat != 0))
                    )
    return count


# ------------------------------------------------------------------------- saving


def save_scene(
    world: World,
    root: int,
    path: str | os.PathLike[str],
    *,
    file_format: str = "ipc",
) -> Path:
    """Save ``root`` and its subtree as a scene (a save directory) at ``path``.

    Parameters
    ----------
    world
        The world the subtree lives in.
    root
        A live entity: the scene's root.
    path
        The save directory (see :func:`archetype_ecs.serialization.save`; written
        atomically, previous saves stay loadable until the new one is complete).
    file_format
        ``"ipc"`` or ``"parquet"``.

    Returns
    -------
    pathlib.Path
        The snapshot folder written.

    Raises
    ------
    EntityNotAliveError
        When ``root`` is not alive (nothing is written).

    Notes
    -----
    The root's own ``ChildOf`` is not saved, and EntityRef fields that point
    outside the subtree are saved as the null entity 0. Resources are not part of
    a scene. O(subtree) copies.

    Examples
    --------
    >>> import tempfile
    >>> from archetype_ecs import World
    >>> from archetype_ecs.hierarchy import set_parent
    >>> w = World()
    >>> car = w.spawn()
    >>> set_parent(w, w.spawn_batch({}, n=4), car)
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_scene(w, car, folder)
    >>> len(Scene.open(folder))
    5
    """
    if not world.is_alive(int(root)):
        raise EntityNotAliveError(
            coded(
                E_NOT_ALIVE,
                f"save_scene: {world.entities.describe_dead(int(root))}; pass a live "
                "root entity",
            )
        )
    ids, depth = _subtree(world, int(root))
    staging = World(threads=1, profile=False)
    try:
        _copy_subtree(
            _scene_groups(world, ids, depth, copy=True),
            ids,
            staging,
            1,
            detach_root=True,
        )
        return save(staging, path, file_format=file_format)
    finally:
        staging.close()


# ------------------------------------------------------------------------ loading


def _read(path: Path, components: Sequence[type]) -> World:
    """The save at ``path`` in a fresh world, or a SceneError naming the file."""
    staging = World(threads=1, profile=False)
    try:
        load(path, staging, components=(ChildOf, *components))
    except SerializationError as exc:
        staging.close()
        raise SceneError(f"cannot load scene {path}: {exc}") from exc
    except EcsError as exc:  # e.g. a component name clash (E0010)
        staging.close()
        raise SceneError(f"cannot load scene {path}: {exc}") from exc
    return staging


def _scene_root(staging: World, path: Path) -> int:
    everyone = staging.query().entities()
    if not len(everyone):
        raise SceneError(f"scene {path} holds no entities; save one with save_scene")
    children = staging.query(ChildOf).entities()
    parents = staging.get_batch(children, ChildOf)["parent"]
    # A parent outside the file (0 after a query save's remap) makes a root too.
    has_parent = (parents != 0) & staging.is_alive_batch(parents)
    roots = np.setdiff1d(everyone, children[has_parent])
    if len(roots) != 1:
        raise SceneError(
            f"scene {path} has {len(roots)} root entities (entities without a parent "
            "in the file); "
            "a scene has exactly one root: parent the others to it, or save a subtree "
            "with save_scene(world, root, path)"
        )
    return int(roots[0])


@dataclass(eq=False)  # identity: instances hold arrays
class Scene:
    """A scene read from disk: its subtree's columns, ready to be copied.

    Build it with :meth:`open`. Instantiating never reads the file again.

    Attributes
    ----------
    path
        The save directory it was read from.
    components
        The component classes the scene uses.
    dropped_refs
        EntityRef values of the file that named entities outside the scene (set to
        the null entity 0 on every copy).
    """

    path: Path
    components: tuple[type, ...]
    dropped_refs: int
    _groups: list[_Group] = field(repr=False)
    _ids: Array = field(repr=False)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, components: Iterable[type] = ()
    ) -> Scene:
        """Read and check the scene saved at ``path``.

        Parameters
        ----------
        path
            A directory written by :func:`save_scene` (or any save holding one
            root and its subtree).
        components
            Classes of the components the scene uses (the world's registered
            components are enough when loading through :func:`scenes`).

        Raises
        ------
        SceneError
            The directory is missing, a file is truncated or corrupt, a component
            is unknown, the ``ChildOf`` links form a cycle or name entities outside
            the scene, or there is not exactly one root.
        """
        p = Path(path)
        staging = _read(p, tuple(components))
        try:
            root = _scene_root(staging, p)
            try:
                ids, depth = _subtree(staging, root)
            except EcsError as exc:  # a ChildOf cycle stored in the file
                raise SceneError(f"scene {p}: {exc}") from exc
            if len(ids) != len(staging):
                raise SceneError(
                    f"scene {p}: {len(staging) - len(ids)} entities are not below the "
                    "root (their ChildOf names an entity missing from the save)"
                )
            groups = _scene_groups(staging, ids, depth, copy=True)
            order = np.argsort(ids, kind="stable")
            dropped = _outside_refs(groups, (ids[order], order))
            classes = sorted(
                {c for g in groups for c in g.classes if c is not ChildOf}
                | ({ChildOf} if len(ids) > 1 else set()),
                key=lambda c: schema_of(c).name,
            )
        finally:
            staging.close()
        return cls(p, tuple(classes), dropped, groups, ids)

    def __len__(self) -> int:
        """Entities in one copy of the scene."""
        return len(self._ids)

    def _root_values(
        self, overrides: Mapping[type, object] | None, n: int
    ) -> dict[type, Columns]:
        out: dict[type, Columns] = {}
        for key, value in (overrides or {}).items():
            s = schema_of(key, "Scene.instantiate(overrides=...)")
            if s.cls is ChildOf:
                raise SchemaError(
                    "Scene.instantiate: set the parent of the copies with parent=, "
                    "not an override of ChildOf"
                )
            got_n, cols = s.coerce(value, n)
            if got_n is not None and got_n != n:
                raise SchemaError(
                    coded(
                        E_LENGTH,
                        f"Scene.instantiate: overrides of {s.name} have {got_n} rows, "
                        f"expected n={n} (one per copy)",
                    )
                )
            named = set(value) if isinstance(value, dict) else set(cols)
            out[s.cls] = {
                k: np.broadcast_to(v, (n, *v.shape[1:])) if v.shape[:1] != (n,) else v
                for k, v in cols.items()
                if k in named
            }
        return out

    def instantiate(
        self,
        target: Target,
        n: int = 1,
        *,
        overrides: Mapping[type, object] | None = None,
        parent: int | Array | None = None,
    ) -> np.ndarray[Any, np.dtype[np.uint64]]:
        """Copy the scene ``n`` times into ``target``.

        Parameters
        ----------
        target
            A world (spawns now; not while its systems run) or a command buffer
            (records the spawns: in a system, ``ctx.commands``; applied at the
            phase's sync point).
        n
            Number of copies.
        overrides
            Per-copy values for the root: ``{Transform2D: {"x": xs, "y": ys}}``
            with columns of length ``n`` (or one value for all); fields not named
            keep the scene's values; components the root lacks are added.
        parent
            Attach every root copy to this entity (or one parent per copy).

        Returns
        -------
        numpy.ndarray
            The ``n`` root copies (pending ids for a command buffer).

        Raises
        ------
        SchemaError
            Overrides of the wrong length or dtype (nothing is spawned).

        Notes
        -----
        One ``spawn_batch`` per depth level and archetype of the scene, whatever
        ``n`` is.
        """
        if n < 0:
            raise ValueError(f"Scene.instantiate: n must be >= 0, got {n}")
        root_values = self._root_values(overrides, n)
        if parent is not None:
            parents = np.broadcast_to(np.asarray(parent, dtype=np.uint64), (n,))
            if isinstance(target, World):
                bad = parents[~target.is_alive_batch(parents)]
                if len(bad):
                    raise EntityNotAliveError(
                        coded(
                            E_NOT_ALIVE,
                            "Scene.instantiate(parent=...): "
                            f"{target.entities.describe_dead(int(bad[0]))}",
                        )
                    )
            root_values[ChildOf] = {"parent": np.ascontiguousarray(parents)}
        if isinstance(target, World):
            target._check_not_iterating("Scene.instantiate")
            hierarchy(target)  # so unloading a root cascades
        if n == 0:
            return np.empty(0, dtype=np.uint64)
        return _copy_subtree(
            self._groups,
            self._ids,
            target,
            n,
            root_values=root_values,
            detach_root=True,
        )


# ------------------------------------------------------------------------ manager


@dataclass(eq=False)  # identity: two loads of one scene are two instances
class SceneInstance:
    """One load request of a :class:`SceneManager` and, once applied, its copies.

    Attributes
    ----------
    name
        The name given to ``load`` / ``switch`` (default: the folder name).
    scene
        The scene loaded.
    n
        Number of copies.
    roots
        The root copies (empty until the request is applied).
    state
        ``"pending"``, ``"loaded"``, or ``"unloaded"``.
    """

    name: str
    scene: Scene
    n: int = 1
    roots: Array = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    state: str = "pending"
    _overrides: dict[type, Columns] = field(default_factory=dict, repr=False)

    @property
    def is_loaded(self) -> bool:
        """Whether the copies are in the world."""
        return self.state == "loaded"


def _frame_end(world: World) -> None:
    mgr = world.get_resource(SceneManager)
    if mgr is not None:
        mgr.flush()


class SceneManager:
    """A world's scene requests and loaded scenes (a resource: get it with
    :func:`scenes`).

    ``load``, ``unload`` and ``switch`` check their input at once (reading the
    scene file) and queue the change; queued changes apply, in request order, at
    the end of the current or next frame, or at :meth:`flush` between frames.
    In a system, declare ``resources_mut=[SceneManager]`` and call them on
    ``ctx.resource_mut(SceneManager)``: writers of one resource never run at once
    and keep a fixed order, so requests queue deterministically.
    """

    def __init__(self, world: World) -> None:
        """Manage scenes of ``world`` (use :func:`scenes` instead)."""
        self._world = world
        self._queue: list[tuple[str, SceneInstance]] = []
        self._lock = threading.Lock()
        self.loaded: list[SceneInstance] = []
        self.current: SceneInstance | None = None
        self._head: SceneInstance | None = None  # current once the queue applies

    def __deepcopy__(self, memo: dict[int, object]) -> SceneManager:
        """Snapshots copy the bookkeeping (scenes are shared, they never change)."""
        other = SceneManager(self._world)
        twin = {id(i): copy.copy(i) for i in self.loaded}
        for _, inst in self._queue:
            twin.setdefault(id(inst), copy.copy(inst))
        for one in (self.current, self._head):
            if one is not None:
                twin.setdefault(id(one), copy.copy(one))
        other.loaded = [twin[id(i)] for i in self.loaded]
        other._queue = [(op, twin[id(i)]) for op, i in self._queue]
        other.current = None if self.current is None else twin[id(self.current)]
        other._head = None if self._head is None else twin.get(id(self._head))
        return other

    def open(
        self, path: str | os.PathLike[str], *, components: Iterable[type] = ()
    ) -> Scene:
        """Read a scene with this world's registered components (plus ``components``)."""
        known = [s.cls for s in self._world.components.schemas]
        return Scene.open(path, components=[*known, *components])

    def _scene(
        self, scene: Scene | str | os.PathLike[str], components: Iterable[type]
    ) -> Scene:
        if isinstance(scene, Scene):
            return scene
        return self.open(scene, components=components)

    def _push(self, op: str, inst: SceneInstance) -> None:
        with self._lock:
            self._queue.append((op, inst))

    @property
    def pending(self) -> int:
        """Queued requests not applied yet."""
        return len(self._queue)

    def load(
        self,
        scene: Scene | str | os.PathLike[str],
        n: int = 1,
        *,
        name: str | None = None,
        overrides: Mapping[type, object] | None = None,
        components: Iterable[type] = (),
    ) -> SceneInstance:
        """Queue loading ``n`` copies of a scene (additive: loaded scenes stay).

        Parameters
        ----------
        scene
            A :class:`Scene` or the path of a scene save (read and checked now).
        n
            Number of copies.
        name
            A name to unload it by (default: the scene folder's name).
        overrides
            Per-copy root values, as in :meth:`Scene.instantiate`.
        components
            Classes of components in the scene file that the world has not
            registered yet.

        Returns
        -------
        SceneInstance
            Its ``roots`` fill in when the request is applied.

        Raises
        ------
        SceneError
            Missing or corrupt scene file (nothing is queued).
        SchemaError
            Bad overrides (nothing is queued).
        """
        if n < 0:
            raise ValueError(f"SceneManager.load: n must be >= 0, got {n}")
        sc = self._scene(scene, components)
        values = sc._root_values(overrides, n)
        inst = SceneInstance(name or sc.path.name, sc, n, _overrides=values)
        self._push("load", inst)
        return inst

    def _find(self, which: SceneInstance | str) -> list[SceneInstance]:
        live = list(self.loaded) + [
            i for op, i in self._queue if op != "unload" and i not in self.loaded
        ]
        dropping = {id(i) for op, i in self._queue if op == "unload"}
        live = [i for i in live if id(i) not in dropping]
        if isinstance(which, SceneInstance):
            found = [which] if any(i is which for i in live) else []
        else:
            found = [i for i in live if i.name == which]
        if not found:
            names = sorted({i.name for i in live}) or "none"
            raise SceneError(
                f"SceneManager.unload: {which if isinstance(which, str) else which.name!r}"
                f" is not loaded or queued (loaded or queued: {names})"
            )
        return found

    def unload(self, which: SceneInstance | str) -> None:
        """Queue despawning a loaded scene (its roots and everything below them).

        ``which`` is a :class:`SceneInstance` or a name (every instance of it).

        Raises
        ------
        SceneError
            When nothing of that name is loaded or queued.
        """
        for inst in self._find(which):
            self._push("unload", inst)

    def switch(
        self,
        scene: Scene | str | os.PathLike[str],
        n: int = 1,
        *,
        name: str | None = None,
        overrides: Mapping[type, object] | None = None,
        components: Iterable[type] = (),
    ) -> SceneInstance:
        """Queue unloading the current scene and loading ``scene`` as the new one.

        The current scene is the one last loaded by ``switch`` (scenes loaded with
        :meth:`load` are additive and stay). Arguments as in :meth:`load`.
        """
        inst = self.load(
            scene, n, name=name, overrides=overrides, components=components
        )
        with self._lock:
            self._queue.pop()  # re-queued below, after the unload
            prev = self._head
            if (
                prev is not None
                and prev.state != "unloaded"
                and not any(op == "unload" and i is prev for op, i in self._queue)
            ):
                self._queue.append(("unload", prev))
            self._queue.append(("switch", inst))
            self._head = inst
        return inst

    def flush(self) -> int:
        """Apply the queued requests now, in order; returns how many applied.

        Called for you at the end of every frame. Between frames you may call it
        to apply at once.

        Raises
        ------
        StructuralChangeError
            When called while systems of the world run.
        """
        w = self._world
        if w._phase_active or w._iter_depth:
            raise StructuralChangeError(
                coded(
                    E_STRUCTURAL,
                    "SceneManager.flush while systems run; scene requests apply at "
                    "the end of the frame by themselves",
                )
            )
        with self._lock:
            queue, self._queue = self._queue, []
        for op, inst in queue:
            if op == "unload":
                self._unload_now(inst)
            else:
                inst.roots = inst.scene.instantiate(
                    w, inst.n, overrides=inst._overrides
                )
                inst.state = "loaded"
                self.loaded.append(inst)
                if op == "switch":
                    self.current = inst
        return len(queue)

    def _unload_now(self, inst: SceneInstance) -> None:
        if inst.state == "loaded":
            w = self._world
            roots = inst.roots[w.is_alive_batch(inst.roots)]
            if len(roots):
                below = hierarchy(w).descendants_of(roots)
                w.despawn_batch(np.concatenate([roots, below]))
        inst.state = "unloaded"
        self.loaded = [i for i in self.loaded if i is not inst]
        if self.current is inst:
            self.current = None
        if self._head is inst:
            self._head = None


def scenes(world: World) -> SceneManager:
    """The world's :class:`SceneManager` (created on first use; it applies queued
    requests at the end of every frame).

    Examples
    --------
    >>> import tempfile
    >>> from archetype_ecs import World
    >>> from archetype_ecs.hierarchy import set_parent
    >>> src = World()
    >>> room = src.spawn()
    >>> set_parent(src, src.spawn_batch({}, n=3), room)
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_scene(src, room, folder)
    >>> w = World()
    >>> level = scenes(w).load(folder, n=2)
    >>> len(w), level.state
    (0, 'pending')
    >>> w.step()
    >>> len(w), level.state
    (8, 'loaded')
    """
    mgr = world.get_resource(SceneManager)
    if mgr is None:
        mgr = SceneManager(world)
        world.insert_resource(mgr)
    if _frame_end not in world.frame_end_hooks:
        world.frame_end_hooks.append(_frame_end)
    return mgr
