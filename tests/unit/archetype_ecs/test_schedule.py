"""Schedule: phases, before / after between systems and sets, cycles, ambiguities,
strict mode, batches and rendering. Planning only: no system body runs here except
where a test steps the world to check the run order."""

from __future__ import annotations

import re

import pytest

from archetype_ecs import World, component, event, f32, system
from archetype_ecs.errors import AccessConflictError, ScheduleCycleError
from archetype_ecs.schedule import DEFAULT_PHASES, Schedule


@component
class Position:
    x: f32 = 0.0


@component
class Velocity:
    dx: f32 = 0.0


@component
class Mass:
    m: f32 = 1.0


class Gravity:
    g: float = 9.8


@event
class Bump:
    amount: f32 = 0.0


def _py(name: str, log: list[str] | None = None, **decl: object) -> object:
    """A Python system named ``name`` that appends its name to ``log`` when run."""

    def body(ctx: object) -> None:
        if log is not None:
            log.append(name)

    return system(body, name=name, **decl)


def _order(world: World, phase: str = "update") -> list[str]:
    return [s.name for s in world.schedule.plan()[phase].order]


def _batches(world: World, phase: str = "update") -> list[list[str]]:
    return [[s.name for s in b] for b in world.schedule.plan()[phase].batches]


# ------------------------------------------------------------------ ordering


def test_before_and_after_order_systems_against_registration_order() -> None:
    w = World(threads=1)
    log: list[str] = []
    w.add_system(
        _py("c", log, after=["b"]),
        _py("a", log),
        _py("b", log, after=["a"]),
        _py("d", log, before=["a"]),
    )
    assert _order(w) == ["d", "a", "b", "c"]
    w.step()
    assert log == ["d", "a", "b", "c"]


def test_unconstrained_systems_keep_registration_order() -> None:
    w = World(threads=1)
    w.add_system(_py("z"), _py("y"), _py("x"))
    assert _order(w) == ["z", "y", "x"]


def test_before_a_set_orders_the_system_before_every_member() -> None:
    w = World(threads=1)
    w.add_system(
        _py("m1", sets=["physics"]),
        _py("m2", sets=["physics"]),
        _py("input", before=["physics"]),
        _py("render", after=["physics"]),
    )
    order = _order(w)
    assert order.index("input") < order.index("m1")
    assert order.index("input") < order.index("m2")
    assert order.index("render") > max(order.index("m1"), order.index("m2"))


def test_configure_set_orders_one_set_against_another() -> None:
    w = World(threads=1)
    log: list[str] = []
    w.add_system(
        _py("draw", log, sets=["render"]),
        _py("collide", log, sets=["physics"]),
        _py("integrate", log, sets=["physics"]),
        _py("read_keys", log, sets=["input"]),
    )
    w.schedule.configure_set("physics", before=("render",), after=("input",))
    assert _order(w) == ["read_keys", "collide", "integrate", "draw"]
    w.step()
    assert log == ["read_keys", "collide", "integrate", "draw"]


def test_ordering_against_an_unknown_label_is_refused() -> None:
    w = World(threads=1)
    w.add_system(_py("a", after=["typo"]))
    with pytest.raises(ValueError, match="'typo'"):
        w.schedule.plan()


def test_duplicate_system_name_is_refused() -> None:
    w = World(threads=1)
    w.add_system(_py("a"))
    with pytest.raises(ValueError, match="already registered"):
        w.add_system(_py("a"))


# -------------------------------------------------------------------- phases


def test_phases_run_in_order_and_user_phase_slots_in() -> None:
    w = World(threads=1)
    log: list[str] = []
    w.schedule.add_phase("physics", after="update")
    w.schedule.add_phase("early", before="pre_update")
    w.add_system(
        _py("p", log, phase="post_update"),
        _py("ph", log, phase="physics"),
        _py("u", log, phase="update"),
        _py("e", log, phase="early"),
        _py("pre", log, phase="pre_update"),
    )
    assert w.schedule.phases == [
        "startup",
        "early",
        "pre_update",
        "update",
        "physics",
        "post_update",
    ]
    w.step()
    assert log == ["e", "pre", "u", "ph", "p"]


