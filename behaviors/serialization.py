"""Versioned JSON save / load of behavior trees (leaves by registered name + parameters).

The format is ``{"format": "arrow-ecs.behavior-tree", "version": 1, "name": ...,
"root": node}`` where a node is ``{"type": "Sequence", "memory": true, "children":
[...]}``, a decorator carries ``"child"``, and a leaf is ``{"type": "Action", "name":
..., "params": {...}}``. Loading validates the structure, and, given a registry, the
leaves (unknown names, wrong kind, missing or unknown parameters).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from behaviors.leaves import LeafRegistry
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
    Policy,
    Repeat,
    Retry,
    Selector,
    Sequence,
    Timeout,
)
from behaviors.tree import BehaviorTree, TreeError

__all__ = [
    "FORMAT",
    "VERSION",
    "from_dict",
    "load",
    "loads",
    "save",
    "to_dict",
    "dumps",
]

FORMAT = "arrow-ecs.behavior-tree"
VERSION = 1

_DECORATORS: dict[str, type[Node]] = {
    "Inverter": Inverter,
    "ForceSuccess": ForceSuccess,
    "ForceFailure": ForceFailure,
    "Repeat": Repeat,
    "Retry": Retry,
    "Timeout": Timeout,
    "Cooldown": Cooldown,
}
_TYPES = [
    "Sequence",
    "Selector",
    "Parallel",
    *_DECORATORS,
    "Guard",
    "Condition",
    "Action",
]


def _policy_json(p: Policy) -> Any:
    return p.kind if p.kind != "n" else p.k


def _node_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"type": node.kind}
    label = getattr(node, "label", "")
    if label:
        out["label"] = label
    if isinstance(node, Leaf):
        out["name"] = node.name
        if node.params:
            out["params"] = node.param_dict
    elif isinstance(node, Sequence | Selector):
        out["memory"] = node.memory
        out["children"] = [_node_dict(c) for c in node.children]
    elif isinstance(node, Parallel):
        out["success"] = _policy_json(node.success)
        out["failure"] = _policy_json(node.failure)
        out["children"] = [_node_dict(c) for c in node.children]
    elif isinstance(node, Guard):
        out["condition"] = _node_dict(node.condition)
        out["child"] = _node_dict(node.child)
    else:
        for attr in ("n", "frames", "seconds"):
            v = getattr(node, attr, None)
            if v is not None:
                out[attr] = v
        out["child"] = _node_dict(node.child)  # type: ignore[attr-defined] # decorators
    return out


def to_dict(tree: BehaviorTree) -> dict[str, Any]:
    """The JSON-ready dict of ``tree``.

    Examples
    --------
    >>> from behaviors.nodes import Sequence, Condition
    >>> to_dict(BehaviorTree(Sequence([Condition("ok")]), "t"))["root"]["type"]
    'Sequence'
    """
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": tree.name,
        "root": _node_dict(tree.root),
    }


def dumps(tree: BehaviorTree) -> str:
    """``tree`` as a JSON string (indented, stable key order)."""
    return json.dumps(to_dict(tree), indent=2)


def save(tree: BehaviorTree, path: str | Path) -> Path:
    """Write ``tree`` as JSON to ``path`` (atomically: temp file + rename)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(dumps(tree), encoding="utf-8")
    tmp.replace(p)
    return p


def _policy(v: Any, where: str) -> Policy:
    if v == "all":
        return Policy("all")
    if v == "one":
        return Policy("one")
    if isinstance(v, int) and not isinstance(v, bool):
        return Policy("n", v)
    raise TreeError(f"{where}: policy {v!r} is not 'all', 'one' or an int")


