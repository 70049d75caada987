from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from archetype_ecs import (
    CommandBuffer,
    ComponentNotRegisteredError,
    QueryState,
    StructuralChangeError,
    World,
    bool_,
    component,
    f32,
    i32,
    njit,
)


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
class Flag:
    on: bool_ = False


@component
class Frozen:
    pass


@njit
def integrate_kernel(x, y, dx, dy, dt):
    for i in range(x.shape[0]):
        x[i] += dx[i] * dt
        y[i] += dy[i] * dt


@pytest.fixture
def world() -> World:
    """[Position] x2, [Position, Velocity] x2, [Position, Velocity, Frozen] x1,
    [Position, Velocity, Mass] x1, [Velocity] x1."""
    w = World()
    w.spawn_batch({Position: {"x": [1.0, 2.0]}})
    w.spawn_batch({Position: {"x": [3.0, 4.0]}, Velocity: {"dx": [1.0, 2.0]}})
    w.spawn(Position(5.0, 0.0), Velocity(3.0, 0.0), Frozen)
    w.spawn(Position(6.0, 0.0), Velocity(4.0, 0.0), Mass(9))
    w.spawn(Velocity(5.0, 0.0))
    return w


def _names(q: QueryState) -> list[tuple[str, ...]]:
    return [t.names for t in q.tables()]


# matching


def test_query_is_cached_per_spec(world):
    q = world.query(Position, Velocity, without=[Frozen, Mass])
    assert world.query(Position, Velocity, without=[Mass, Frozen]) is q
    assert world.query(Velocity, Position) is not q
    assert world.query(Position, Velocity) is not q


def test_query_of_non_component_raises_e0002(world, world_state, raises_coded):
    before = world_state(world)
    with raises_coded(ComponentNotRegisteredError, "E0002", "query"):
        world.query(Position, int)
    with raises_coded(ComponentNotRegisteredError, "E0002", "query without="):
        world.query(Position, without=[int])
    with raises_coded(ComponentNotRegisteredError, "E0002", "query optional="):
        world.query(Position, optional=["Mass"])
    assert world_state(world) == before


def test_query_matches_archetypes_holding_every_required_component(world):
    q = world.query(Position, Velocity)
    assert _names(q) == [
        ("Position", "Velocity"),
        ("Position", "Velocity", "Frozen"),
        ("Position", "Velocity", "Mass"),
    ]
    assert q.count() == 4
    assert len(q) == 4


def test_query_without_excludes_archetypes_with_any_of_them(world):
    q = world.query(Position, without=[Frozen, Mass])
    assert _names(q) == [("Position",), ("Position", "Velocity")]
    assert q.count() == 4


def test_query_iteration_yields_entities_then_one_view_per_component(world):
    items = list(world.query(Velocity, Position))
    assert len(items) == 3
    ents, vel, pos = items[0]
    np.testing.assert_array_equal(ents, world.tables[2].entities)
    assert ents.dtype == np.uint64
    np.testing.assert_array_equal(pos.x, [3.0, 4.0])
    np.testing.assert_array_equal(vel.dx, [1.0, 2.0])
    assert type(pos).__name__ == "PositionView"


def test_query_optional_gives_none_where_archetype_lacks_it(world):
    q = world.query(Position, Velocity, optional=[Mass])
    masses = [(t_ents.tolist(), mass) for t_ents, _, _, mass in q]
    assert [m is None for _, m in masses] == [True, True, False]
    assert masses[2][1].m.tolist() == [9]


def test_query_with_only_optional_components_matches_everything(world):
    q = world.query(optional=[Mass])
    assert q.count() == len(world)


def test_required_tag_yields_an_empty_view(world):
    ((ents, frozen),) = list(world.query(Frozen))
    assert len(ents) == 1
    assert len(frozen) == 0


def test_iteration_skips_empty_archetypes_but_tables_lists_them(world):
    world.despawn_batch(world.query(Mass).entities())
    q = world.query(Position, Velocity)
    assert len(q.tables()) == 3
    assert len(list(q)) == 2


def test_query_matches_archetypes_created_after_it(world):
    q = world.query(Position, without=[Frozen])
    assert q.count() == 5
    e = world.spawn(Position(7.0, 0.0), Heading())
    assert ("Position", "Heading") in _names(q)
    assert q.count() == 6
    assert e in q.entities()
    world.insert(e, Frozen)
    assert e not in q.entities()
    assert q.count() == 5


def test_query_entities_concatenates_matched_ids_in_table_order(world):
    q = world.query(Position)
    expected = np.concatenate([t.entities for t in q.tables()])
    np.testing.assert_array_equal(q.entities(), expected)
    assert world.query(Heading).entities().dtype == np.uint64
    assert len(world.query(Heading).entities()) == 0


# views


