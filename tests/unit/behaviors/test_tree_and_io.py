"""Tree validation, leaf checks, JSON save / load, debugging views, system integration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archetype_ecs import CommandBuffer, World, component, f32, njit
from archetype_ecs.errors import EcsError
from behaviors import serialization as ser
from behaviors.debugging import (
    TraceRecorder,
    agent_path,
    node_counts,
    render_dot,
    render_text,
)
from behaviors.leaves import LeafRegistry, leaf
from behaviors.nodes import (
    ALL,
    Action,
    Condition,
    Cooldown,
    Guard,
    Inverter,
    N,
    Parallel,
    Repeat,
    Selector,
    Sequence,
    Status,
    Timeout,
)
from behaviors.tick import (
    add_agents,
    behavior_system,
    check_agents,
    compiled,
    switch_tree,
    tick_tree,
)
from behaviors.tree import BehaviorTree, TreeError


@component
class Energy:
    v: f32 = 0.0


@component
class Pos:
    x: f32 = 0.0


@leaf("low", kind="condition", reads=[Energy], params={"limit": 10.0})
@njit
def low(i, v, limit):  # type: ignore[no-untyped-def]
    return v[i] < limit


@leaf("rest", kind="action", writes=[Energy])
@njit
def rest(i, v):  # type: ignore[no-untyped-def]
    v[i] += 4.0
    return 1 if v[i] >= 10.0 else 3


@leaf("walk", kind="action", reads=[Energy], writes=[Pos], params=("speed",))
@njit
def walk(i, v, x, speed):  # type: ignore[no-untyped-def]
    x[i] += speed
    return 1


def _world() -> World:
    w = World()
    LeafRegistry.of(w).register(low, rest, walk)
    return w


def _tree(name: str = "life") -> BehaviorTree:
    return BehaviorTree(
        Selector(
            [
                Sequence([Condition("low"), Action("rest")]),
                Action("walk", speed=1.0),
            ],
            memory=False,
        ),
        name,
    )


def test_tree_error_is_an_ecs_error() -> None:
    assert issubclass(TreeError, EcsError)
    assert issubclass(TreeError, ValueError)


def test_layout_is_preorder_with_contiguous_subtrees() -> None:
    t = BehaviorTree(
        Sequence([Guard(Condition("a"), Repeat(Action("b"), n=2)), Action("c")]), "lay"
    )
    lay = t.layout()
    assert [n.kind for n in t.nodes] == [
        "Sequence", "Guard", "Condition", "Repeat", "Action", "Action",
    ]  # fmt: skip
    assert lay.size.tolist() == [6, 4, 1, 2, 1, 1]
    assert lay.children(0) == [1, 5]
    assert lay.children(1) == [2, 3]
    assert lay.param0[3] == 2


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Sequence([]), "no children"),
        (lambda: Parallel([Action("a")], success=N(2)), "needs 2 of 1"),
        (lambda: Repeat(Action("a"), n=0), "n=0"),
        (lambda: Timeout(Action("a")), "exactly one of frames"),
        (lambda: Cooldown(Action("a"), frames=0), "at least 1 frame"),
        (lambda: Action("not a name"), "not an identifier"),
    ],
)
def test_invalid_trees_are_refused_with_clear_errors(make, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TreeError, match=match):
        BehaviorTree(make(), "bad").layout()


def test_unknown_leaf_suggests_close_names() -> None:
    w = _world()
    t = BehaviorTree(Sequence([Action("res")]), "typo")
    with pytest.raises(TreeError, match=r"unknown leaf 'res' \(did you mean 'rest'"):
        compiled(w, t)


def test_missing_and_unknown_params_and_wrong_kind_are_refused() -> None:
    w = _world()
    with pytest.raises(TreeError, match="needs parameter 'speed'"):
        compiled(w, BehaviorTree(Action("walk"), "p1"))
    with pytest.raises(TreeError, match="no parameter"):
        compiled(w, BehaviorTree(Action("walk", speed=1.0, fast=True), "p2"))
    with pytest.raises(TreeError, match="registered as a condition"):
        compiled(w, BehaviorTree(Action("low"), "p3"))
    with pytest.raises(TreeError, match="int, float"):
        compiled(w, BehaviorTree(Action("walk", speed="fast"), "p4"))


def test_behavior_system_declares_blackboard_access() -> None:
    w = _world()
    sys_ = behavior_system(w, _tree())
    ct = compiled(w, _tree("other"))
    assert sys_.name == "behavior_life"
    assert sys_.kind == "kernel"
    assert Energy in sys_.access.writes
    assert Pos in sys_.access.writes
    assert ct.reads == {Energy}
    assert ct.writes == {Energy, Pos}


def test_system_ticks_agents_in_the_schedule() -> None:
    w = _world()
    t = _tree()
    ents = w.spawn_batch({Energy: {"v": np.array([0.0, 50.0], np.float32)}, Pos: None})
    add_agents(w, t, ents)
    w.add_system(behavior_system(w, t))
    w.run(3)
    assert w.get_batch(ents, Pos)["x"].tolist() == [0.0, 3.0]  # agent 0 rested 3 ticks
    counts = node_counts(w, t)
    assert counts.column("entered").to_pylist()[0] == 2
    path = agent_path(w, t, int(ents[1]))
    assert [k for k, _, _ in path] == [0, 1, 2, 4]
    assert path[-1][2] is Status.SUCCESS


def test_check_agents_names_agents_missing_components() -> None:
    w = _world()
    t = _tree()
    ok = w.spawn(Energy(), Pos())
    bad = w.spawn(Energy())
    add_agents(w, t, [ok, bad])
    with pytest.raises(
        TreeError, match=r"1 agent\(s\) run tree 'life'.*lacks \['Pos'\]"
    ):
        check_agents(w, t)


def test_switch_tree_resets_state_by_command() -> None:
    w = _world()
    a, b = _tree("a"), _tree("b")
    e = w.spawn(Energy(v=0.0), Pos())
    add_agents(w, a, [e])
    tick_tree(w, compiled(w, a), 1)
    assert w.component(e, a.state_component).status[0] == Status.RUNNING  # type: ignore[attr-defined]
    cmd = CommandBuffer()
    switch_tree(cmd, [e], a, b)
    w.apply(cmd)
    assert not w.has(e, a.state_component)
    assert list(w.component(e, b.state_component).status) == [0] * b.n_nodes  # type: ignore[attr-defined]


def test_state_columns_save_and_restore_mid_run() -> None:
    w = _world()
    t = _tree()
    ct = compiled(w, t)
    ents = w.spawn_batch({Energy: {"v": np.array([0.0, 3.0], np.float32)}, Pos: None})
    add_agents(w, t, ents)
    tick_tree(w, ct, 1)
    snap = w.snapshot()
    tick_tree(w, ct, 2)
    after = w.get_batch(ents, ct.state)
    w.restore(snap)
    tick_tree(w, ct, 2)
    again = w.get_batch(ents, ct.state)
    for key in after:
        assert np.array_equal(after[key], again[key])


def test_json_round_trip_keeps_every_node_kind(tmp_path: Path) -> None:
    root = Selector(
        [
            Guard(Condition("low", limit=3.0), Timeout(Action("rest"), seconds=0.5)),
            Parallel(
                [Action("walk", speed=1.0), Inverter(Condition("low"))],
                success=ALL,
                failure=N(1),
            ),
            Sequence(
                [Repeat(Action("rest"), n=2), Cooldown(Action("rest"), frames=4)],
                memory=False,
            ),
        ],
        label="root",
    )
    t = BehaviorTree(root, "full")
    p = ser.save(t, tmp_path / "full.json")
    back = ser.load(p, LeafRegistry.of(_world()))
    assert back.root == t.root
    assert back.name == "full"
    assert json.loads(p.read_text())["version"] == ser.VERSION


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"format": "x"}, "not a behavior tree file"),
        ({"format": ser.FORMAT, "version": 99, "name": "t", "root": {}}, "version 99"),
        ({"format": ser.FORMAT, "version": 1, "name": "t", "root": {"type": "Loop"}}, "unknown node type 'Loop'"),
        (
            {"format": ser.FORMAT, "version": 1, "name": "t",
             "root": {"type": "Inverter", "children": [{"type": "Action", "name": "rest"}] * 2}},
            "exactly one child",
        ),
        ({"format": ser.FORMAT, "version": 1, "name": "t", "root": {"type": "Sequence", "children": []}}, "non-empty list"),
        ({"format": ser.FORMAT, "version": 1, "name": "t", "root": {"type": "Action", "name": "fly"}}, "unknown leaf 'fly'"),
        ({"format": ser.FORMAT, "version": 1, "name": "t", "root": {"type": "Action", "name": "walk"}}, "needs parameter 'speed'"),
        ({"format": ser.FORMAT, "version": 1, "name": "t", "root": {"type": "Repeat", "child": {"type": "Action", "name": "rest"}}}, "missing key 'n'"),
    ],
)  # fmt: skip
def test_loading_invalid_json_gives_clear_errors(doc, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TreeError, match=match):
        ser.loads(json.dumps(doc), LeafRegistry.of(_world()))


def test_renders_and_trace_recorder() -> None:
    w = _world()
    t = _tree()
    ct = compiled(w, t)
    ents = w.spawn_batch({Energy: {"v": np.array([0.0, 50.0], np.float32)}, Pos: None})
    add_agents(w, t, ents)
    rec = TraceRecorder(t, ents[:1])
    for f in (1, 2):
        tick_tree(w, ct, f)
        rec.record(w, f)
    counts = node_counts(w, t, frame=2)
    text = render_text(t, counts)
    assert "Selector (reactive)  [entered 2: S 1 F 0 R 1]" in text
    dot = render_dot(t, counts)
    assert dot.startswith('digraph "life"')
    assert "n0 -> n1;" in dot
    trace = rec.to_arrow()
    assert trace.column("frame").to_pylist() == [1, 1, 1, 1, 2, 2, 2]
    # frame 2: the memory Sequence resumes at its running action, skipping "low"
    assert trace.column("node").to_pylist() == [0, 1, 2, 3, 0, 1, 3]


def test_batched_python_leaf_runs_on_the_wavefront_slow_path() -> None:
    from behaviors.script import tick_batched

    calls: list[list[int]] = []

    @leaf("py_rest", kind="action", writes=[Energy], batched=True)
    def py_rest(rows, v):  # type: ignore[no-untyped-def]
        calls.append(rows.tolist())
        v[rows] += 4.0
        return np.where(v[rows] >= 10.0, 1, 3)

    w = _world()
    LeafRegistry.of(w).register(py_rest)
    t = BehaviorTree(
        Selector(
            [Sequence([Condition("low"), Action("py_rest")]), Action("walk", speed=1.0)]
        ),
        "scripted",
    )
    ents = w.spawn_batch(
        {Energy: {"v": np.array([0.0, 50.0, 8.0], np.float32)}, Pos: None}
    )
    add_agents(w, t, ents)
    tick_batched(w, t, frame=1)
    assert calls == [[0, 2]]  # one call with every agent that reached the leaf
    assert w.get_batch(ents, Energy)["v"].tolist() == [4.0, 50.0, 12.0]
    assert w.get_batch(ents, Pos)["x"].tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(TreeError, match="batched Python leaf"):
        compiled(w, t)


def test_save_and_load_mid_run_agents_resume_where_they_were(tmp_path: Path) -> None:
    from archetype_ecs.serialization import load

    w = _world()
    t = _tree()
    ct = compiled(w, t)
    ents = w.spawn_batch({Energy: {"v": np.array([0.0, 3.0], np.float32)}, Pos: None})
    add_agents(w, t, ents)
    tick_tree(w, ct, 1)
    w.save(tmp_path / "save")
    tick_tree(w, ct, 2)
    expected = w.get_batch(ents, ct.state)

    w2 = _world()
    load(tmp_path / "save", w2, components=[Energy, Pos, ct.state])
    assert w2.get_batch(ents, ct.state)["status"][0].tolist() == [3, 3, 1, 3, 0]
    tick_tree(w2, compiled(w2, t), 2)
    got = w2.get_batch(ents, ct.state)
    for key in expected:
        assert np.array_equal(expected[key], got[key])


def test_non_finite_params_and_too_deep_trees_are_refused() -> None:
    w = _world()
    with pytest.raises(TreeError, match="finite"):
        compiled(w, BehaviorTree(Action("walk", speed=float("inf")), "inf"))
    node: Any = Action("rest")
    for _ in range(120):
        node = Sequence([node], memory=False)
    with pytest.raises(TreeError, match="nests too deeply"):
        compiled(w, BehaviorTree(node, "deep"))


def test_leaves_read_resources_as_the_global_blackboard() -> None:
    from dataclasses import dataclass

    from behaviors.script import tick_batched

    @dataclass
    class Weather:
        cold: float = 0.0

    @leaf("chilly", kind="condition", reads=[Energy], resources={Weather: ["cold"]})
    @njit
    def chilly(i, v, cold):  # type: ignore[no-untyped-def]
        return v[i] < cold

    w = _world()
    LeafRegistry.of(w).register(chilly)
    w.insert_resource(Weather(cold=5.0))
    t = BehaviorTree(Sequence([Condition("chilly"), Action("rest")]), "weather")
    ents = w.spawn_batch({Energy: {"v": np.array([0.0, 50.0], np.float32)}, Pos: None})
    add_agents(w, t, ents)
    sys_ = behavior_system(w, t)
    assert Weather in sys_.access.resource_reads
    w.add_system(sys_)
    w.step()
    assert w.get_batch(ents, Energy)["v"].tolist() == [4.0, 50.0]
    w.resource(Weather).cold = 100.0
    tick_tree(w, compiled(w, t), 2)
    assert w.get_batch(ents, Energy)["v"].tolist() == [8.0, 54.0]
    tick_batched(w, t, 3)
    assert w.get_batch(ents, Energy)["v"].tolist() == [12.0, 58.0]