def test_add_phase_without_anchor_appends_at_the_end() -> None:
    s = Schedule()
    s.add_phase("last")
    assert s.phases == [*DEFAULT_PHASES, "last"]


def test_add_phase_refuses_duplicates_and_unknown_anchors() -> None:
    s = Schedule()
    with pytest.raises(ValueError, match="already exists"):
        s.add_phase("update")
    with pytest.raises(ValueError, match="does not exist"):
        s.add_phase("x", after="nope")


def test_system_in_unknown_phase_is_refused() -> None:
    w = World(threads=1)
    with pytest.raises(ValueError, match="unknown phase 'physics'"):
        w.add_system(_py("a", phase="physics"))


def test_before_a_system_of_an_earlier_phase_is_refused() -> None:
    w = World(threads=1)
    w.add_system(_py("early", phase="pre_update"), _py("late", before=["early"]))
    with pytest.raises(ValueError, match=r"'late'.*before 'early'"):
        w.schedule.plan()


def test_after_a_system_of_a_later_phase_is_refused() -> None:
    w = World(threads=1)
    w.add_system(_py("late", phase="post_update"), _py("early", after=["late"]))
    with pytest.raises(ValueError, match=r"'early'.*after 'late'"):
        w.schedule.plan()


def test_before_a_set_of_an_earlier_phase_is_refused() -> None:
    w = World(threads=1)
    w.add_system(
        _py("m", sets=["early_set"], phase="pre_update"),
        _py("x", before=["early_set"]),
    )
    with pytest.raises(ValueError, match=r"'x'.*early_set"):
        w.schedule.plan()


def test_configure_set_against_a_set_of_an_earlier_phase_is_refused() -> None:
    w = World(threads=1)
    w.add_system(_py("m", sets=["s"], phase="pre_update"), _py("x", sets=["t"]))
    w.schedule.configure_set("t", before=("s",))
    with pytest.raises(ValueError, match=r"'t'.*'s'|'s'.*'t'"):
        w.schedule.plan()


def test_consistent_cross_phase_order_is_accepted() -> None:
    w = World(threads=1)
    log: list[str] = []
    w.add_system(
        _py("late", log, phase="post_update"), _py("early", log, before=["late"])
    )
    w.step()
    assert log == ["early", "late"]


# -------------------------------------------------------------------- cycles


def _rotations(cycle: list[str]) -> list[str]:
    return [" -> ".join([*cycle[i:], *cycle[:i], cycle[i]]) for i in range(len(cycle))]


def test_cycle_is_reported_with_code_and_every_system_in_it() -> None:
    w = World(threads=1)
    w.add_system(
        _py("a", before=["b"]),
        _py("b", before=["c"]),
        _py("c", before=["a"]),
        _py("bystander"),
    )
    with pytest.raises(ScheduleCycleError, match=r"\[E0012\]") as err:
        w.schedule.plan()
    msg = str(err.value)
    assert any(r in msg for r in _rotations(["a", "b", "c"]))
    assert "bystander" not in msg


def test_cycle_through_a_set_names_the_systems() -> None:
    w = World(threads=1)
    w.add_system(
        _py("s1", sets=["grp"], before=["x"]),
        _py("x", before=["grp"]),
    )
    with pytest.raises(ScheduleCycleError, match=r"\[E0012\]") as err:
        w.step()
    assert any(r in str(err.value) for r in _rotations(["s1", "x"]))


def test_cycle_with_systems_downstream_of_it_names_only_the_cycle() -> None:
    w = World(threads=1)
    w.add_system(
        _py("a", after=["c"]),
        _py("b", after=["c"]),
        _py("c", after=["b"]),
        _py("d", after=["a"]),
    )
    with pytest.raises(ScheduleCycleError, match=r"\[E0012\]") as err:
        w.schedule.plan()
    found = re.search(r"cycle: (.*?);", str(err.value))
    assert found is not None
    assert found.group(1) in _rotations(["b", "c"])


