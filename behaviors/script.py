"""Batched script leaves and the wavefront tick that calls them (the slow path).

A batched leaf is a plain Python callable ``f(rows, *fields, *resource_values,
*params) -> statuses``:
it is called once per leaf node per tick with the array of agent rows that reached
that node, and returns one status per row (a bool array for conditions). Scripts
(Lua / Python, issue #4's engine) plug in through this interface. Trees with such
leaves cannot run in the Numba kernel; :func:`tick_batched` runs the same semantics
(``docs/behaviors.md``) node by node over arrays of agents with NumPy instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from archetype_ecs.resources import Time
from archetype_ecs.world import World
from behaviors.leaves import LeafDef, LeafRegistry
from behaviors.nodes import (
    Condition,
    Cooldown,
    ForceFailure,
    ForceSuccess,
    Guard,
    Inverter,
    Leaf,
    Node,
    Parallel,
    Repeat,
    Retry,
    Selector,
    Sequence,
    Timeout,
)
from behaviors.tree import BehaviorTree, Layout, TreeError

__all__ = ["BatchCall", "WavefrontTicker", "tick_batched"]

Array = np.ndarray[Any, Any]
BatchCall = Callable[[int, Leaf, Array], Array]
"""``call(node_index, leaf, rows) -> statuses`` (one per row; bools for conditions)."""


class WavefrontTicker:
    """Tick one tree over arrays of agent rows, one node at a time.

    Per agent, the nodes ticked and the leaf invocations are exactly those of the
    Numba kernel; across agents the order differs (all agents at a node, then the
    next node), which matters only to leaves with side effects on *other* agents.
    """

    def __init__(self, tree: BehaviorTree, call: BatchCall, dt: float = 1 / 60) -> None:
        self.tree = tree
        self.lay: Layout = tree.layout(dt)
        self.call = call
        self.keep = np.array([isinstance(n, Cooldown) for n in tree.nodes])

    def tick(self, status: Array, data: Array, entered: Array, frame: int) -> Array:
        """Tick every row of the state arrays (``(n, N)`` each); root statuses."""
        self._st, self._data, self._ent, self._frame = status, data, entered, frame
        return self._tick(0, np.arange(status.shape[0]))

    def halt(self, k: int, rows: Array) -> None:
        """Halt node ``k``'s subtree for ``rows`` (RUNNING -> INVALID, data -> 0)."""
        if not rows.size:
            return
        lo, hi = k, k + int(self.lay.size[k])
        sub = self._st[rows, lo:hi]
        running = sub == 3
        sub[running] = 0
        self._st[rows, lo:hi] = sub
        d = self._data[rows, lo:hi]
        d[running & ~self.keep[lo:hi]] = 0
        self._data[rows, lo:hi] = d

    def _tick(self, k: int, rows: Array) -> Array:
        if not rows.size:
            return np.zeros(0, np.int64)
        node = self.tree.nodes[k]
        self._ent[rows, k] = self._frame
        was = self._st[rows, k] == 3
        if isinstance(node, Leaf):
            r = self._leaf(k, node, rows)
        elif isinstance(node, Sequence | Selector):
            r = self._composite(k, node, rows, was)
        elif isinstance(node, Parallel):
            r = self._parallel(k, rows, was)
        else:
            r = self._decorator(k, node, rows, was)
        self._st[rows, k] = r
        if not isinstance(node, Cooldown):
            self._data[rows[r != 3], k] = 0
        return r

    def _leaf(self, k: int, node: Leaf, rows: Array) -> Array:
        v = np.asarray(self.call(k, node, rows)).astype(np.int64)
        if v.shape != rows.shape:
            raise TreeError(
                f"tree {self.tree.name!r}: batched leaf {node.name!r} returned "
                f"{v.shape[0] if v.ndim else 'a scalar'} statuses for {rows.size} "
                "agents; return one status per agent row"
            )
        if isinstance(node, Condition):
            return np.where(v != 0, 1, 2)
        return np.where(v == 1, 1, np.where(v == 3, 3, 2))

    def _composite(
        self, k: int, node: Sequence | Selector, rows: Array, was: Array
    ) -> Array:
        go_on = 1 if isinstance(node, Sequence) else 2
        prev = np.where(was, self._data[rows, k], -1)
        r = np.full(rows.size, go_on, np.int64)
        w = np.full(rows.size, -1, np.int64)
        kids = self.lay.children(k)
        for j, c in enumerate(kids):
            sel = w == -1
            if node.memory:
                sel &= prev <= j
            idx = np.flatnonzero(sel)
            rc = self._tick(c, rows[idx])
            dec = rc != go_on
            r[idx[dec]] = rc[dec]
            w[idx[dec]] = j
        if not node.memory:
            for j, c in enumerate(kids):
                self.halt(c, rows[(prev == j) & (w != j)])
        self._data[rows, k] = np.where(r == 3, w, 0)
        return r

    def _parallel(self, k: int, rows: Array, was: Array) -> Array:
        need_s, need_f = int(self.lay.param0[k]), int(self.lay.param1[k])
        ns = np.zeros(rows.size, np.int64)
        nf = np.zeros(rows.size, np.int64)
        nr = np.zeros(rows.size, np.int64)
        for c in self.lay.children(k):
            q = self._st[rows, c].astype(np.int64)
            todo = np.flatnonzero(~(was & ((q == 1) | (q == 2))))
            q[todo] = self._tick(c, rows[todo])
            ns += q == 1
            nf += q == 2
            nr += q == 3
        r = np.where(
            ns >= need_s, 1, np.where((nf >= need_f) | (ns + nr < need_s), 2, 3)
        )
        self.halt_children(k, rows[r != 3])
        return r

    def halt_children(self, k: int, rows: Array) -> None:
        """Halt every child of ``k`` for ``rows``."""
        for c in self.lay.children(k):
            self.halt(c, rows)

    def _decorator(self, k: int, node: Node, rows: Array, was: Array) -> Array:
        kids = self.lay.children(k)
        p0 = int(self.lay.param0[k])
        r = np.full(rows.size, 2, np.int64)
        if isinstance(node, Guard):
            ok = self._tick(kids[0], rows) == 1
            r[ok] = self._tick(kids[1], rows[ok])
            self.halt(kids[1], rows[~ok])
            return r
        (c,) = kids
        if isinstance(node, Timeout):
            start = np.where(was, self._data[rows, k], self._frame)
            late = self._frame - start >= p0
            self.halt(c, rows[late])
            r[~late] = self._tick(c, rows[~late])
            self._data[rows, k] = np.where(r == 3, start, 0)
            return r
        if isinstance(node, Cooldown):
            go = np.flatnonzero(was | (self._frame >= self._data[rows, k]))
            rc = self._tick(c, rows[go])
            r[go] = rc
            self._data[rows[go[rc != 3]], k] = self._frame + p0
            return r
        rc = self._tick(c, rows)
        if isinstance(node, Inverter):
            return np.where(rc == 1, 2, np.where(rc == 2, 1, rc))
        if isinstance(node, ForceSuccess | ForceFailure):
            return np.where(rc == 3, 3, 1 if isinstance(node, ForceSuccess) else 2)
        assert isinstance(node, Repeat | Retry)
        done, other = (1, 2) if isinstance(node, Repeat) else (2, 1)
        count = np.where(was, self._data[rows, k], 0) + (rc == done)
        r = np.where((rc == 3) | (rc == other), rc, np.where(count >= p0, done, 3))
        self._data[rows, k] = np.where(r == 3, count, 0)
        return r


