from __future__ import annotations

import numpy as np
import pytest

from archetype_ecs import (
    ApplyReport,
    CommandBuffer,
    ComponentNotRegisteredError,
    Entity,
    EntityNotAliveError,
    EntityRef,
    SchemaError,
    World,
    component,
    f32,
    i32,
    u8,
)
from archetype_ecs.commands import Op


@component
class Position:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Velocity:
    dx: f32 = 0.0
    dy: f32 = 0.0


@component
class Heading:
    v: f32[3]


@component
class Mass:
    m: i32 = 1


@component
class Level:
    value: u8 = 0


@component
class Target:
    e: EntityRef


@component
class Frozen:
    pass


@pytest.fixture
def world() -> World:
    w = World()
    w.spawn_batch({Position: {"x": [0.0, 1.0, 2.0]}})
    w.spawn(Position(3.0, 0.0), Velocity(1.0, 1.0))
    return w


def _pos(world: World) -> np.ndarray:
    return world.query(Position, without=[Velocity]).entities()


def _e(world: World, i: int = 0) -> Entity:
    return Entity(int(_pos(world)[i]))


def _buffer_state(cmd: CommandBuffer) -> tuple:
    return (len(cmd), cmd.pending_count, [(c.kind, len(c)) for c in cmd.commands()])


# recording


def test_spawn_returns_pending_ids_counted_from_one():
    cmd = CommandBuffer()
    p1 = cmd.spawn(Position())
    p2 = cmd.spawn(Position(), Frozen)
    assert isinstance(p1, Entity)
    assert p1.is_pending
    assert (int(p1), int(p2)) == (1, 2)
    ps = cmd.spawn_batch({Mass: None}, n=3)
    assert ps.dtype == np.uint64
    assert ps.tolist() == [3, 4, 5]
    assert cmd.pending_count == 5
    assert len(cmd) == 5


def test_consecutive_commands_of_one_kind_and_component_coalesce(world):
    e, f = _e(world, 0), _e(world, 1)
    cmd = CommandBuffer()
    cmd.insert(e, Mass(1))
    cmd.insert(f, Mass(2))
    cmd.insert(e, Velocity())
    cmd.despawn(e)
    cmd.despawn(f)
    assert [(c.kind, len(c)) for c in cmd.commands()] == [
        (Op.INSERT, 2),
        (Op.INSERT, 1),
        (Op.DESPAWN, 2),
    ]
    assert len(cmd) == 5
    assert repr(cmd) == "<CommandBuffer 'commands': 5 commands in 3 runs>"


def test_clear_drops_every_command_and_pending_id(world):
    cmd = CommandBuffer()
    cmd.spawn(Position())
    cmd.despawn(_e(world))
    cmd.clear()
    assert _buffer_state(cmd) == (0, 0, [])


# applying: spawns and pending ids


def test_apply_spawns_and_reports_real_ids_in_recording_order(world):
    cmd = CommandBuffer()
    p1 = cmd.spawn(Mass(1))
    ps = cmd.spawn_batch({Mass: {"m": [2, 3]}})
    p4 = cmd.spawn(Velocity(), Mass(4))
    report = world.apply(cmd)
    assert isinstance(report, ApplyReport)
    assert len(report.spawned) == 4
    assert report.applied == 4
    assert report.skipped == 0
    real = report.resolve(cmd, p1)
    assert isinstance(real, Entity)
    assert world.component(real, Mass) == Mass(1)
    np.testing.assert_array_equal(report.resolve(cmd, ps), report.spawned[1:3])
    np.testing.assert_array_equal(
        world.get_batch(report.resolve(cmd, ps), Mass)["m"], [2, 3]
    )
    assert report.resolve(cmd, p4) == report.spawned[3]
    assert world.has(report.resolve(cmd, p4), Velocity)
    assert len(world) == 8