def test_two_system_cycle_via_before_and_after() -> None:
    w = World(threads=1)
    w.add_system(_py("a", after=["b"]), _py("b", after=["a"]))
    with pytest.raises(ScheduleCycleError) as err:
        w.schedule.plan()
    assert any(r in str(err.value) for r in _rotations(["a", "b"]))


# --------------------------------------------------------------- ambiguities

W_POS = "component Position: written by both"
WR_POS = "component Position: written by one, read by the other"


def test_ambiguities_list_exactly_the_unordered_conflicting_pairs() -> None:
    w = World(threads=1)
    w.add_system(
        _py("writer", writes=[Position]),
        _py("reader", reads=[Position]),
        _py("other", reads=[Velocity], writes=[Mass]),
        _py("ordered_reader", reads=[Position], after=["writer"]),
        _py("reader2", reads=[Position]),
    )
    assert w.schedule.ambiguities() == [
        ("writer", "reader", [WR_POS]),
        ("writer", "reader2", [WR_POS]),
    ]


def test_write_write_conflict_has_one_reason() -> None:
    w = World(threads=1)
    w.add_system(_py("a", writes=[Position]), _py("b", writes=[Position]))
    assert w.schedule.ambiguities() == [("a", "b", [W_POS])]


def test_transitive_order_removes_the_ambiguity() -> None:
    w = World(threads=1)
    w.add_system(
        _py("w", writes=[Position]),
        _py("mid", before=["r"], after=["w"]),
        _py("r", reads=[Position]),
    )
    assert w.schedule.ambiguities() == []


def test_resource_and_event_conflicts_are_reported() -> None:
    w = World(threads=1)
    w.add_system(
        _py("res_w", resources_mut=[Gravity]),
        _py("res_r", resources=[Gravity]),
        _py("ev_w", events_mut=[Bump]),
        _py("ev_r", events=[Bump]),
    )
    assert w.schedule.ambiguities() == [
        ("res_w", "res_r", ["resource Gravity: written by one, read by the other"]),
        ("ev_w", "ev_r", ["event Bump: written by one, read by the other"]),
    ]


def test_readers_of_the_same_component_do_not_conflict() -> None:
    w = World(threads=1)
    w.add_system(_py("r1", reads=[Position]), _py("r2", reads=[Position]))
    assert w.schedule.ambiguities() == []
    assert _batches(w) == [["r1", "r2"]]


def test_exclusive_system_conflicts_with_everything() -> None:
    w = World(threads=1)
    w.add_system(
        system(lambda world: None, name="excl", exclusive=True),
        _py("plain"),
    )
    assert w.schedule.ambiguities() == [
        ("excl", "plain", ["exclusive system (whole-world access)"])
    ]
    assert _batches(w) == [["excl"], ["plain"]]


def test_ambiguities_are_per_phase() -> None:
    w = World(threads=1)
    w.add_system(
        _py("a", writes=[Position], phase="pre_update"),
        _py("b", writes=[Position], phase="update"),
    )
    assert w.schedule.ambiguities() == []


def test_strict_mode_raises_on_plan_and_step_naming_the_pair() -> None:
    w = World(threads=1, strict=True)
    w.add_system(_py("writer", writes=[Position]), _py("reader", reads=[Position]))
    with pytest.raises(AccessConflictError, match="writer / reader") as err:
        w.schedule.plan()
    assert "Position" in str(err.value)
    with pytest.raises(AccessConflictError):
        w.step()
    # ambiguities() still lists them in strict mode, without raising
    assert w.schedule.ambiguities() == [("writer", "reader", [WR_POS])]
    assert w.schedule.strict


def test_strict_mode_accepts_ordered_conflicts() -> None:
    w = World(threads=1, strict=True)
    log: list[str] = []
    w.add_system(
        _py("reader", log, reads=[Position], after=["writer"]),
        _py("writer", log, writes=[Position]),
    )
    w.step()
    assert log == ["writer", "reader"]


