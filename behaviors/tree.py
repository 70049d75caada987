"""BehaviorTree: a validated tree definition, its flat pre-order layout and state component.

Node ``i``'s subtree is the contiguous range ``[i, i + size[i])`` of the layout. Each
tree owns one dynamically built state component ``BT_<name>`` with vector fields
``status: i8[N]`` (last status per node), ``data: i32[N]`` (running child / counter /
timer per node) and ``entered: i32[N]`` (frame a node was last ticked), so running
state is saved, restored and inspected like any other component.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from archetype_ecs import component
from archetype_ecs.errors import EcsError
from archetype_ecs.schema import i8, i32
from behaviors.nodes import (
    Action,
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
    children_of,
)

__all__ = ["KIND_CODES", "BehaviorTree", "Layout", "TreeError"]

# Node kind codes of the flat layout (stable: they appear in debugging tables).
KIND_CODES: dict[type[Node], int] = {
    Sequence: 1,
    Selector: 2,
    Parallel: 3,
    Inverter: 4,
    ForceSuccess: 5,
    ForceFailure: 6,
    Repeat: 7,
    Retry: 8,
    Timeout: 9,
    Cooldown: 10,
    Guard: 11,
    Condition: 12,
    Action: 13,
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TreeError(EcsError, ValueError):
    """A behavior tree definition, file or leaf use is invalid."""


@dataclass(frozen=True)
class Layout:
    """The flat pre-order arrays of a tree (one entry per node).

    Invariant: node ``i``'s children are ``first_child[i]``, then each next child
    starts right after the previous child's subtree (``c + size[c]``).
    """

    kind: np.ndarray[Any, np.dtype[np.int8]]
    first_child: np.ndarray[Any, np.dtype[np.int32]]
    n_children: np.ndarray[Any, np.dtype[np.int32]]
    size: np.ndarray[Any, np.dtype[np.int32]]
    param0: np.ndarray[Any, np.dtype[np.int32]]
    param1: np.ndarray[Any, np.dtype[np.int32]]
    leaf_id: np.ndarray[Any, np.dtype[np.int32]]

    def children(self, i: int) -> list[int]:
        """Indices of node ``i``'s children in tick order."""
        out = []
        c = int(self.first_child[i])
        for _ in range(int(self.n_children[i])):
            out.append(c)
            c += int(self.size[c])
        return out


def _where(path: str, node: Node) -> str:
    label = f" {node.label!r}" if getattr(node, "label", "") else ""
    return f"{node.kind}{label} at {path}"


def _check_node(node: Node, path: str, tree: str) -> None:
    at = f"tree {tree!r}: {_where(path, node)}"
    if not isinstance(node, tuple(KIND_CODES)):
        raise TreeError(
            f"tree {tree!r}: {type(node).__name__} at {path} is not a node kind; "
            f"use one of {', '.join(k.__name__ for k in KIND_CODES)}"
        )
    kids = children_of(node)
    if isinstance(node, Sequence | Selector | Parallel) and not kids:
        raise TreeError(f"{at} has no children; a composite needs at least one child")
    for c in kids:
        if not isinstance(c, Node):
            raise TreeError(
                f"{at} has a child of type {type(c).__name__}; children must be nodes"
            )
    if isinstance(node, Parallel):
        n = len(kids)
        for what, pol in (("success", node.success), ("failure", node.failure)):
            t = pol.threshold(n)
            if not 1 <= t <= n:
                raise TreeError(
                    f"{at}: {what} policy {pol!r} needs {t} of {n} children; "
                    f"use a threshold between 1 and {n}"
                )
    if isinstance(node, Repeat | Retry) and node.n < 1:
        raise TreeError(f"{at}: n={node.n}; give n >= 1")
    if isinstance(node, Guard) and not isinstance(node.condition, Condition):
        raise TreeError(
            f"{at}: the guard's condition is a {type(node.condition).__name__}; "
            "give a Condition(...)"
        )
    if isinstance(node, Leaf) and not _NAME.match(node.name):
        raise TreeError(f"{at}: leaf name {node.name!r} is not an identifier")