def test_pending_ids_are_usable_in_later_commands_of_the_same_buffer(world):
    cmd = CommandBuffer()
    p = cmd.spawn(Position(1.0, 1.0), Velocity())
    ps = cmd.spawn_batch({Position: None}, n=2)
    cmd.insert(p, Mass(5))
    cmd.set(p, Position(2.0, 2.0))
    cmd.remove(p, Velocity)
    cmd.insert_batch(ps, Frozen)
    cmd.set_batch(ps, Position, {"y": [7.0, 8.0]})
    report = world.apply(cmd)
    e = report.resolve(cmd, p)
    assert world.component(e, Position) == Position(2.0, 2.0)
    assert world.component(e, Mass) == Mass(5)
    assert not world.has(e, Velocity)
    real = report.resolve(cmd, ps)
    assert all(world.has(r, Frozen) for r in real)
    np.testing.assert_array_equal(world.get_batch(real, Position)["y"], [7, 8])
    assert report.skipped == 0


def test_despawning_a_pending_id_spawns_then_removes_it(world):
    cmd = CommandBuffer()
    p = cmd.spawn(Mass(1))
    cmd.despawn(p)
    report = world.apply(cmd)
    assert not world.is_alive(report.resolve(cmd, p))
    assert len(world) == 4


def test_entity_ref_fields_holding_pending_ids_are_resolved(world):
    e = _e(world)
    cmd = CommandBuffer()
    leader = cmd.spawn(Position())
    follower = cmd.spawn(Target(leader))
    other = cmd.spawn_batch({Mass: None}, n=2)
    cmd.insert(e, Target(follower))
    cmd.insert_batch(other, Target, {"e": [leader, 0]})
    report = world.apply(cmd)
    real_leader = report.resolve(cmd, leader)
    real_follower = report.resolve(cmd, follower)
    assert world.component(real_follower, Target).e == real_leader
    assert world.component(e, Target).e == real_follower
    refs = world.get_batch(report.resolve(cmd, other), Target)["e"]
    np.testing.assert_array_equal(refs, [real_leader, 0])  # null stays null


def test_entity_ref_to_pending_spawned_earlier_in_same_run_is_resolved():
    w = World()
    cmd = CommandBuffer()
    first = cmd.spawn(Target(0))
    second = cmd.spawn(Target(first))  # same kind and component: one coalesced run
    report = w.apply(cmd)
    assert w.component(report.resolve(cmd, second), Target).e == report.resolve(
        cmd, first
    )


def test_entity_ref_fields_holding_real_ids_are_kept(world):
    e = _e(world)
    cmd = CommandBuffer()
    p = cmd.spawn(Target(e))
    report = world.apply(cmd)
    assert world.component(report.resolve(cmd, p), Target).e == e


def test_resolve_of_a_buffer_the_report_did_not_apply_raises_key_error(world):
    cmd, other = CommandBuffer(), CommandBuffer()
    p = cmd.spawn(Mass())
    report = world.apply(cmd)
    with pytest.raises(KeyError, match=r"did not apply that buffer"):
        report.resolve(other, p)


# applying: ordering rules


def test_buffers_apply_in_the_order_given(world):
    e = _e(world)
    a, b = CommandBuffer("a"), CommandBuffer("b")
    a.insert(e, Mass(1))
    b.set(e, Mass(2))
    report = world.apply(a, b)
    assert world.component(e, Mass) == Mass(2)
    assert report.skipped == 0


def test_reversed_buffer_order_gives_the_reversed_outcome(world):
    e = _e(world)
    a, b = CommandBuffer("a"), CommandBuffer("b")
    a.insert(e, Mass(1))
    b.set(e, Mass(2))
    report = world.apply(b, a)  # b's set finds no Mass yet
    assert world.component(e, Mass) == Mass(1)
    assert report.missing.tolist() == [e]


