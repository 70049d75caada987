"""Differential test: the generated Numba tick equals the reference interpreter.

Random trees use every node kind; leaf outcomes are a deterministic hash of (agent,
leaf, tick, seed) computed in the kernel and in Python. After every tick, every
agent's status / data / entered vectors and its sequence of leaf invocations must be
equal. Compiling a tree costs about a second, so most examples reuse a fixed set of
seeded random trees (compiled once) and Hypothesis draws outcomes, frame gaps and
biases; a few examples draw whole trees.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unit.behaviors.harness import Run, registry_world

from archetype_ecs import World
from behaviors.leaves import LeafRegistry
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
    Repeat,
    Retry,
    Selector,
    Sequence,
    Timeout,
)
from behaviors.tree import BehaviorTree

pytestmark = pytest.mark.hypothesis

DrawInt = Callable[[int, int], int]
KINDS = [
    "seq", "seq_r", "sel", "sel_r", "par", "inv", "fs", "ff",
    "rep", "ret", "timeout", "cool", "guard", "cond", "act",
]  # fmt: skip


class _Builder:
    """Builds a random tree; leaf ``code`` = the leaf's pre-order node index."""

    def __init__(self, draw: DrawInt, budget: int) -> None:
        self.draw = draw
        self.budget = budget
        self.next_index = 0

    def leaf(self, *, condition: bool | None = None) -> Node:
        k = self.next_index
        self.next_index += 1
        self.budget -= 1
        if condition is None:
            condition = self.draw(0, 1) == 0
        return Condition("hc", code=k) if condition else Action("ha", code=k)

    def node(self, depth: int) -> Node:
        if depth <= 0 or self.budget <= 2:
            return self.leaf()
        kind = KINDS[self.draw(0, len(KINDS) - 1)]
        if kind in ("cond", "act"):
            return self.leaf(condition=kind == "cond")
        self.next_index += 1
        self.budget -= 1
        if kind in ("seq", "seq_r", "sel", "sel_r", "par"):
            kids = [self.node(depth - 1) for _ in range(self.draw(1, 4))]
            if kind == "par":
                return Parallel(kids, success=self.policy(), failure=self.policy())
            cls = Sequence if kind.startswith("seq") else Selector
            return cls(kids, memory=not kind.endswith("_r"))
        if kind == "guard":
            cond = self.leaf(condition=True)
            assert isinstance(cond, Condition)
            return Guard(cond, self.node(depth - 1))
        child = self.node(depth - 1)
        simple = {"inv": Inverter, "fs": ForceSuccess, "ff": ForceFailure}
        if kind in simple:
            return simple[kind](child)
        if kind in ("rep", "ret"):
            return (Repeat if kind == "rep" else Retry)(child, n=self.draw(1, 3))
        return (Timeout if kind == "timeout" else Cooldown)(
            child, frames=self.draw(1, 4)
        )

    def policy(self) -> object:
        return [ALL, ONE, N(1), N(2)][self.draw(0, 3)]


def random_tree(draw: DrawInt, name: str, budget: int = 24) -> BehaviorTree:
    root = _fix(_Builder(draw, budget).node(depth=5))
    return BehaviorTree(root, name)


def _fix(node: Node) -> Node:
    # Rebuild bottom-up so Parallel thresholds fit their child counts.
    from behaviors.nodes import children_of

    if isinstance(node, Parallel):
        kids = [_fix(c) for c in node.children]
        pols = [
            p if p.threshold(len(kids)) <= len(kids) else ONE
            for p in (node.success, node.failure)
        ]
        return Parallel(kids, success=pols[0], failure=pols[1])
    if isinstance(node, Sequence | Selector):
        return type(node)([_fix(c) for c in node.children], memory=node.memory)
    if isinstance(node, Guard):
        return Guard(node.condition, _fix(node.child))
    kids = children_of(node)
    if kids:
        import dataclasses

        return dataclasses.replace(node, child=_fix(kids[0]))  # type: ignore[type-var]
    return node


N_FIXED = 4
N_AGENTS = 12


@pytest.fixture(scope="module")
def fixed_runs() -> list[tuple[BehaviorTree, object]]:
    world = registry_world()
    rng = random.Random(5)
    trees = []
    kinds_seen: set[str] = set()
    while len(trees) < N_FIXED:
        t = random_tree(lambda lo, hi: rng.randint(lo, hi), f"fixed{len(trees)}")
        if t.n_nodes < 10:
            continue
        trees.append(t)
        kinds_seen |= {n.kind for n in t.nodes}
    missing = {"Sequence", "Selector", "Parallel", "Inverter", "ForceSuccess",
               "ForceFailure", "Repeat", "Retry", "Timeout", "Cooldown", "Guard",
               "Condition", "Action"} - kinds_seen  # fmt: skip
    assert not missing, f"seeded trees miss node kinds {missing}; change the seed"
    return [(t, world) for t in trees]


def _drive(run: Run, seed: int, bias: int, gaps: list[int]) -> None:
    run.seed, run.bias = seed, bias
    frame = 1
    for t, gap in enumerate(gaps):
        frame += gap
        run.tick(frame)
        mism = run.mismatches()
        assert not mism, f"tick {t} (frame {frame}):\n" + "\n".join(mism[:10])


@settings(max_examples=50, deadline=None)
@given(
    which=st.integers(0, N_FIXED - 1),
    seed=st.integers(0, 2**31),
    bias=st.integers(0, 100),
    gaps=st.lists(st.integers(0, 2), min_size=1, max_size=25),
)
def test_kernel_equals_reference_on_seeded_trees(
    fixed_runs: list[tuple[BehaviorTree, object]],
    which: int,
    seed: int,
    bias: int,
    gaps: list[int],
) -> None:
    tree, shared = fixed_runs[which]
    # A fresh world per example, sharing the registry (and so the compiled kernels).
    world = World()
    world.insert_resource(shared.resource(LeafRegistry))  # type: ignore[attr-defined]
    run = Run.make(tree, N_AGENTS, world=world)
    _drive(run, seed, bias, gaps)


@settings(max_examples=3, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31), bias=st.integers(0, 100))
def test_kernel_equals_reference_on_drawn_trees(
    data: st.DataObject, seed: int, bias: int
) -> None:
    def draw(lo: int, hi: int) -> int:
        return data.draw(st.integers(lo, hi))

    tree = random_tree(draw, "drawn", budget=16)
    run = Run.make(tree, N_AGENTS)
    _drive(run, seed, bias, [1, 1, 0, 2, 1, 1, 1, 3, 1, 1, 1, 1, 2, 1, 1])


@settings(max_examples=15, deadline=None)
@given(
    which=st.integers(0, N_FIXED - 1),
    seed=st.integers(0, 2**31),
    bias=st.integers(0, 100),
    gaps=st.lists(st.integers(0, 2), min_size=1, max_size=15),
)
def test_wavefront_executor_equals_reference(
    fixed_runs: list[tuple[BehaviorTree, World]],
    which: int,
    seed: int,
    bias: int,
    gaps: list[int],
) -> None:
    """The NumPy wavefront tick (script-leaf slow path) follows the same semantics."""
    tree, shared = fixed_runs[which]
    world = World()
    world.insert_resource(shared.resource(LeafRegistry))
    run = Run.make(tree, N_AGENTS, world=world)
    run.wavefront = True  # type: ignore[attr-defined]
    _drive(run, seed, bias, gaps)
