"""Hot reload of behavior-tree JSON files: swap the tree, keep running agents in place.

:func:`watch_tree` loads a tree file, adds its tick system and tracks the file with a
:class:`scripting.reload.HotReloader`. A new version is parsed and checked against
the leaf registry, compiled, and its tick kernel warmed on empty arrays of the types
the world passes (on the reload thread, so no frame waits for Numba). At the next sync
point the tick system is swapped in place and every agent's running state is mapped
onto the new tree by node *path* (``root/0/1``): a node is the same node when its path,
kind and (for leaves) leaf name match. An agent keeps its place (its per-node status,
running child, counters and timers are copied across) when every node it is RUNNING
in still exists; otherwise it is reset to a fresh state and starts from the root on
its next tick. With the same node count the state component stays; with another
count the agents move to a new state component ``BT_<name>_r<k>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archetype_ecs.component import schema_of
from archetype_ecs.resources import Time
from archetype_ecs.world import World
from behaviors.compile import CompiledTree, compile_tree
from behaviors.leaves import LeafRegistry
from behaviors.nodes import Leaf, Status
from behaviors.serialization import loads
from behaviors.tick import behavior_system
from behaviors.tree import BehaviorTree, TreeError, _state_component
from scripting.reload import HotReloader, Swap

__all__ = ["TreeFile", "node_map", "remap_state", "watch_tree"]

Array = np.ndarray[Any, Any]


def _key(tree: BehaviorTree, i: int) -> tuple[str, str, str]:
    node = tree.nodes[i]
    return (tree.paths[i], node.kind, node.name if isinstance(node, Leaf) else "")


def node_map(old: BehaviorTree, new: BehaviorTree) -> Array:
    """For each node of ``new``, the index of the same node in ``old`` (or -1).

    Two nodes are the same when their path, kind and (for leaves) leaf name match;
    parameters may differ.

    Examples
    --------
    >>> from behaviors.nodes import Sequence, Condition, Action
    >>> a = BehaviorTree(Sequence([Condition("c"), Action("x")]), "t")
    >>> b = BehaviorTree(Sequence([Condition("c"), Action("y"), Action("x")]), "t")
    >>> node_map(a, b).tolist()
    [0, 1, -1, -1]
    """
    where = {_key(old, i): i for i in range(old.n_nodes)}
    return np.array(
        [where.get(_key(new, i), -1) for i in range(new.n_nodes)], dtype=np.int64
    )


def remap_state(
    old: BehaviorTree,
    new: BehaviorTree,
    status: Array,
    data: Array,
    entered: Array,
) -> tuple[Array, Array, Array, Array]:
    """Map agents' running state from ``old`` onto ``new`` (columnar).

    Parameters
    ----------
    old, new
        The running tree and its next version.
    status, data, entered
        The agents' state arrays for ``old``, shape ``(agents, old.n_nodes)``.

    Returns
    -------
    status, data, entered, kept
        Arrays of shape ``(agents, new.n_nodes)`` and a bool per agent: True when
        every node the agent was RUNNING in still exists (its state is copied
        node by node), False when it was reset to a fresh state.

    Examples
    --------
    >>> from behaviors.nodes import Sequence, Condition, Action
    >>> a = BehaviorTree(Sequence([Condition("c"), Action("x")]), "t")
    >>> b = BehaviorTree(Sequence([Condition("c"), Action("y")]), "t")
    >>> st = np.array([[3, 1, 3], [1, 1, 1]], np.int8)  # agent 0 runs "x"
    >>> z = np.zeros((2, 3), np.int32)
    >>> s, _, _, kept = remap_state(a, b, st, z, z)
    >>> kept.tolist(), s.tolist()
    ([False, True], [[0, 0, 0], [1, 1, 0]])
    """
    m = node_map(old, new)
    n = len(status)
    lost = np.ones(old.n_nodes, dtype=np.bool_)
    lost[m[m >= 0]] = False
    running = status == Status.RUNNING
    kept = ~np.any(running[:, lost], axis=1) if n else np.zeros(0, np.bool_)
    has = m >= 0
    out_s = np.zeros((n, new.n_nodes), np.int8)
    out_d = np.zeros((n, new.n_nodes), np.int32)
    out_e = np.full((n, new.n_nodes), -1, np.int32)
    rows = np.flatnonzero(kept)
    cols = np.flatnonzero(has)
    src = m[has]
    out_s[np.ix_(rows, cols)] = status[np.ix_(rows, src)]
    out_d[np.ix_(rows, cols)] = data[np.ix_(rows, src)]
    out_e[np.ix_(rows, cols)] = entered[np.ix_(rows, src)]
    return out_s, out_d, out_e, kept


@dataclass(eq=False)
class TreeFile:
    """A tree loaded from a watched JSON file and the system that ticks it.

    ``tree`` / ``compiled`` are the running version (replaced by each reload);
    ``system`` is the tick system's name (kept across reloads).
    """

    path: Path
    tree: BehaviorTree
    compiled: CompiledTree
    system: str
    options: dict[str, Any] = field(default_factory=dict)
    revision: int = 0
    kind: str = "tree"
    reloader: HotReloader | None = None
    registry: LeafRegistry | None = None
    dt: float = 1.0 / 60.0

    # ------------------------------------------------------------ ReloadTarget

    def validate(self, path: Path, text: str) -> Swap:
        """Parse, check, compile and warm the new version (reload thread)."""
        assert self.reloader is not None
        assert self.registry is not None
        new = loads(text, self.registry)
        old = self.tree
        if new.name != old.name:
            raise TreeError(
                f"{path}: tree name changed from {old.name!r} to {new.name!r}; a "
                "reload keeps the name (it names the state component and system): "
                "restore the name, or load the renamed tree as a new tree"
            )
        if new.n_nodes == old.n_nodes:
            new._state = old.state_component  # same width: agents keep the component
        else:
            self.revision += 1
            new._state = _state_component(
                new.name, new.n_nodes, f"BT_{new.name}_r{self.revision}"
            )
        ct = compile_tree(new, self.registry, self.dt)
        _warm(self.reloader.world, ct)
        made = behavior_system(
            self.reloader.world, ct, name=self.system, **self.options
        )
        return lambda: self._swap(ct, made)

    def _swap(self, ct: CompiledTree, made: Any) -> str:
        assert self.reloader is not None
        world = self.reloader.world
        old_t, new_t = self.tree, ct.tree
        old_c, new_c = old_t.state_component, new_t.state_component
        ids_l, st_l, da_l, en_l = [], [], [], []
        for ents, st in world.query(old_c):
            ids_l.append(np.asarray(ents).copy())
            st_l.append(np.asarray(st.status).copy())
            da_l.append(np.asarray(st.data).copy())
            en_l.append(np.asarray(st.entered).copy())
        ids = np.concatenate(ids_l) if ids_l else np.zeros(0, np.uint64)
        kept = np.zeros(0, np.bool_)
        if len(ids):
            s, d, e, kept = remap_state(
                old_t,
                new_t,
                np.concatenate(st_l),
                np.concatenate(da_l),
                np.concatenate(en_l),
            )
            values = {"status": s, "data": d, "entered": e}
            if new_c is old_c:
                world.set_batch(ids, new_c, values)
            else:
                world.remove_batch(ids, old_c)
                world.insert_batch(ids, new_c, values)
        world.replace_system(made)
        self.tree, self.compiled = new_t, ct
        n_kept = int(kept.sum())
        return f"agents kept their place: {n_kept}, reset: {len(ids) - n_kept}"

    def disable(self) -> Swap:
        """The swap that stops ticking the tree (its file was deleted)."""
        assert self.reloader is not None
        world = self.reloader.world

        def off() -> str:
            live = world.schedule.system(self.system)
            live.run_if = (*live.run_if, _never)
            return f"tree system {self.system!r} disabled until its file returns"

        return off


def _never(world: World) -> bool:
    return False


def _warm(world: World, ct: CompiledTree) -> None:
    """Compile ``ct``'s tick for the argument types the tick system passes.

    Calls it on zero agents: empty arrays with each view's dtype, shape and
    writability (read-only for components the tree only reads), the frame as an
    int64 and the declared resource values, so the first real tick finds its
    signature compiled.
    """
    writes = {ct.state, *ct.writes}
    arrays: list[Array] = []
    for comp in (ct.state, *ct.components):
        for f in schema_of(comp).fields:
            a = np.zeros((0, *f.type.shape), dtype=f.type.dtype)
            a.flags.writeable = comp in writes
            arrays.append(a)
    frame = world.resource(Time).frame
    ct.tick_all(*arrays, frame, *ct.resource_args(world))


def watch_tree(
    reloader: HotReloader,
    path: str | Path,
    *,
    add: bool = True,
    **options: Any,
) -> TreeFile:
    """Load a tree JSON file, add its tick system, and reload it on every save.

    Parameters
    ----------
    reloader
        The hot reloader (its world compiles and runs the tree).
    path
        The tree's JSON file (see :mod:`behaviors.serialization`).
    add
        Add the tick system to the world (``behavior_system(world, tree, ...)``).
    **options
        Passed to :func:`~behaviors.tick.behavior_system` (``name``, ``phase``,
        ``before``, ``after`` ...); they stay the same across reloads.

    Returns
    -------
    TreeFile
        ``.tree`` and ``.compiled`` follow the running version; give agents the
        tree with ``add_agents(world, handle.tree, ids)``.

    Raises
    ------
    TreeError
        When the first version does not load or compile (nothing is tracked then).
    """
    world = reloader.world
    p = Path(path).resolve()
    data = p.read_bytes()
    registry = LeafRegistry.of(world)
    tree = loads(data.decode("utf-8"), registry)
    dt = world.resource(Time).dt
    ct = compile_tree(tree, registry, dt)
    name = options.pop("name", f"behavior_{tree.name}")
    made = behavior_system(world, ct, name=name, **options)
    if add:
        world.add_system(made)
    handle = TreeFile(
        p, tree, ct, name, options, reloader=reloader, registry=registry, dt=dt
    )
    reloader.track(p, handle, data)
    return handle