@pytest.mark.parametrize(
    ("record", "has_mass"),
    [
        (lambda c, e: (c.insert(e, Mass(1)), c.remove(e, Mass)), False),
        (lambda c, e: (c.remove(e, Mass), c.insert(e, Mass(1))), True),
        (
            lambda c, e: (c.insert(e, Mass(1)), c.remove(e, Mass), c.insert(e, Mass)),
            True,
        ),
    ],
)
def test_commands_take_effect_in_recording_order(world, record, has_mass):
    e = _e(world)
    cmd = CommandBuffer()
    record(cmd, e)
    world.apply(cmd)
    assert world.has(e, Mass) is has_mass


def test_repeated_set_and_insert_keep_the_last_values(world):
    e, f = _e(world, 0), _e(world, 1)
    cmd = CommandBuffer()
    cmd.insert(e, Mass(1))
    cmd.insert(f, Mass(2))
    cmd.insert(e, Mass(3))  # same run as the two above
    cmd.set(f, Position(1.0, 1.0))
    cmd.set(f, Position(2.0, 2.0))
    report = world.apply(cmd)
    assert world.component(e, Mass) == Mass(3)
    assert world.component(f, Mass) == Mass(2)
    assert world.component(f, Position) == Position(2.0, 2.0)
    assert report.applied == 5


def test_despawn_wins_over_later_commands_on_that_entity(world):
    e, f = _e(world, 0), _e(world, 1)
    cmd = CommandBuffer()
    cmd.despawn(e)
    cmd.insert(e, Mass(1))
    cmd.set(e, Position(9.0, 9.0))
    cmd.remove_batch([e, f], Position)
    cmd.despawn(e)
    report = world.apply(cmd)
    assert not world.is_alive(e)
    assert not world.has(f, Position)
    assert report.dead.tolist() == [e, e, e, e]
    assert report.skipped == 4
    assert report.applied == 2  # the first despawn, the remove on f


def test_commands_before_a_despawn_still_apply(world):
    e = _e(world)
    cmd = CommandBuffer()
    cmd.insert(e, Mass(1))
    cmd.despawn(e)
    report = world.apply(cmd)
    assert not world.is_alive(e)
    assert report.skipped == 0
    assert report.applied == 2


def test_repeated_despawn_in_one_run_reports_the_repeat(world):
    e = _e(world)
    cmd = CommandBuffer()
    cmd.despawn_batch([e, e])
    report = world.apply(cmd)
    assert report.dead.tolist() == [e]
    assert report.applied == 1
    assert len(world) == 3


def test_despawn_in_an_earlier_buffer_makes_later_buffers_skip(world):
    e = _e(world)
    a, b = CommandBuffer("a"), CommandBuffer("b")
    a.despawn(e)
    b.insert(e, Frozen)
    report = world.apply(a, b)
    assert report.dead.tolist() == [e]


# applying: dead and missing are reported, never raised


def test_commands_on_dead_ids_are_skipped_and_reported_with_their_ids(world):
    e, f, g = _e(world, 0), _e(world, 1), _e(world, 2)
    world.despawn(f)
    stale_again = world.spawn(Position())  # recycles f's slot: f is now stale
    cmd = CommandBuffer()
    cmd.insert_batch([e, f, g], Mass, {"m": [1, 2, 3]})
    cmd.set(f, Position(1.0, 1.0))
    cmd.remove(f, Position)
    cmd.despawn(f)
    never = int(Entity.from_parts(777, 1))
    cmd.despawn(never)
    report = world.apply(cmd)
    assert report.dead.tolist() == [f, f, f, f, never]
    assert report.skipped == 5
    assert report.applied == 2
    np.testing.assert_array_equal(world.get_batch([e, g], Mass)["m"], [1, 3])
    assert world.component(stale_again, Position) == Position()
    assert not world.has(stale_again, Mass)