def _leaf_caller(d: LeafDef, fields: list[Any], params: tuple[Any, ...]) -> Any:
    if d.batched:
        return lambda rows: d.fn(rows, *fields, *params)
    fn = d.fn  # a per-agent (Numba) leaf: called row by row from Python

    return lambda rows: np.array([fn(int(i), *fields, *params) for i in rows], np.int64)


def _resource_values(world: World, d: LeafDef) -> list[Any]:
    return [getattr(world.resource(r), a) for r, attrs in d.resources for a in attrs]


def _dispatch(callers: dict[int, Any]) -> BatchCall:
    def call(k: int, _leaf: Leaf, rows: Array) -> Array:
        out: Array = callers[k](rows)
        return out

    return call


def tick_batched(world: World, tree: BehaviorTree, frame: int | None = None) -> None:
    """Tick ``tree`` for all its agents with the wavefront executor (slow path).

    Leaves may be batched Python leaves (``@leaf(..., batched=True)``) or ordinary
    Numba leaves (then called row by row). Use it for trees with script leaves; it
    costs microseconds per node per archetype plus the leaves' own cost.

    Raises
    ------
    TreeError
        When a leaf is unknown, of the wrong kind, or given bad parameters.
    """
    registry = LeafRegistry.of(world)
    f = world.resource(Time).frame if frame is None else frame
    defs: dict[int, tuple[LeafDef, tuple[Any, ...]]] = {}
    comps: list[type] = []
    for k, node in tree.leaves():
        where = f"tree {tree.name!r}: {node.kind} at {tree.paths[k]}"
        d = registry.lookup(node.name, where)
        if d.kind != ("condition" if isinstance(node, Condition) else "action"):
            raise TreeError(f"{where}: leaf {d.name!r} is registered as a {d.kind}")
        defs[k] = (d, d.resolve_params(node.param_dict, where))
        comps += [c for c in d.components if c not in comps]
    state = tree.state_component
    for _ents, st, *views in world.query(state, *comps):
        by_comp = dict(zip(comps, views, strict=True))
        callers = {
            k: _leaf_caller(
                d,
                [a for c in d.components for a in by_comp[c]]
                + _resource_values(world, d),
                p,
            )
            for k, (d, p) in defs.items()
        }
        ticker = WavefrontTicker(tree, _dispatch(callers), world.resource(Time).dt)
        ticker.tick(st.status, st.data, st.entered, f)
