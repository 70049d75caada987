"""Test kit for behavior trees: random trees using every node kind, as a Hypothesis strategy.

``trees(condition=..., action=...)`` draws trees whose leaves come from your factories
(called with the leaf's pre-order node index, so a leaf can log which node ran). The
same builder takes any ``draw_int(lo, hi)`` (e.g. ``random.Random.randint``) so a test
can also build a fixed, seeded set of trees once and reuse their compiled kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from behaviors.nodes import (
    ALL,
    ONE,
    Action,
    Condition,
    Cooldown,
    ForceFailure,
    ForceSuccess,
    Guard,
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
from behaviors.tree import BehaviorTree

__all__ = ["KINDS", "build_tree", "trees"]

DrawInt = Callable[[int, int], int]
LeafFactory = Callable[[int], Node]

KINDS = (
    "seq", "seq_r", "sel", "sel_r", "par", "inv", "fs", "ff",
    "rep", "ret", "timeout", "cool", "guard", "cond", "act",
)  # fmt: skip
"""What the builder picks from at each inner position (``_r``: reactive)."""


class _Builder:
    def __init__(
        self,
        draw: DrawInt,
        budget: int,
        condition: Callable[[int], Condition],
        action: Callable[[int], Action],
    ) -> None:
        self.draw = draw
        self.budget = budget
        self.condition = condition
        self.action = action
        self.next_index = 0

    def _index(self) -> int:
        self.next_index += 1
        self.budget -= 1
        return self.next_index - 1

    def leaf(self, *, condition: bool | None = None) -> Node:
        if condition is None:
            condition = self.draw(0, 1) == 0
        k = self._index()
        return self.condition(k) if condition else self.action(k)

    def node(self, depth: int) -> Node:
        if depth <= 0 or self.budget <= 2:
            return self.leaf()
        kind = KINDS[self.draw(0, len(KINDS) - 1)]
        if kind in ("cond", "act"):
            return self.leaf(condition=kind == "cond")
        self._index()
        if kind in ("seq", "seq_r", "sel", "sel_r", "par"):
            kids = [self.node(depth - 1) for _ in range(self.draw(1, 4))]
            if kind == "par":
                return Parallel(
                    kids, success=self.policy(len(kids)), failure=self.policy(len(kids))
                )
            cls = Sequence if kind.startswith("seq") else Selector
            return cls(kids, memory=not kind.endswith("_r"))
        if kind == "guard":
            k = self._index()
            return Guard(self.condition(k), self.node(depth - 1))
        return self.decorator(kind, self.node(depth - 1))

    def decorator(self, kind: str, child: Node) -> Node:
        simple: dict[str, Any] = {
            "inv": Inverter,
            "fs": ForceSuccess,
            "ff": ForceFailure,
        }
        if kind in simple:
            out: Node = simple[kind](child)
            return out
        if kind in ("rep", "ret"):
            return (Repeat if kind == "rep" else Retry)(child, n=self.draw(1, 3))
        frames = self.draw(1, 4)
        return (Timeout if kind == "timeout" else Cooldown)(child, frames=frames)

    def policy(self, n: int) -> Policy:
        return [ALL, ONE, N(1), N(min(2, n))][self.draw(0, 3)]


def build_tree(
    draw: DrawInt,
    name: str,
    *,
    condition: Callable[[int], Condition],
    action: Callable[[int], Action],
    max_nodes: int = 24,
    max_depth: int = 5,
) -> BehaviorTree:
    """Build a random tree from ``draw(lo, hi) -> int`` choices.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> t = build_tree(rng.randint, "r", condition=lambda k: Condition("c", code=k),
    ...                action=lambda k: Action("a", code=k))
    >>> t.n_nodes <= 24 + 4
    True
    """
    b = _Builder(draw, max_nodes, condition, action)
    return BehaviorTree(b.node(max_depth), name)


def trees(
    *,
    condition: Callable[[int], Condition],
    action: Callable[[int], Action],
    max_nodes: int = 24,
    max_depth: int = 5,
    name: str = "drawn",
) -> Any:
    """A Hypothesis strategy of random trees using every node kind.

    Parameters
    ----------
    condition, action
        Leaf factories, called with the leaf's pre-order node index.
    max_nodes, max_depth
        Size bounds (a few nodes over ``max_nodes`` are possible: a composite
        always gets at least one child).
    name
        The trees' name (their state component is ``BT_<name>``).
    """
    from hypothesis import strategies as st

    @st.composite
    def draw_tree(draw: Any) -> BehaviorTree:
        def draw_int(lo: int, hi: int) -> int:
            v: int = draw(st.integers(lo, hi))
            return v

        return build_tree(
            draw_int,
            name,
            condition=condition,
            action=action,
            max_nodes=max_nodes,
            max_depth=max_depth,
        )

    return draw_tree()
