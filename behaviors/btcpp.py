"""Import of BehaviorTree.CPP v4 XML (trees drawn in Groot) for the node types we support.

Supported: ``Sequence``, ``Fallback``, ``ReactiveSequence``, ``ReactiveFallback``,
``Parallel`` (``success_count`` / ``failure_count``), ``Inverter``, ``ForceSuccess``,
``ForceFailure``, ``Repeat`` (``num_cycles``), ``RetryUntilSuccessful``
(``num_attempts``), ``Timeout`` (``msec``), and leaves written ``<Action ID="x"/>``,
``<Condition ID="x"/>`` or ``<x/>`` whose other attributes are literal parameters.
Anything else (scripts, blackboard ports ``{key}``, SubTree, pre/post conditions, ...)
is refused with an error naming the node and the supported list.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from behaviors.leaves import LeafRegistry
from behaviors.nodes import (
    ALL,
    Action,
    Condition,
    ForceFailure,
    ForceSuccess,
    Inverter,
    N,
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

__all__ = ["SUPPORTED", "from_btcpp_xml", "load_btcpp_xml"]

_CONTROLS = {
    "Sequence": (Sequence, True),
    "Fallback": (Selector, True),
    "ReactiveSequence": (Sequence, False),
    "ReactiveFallback": (Selector, False),
}
_DECORATORS = ("Inverter", "ForceSuccess", "ForceFailure", "Repeat")
SUPPORTED = (
    *_CONTROLS,
    "Parallel",
    *_DECORATORS,
    "RetryUntilSuccessful",
    "Timeout",
    "Action",
    "Condition",
)
_NOT_LEAVES = {
    "SequenceWithMemory", "SequenceStar", "AsyncSequence", "AsyncFallback",
    "ParallelAll", "IfThenElse", "WhileDoElse", "TryCatch", "Switch2", "Switch3",
    "Switch4", "Switch5", "Switch6", "KeepRunningUntilFailure", "Delay", "RunOnce",
    "Precondition", "SubTree", "LoopInt", "LoopBool", "LoopDouble", "LoopString",
    "SkipUnlessUpdated", "WaitValueUpdate", "Script", "ScriptCondition",
    "SetBlackboard", "UnsetBlackboard", "Sleep", "AlwaysSuccess", "AlwaysFailure",
    "WasEntryUpdated",
}  # fmt: skip


def _literal(value: str, where: str) -> int | float | bool:
    v = value.strip()
    if v.startswith("{") and v.endswith("}"):
        raise TreeError(
            f"{where}: blackboard port {v!r} is not supported; leaves read the "
            "agent's components instead: give a literal value"
        )
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        raise TreeError(
            f"{where}: parameter value {v!r} is not a number or bool; leaf "
            "parameters are int, float or bool"
        ) from None


def _int_attr(el: ET.Element, name: str, where: str) -> int:
    raw = el.get(name)
    if raw is None:
        raise TreeError(f"{where}: missing attribute {name!r}")
    v = _literal(raw, where)
    if not isinstance(v, int) or isinstance(v, bool):
        raise TreeError(f"{where}: {name}={raw!r} must be an integer")
    return v


class _Importer:
    def __init__(self, kinds: dict[str, str], registry: LeafRegistry | None) -> None:
        self.kinds = kinds
        self.registry = registry

    def node(self, el: ET.Element, where: str) -> Node:
        tag = el.tag
        at = f"{where} <{tag}{' name=' + repr(el.get('name')) if el.get('name') else ''}>"
        bad = [a for a in el.attrib if a.startswith("_")]
        if bad:
            raise TreeError(
                f"{at}: pre/post-condition attributes {bad} are not supported; use a "
                "Guard or a Condition leaf"
            )
        kids = list(el)
        label = el.get("name", "")
        if tag in _CONTROLS:
            cls, memory = _CONTROLS[tag]
            return cls(self.children(kids, at), memory=memory, label=label)
        if tag == "Parallel":
            return self.parallel(el, kids, at, label)
        if tag in (*_DECORATORS, "RetryUntilSuccessful", "Timeout"):
            return self.decorator(el, kids, at, label)
        if tag in _NOT_LEAVES:
            raise TreeError(
                f"{at}: BehaviorTree.CPP node {tag!r} is not supported; supported: "
                f"{', '.join(SUPPORTED)} and registered leaves"
            )
        return self.leaf(el, kids, at, label)

    def children(self, kids: list[ET.Element], at: str) -> list[Node]:
        if not kids:
            raise TreeError(f"{at}: a control node needs at least one child")
        return [self.node(c, f"{at}/{j}") for j, c in enumerate(kids)]

    def parallel(
        self, el: ET.Element, kids: list[ET.Element], at: str, label: str
    ) -> Node:
        children = self.children(kids, at)

        def policy(attr: str, default: int) -> Policy:
            raw = el.get(attr)
            k = default if raw is None else _int_attr(el, attr, at)
            return ALL if k < 0 or k == len(children) else N(k)

        return Parallel(
            children,
            success=policy("success_count", -1),
            failure=policy("failure_count", 1),
            label=label,
        )

    def decorator(
        self, el: ET.Element, kids: list[ET.Element], at: str, label: str
    ) -> Node:
        if len(kids) != 1:
            raise TreeError(
                f"{at}: a decorator needs exactly one child, got {len(kids)}"
            )
        child = self.node(kids[0], f"{at}/0")
        tag = el.tag
        if tag == "Inverter":
            return Inverter(child, label=label)
        if tag == "ForceSuccess":
            return ForceSuccess(child, label=label)
        if tag == "ForceFailure":
            return ForceFailure(child, label=label)
        if tag == "Timeout":
            return Timeout(
                child, seconds=_int_attr(el, "msec", at) / 1000.0, label=label
            )
        attr = "num_cycles" if tag == "Repeat" else "num_attempts"
        n = _int_attr(el, attr, at)
        if n < 1:
            raise TreeError(f"{at}: {attr}={n} (infinite loops) is not supported")
        return (Repeat if tag == "Repeat" else Retry)(child, n=n, label=label)

    def leaf(self, el: ET.Element, kids: list[ET.Element], at: str, label: str) -> Node:
        if kids:
            raise TreeError(f"{at}: a leaf has no children")
        if el.tag in ("Action", "Condition"):
            leaf_id = el.get("ID")
            if not leaf_id:
                raise TreeError(f"{at}: missing attribute 'ID'")
            kind = el.tag.lower()
        else:
            leaf_id = el.tag
            kind = self.kinds.get(leaf_id, "")
            reg = self.registry.get(leaf_id) if self.registry is not None else None
            if not kind and reg is not None:
                kind = reg.kind
            if not kind:
                raise TreeError(
                    f"{at}: unknown node {leaf_id!r}: not a supported BehaviorTree.CPP "
                    f"node ({', '.join(SUPPORTED)}), not declared in <TreeNodesModel> "
                    "and not a registered leaf"
                )
        params = {
            k: _literal(v, f"{at} {k}=")
            for k, v in el.attrib.items()
            if k not in ("ID", "name")
        }
        cls = Condition if kind == "condition" else Action
        return cls(leaf_id, label=label, **params)


def from_btcpp_xml(
    text: str, registry: LeafRegistry | None = None, *, tree_id: str | None = None
) -> BehaviorTree:
    """Build a tree from BehaviorTree.CPP v4 XML.

    Parameters
    ----------
    text
        The XML document (``<root BTCPP_format="4">``).
    registry
        Leaves to validate against (and to tell actions from conditions when a
        leaf is written as ``<Name/>`` without a ``<TreeNodesModel>`` entry).
    tree_id
        Which ``<BehaviorTree ID=...>`` to import (default: ``main_tree_to_execute``
        or the only one).

    Raises
    ------
    TreeError
        On malformed XML, a format other than 4, an unsupported node (named, with
        the supported list), a blackboard port, or an invalid leaf.

    Examples
    --------
    >>> xml = '''<root BTCPP_format="4"><BehaviorTree ID="Main">
    ...   <ReactiveFallback><Condition ID="safe"/><Action ID="flee" speed="2.5"/>
    ...   </ReactiveFallback></BehaviorTree></root>'''
    >>> t = from_btcpp_xml(xml)
    >>> t.name, [n.kind for n in t.nodes]
    ('Main', ['Selector', 'Condition', 'Action'])
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise TreeError(f"BehaviorTree.CPP XML is malformed: {exc}") from exc
    fmt = root.get("BTCPP_format")
    if root.tag != "root" or fmt != "4":
        raise TreeError(
            f'expected <root BTCPP_format="4">, got <{root.tag} BTCPP_format='
            f"{fmt!r}>; convert v3 files with BehaviorTree.CPP's convert_v3_to_v4.py"
        )
    trees = {t.get("ID", ""): t for t in root.findall("BehaviorTree")}
    want = (
        tree_id
        or root.get("main_tree_to_execute")
        or (next(iter(trees)) if len(trees) == 1 else None)
    )
    if want is None or want not in trees:
        raise TreeError(
            f"choose a tree with tree_id= (main_tree_to_execute is not set); the "
            f"file has {sorted(trees)}"
        )
    kinds: dict[str, str] = {}
    for model in root.findall("TreeNodesModel"):
        for decl in model:
            if decl.tag in ("Action", "Condition") and decl.get("ID"):
                kinds[str(decl.get("ID"))] = decl.tag.lower()
    body = list(trees[want])
    if len(body) != 1:
        raise TreeError(f"<BehaviorTree ID={want!r}> must have exactly one root node")
    imp = _Importer(kinds, registry)
    name = "".join(ch if ch.isalnum() else "_" for ch in want) or "tree"
    tree = BehaviorTree(imp.node(body[0], f"BehaviorTree {want!r}"), name)
    if registry is not None:
        from behaviors.serialization import validate_leaves

        validate_leaves(tree, registry)
    return tree


def load_btcpp_xml(
    path: str | Path, registry: LeafRegistry | None = None, **kw: Any
) -> BehaviorTree:
    """Load BehaviorTree.CPP v4 XML from a file (see :func:`from_btcpp_xml`)."""
    p = Path(path)
    try:
        return from_btcpp_xml(p.read_text(encoding="utf-8"), registry, **kw)
    except TreeError as exc:
        exc.add_note(f"while importing {p}")
        raise