def test_set_on_entities_lacking_the_component_is_reported_as_missing(world):
    e, f = _e(world, 0), _e(world, 1)
    world.insert(f, Mass(0))
    cmd = CommandBuffer()
    cmd.set_batch([e, f], Mass, {"m": [5, 6]})
    report = world.apply(cmd)
    assert report.missing.tolist() == [e]
    assert report.dead.tolist() == []
    assert report.skipped == 1
    assert report.applied == 1
    assert world.component(f, Mass) == Mass(6)
    assert not world.has(e, Mass)


def test_set_batch_with_partial_fields_keeps_the_others(world):
    e = world.query(Position, Velocity).entities()[0]
    cmd = CommandBuffer()
    cmd.set_batch([e], Velocity, {"dy": [4.0]})
    world.apply(cmd)
    assert world.component(e, Velocity) == Velocity(1.0, 4.0)


def test_insert_batch_and_remove_batch_apply_in_bulk(world):
    pos = _pos(world)
    cmd = CommandBuffer()
    cmd.insert_batch(pos, Velocity, Velocity(2.0, 2.0))
    cmd.insert_batch(pos[:1], Frozen)
    cmd.remove_batch(pos, Frozen, Mass)  # Mass is absent: ignored
    report = world.apply(cmd)
    assert report.applied == 3 + 1 + 3
    assert world.query(Position, Velocity).count() == 4
    assert world.query(Frozen).count() == 0


def test_apply_report_repr_counts(world):
    cmd = CommandBuffer()
    cmd.spawn(Mass())
    cmd.despawn(int(Entity.from_parts(900, 1)))
    report = world.apply(cmd)
    assert repr(report) == "ApplyReport(applied=1, skipped=1, spawned=1)"


def test_apply_empties_the_buffer(world):
    cmd = CommandBuffer()
    cmd.spawn(Mass())
    cmd.insert(_e(world), Frozen)
    world.apply(cmd)
    assert _buffer_state(cmd) == (0, 0, [])
    again = world.apply(cmd)
    assert (again.applied, again.skipped, len(again.spawned)) == (0, 0, 0)
    assert len(world) == 5


def test_apply_of_nothing_is_an_empty_report(world, world_state):
    before = world_state(world)
    report = world.apply()
    assert (report.applied, report.skipped) == (0, 0)
    assert report.dead.dtype == np.uint64
    assert world_state(world) == before


def test_buffer_given_twice_to_apply_keeps_its_pending_ids(world):
    cmd = CommandBuffer()
    p = cmd.spawn(Mass(1))
    report = world.apply(cmd, cmd)  # the second pass finds the buffer empty
    assert world.component(report.resolve(cmd, p), Mass) == Mass(1)


def test_pending_ids_restart_after_apply(world):
    cmd = CommandBuffer()
    cmd.spawn(Mass())
    world.apply(cmd)
    assert int(cmd.spawn(Mass())) == 1


# record-time rejections: the buffer and the world stay as they were


@pytest.fixture
def recorded(world):
    """A buffer holding one spawn (pending id 1) and one insert."""
    cmd = CommandBuffer("ai")
    cmd.spawn(Position())
    cmd.insert(_e(world), Frozen)
    return cmd


def _check_rejected(world, cmd, world_state, raises_coded, call, exc, code, *where):
    before_world = world_state(world)
    before_cmd = _buffer_state(cmd)
    with raises_coded(exc, code, *where):
        call()
    assert _buffer_state(cmd) == before_cmd
    assert world_state(world) == before_world


@pytest.mark.parametrize(
    "record",
    [
        lambda c, p: c.despawn(p),
        lambda c, p: c.despawn_batch([p]),
        lambda c, p: c.insert(p, Mass()),
        lambda c, p: c.insert_batch([p], Mass),
        lambda c, p: c.remove(p, Position),
        lambda c, p: c.remove_batch([p], Position),
        lambda c, p: c.set(p, Position()),
        lambda c, p: c.set_batch([p], Position, {"x": [1.0]}),
    ],
)
def test_foreign_pending_id_is_rejected_at_record_time(
    world, recorded, world_state, raises_coded, record
):
    other = CommandBuffer("other")
    other.spawn(Mass())
    foreign = other.spawn(Mass())  # pending 2: not spawned by `recorded`
    _check_rejected(
        world,
        recorded,
        world_state,
        raises_coded,
        lambda: record(recorded, foreign),
        EntityNotAliveError,
        "E0001",
        "pending id 2",
        "'ai'",
    )


