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
    Action,
    Condition,
)
from behaviors.testing import build_tree, trees
from behaviors.tree import BehaviorTree

pytestmark = pytest.mark.hypothesis


def _cond(k: int) -> Condition:
    return Condition("hc", code=k)


def _act(k: int) -> Action:
    return Action("ha", code=k)


def random_tree(
    draw: Callable[[int, int], int], name: str, budget: int = 24
) -> BehaviorTree:
    return build_tree(draw, name, condition=_cond, action=_act, max_nodes=budget)


N_FIXED = 4
N_AGENTS = 12
# Sized for the default run (~30 s, most of it compiling); larger profiles (nightly)
# scale every test up in proportion.
SCALE = max(1, settings.default.max_examples // 200)


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


@settings(max_examples=50 * SCALE, deadline=None)
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


@settings(max_examples=3 * SCALE, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31), bias=st.integers(0, 100))
def test_kernel_equals_reference_on_drawn_trees(
    data: st.DataObject, seed: int, bias: int
) -> None:
    tree = data.draw(trees(condition=_cond, action=_act, max_nodes=16))
    run = Run.make(tree, N_AGENTS)
    _drive(run, seed, bias, [1, 1, 0, 2, 1, 1, 1, 3, 1, 1, 1, 1, 2, 1, 1])


@settings(max_examples=15 * SCALE, deadline=None)
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