# ------------------------------------------------------------------- batches


def test_batches_group_non_conflicting_systems() -> None:
    w = World(threads=1)
    w.add_system(
        _py("move", writes=[Position], reads=[Velocity]),
        _py("weigh", writes=[Mass]),
        _py("draw", reads=[Position], after=["move"]),
        _py("idle"),
    )
    assert _batches(w) == [["move", "weigh", "idle"], ["draw"]]
    plan = w.schedule.plan()["update"]
    assert "draw" in plan.edges["move"]


def test_conflicting_unordered_systems_go_in_successive_batches() -> None:
    w = World(threads=1)
    w.add_system(
        _py("a", writes=[Position]),
        _py("b", writes=[Position]),
        _py("c", writes=[Position]),
    )
    assert _batches(w) == [["a"], ["b"], ["c"]]


def test_plan_is_cached_until_the_schedule_changes() -> None:
    w = World(threads=1)
    w.add_system(_py("a"))
    first = w.schedule.plan()
    assert w.schedule.plan() is first
    w.add_system(_py("b"))
    assert w.schedule.plan() is not first
    assert _order(w) == ["a", "b"]


# ----------------------------------------------------------------- rendering


def _ambiguous_world() -> World:
    w = World(threads=1)
    w.add_system(
        _py("writer", writes=[Position]),
        _py("reader", reads=[Position]),
        _py("free", reads=[Velocity]),
        _py("setup", phase="startup"),
    )
    return w


def test_render_text_shows_phases_batches_access_and_ambiguities() -> None:
    text = _ambiguous_world().schedule.render_text()
    assert "phase startup:" in text
    assert "phase update:" in text
    assert "batch 0 (parallel):" in text
    assert "batch 1:" in text
    assert "W[Position]" in text
    assert f"ambiguous: writer / reader: {WR_POS}" in text
    assert "sync point" in text
    assert "phase post_update" not in text  # empty phases are left out


def test_render_text_of_an_empty_schedule() -> None:
    assert World(threads=1).schedule.render_text() == "(no systems)"


def test_repr_html_has_a_row_per_system_and_the_ambiguities() -> None:
    w = _ambiguous_world()
    out = w.schedule._repr_html_()
    assert out.startswith("<table>")
    assert out.count("<tr><td>") == 5  # 4 systems + 1 ambiguity
    assert "<td>update</td><td>1</td><td>reader</td>" in out
    assert "ambiguous: writer / reader" in out
    assert repr(w.schedule) == w.schedule.render_text()


def test_replace_system_swaps_the_body_and_keeps_run_state() -> None:
    from archetype_ecs import SystemContext, World, system
    from archetype_ecs.errors import StructuralChangeError

    log: list[str] = []

    @system(name="s")
    def old(ctx: SystemContext) -> None:
        log.append("old")

    @system(name="s", phase="post_update")
    def new(ctx: SystemContext) -> None:
        log.append("new")

    @system(name="swapper", phase="pre_update")
    def swapper(ctx: SystemContext) -> None:
        ctx.world.replace_system(new)  # refused: a phase is running

    w = World()
    w.add_system(old)
    w.step()
    live = w.replace_system(new)
    assert live is w.schedule.system("s")
    assert live.runs == 1
    assert live.phase == "post_update"
    w.step()
    assert log == ["old", "new"]
    assert live.runs == 2
    w.frame_end_hooks.append(lambda world: world.replace_system(old))
    w.step()  # the hook swaps the old body back at the frame's end
    w.frame_end_hooks.clear()
    w.step()
    assert log == ["old", "new", "new", "old"]
    with pytest.raises(KeyError, match="no system named 'nope'"):
        w.replace_system(system(lambda ctx: None, name="nope"))
    w.add_system(swapper)
    with pytest.raises(StructuralChangeError, match="while a phase runs"):
        w.step()
