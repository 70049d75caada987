"""Population-level debugging views of a tree: per-node counts, one agent's path, renders.

Everything is computed from the state columns (``status`` and ``entered``), so it works
on a live world, a restored snapshot or a loaded save alike: a node was entered this
tick when ``entered == frame``, and its status then is what it returned.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from archetype_ecs.resources import Time
from archetype_ecs.world import World
from behaviors.compile import CompiledTree
from behaviors.nodes import Leaf, Node, Parallel, Selector, Sequence, Status
from behaviors.tree import BehaviorTree

__all__ = [
    "TraceRecorder",
    "agent_path",
    "describe",
    "node_counts",
    "render_dot",
    "render_text",
]


def _tree(tree: BehaviorTree | CompiledTree) -> BehaviorTree:
    return tree.tree if isinstance(tree, CompiledTree) else tree


def describe(node: Node) -> str:
    """A one-line description of a node: kind, label, parameters."""
    label = f" {node.label!r}" if getattr(node, "label", "") else ""
    if isinstance(node, Leaf):
        args = ", ".join(f"{k}={v!r}" for k, v in node.params)
        return f"{node.kind}{label} {node.name}({args})"
    if isinstance(node, Sequence | Selector):
        return f"{node.kind}{label} ({'memory' if node.memory else 'reactive'})"
    if isinstance(node, Parallel):
        return (
            f"{node.kind}{label} (success={node.success!r}, failure={node.failure!r})"
        )
    extra = [
        f"{a}={getattr(node, a)!r}"
        for a in ("n", "frames", "seconds")
        if getattr(node, a, None) is not None
    ]
    return f"{node.kind}{label}" + (f"({', '.join(extra)})" if extra else "")


def _frame(world: World, frame: int | None) -> int:
    return world.resource(Time).frame if frame is None else frame


def node_counts(
    world: World, tree: BehaviorTree | CompiledTree, frame: int | None = None
) -> pa.Table:
    """Per node: how many agents entered it at ``frame`` and what it returned.

    Parameters
    ----------
    world
        The world holding the agents.
    tree
        The tree (its state component names the agents).
    frame
        The tick to report (default: ``Time.frame``, the last tick run).

    Returns
    -------
    pyarrow.Table
        Columns ``node``, ``path``, ``kind``, ``description``, ``entered``,
        ``success``, ``failure``, ``running`` (one row per node, pre-order).

    Notes
    -----
    O(agents x nodes) over the state columns; no tick is run.
    """
    t = _tree(tree)
    f = _frame(world, frame)
    n = t.n_nodes
    counts = np.zeros((4, n), np.int64)
    for _ents, st in world.query(t.state_component):
        here = st.entered == f
        counts[0] += here.sum(axis=0)
        for j, s in enumerate((Status.SUCCESS, Status.FAILURE, Status.RUNNING)):
            counts[j + 1] += (here & (st.status == s)).sum(axis=0)
    return pa.table(
        {
            "node": pa.array(np.arange(n, dtype=np.int32)),
            "path": t.paths,
            "kind": [nd.kind for nd in t.nodes],
            "description": [describe(nd) for nd in t.nodes],
            "entered": counts[0],
            "success": counts[1],
            "failure": counts[2],
            "running": counts[3],
        }
    )


def agent_path(
    world: World,
    tree: BehaviorTree | CompiledTree,
    entity: int,
    frame: int | None = None,
) -> list[tuple[int, str, Status]]:
    """The nodes one agent entered at ``frame``, in tick order, with their results.

    Returns
    -------
    list of (node index, description, status)
    """
    t = _tree(tree)
    f = _frame(world, frame)
    st: Any = world.component(entity, t.state_component)
    status = np.asarray(st.status)
    entered = np.asarray(st.entered)
    return [
        (k, describe(t.nodes[k]), Status(int(status[k])))
        for k in range(t.n_nodes)
        if entered[k] == f
    ]


def _count_text(counts: pa.Table | None, k: int) -> str:
    if counts is None:
        return ""
    row = {
        c: counts.column(c)[k].as_py()
        for c in ("entered", "success", "failure", "running")
    }
    if not row["entered"]:
        return "  [-]"
    return (
        f"  [entered {row['entered']}: S {row['success']} F {row['failure']} "
        f"R {row['running']}]"
    )


def render_text(
    tree: BehaviorTree | CompiledTree, counts: pa.Table | None = None
) -> str:
    """An indented text drawing of the tree, annotated with ``node_counts`` if given.

    Examples
    --------
    >>> from behaviors.nodes import Sequence, Condition, Action
    >>> print(render_text(BehaviorTree(Sequence([Condition("ok"), Action("go")]), "t")))
    Sequence (memory)
        Condition ok()
        Action go()
    """
    t = _tree(tree)
    lines = []
    for k, node in enumerate(t.nodes):
        depth = t.paths[k].count("/")
        lines.append("    " * depth + describe(node) + _count_text(counts, k))
    return "\n".join(lines)


def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def render_dot(
    tree: BehaviorTree | CompiledTree, counts: pa.Table | None = None
) -> str:
    """Graphviz DOT source of the tree, nodes annotated with ``node_counts`` if given.

    Nodes entered this tick are filled: green if most succeeded, red if most failed,
    yellow if most are running.
    """
    t = _tree(tree)
    out = [
        f'digraph "{_dot_escape(t.name)}" {{',
        "  node [shape=box, fontname=Helvetica];",
    ]
    for k, node in enumerate(t.nodes):
        lines = [describe(node)]
        style = ""
        if counts is not None:
            e, s, f, r = (
                counts.column(c)[k].as_py()
                for c in ("entered", "success", "failure", "running")
            )
            if e:
                lines.append(f"entered {e}: S {s} F {f} R {r}")
                color = ["palegreen", "lightcoral", "khaki"][int(np.argmax([s, f, r]))]
                style = f', style=filled, fillcolor="{color}"'
        shape = ", shape=ellipse" if isinstance(node, Leaf) else ""
        label = "\\n".join(_dot_escape(x) for x in lines)
        out.append(f'  n{k} [label="{label}"{shape}{style}];')
    layout = t.layout()
    for k in range(t.n_nodes):
        for c in layout.children(k):
            out.append(f"  n{k} -> n{c};")
    out.append("}")
    return "\n".join(out)


class TraceRecorder:
    """Records, per tick, the path of a chosen set of agents through a tree.

    Call :meth:`record` after each tick (e.g. from a Python system in
    ``post_update``); :meth:`to_arrow` gives one row per (frame, agent, node entered).
    """

    def __init__(self, tree: BehaviorTree | CompiledTree, entities: Any) -> None:
        self.tree = _tree(tree)
        self.entities = [int(e) for e in np.asarray(entities, dtype=np.uint64)]
        self._rows: dict[str, list[Any]] = {
            "frame": [], "entity": [], "node": [], "status": [],
        }  # fmt: skip

    def record(self, world: World, frame: int | None = None) -> None:
        """Append the chosen agents' paths of ``frame`` (default: the last tick)."""
        f = _frame(world, frame)
        for e in self.entities:
            if not world.is_alive(e) or not world.has(e, self.tree.state_component):
                continue
            for k, _desc, status in agent_path(world, self.tree, e, f):
                self._rows["frame"].append(f)
                self._rows["entity"].append(e)
                self._rows["node"].append(k)
                self._rows["status"].append(int(status))

    def to_arrow(self) -> pa.Table:
        """The recorded trace: ``frame``, ``entity``, ``node``, ``status`` (int8)."""
        return pa.table(
            {
                "frame": pa.array(self._rows["frame"], pa.int64()),
                "entity": pa.array(self._rows["entity"], pa.uint64()),
                "node": pa.array(self._rows["node"], pa.int32()),
                "status": pa.array(self._rows["status"], pa.int8()),
            }
        )