@pytest.mark.parametrize(
    "record",
    [
        lambda c, p: c.spawn(Target(p)),
        lambda c, p: c.spawn_batch({Target: {"e": [p]}}),
        lambda c, p: c.insert(1, Target(p)),
        lambda c, p: c.insert_batch([1], Target, {"e": [p]}),
        lambda c, p: c.set(1, Target(p)),
        lambda c, p: c.set_batch([1], Target, {"e": [p]}),
    ],
)
def test_foreign_pending_id_in_entity_ref_field_is_rejected_at_record_time(
    world, recorded, world_state, raises_coded, record
):
    other = CommandBuffer("other")
    other.spawn(Mass())
    foreign = other.spawn(Mass())
    _check_rejected(
        world,
        recorded,
        world_state,
        raises_coded,
        lambda: record(recorded, foreign),
        EntityNotAliveError,
        "E0001",
        "pending id 2",
        "'ai'",
    )


@pytest.mark.parametrize(
    ("record", "op"),
    [
        (lambda c, e: c.spawn(Position(), "Mass"), "ai.spawn"),
        (lambda c, e: c.spawn_batch({int: None}, n=1), "ai.spawn_batch"),
        (lambda c, e: c.insert(e, 3), "ai.insert"),
        (lambda c, e: c.insert_batch([e], int), "ai.insert_batch"),
        (lambda c, e: c.remove(e, int), "ai.remove"),
        (lambda c, e: c.set(e, object()), "ai.set"),
        (lambda c, e: c.set_batch([e], str, {"x": [1]}), "ai.set_batch"),
    ],
)
def test_unknown_component_is_rejected_at_record_time(
    world, recorded, world_state, raises_coded, record, op
):
    e = _e(world)
    _check_rejected(
        world,
        recorded,
        world_state,
        raises_coded,
        lambda: record(recorded, e),
        ComponentNotRegisteredError,
        "E0002",
        op,
    )


@pytest.mark.parametrize(
    ("record", "code", "where"),
    [
        # wrong dtype: float into int, strings, int into bool / entity
        (lambda c, e: c.insert(e, Mass(m=1.5)), "E0003", "Mass.m"),
        (lambda c, e: c.spawn(Mass(m="7")), "E0003", "Mass.m"),
        (lambda c, e: c.set(e, Position(x="a")), "E0003", "Position.x"),
        (lambda c, e: c.insert_batch([e], Mass, {"m": [0.5]}), "E0003", "Mass.m"),
        (lambda c, e: c.set_batch([e], Position, {"y": ["b"]}), "E0003", "Position.y"),
        (lambda c, e: c.spawn_batch({Mass: {"m": [1.0, 2.5]}}), "E0003", "Mass.m"),
        (lambda c, e: c.insert(e, Target(e=1.0)), "E0003", "Target.e"),
        # int overflow
        (lambda c, e: c.insert(e, Level(value=300)), "E0003", "Level.value"),
        (lambda c, e: c.insert(e, Level(value=-1)), "E0003", "Level.value"),
        (lambda c, e: c.set_batch([e], Mass, {"m": [2**40]}), "E0003", "Mass.m"),
        # wrong shape
        (lambda c, e: c.insert(e, Heading((1.0, 2.0))), "E0004", "Heading.v"),
        (
            lambda c, e: c.insert_batch([e], Heading, {"v": np.zeros((1, 4))}),
            "E0004",
            "Heading.v",
        ),
        (
            lambda c, e: c.set_batch([e], Position, {"x": [[1.0]]}),
            "E0004",
            "Position.x",
        ),
        # unknown field
        (lambda c, e: c.set_batch([e], Position, {"z": [1.0]}), "E0005", "'z'"),
        (lambda c, e: c.insert_batch([e], Position, {"w": [1.0]}), "E0005", "'w'"),
        (lambda c, e: c.spawn_batch({Position: {"q": [1.0]}}), "E0005", "'q'"),
        # wrong length
        (lambda c, e: c.insert_batch([e], Mass, {"m": [1, 2]}), "E0009", "Mass.m"),
        (
            lambda c, e: c.set_batch([e, e], Position, {"x": [1.0]}),
            "E0009",
            "Position.x",
        ),
    ],
)
def test_malformed_values_are_rejected_at_record_time(
    world, recorded, world_state, raises_coded, record, code, where
):
    e = _e(world)
    _check_rejected(
        world,
        recorded,
        world_state,
        raises_coded,
        lambda: record(recorded, e),
        SchemaError,
        code,
        where,
    )


