"""Population breakpoints: right frame, right entities and values, pause between frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import SystemContext, Time, World, component, f32, f64, i64, system
from archetype_ecs.breakpoints import (
    BreakpointError,
    BreakpointHit,
    PopulationBreakpoints,
)


@component
class BHealth:
    hp: f64 = 10.0


@component
class BDamage:
    per_frame: f64 = 1.0


@component
class BTag:
    pass


@component
class BVec:
    v: f32[3]  # type: ignore[valid-type]
    k: i64 = 0


HP = [10.0, 5.0, 3.0, 8.0]
DMG = [1.0, 2.0, 1.0, 3.0]  # entity 1 and 3 go below 0 in frame 3, entity 2 in 4


def _world(log: list[str] | None = None) -> tuple[World, Any]:
    w = World(seed=1)
    ids = w.spawn_batch({BHealth: {"hp": HP}, BDamage: {"per_frame": DMG}})

    @system(reads=[BDamage], writes=[BHealth])
    def damage(ctx: SystemContext) -> None:
        for _, h, d in ctx.query(BHealth, BDamage):
            h.hp[:] -= d.per_frame

    @system(reads=[BHealth], after=["damage"])
    def later(ctx: SystemContext) -> None:  # runs after the probe, same frame
        if log is not None:
            log.append(f"later {ctx.time.frame}")

    @system(phase="post_update")
    def post(ctx: SystemContext) -> None:
        if log is not None:
            log.append(f"post {ctx.time.frame}")

    w.add_system(damage, later, post)
    return w, np.asarray(ids)


@pytest.mark.parametrize("after", [None, "damage"])
def test_fires_on_the_right_frame_with_the_right_entities_and_values(
    after: str | None,
) -> None:
    log: list[str] = []
    w, ids = _world(log)
    bps = PopulationBreakpoints(w)
    bps.add("dead", lambda h: h.hp < 0, BHealth, after=after)
    with pytest.raises(BreakpointHit) as stop:
        w.run(10)
    (hit,) = stop.value.hits
    assert hit.frame == 3
    assert w.resource(Time).frame == 3
    assert hit.after == (after or "frame end")
    assert sorted(hit.entities.tolist()) == sorted(ids[[1, 3]].tolist())
    assert hit.table.column_names == ["entity", "BHealth.hp"]
    assert hit.table.column("BHealth.hp").to_pylist() == [-1.0, -1.0]
    # the frame completed before the pause: the rest of the phase and post_update ran
    assert log[-2:] == ["later 3", "post 3"]
    assert "frame 3" in str(stop.value)
    assert bps.paused
    assert bps.breakpoints[0].hits == 1


def test_string_predicates_and_several_components() -> None:
    w, ids = _world()
    bps = PopulationBreakpoints(w)
    bps.add("fast", "(BHealth.hp < 4) & (BDamage.per_frame >= 2)", BHealth, BDamage)
    with pytest.raises(BreakpointHit) as stop:
        w.run(5)
    (hit,) = stop.value.hits
    assert hit.frame == 1  # entity 1: 5 - 2 = 3
    assert hit.entities.tolist() == [int(ids[1])]
    assert hit.table.to_pylist() == [
        {"entity": int(ids[1]), "BHealth.hp": 3.0, "BDamage.per_frame": 2.0}
    ]


def test_pause_mode_stops_run_and_resume_continues() -> None:
    w, ids = _world()
    seen: list[int] = []
    bps = PopulationBreakpoints(w, mode="pause", on_hit=lambda h: seen.append(h.frame))
    bps.add("dead", lambda h: h.hp < 0, BHealth, after="damage")
    hits = bps.run(10)
    assert [h.frame for h in hits] == [3]
    assert bps.paused
    assert w.resource(Time).frame == 3
    hits = bps.run(10)  # resumes: still dead, so it fires again next frame
    assert [h.frame for h in hits] == [4]
    assert sorted(hits[0].entities.tolist()) == sorted(ids[[1, 2, 3]].tolist())
    assert seen == [3, 4]
    assert [h.frame for h in bps.history] == [3, 4]
    bps.remove("dead")
    assert bps.run(3) == []
    assert w.resource(Time).frame == 7


def test_a_system_probe_sees_in_place_writes_before_the_frame_end() -> None:
    # a second system heals everyone in post_update: only the probe right after
    # "damage" sees the negative values
    w, _ids = _world()

    @system(writes=[BHealth], phase="post_update")
    def heal(ctx: SystemContext) -> None:
        for _, h in ctx.query(BHealth):
            h.hp[:] = np.maximum(h.hp, 0.0)

    w.add_system(heal)
    bps = PopulationBreakpoints(w, mode="pause")
    bps.add("at_frame_end", lambda h: h.hp < 0, BHealth)
    bps.add("after_damage", lambda h: h.hp < 0, BHealth, after="damage")
    hits = bps.run(10)
    assert [(h.breakpoint, h.frame) for h in hits] == [("after_damage", 3)]


def test_vector_fields_come_as_fixed_size_lists_and_archetypes_combine() -> None:
    w = World()
    a = w.spawn_batch({BVec: {"v": np.arange(6.0).reshape(2, 3), "k": [1, 2]}})
    b = w.spawn_batch({BVec: {"v": np.ones((2, 3)), "k": [3, 4]}, BTag: None})
    bps = PopulationBreakpoints(w)
    bps.add("even", lambda x: x.k % 2 == 0, BVec)
    with pytest.raises(BreakpointHit) as stop:
        w.step()
    (hit,) = stop.value.hits
    assert hit.entities.tolist() == [int(a[1]), int(b[1])]
    assert hit.table.column("BVec.v").to_pylist() == [[3.0, 4.0, 5.0], [1.0, 1.0, 1.0]]
    assert hit.table.column("BVec.k").to_pylist() == [2, 4]


def test_bad_setups_are_refused_and_leave_the_world_as_it_was() -> None:
    w, _ = _world()
    n_systems = len(w.schedule.systems)
    with pytest.raises(BreakpointError, match="mode"):
        PopulationBreakpoints(w, mode="stop")
    bps = PopulationBreakpoints(w)
    with pytest.raises(BreakpointError, match="no system named 'nope'"):
        bps.add("x", lambda h: h.hp < 0, BHealth, after="nope")
    with pytest.raises(BreakpointError, match="name the components"):
        bps.add("x", lambda: True)
    with pytest.raises(BreakpointError, match="does not compile"):
        bps.add("x", "BHealth.hp <", BHealth)
    with pytest.raises(BreakpointError, match="must be a function"):
        bps.add("x", 3, BHealth)  # type: ignore[arg-type]
    assert len(w.schedule.systems) == n_systems
    bps.add("x", lambda h: h.hp < 0, BHealth)
    with pytest.raises(BreakpointError, match="exists"):
        bps.add("x", lambda h: h.hp < 0, BHealth)
    with pytest.raises(BreakpointError, match="no population breakpoint named 'y'"):
        bps.remove("y")
    bps.close()
    w.run(5)  # closed: nothing fires


def test_a_predicate_with_the_wrong_shape_says_so() -> None:
    w, _ = _world()
    bps = PopulationBreakpoints(w)
    bps.add("bad", lambda h: h.hp[:2] < 0, BHealth)
    with pytest.raises(BreakpointError, match=r"bool mask of shape \(4,\)"):
        w.step()


@settings(max_examples=40, deadline=None)
@given(
    hp=st.lists(st.floats(-5, 5, allow_nan=False, width=32), min_size=1, max_size=30),
    tagged=st.lists(st.booleans(), min_size=30, max_size=30),
    threshold=st.floats(-5, 5, allow_nan=False, width=32),
)
def test_matches_a_plain_reference_over_mixed_archetypes(
    hp: list[float], tagged: list[bool], threshold: float
) -> None:
    w = World()
    ids = []
    for value, tag in zip(hp, tagged, strict=False):
        comps: dict[type, Any] = {BHealth: {"hp": [value]}}
        if tag:
            comps[BTag] = None
        ids.append(int(w.spawn_batch(comps)[0]))
    bps = PopulationBreakpoints(w, mode="pause")
    bps.add("low", lambda h: h.hp < threshold, BHealth)
    w.step()
    expected = {e: v for e, v in zip(ids, hp, strict=False) if v < threshold}
    got = {r["entity"]: r["BHealth.hp"] for h in bps.hits for r in h.table.to_pylist()}
    assert got == expected
    assert bps.paused == bool(expected)


def test_after_a_behavior_tree_tick() -> None:
    from archetype_ecs import i32, njit
    from behaviors.leaves import LeafRegistry, leaf
    from behaviors.nodes import Action, Condition, Selector, Sequence
    from behaviors.tick import add_agents, behavior_system
    from behaviors.tree import BehaviorTree

    @component
    class BHunger:
        v: i32 = 0

    @leaf("bp_hungry", kind="condition", reads=[BHunger], params={"limit": 5})
    @njit
    def hungry(i, v, limit):  # type: ignore[no-untyped-def]
        return v[i] > limit

    @leaf("bp_eat", kind="action", writes=[BHunger])
    @njit
    def eat(i, v):  # type: ignore[no-untyped-def]
        v[i] -= 3
        return 1 if v[i] <= 0 else 3

    @leaf("bp_idle", kind="action", writes=[BHunger])
    @njit
    def idle(i, v):  # type: ignore[no-untyped-def]
        v[i] += 1
        return 1

    w = World()
    LeafRegistry.of(w).register(hungry, eat, idle)
    tree = BehaviorTree(
        Selector(
            [Sequence([Condition("bp_hungry"), Action("bp_eat")]), Action("bp_idle")],
            memory=False,
        ),
        "bp_life",
    )
    ids = w.spawn_batch({BHunger: {"v": np.arange(10, dtype=np.int32)}})
    add_agents(w, tree, ids)
    tick = behavior_system(w, tree)
    w.add_system(tick)
    bps = PopulationBreakpoints(w)
    bps.add("six", "BHunger.v == 6", BHunger, after=tick)
    with pytest.raises(BreakpointHit) as stop:
        w.run(5)
    (hit,) = stop.value.hits
    assert hit.frame == 1
    assert hit.after == tick.name
    # idle: 5 -> 6; eat: 9 -> 6
    assert hit.entities.tolist() == [int(ids[5]), int(ids[9])]
    after = w.query(BHunger).to_arrow().to_pylist()
    assert [r["BHunger.v"] for r in after if r["entity"] in hit.entities] == [6, 6]