def test_views_write_into_storage(world):
    for _, pos, vel in world.query(Position, Velocity):
        pos.x += vel.dx
        pos.y = 1.5
    e = world.query(Position, Velocity, without=[Frozen, Mass]).entities()[1]
    assert world.component(e, Position) == Position(6.0, 1.5)
    assert world.tables[2].batch().column("Position.x").to_pylist() == [4.0, 6.0]


def test_vector_views_are_n_by_k_and_writable():
    w = World()
    ids = w.spawn_batch({Heading: {"v": np.zeros((4, 3))}})
    for _, head in w.query(Heading):
        assert head.v.shape == (4, 3)
        head.v[:, 1] = 2.0
    np.testing.assert_array_equal(w.get_batch(ids, Heading)["v"][:, 1], [2] * 4)


def test_views_are_cached_when_nothing_changed(world):
    q = world.query(Position, Velocity)
    first = list(q)
    second = list(q)
    for a, b in zip(first, second, strict=True):
        assert a is b
        assert a[1] is b[1]
    world.set(first[0][0][0], Position(0.0, 0.0))  # not structural
    assert next(iter(q))[1] is first[0][1]


def test_views_are_rebuilt_after_a_structural_change_of_their_table(world):
    q = world.query(Position, Velocity)
    first = list(q)
    world.spawn(Position(), Velocity())  # grows table 2 only
    second = list(q)
    assert second[0][1] is not first[0][1]
    assert len(second[0][1].x) == 3
    assert second[1][1] is first[1][1]  # other tables keep their views
    assert second[2][1] is first[2][1]


def test_views_after_growth_point_at_the_new_columns(world):
    q = world.query(Position, without=[Velocity])
    world.spawn_batch({Position: None}, n=100)
    ((_, pos),) = list(q)
    pos.x[:] = 8.0
    table = q.tables()[0]
    assert pos.x.ctypes.data == table.column("Position.x").ctypes.data
    assert (table.batch().column("Position.x").to_numpy() == 8.0).all()


def test_entity_column_of_a_query_is_read_only(world):
    for ents, _ in world.query(Position):
        with pytest.raises(ValueError, match=r"read-only"):
            ents[0] = 0