class BehaviorTree:
    """A named, validated tree definition shared by every agent that runs it.

    Parameters
    ----------
    root
        The root node.
    name
        An identifier; the state component is named ``BT_<name>``.

    Raises
    ------
    TreeError
        When a composite has no children, a Parallel policy is out of range,
        ``Repeat`` / ``Retry`` have ``n < 1``, a Guard's condition is not a
        Condition, or a name is not an identifier.

    Examples
    --------
    >>> from behaviors.nodes import Sequence, Condition, Action
    >>> t = BehaviorTree(Sequence([Condition("hungry"), Action("eat")]), "eat")
    >>> t.n_nodes, [n.kind for n in t.nodes]
    (3, ['Sequence', 'Condition', 'Action'])
    """

    def __init__(self, root: Node, name: str) -> None:
        if not _NAME.match(name):
            raise TreeError(
                f"tree name {name!r} is not an identifier (letters, digits, _); it "
                "names the state component BT_<name>"
            )
        self.root = root
        self.name = name
        self.nodes: list[Node] = []
        self.paths: list[str] = []
        self._flatten(root, "root")
        self._state: type | None = None

    def _flatten(self, node: Node, path: str) -> None:
        _check_node(node, path, self.name)
        self.nodes.append(node)
        self.paths.append(path)
        for j, c in enumerate(children_of(node)):
            self._flatten(c, f"{path}/{j}")

    @property
    def n_nodes(self) -> int:
        """Number of nodes (the width of the state vectors)."""
        return len(self.nodes)

    def leaves(self) -> list[tuple[int, Leaf]]:
        """``(node index, leaf)`` of every Condition / Action, in pre-order."""
        return [(i, n) for i, n in enumerate(self.nodes) if isinstance(n, Leaf)]

    def layout(self, dt: float = 1.0 / 60.0) -> Layout:
        """The flat arrays; ``dt`` converts Timeout / Cooldown seconds to frames."""
        n = self.n_nodes
        kind = np.zeros(n, np.int8)
        first = np.full(n, -1, np.int32)
        nkids = np.zeros(n, np.int32)
        size = np.ones(n, np.int32)
        p0 = np.zeros(n, np.int32)
        p1 = np.zeros(n, np.int32)
        leaf_id = np.full(n, -1, np.int32)
        names: dict[str, int] = {}
        for i in reversed(range(n)):
            node = self.nodes[i]
            kind[i] = KIND_CODES[type(node)]
            kids = children_of(node)
            nkids[i] = len(kids)
            if kids:
                first[i] = i + 1
                c = i + 1
                for _ in kids:
                    c += int(size[c])
                size[i] = c - i
            p0[i], p1[i] = _params(node, len(kids), dt, self.name, self.paths[i])
        for i, leaf in self.leaves():
            leaf_id[i] = names.setdefault(leaf.name, len(names))
        return Layout(kind, first, nkids, size, p0, p1, leaf_id)

    @property
    def state_component(self) -> type:
        """The tree's state component class ``BT_<name>`` (built once per tree)."""
        if self._state is None:
            self._state = _state_component(self.name, self.n_nodes)
        return self._state

    def __repr__(self) -> str:
        return f"<BehaviorTree {self.name!r}: {self.n_nodes} nodes>"


def _params(
    node: Node, n_kids: int, dt: float, tree: str, path: str
) -> tuple[int, int]:
    if isinstance(node, Parallel):
        return node.success.threshold(n_kids), node.failure.threshold(n_kids)
    if isinstance(node, Repeat | Retry):
        return node.n, 0
    if isinstance(node, Timeout | Cooldown):
        try:
            frames = node.frames_at(dt)
        except ValueError as exc:
            raise TreeError(f"tree {tree!r}: {_where(path, node)}: {exc}") from exc
        if frames < 1:
            raise TreeError(
                f"tree {tree!r}: {_where(path, node)}: {frames} frames; give at "
                "least 1 frame (or seconds >= one frame)"
            )
        return frames, 0
    return 0, 0


def _state_component(name: str, n: int, registered: str | None = None) -> type:
    """``BT_<name>`` with ``n`` nodes; ``registered`` overrides the component name
    (a hot-reloaded tree of another width gets a fresh one, see behaviors.reload)."""
    ns: dict[str, Any] = {
        "__annotations__": {"status": i8[n], "data": i32[n], "entered": i32[n]},
        "__module__": __name__,
        "__doc__": f"Per-agent running state of behavior tree {name!r} ({n} nodes).",
        "status": (0,) * n,
        "data": (0,) * n,
        "entered": (-1,) * n,
    }
    cls = type(f"BT_{name}", (), ns)
    return component(name=registered)(cls) if registered else component(cls)