@pytest.mark.parametrize(
    "record",
    [
        lambda c: c.despawn(-1),
        lambda c: c.despawn_batch([1.5]),
        lambda c: c.insert_batch(np.zeros((2, 2), dtype=np.uint64), Frozen),
        lambda c: c.remove_batch(["a"], Position),
    ],
)
def test_malformed_ids_are_rejected_at_record_time(recorded, record):
    before = _buffer_state(recorded)
    with pytest.raises(SchemaError, match=r"entity ids must"):
        record(recorded)
    assert _buffer_state(recorded) == before


def test_failed_insert_records_nothing(world, recorded):
    before = _buffer_state(recorded)
    with pytest.raises(ComponentNotRegisteredError, match=r"\[E0002\]"):
        recorded.insert(_e(world), Mass(2), "not a component")
    with pytest.raises(SchemaError, match=r"\[E0003\]"):
        recorded.insert(_e(world), Mass(2), Level(value=999))
    assert _buffer_state(recorded) == before


def test_failed_spawn_with_bad_entity_ref_records_nothing(recorded):
    before = _buffer_state(recorded)
    with pytest.raises(EntityNotAliveError, match=r"\[E0001\]"):
        recorded.spawn(Target(5))
    with pytest.raises(EntityNotAliveError, match=r"\[E0001\]"):
        recorded.spawn_batch({Target: {"e": [5, 6]}})
    assert _buffer_state(recorded) == before


def test_failed_set_records_nothing(world, recorded):
    before = _buffer_state(recorded)
    with pytest.raises(SchemaError, match=r"\[E0003\]"):
        recorded.set(_e(world), Position(1.0, 2.0), Mass(m=0.5))
    assert _buffer_state(recorded) == before


def test_set_with_a_class_instead_of_an_instance_is_rejected(world, recorded):
    before = _buffer_state(recorded)
    with pytest.raises(SchemaError, match=r"ai\.set: got the class Position"):
        recorded.set(_e(world), Position)
    assert _buffer_state(recorded) == before


def test_insert_with_a_class_inserts_its_defaults(world):
    e = _e(world)
    cmd = CommandBuffer()
    cmd.insert(e, Mass, Frozen)
    world.apply(cmd)
    assert world.component(e, Mass) == Mass(1)
    assert world.has(e, Frozen)


def test_apply_with_colliding_component_name_changes_nothing(world, world_state):
    def make():
        @component
        class Position:  # a second component named "Position"
            z: f32 = 0.0

        return Position

    e = _e(world)
    cmd = CommandBuffer()
    cmd.insert(e, Mass(5))
    cmd.spawn(make()())
    before = world_state(world)
    with pytest.raises(SchemaError, match=r"^\[E0010\]"):
        world.apply(cmd)
    assert world_state(world) == before
    assert not world.has(e, Mass)