def _get(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise TreeError(f"{where}: missing key {key!r}")
    return d[key]


def _children(d: dict[str, Any], where: str) -> list[Node]:
    kids = _get(d, "children", where)
    if not isinstance(kids, list) or not kids:
        raise TreeError(
            f"{where}: 'children' must be a non-empty list (a {d['type']} needs at "
            "least one child)"
        )
    return [_node(c, f"{where}/{j}") for j, c in enumerate(kids)]


def _node(d: Any, where: str) -> Node:
    if not isinstance(d, dict):
        raise TreeError(f"{where}: a node must be an object, got {type(d).__name__}")
    t = _get(d, "type", where)
    label = str(d.get("label", ""))
    at = f"{where} ({t})"
    if t in ("Condition", "Action"):
        params = d.get("params", {})
        if not isinstance(params, dict):
            raise TreeError(f"{at}: 'params' must be an object")
        cls = Condition if t == "Condition" else Action
        return cls(str(_get(d, "name", at)), label=label, **params)
    if t in ("Sequence", "Selector"):
        ctor = Sequence if t == "Sequence" else Selector
        return ctor(_children(d, at), memory=bool(d.get("memory", True)), label=label)
    if t == "Parallel":
        return Parallel(
            _children(d, at),
            success=_policy(d.get("success", "all"), at),
            failure=_policy(d.get("failure", "one"), at),
            label=label,
        )
    if t == "Guard":
        if "children" in d:
            raise TreeError(
                f"{at}: a Guard has 'condition' and 'child', not 'children'"
            )
        cond = _node(_get(d, "condition", at), f"{where}/condition")
        if not isinstance(cond, Condition):
            raise TreeError(f"{at}: the guard's condition must be a Condition")
        return Guard(cond, _node(_get(d, "child", at), f"{where}/child"), label=label)
    if t in _DECORATORS:
        if "children" in d:
            n = len(d["children"]) if isinstance(d["children"], list) else "?"
            raise TreeError(
                f"{at}: a decorator has exactly one child (key 'child'), got "
                f"'children' with {n}"
            )
        child = _node(_get(d, "child", at), f"{where}/child")
        kw: dict[str, Any] = {"label": label}
        if t in ("Repeat", "Retry"):
            kw["n"] = int(_get(d, "n", at))
        if t in ("Timeout", "Cooldown"):
            if "frames" not in d and "seconds" not in d:
                raise TreeError(f"{at}: missing 'frames' or 'seconds'")
            kw.update({k: d[k] for k in ("frames", "seconds") if k in d})
        return _DECORATORS[t](child, **kw)  # type: ignore[call-arg] # per-kind fields
    raise TreeError(f"{where}: unknown node type {t!r}; supported: {', '.join(_TYPES)}")


def from_dict(data: Any, registry: LeafRegistry | None = None) -> BehaviorTree:
    """Build a tree from its dict; with ``registry``, also validate its leaves.

    Raises
    ------
    TreeError
        On a wrong format or version, an unknown node type, a wrong number of
        children, a missing key, and (with ``registry``) an unknown leaf, a leaf used
        as the wrong kind, or unknown / missing parameters.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TreeError(
            f"not a behavior tree file: expected an object with format {FORMAT!r}"
        )
    version = data.get("version")
    if version != VERSION:
        raise TreeError(
            f"behavior tree format version {version!r} is not supported (this "
            f"arrow-ecs reads version {VERSION}); upgrade arrow-ecs or re-export"
        )
    name = str(_get(data, "name", "tree file"))
    tree = BehaviorTree(_node(_get(data, "root", f"tree {name!r}"), "root"), name)
    if registry is not None:
        validate_leaves(tree, registry)
    return tree


def validate_leaves(tree: BehaviorTree, registry: LeafRegistry) -> None:
    """Check every leaf of ``tree`` against ``registry`` (name, kind, parameters)."""
    for k, node in tree.leaves():
        where = f"tree {tree.name!r}: {node.kind} at {tree.paths[k]}"
        d = registry.lookup(node.name, where)
        want = "condition" if isinstance(node, Condition) else "action"
        if d.kind != want:
            raise TreeError(
                f"{where}: leaf {d.name!r} is registered as a {d.kind}, used as "
                f"{node.kind}"
            )
        d.resolve_params(node.param_dict, where)


def loads(text: str, registry: LeafRegistry | None = None) -> BehaviorTree:
    """Load a tree from a JSON string (see :func:`from_dict`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TreeError(f"behavior tree JSON is malformed: {exc}") from exc
    return from_dict(data, registry)


def load(path: str | Path, registry: LeafRegistry | None = None) -> BehaviorTree:
    """Load a tree from a JSON file (see :func:`from_dict`)."""
    p = Path(path)
    try:
        return loads(p.read_text(encoding="utf-8"), registry)
    except TreeError as exc:
        exc.add_note(f"while loading {p}")
        raise