def test_writable_limits_which_views_accept_writes(world):
    q = world.query(Position, Velocity, writable=[Position])
    assert q is not world.query(Position, Velocity)
    for _, pos, vel in q:
        pos.x += vel.dx  # allowed
        with pytest.raises(ValueError, match=r"read-only"):
            vel.dx[:] = 0.0
    got = world.get_batch(q.entities(), Velocity)["dx"]
    np.testing.assert_array_equal(got, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(
        world.get_batch(q.entities(), Position)["x"], [4.0, 6.0, 8.0, 10.0]
    )


# for_each


def test_for_each_runs_a_numba_kernel_over_every_matched_archetype(world):
    q = world.query(Position, Velocity)
    q.for_each(integrate_kernel, 2.0)
    got = world.get_batch(q.entities(), Position)
    np.testing.assert_array_equal(got["x"], [3 + 2, 4 + 4, 5 + 6, 6 + 8])
    np.testing.assert_array_equal(got["y"], [0, 0, 0, 0])


def test_for_each_passes_entities_first_when_asked(world):
    calls = []
    q = world.query(Velocity, without=[Position])
    q.for_each(lambda *a: calls.append(a), 0.5, "extra", entities=True)
    ((ents, dx, _dy, dt, extra),) = calls
    np.testing.assert_array_equal(ents, q.entities())
    np.testing.assert_array_equal(dx, [5.0])
    assert (dt, extra) == (0.5, "extra")


def test_for_each_passes_flat_fields_in_query_order(world):
    calls = []
    world.query(Mass, Position).for_each(lambda *a: calls.append(a))
    ((m, x, y),) = calls
    assert (m.tolist(), x.tolist(), y.tolist()) == ([9], [6.0], [0.0])


def test_for_each_skips_empty_archetypes_and_tags_add_no_arguments(world):
    world.despawn_batch(world.query(Mass).entities())
    calls = []
    world.query(Position, Frozen).for_each(lambda *a: calls.append(len(a)))
    world.query(Heading).for_each(lambda *a: calls.append("never"))
    assert calls == [2]


def test_for_each_writes_are_visible_to_later_queries(world):
    q = world.query(Position, Velocity, without=[Frozen, Mass])
    q.for_each(integrate_kernel, 1.0)
    q.for_each(integrate_kernel, 1.0)
    xs = world.query(Position, Velocity).to_arrow().column("Position.x")
    assert xs.to_pylist()[:2] == [5.0, 8.0]


# to_arrow


def test_to_arrow_has_entity_then_fields_of_required_components(world):
    table = world.query(Position, Velocity).to_arrow()
    assert table.column_names == [
        "entity",
        "Position.x",
        "Position.y",
        "Velocity.dx",
        "Velocity.dy",
    ]
    assert table.num_rows == 4
    assert table.column("Velocity.dx").to_pylist() == [1.0, 2.0, 3.0, 4.0]
    assert not table.schema.field("Position.x").nullable
    assert (
        table.column("entity").to_pylist()
        == world.query(Position, Velocity).entities().tolist()
    )


def test_to_arrow_optional_component_is_null_where_absent(world):
    table = world.query(Position, Velocity, optional=[Mass]).to_arrow()
    assert table.schema.field("Mass.m").nullable
    assert table.schema.field("Mass.m").type == pa.int32()
    assert table.column("Mass.m").to_pylist() == [None, None, None, 9]


def test_to_arrow_optional_tag_is_a_bool_column(world):
    table = world.query(Position, Velocity, optional=[Frozen]).to_arrow()
    assert table.schema.field("Frozen").type == pa.bool_()
    assert table.column("Frozen").to_pylist() == [False, False, True, False]


def test_to_arrow_required_tag_adds_no_column(world):
    table = world.query(Position, Frozen).to_arrow()
    assert table.column_names == ["entity", "Position.x", "Position.y"]


def test_to_arrow_vector_and_bool_fields():
    w = World()
    w.spawn(Heading((1.0, 2.0, 3.0)), Flag(on=True))
    w.spawn(Heading((4.0, 5.0, 6.0)))
    table = w.query(Heading, optional=[Flag]).to_arrow()
    assert table.schema.field("Heading.v").type == pa.list_(pa.float32(), 3)
    assert table.column("Heading.v").to_pylist() == [[1, 2, 3], [4, 5, 6]]
    assert table.schema.field("Flag.on").type == pa.bool_()
    assert table.column("Flag.on").to_pylist() == [True, None]


def test_to_arrow_of_no_matches_is_empty_with_schema(world):
    table = world.query(Heading, optional=[Mass]).to_arrow()
    assert table.num_rows == 0
    assert table.column_names == ["entity", "Heading.v", "Mass.m"]


def test_to_arrow_is_zero_copy_for_required_scalar_fields(world):
    q = world.query(Position, without=[Velocity])
    chunk = q.to_arrow().column("Position.x").chunk(0)
    assert chunk.buffers()[1].address == q.tables()[0].column("Position.x").ctypes.data


# structural changes while iterating


def _structural_ops(world: World):
    pos = world.query(Position, without=[Velocity]).entities()
    e = int(pos[0])
    cmd = CommandBuffer()
    cmd.spawn(Mass(1))
    return [
        ("spawn", lambda: world.spawn(Mass(2))),
        ("spawn_batch", lambda: world.spawn_batch({Mass: None}, n=2)),
        ("despawn", lambda: world.despawn(e)),
        ("despawn", lambda: world.despawn_batch(pos)),
        ("insert", lambda: world.insert(e, Mass(3))),
        ("insert_batch", lambda: world.insert_batch(pos, Frozen)),
        ("remove", lambda: world.remove(e, Position)),
        ("remove", lambda: world.remove_batch(pos, Position)),
        ("apply", lambda: world.apply(cmd)),
    ]


def test_structural_changes_inside_a_query_loop_are_refused(
    world, world_state, raises_coded
):
    ops = _structural_ops(world)
    before = world_state(world)
    refused = []
    for _ in world.query(Position, without=[Velocity]):
        for op, call in ops:
            with raises_coded(StructuralChangeError, "E0007", f"{op} is a structural"):
                call()
            refused.append(op)
    assert len(refused) == len(ops)
    assert world_state(world) == before


def test_structural_changes_inside_for_each_are_refused(
    world, world_state, raises_coded
):
    ops = _structural_ops(world)
    before = world_state(world)

    def kernel(*_):
        for op, call in ops:
            with raises_coded(StructuralChangeError, "E0007", op, "CommandBuffer"):
                call()

    world.query(Position).for_each(kernel)
    assert world_state(world) == before


def test_set_is_allowed_while_iterating(world):
    e = world.query(Mass).entities()[0]
    for _ in world.query(Position):
        world.set(e, Mass(11))
        world.set_batch([e], Mass, {"m": [12]})
    assert world.component(e, Mass) == Mass(12)


def test_structural_changes_are_allowed_again_after_the_loop(world):
    for _ in world.query(Position):
        break
    for _, _pos in world.query(Position):
        pass

    def loop_that_raises():
        for _ in world.query(Position):
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        loop_that_raises()
    with pytest.raises(ZeroDivisionError):
        world.query(Position).for_each(lambda *a: 1 / 0)
    e = world.spawn(Mass(1))
    assert world.is_alive(e)
