"""Hot reload of behavior-tree JSON files while agents are RUNNING."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World, component, i8, i32, njit
from behaviors import Action, BehaviorTree, Condition, Sequence, add_agents
from behaviors.leaves import LeafRegistry, leaf
from behaviors.reload import node_map, remap_state, watch_tree
from scripting.reload import HotReloader
from tests.unit.scripting.test_reload import count, last, outcomes, step_until

K = 4  # leaf codes 0..3


@component
class RlGo:
    """Per agent and leaf code: what the leaf returns (1 success, 2 failure, 3 running)."""

    out: i8[K]


@component
class RlCount:
    """Per agent and leaf code: how often the leaf was ticked."""

    n: i32[K]


@leaf("rl_cond", kind="condition", reads=[RlGo], writes=[RlCount], params=("code",))
@njit
def rl_cond(i, out, n, code):  # type: ignore[no-untyped-def]
    n[i, code] += 1
    return out[i, code] == 1


@leaf("rl_act", kind="action", reads=[RlGo], writes=[RlCount], params=("code",))
@njit
def rl_act(i, out, n, code):  # type: ignore[no-untyped-def]
    n[i, code] += 1
    return out[i, code]


@leaf("rl_other", kind="action", reads=[RlGo], writes=[RlCount], params=("code",))
@njit
def rl_other(i, out, n, code):  # type: ignore[no-untyped-def]
    n[i, code] += 1
    return out[i, code]


def node(kind: str, name: str, code: int) -> dict[str, Any]:
    return {"type": kind, "name": name, "params": {"code": code}}


def tree_json(*children: dict[str, Any]) -> str:
    return json.dumps(
        {
            "format": "arrow-ecs.behavior-tree",
            "version": 1,
            "name": "guard",
            "root": {"type": "Sequence", "memory": True, "children": list(children)},
        },
        indent=2,
    )


V1 = tree_json(node("Condition", "rl_cond", 0), node("Action", "rl_act", 1))


@pytest.fixture
def world() -> World:
    w = World(seed=0, threads=1)
    LeafRegistry.of(w).register(rl_cond, rl_act, rl_other)
    return w


@pytest.fixture
def reloader(world: World) -> Iterator[HotReloader]:
    r = HotReloader(world)
    yield r
    r.close()


def counts(world: World, ids: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return world.get_batch(ids, RlCount)["n"]


def spawn(world: World, handle: Any, n: int, running: int) -> np.ndarray[Any, Any]:
    """``n`` agents; the first ``running`` keep leaf 1 RUNNING, the rest succeed."""
    out = np.ones((n, K), np.int8)
    out[:running, 1] = 3
    ids = world.spawn_batch({RlGo: {"out": out}, RlCount: None})
    add_agents(world, handle.tree, ids)
    return ids


def test_edit_keeping_the_running_node_keeps_agents_in_place(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "guard.json"
    f.write_text(V1)
    handle = watch_tree(reloader, f)
    ids = spawn(world, handle, 4, running=2)
    world.run(3)
    old_state = handle.tree.state_component
    st = world.get_batch(ids, old_state)["status"]
    assert st[:2, 2].tolist() == [3, 3]  # running in root/1
    c0 = counts(world, ids)[:, 0].copy()
    assert c0.tolist() == [1, 1, 3, 3]  # memory sequence: running agents skip root/0

    # add a third child: root/1 still exists, so running agents keep their place
    f.write_text(
        tree_json(
            node("Condition", "rl_cond", 0),
            node("Action", "rl_act", 1),
            node("Action", "rl_act", 2),
        )
    )
    step_until(world, lambda: count(reloader, f, "reloaded") == 1)
    assert "failed" not in outcomes(reloader, f)
    rec = last(reloader, f, "reloaded")
    assert rec.detail == "agents kept their place: 4, reset: 0"
    assert handle.tree.n_nodes == 4
    new_state = handle.tree.state_component
    assert new_state is not old_state  # another width: a new state component
    assert not world.query(old_state).entities().size
    st = world.get_batch(ids, new_state)["status"]
    assert st[:2, 2].tolist() == [3, 3]  # still running in root/1
    before = counts(world, ids).copy()
    world.step()
    after = counts(world, ids)
    # running agents resumed at root/1 (root/0 not ticked again), the others
    # ran the whole new sequence, including the new root/2
    assert (after[:2, 0] - before[:2, 0]).tolist() == [0, 0]
    assert (after[:2, 1] - before[:2, 1]).tolist() == [1, 1]
    assert (after[2:, 0] - before[2:, 0]).tolist() == [1, 1]
    assert (after[2:, 2] - before[2:, 2]).tolist() == [1, 1]
    # compiled ahead on the reload thread: the first tick added no signature
    kernels = LeafRegistry.of(world).kernels.values()
    serial = next(k[1] for k in kernels if k[0] is handle.compiled.tick_one)
    assert len(serial.signatures) == 1


def test_edit_removing_the_running_node_resets_those_agents(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "guard.json"
    f.write_text(V1)
    handle = watch_tree(reloader, f)
    ids = spawn(world, handle, 4, running=2)
    world.run(3)
    state = handle.tree.state_component
    # same width, another leaf at root/1: the running node is gone
    f.write_text(
        tree_json(node("Condition", "rl_cond", 0), node("Action", "rl_other", 3))
    )
    step_until(world, lambda: count(reloader, f, "reloaded") == 1)
    assert "failed" not in outcomes(reloader, f)
    assert (
        last(reloader, f, "reloaded").detail == "agents kept their place: 2, reset: 2"
    )
    assert handle.tree.state_component is state  # same width: same component
    st = world.get_batch(ids, state)
    assert st["status"][:2].tolist() == [[0, 0, 0]] * 2  # reset
    assert st["entered"][:2].tolist() == [[-1, -1, -1]] * 2
    before = counts(world, ids).copy()
    world.step()
    after = counts(world, ids)
    # reset agents start from the root again: root/0 is ticked
    assert (after[:, 0] - before[:, 0]).tolist() == [1, 1, 1, 1]
    assert (after[:, 3] - before[:, 3]).tolist() == [1, 1, 1, 1]


def test_bad_tree_files_keep_the_running_tree(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "guard.json"
    f.write_text(V1)
    handle = watch_tree(reloader, f)
    ids = spawn(world, handle, 2, running=0)
    world.step()
    f.write_text(V1.replace('"children"', '"children" "oops"', 1))  # malformed
    step_until(world, lambda: count(reloader, f, "failed") == 1)
    rec = last(reloader, f, "failed")
    assert "malformed" in rec.error
    assert rec.line == 8
    f.write_text(tree_json(node("Action", "no_such_leaf", 0)))  # unknown leaf
    step_until(world, lambda: count(reloader, f, "failed") == 2)
    assert "no_such_leaf" in last(reloader, f, "failed").error
    renamed = json.loads(V1)
    renamed["name"] = "other"
    f.write_text(json.dumps(renamed))
    step_until(world, lambda: count(reloader, f, "failed") == 3)
    assert "tree name changed" in last(reloader, f, "failed").error
    before = counts(world, ids).copy()
    world.step()
    assert (counts(world, ids) - before)[:, :2].tolist() == [[1, 1]] * 2  # v1 runs


def test_node_map_and_remap_state_are_by_path_kind_and_leaf_name() -> None:
    old = BehaviorTree(
        Sequence([Condition("c", code=0), Action("x", code=1), Action("y", code=2)]),
        "t",
    )
    new = BehaviorTree(
        Sequence([Condition("c", code=0), Action("x", code=5), Action("z", code=2)]),
        "t",
    )
    assert node_map(old, new).tolist() == [0, 1, 2, -1]
    status = np.array([[3, 1, 3, 0], [3, 1, 1, 3], [1, 1, 1, 1]], np.int8)
    data = np.array([[1, 0, 7, 0], [2, 0, 0, 9], [0, 0, 0, 0]], np.int32)
    entered = np.arange(12, dtype=np.int32).reshape(3, 4)
    s, d, e, kept = remap_state(old, new, status, data, entered)
    assert kept.tolist() == [True, False, True]
    assert s.tolist() == [[3, 1, 3, 0], [0, 0, 0, 0], [1, 1, 1, 0]]
    assert d.tolist() == [[1, 0, 7, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert e[0].tolist() == [0, 1, 2, -1]
    assert e[1].tolist() == [-1, -1, -1, -1]
    empty = remap_state(old, new, status[:0], data[:0], entered[:0])
    assert [a.shape for a in empty] == [(0, 4), (0, 4), (0, 4), (0,)]


def _remap_reference(
    old: BehaviorTree,
    new: BehaviorTree,
    status: np.ndarray[Any, Any],
    data: np.ndarray[Any, Any],
    entered: np.ndarray[Any, Any],
) -> tuple[list[list[int]], list[list[int]], list[list[int]], list[bool]]:
    """Plain per-agent, per-node remap: the reference for ``remap_state``."""

    def key(t: BehaviorTree, i: int) -> tuple[str, str, str]:
        n = t.nodes[i]
        return (
            t.paths[i],
            n.kind,
            getattr(n, "name", "") if n.kind in ("Condition", "Action") else "",
        )

    new_keys = {key(new, j) for j in range(new.n_nodes)}
    s_out, d_out, e_out, kept = [], [], [], []
    for a in range(len(status)):
        ok = all(
            key(old, i) in new_keys for i in range(old.n_nodes) if status[a, i] == 3
        )
        kept.append(ok)
        srow, drow, erow = [], [], []
        for j in range(new.n_nodes):
            src = next(
                (i for i in range(old.n_nodes) if key(old, i) == key(new, j)), None
            )
            if ok and src is not None:
                srow.append(int(status[a, src]))
                drow.append(int(data[a, src]))
                erow.append(int(entered[a, src]))
            else:
                srow.append(0)
                drow.append(0)
                erow.append(-1)
        s_out.append(srow)
        d_out.append(drow)
        e_out.append(erow)
    return s_out, d_out, e_out, kept


@pytest.mark.hypothesis
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_remap_state_matches_the_plain_reference(data: st.DataObject) -> None:
    from behaviors.testing import trees

    def cond(k: int) -> Condition:
        return Condition("c" if k % 2 else "d", code=k)

    def act(k: int) -> Action:
        return Action("a" if k % 3 else "b", code=k)

    old = data.draw(trees(condition=cond, action=act, max_nodes=10, max_depth=3))
    new = (
        old  # an edit that keeps every node: everybody keeps their place
        if data.draw(st.booleans())
        else data.draw(trees(condition=cond, action=act, max_nodes=10, max_depth=3))
    )
    agents = data.draw(st.integers(0, 6))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    status = rng.integers(0, 4, (agents, old.n_nodes)).astype(np.int8)
    dat = rng.integers(0, 5, (agents, old.n_nodes)).astype(np.int32)
    ent = rng.integers(-1, 9, (agents, old.n_nodes)).astype(np.int32)
    s, d, e, kept = remap_state(old, new, status, dat, ent)
    rs, rd, re_, rk = _remap_reference(old, new, status, dat, ent)
    assert kept.tolist() == rk
    assert s.tolist() == rs
    assert d.tolist() == rd
    assert e.tolist() == re_
    assert s.shape == (agents, new.n_nodes)
