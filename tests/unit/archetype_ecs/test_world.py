from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from archetype_ecs import (
    ArchetypeInfo,
    ComponentNotRegisteredError,
    Entity,
    EntityNotAliveError,
    EntityRef,
    MissingComponentError,
    ResourceNotFoundError,
    SchemaError,
    World,
    bool_,
    component,
    f32,
    i32,
    u8,
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
class Level:
    value: u8 = 0


@component
class Target:
    e: EntityRef


@component
class Flag:
    on: bool_ = True


@component
class Frozen:
    pass


def _label(e: int) -> str:
    return Entity(int(e)).label()


def _info(world: World) -> list[tuple[tuple[str, ...], int]]:
    return [(a.components, a.rows) for a in world.archetypes_info()]


@pytest.fixture
def world() -> World:
    """Three entities in [Position], two in [Position, Velocity], one in [Mass]."""
    w = World()
    w.spawn_batch({Position: {"x": [0.0, 1.0, 2.0], "y": [10.0, 11.0, 12.0]}})
    w.spawn_batch(
        {Position: {"x": [3.0, 4.0]}, Velocity: {"dx": [0.5, 0.25], "dy": [1, 2]}}
    )
    w.spawn(Mass(7))
    return w


def _ids(world: World, *names: str) -> np.ndarray:
    """Entity ids of the archetype with exactly these component names."""
    (table,) = [t for t in world.tables if t.names == names]
    return table.entities.copy()


# spawn


def test_spawn_returns_a_live_entity_holding_the_values():
    w = World()
    e = w.spawn(Position(1.0, 2.0), Velocity(dx=0.5))
    assert isinstance(e, Entity)
    assert w.is_alive(e)
    assert w.component(e, Position) == Position(1.0, 2.0)
    assert w.component(e, Velocity) == Velocity(0.5, 0.0)
    assert len(w) == 1
    assert _info(w) == [(("Position", "Velocity"), 1)]


def test_spawn_accepts_tag_classes_and_classes_for_defaults():
    w = World()
    e = w.spawn(Frozen, Mass)
    assert w.has(e, Frozen)
    assert w.component(e, Mass) == Mass(1)


def test_spawn_without_components_lands_in_the_empty_archetype():
    w = World()
    e = w.spawn()
    assert w.is_alive(e)
    assert _info(w) == [((), 1)]


def test_spawn_stores_vectors_and_entity_refs():
    w = World()
    a = w.spawn(Position())
    b = w.spawn(Heading((1.0, 2.0, 3.0)), Target(a))
    assert w.component(b, Heading) == Heading((1.0, 2.0, 3.0))
    assert w.component(b, Target).e == a


def test_spawn_after_despawn_recycles_the_slot_with_a_new_generation():
    w = World()
    a = w.spawn(Position())
    w.despawn(a)
    b = w.spawn(Position())
    assert b.index == a.index
    assert b.generation == a.generation + 1
    assert not w.is_alive(a)
    assert w.is_alive(b)


def test_spawn_rejects_a_non_component_and_changes_nothing(
    world, world_state, raises_coded
):
    before = world_state(world)
    with raises_coded(ComponentNotRegisteredError, "E0002", "'oops'", "spawn"):
        world.spawn(Position(), "oops")
    assert world_state(world) == before


@pytest.mark.parametrize(
    ("value", "code", "where"),
    [
        (Mass(m=1.5), "E0003", "Mass.m"),
        (Mass(m="a"), "E0003", "Mass.m"),
        (Level(value=256), "E0003", "Level.value"),
        (Target(e=-1), "E0003", "Target.e"),
        (Heading((1.0, 2.0)), "E0004", "Heading.v"),
    ],
)
def test_spawn_rejects_bad_values_and_changes_nothing(
    world, world_state, raises_coded, value, code, where
):
    before = world_state(world)
    with raises_coded(SchemaError, code, where):
        world.spawn(Position(1.0, 1.0), value)
    assert world_state(world) == before


# spawn_batch


def test_spawn_batch_from_dict_of_arrays_returns_ids_in_row_order():
    w = World()
    ids = w.spawn_batch({Position: {"x": np.arange(3), "y": [5, 6, 7]}})
    assert ids.dtype == np.uint64
    assert len(ids) == 3
    got = w.get_batch(ids, Position)
    np.testing.assert_array_equal(got["x"], [0, 1, 2])
    np.testing.assert_array_equal(got["y"], [5, 6, 7])
    np.testing.assert_array_equal(w.tables[1].entities, ids)


def test_spawn_batch_fills_missing_fields_with_defaults():
    w = World()
    ids = w.spawn_batch({Position: {"x": [1.0, 2.0]}})
    np.testing.assert_array_equal(w.get_batch(ids, Position)["y"], [0, 0])


def test_spawn_batch_broadcasts_an_instance_to_n_rows():
    w = World()
    ids = w.spawn_batch({Velocity: Velocity(1.0, -1.0)}, n=4)
    got = w.get_batch(ids, Velocity)
    np.testing.assert_array_equal(got["dx"], [1] * 4)
    np.testing.assert_array_equal(got["dy"], [-1] * 4)


def test_spawn_batch_none_takes_defaults_and_tags_with_n():
    w = World()
    ids = w.spawn_batch({Mass: None, Frozen: None}, n=3)
    assert len(ids) == 3
    np.testing.assert_array_equal(w.get_batch(ids, Mass)["m"], [1, 1, 1])
    assert all(w.has(e, Frozen) for e in ids)
    assert _info(w) == [(("Mass", "Frozen"), 3)]


def test_spawn_batch_mixes_arrays_instances_and_none_inferring_n():
    w = World()
    ids = w.spawn_batch(
        {Frozen: None, Velocity: Velocity(2.0, 2.0), Position: {"x": [1.0, 2.0]}}
    )
    assert len(ids) == 2
    np.testing.assert_array_equal(w.get_batch(ids, Velocity)["dx"], [2, 2])


def test_spawn_batch_takes_a_bare_array_for_a_one_field_component():
    w = World()
    ids = w.spawn_batch({Mass: np.array([3, 4, 5])})
    np.testing.assert_array_equal(w.get_batch(ids, Mass)["m"], [3, 4, 5])


def test_spawn_batch_stores_vector_fields_as_n_by_k_columns():
    w = World()
    vs = np.arange(6, dtype=np.float32).reshape(2, 3)
    ids = w.spawn_batch({Heading: {"v": vs}})
    got = w.get_batch(ids, Heading)["v"]
    assert got.shape == (2, 3)
    np.testing.assert_array_equal(got, vs)
    assert w.component(ids[1], Heading) == Heading((3.0, 4.0, 5.0))


def test_spawn_batch_of_zero_rows_spawns_nothing():
    w = World()
    ids = w.spawn_batch({Position: {"x": np.array([], dtype=np.float32)}})
    assert len(ids) == 0
    assert len(w) == 0
    assert w.archetypes_info() == []


def test_spawn_batch_appends_to_an_existing_archetype(world):
    ids = world.spawn_batch({Position: Position(9.0, 9.0)}, n=2)
    assert _info(world)[0] == (("Position",), 5)
    np.testing.assert_array_equal(world.get_batch(ids, Position)["x"], [9, 9])


def test_spawn_batch_without_arrays_or_n_raises_e0009(world, world_state, raises_coded):
    before = world_state(world)
    with raises_coded(SchemaError, "E0009", "spawn_batch", "pass n="):
        world.spawn_batch({Position: Position(), Frozen: None})
    assert world_state(world) == before


@pytest.mark.parametrize(
    ("components", "n", "where"),
    [
        ({Position: {"x": [1.0, 2.0], "y": [1.0]}}, None, "Position.y"),
        ({Position: {"x": [1.0, 2.0]}, Mass: [1, 2, 3]}, None, "Mass"),
        ({Position: {"x": [1.0, 2.0]}}, 3, "Position.x"),
    ],
)
def test_spawn_batch_with_mismatched_lengths_raises_e0009(
    world, world_state, raises_coded, components, n, where
):
    before = world_state(world)
    with raises_coded(SchemaError, "E0009", where):
        world.spawn_batch(components, n=n)
    assert world_state(world) == before


@pytest.mark.parametrize(
    ("components", "code", "where"),
    [
        ({Mass: {"m": [1.5, 2.0]}}, "E0003", "Mass.m"),
        ({Mass: {"m": ["a", "b"]}}, "E0003", "Mass.m"),
        ({Level: {"value": [1, 300]}}, "E0003", "Level.value"),
        ({Target: {"e": [1.0]}}, "E0003", "Target.e"),
        ({Heading: {"v": np.zeros((2, 2))}}, "E0004", "Heading.v"),
        ({Position: {"x": np.zeros((2, 3))}}, "E0004", "Position.x"),
        ({Position: {"x": [1.0], "z": [2.0]}}, "E0005", "'z'"),
        ({Position: {"x": [1.0]}, "Position": None}, "E0002", "'Position'"),
    ],
)
def test_spawn_batch_rejects_malformed_columns_and_changes_nothing(
    world, world_state, raises_coded, components, code, where
):
    before = world_state(world)
    exc = ComponentNotRegisteredError if code == "E0002" else SchemaError
    with raises_coded(exc, code, where):
        world.spawn_batch(components)
    assert world_state(world) == before


def test_spawn_batch_rejects_a_non_mapping(world, world_state):
    before = world_state(world)
    with pytest.raises(SchemaError, match=r"spawn_batch: expected a mapping"):
        world.spawn_batch([Position()])
    assert world_state(world) == before


def test_spawn_batch_multi_field_component_needs_a_dict(world, world_state):
    before = world_state(world)
    with pytest.raises(SchemaError, match=r"values for Position must be"):
        world.spawn_batch({Position: np.array([1.0, 2.0])})
    assert world_state(world) == before


# spawn_batch from Arrow


def test_spawn_batch_from_arrow_table_with_classes():
    w = World()
    table = pa.table(
        {
            "Position.x": pa.array([1.0, 2.0], type=pa.float32()),
            "Position.y": pa.array([3.0, 4.0], type=pa.float64()),
            "Heading.v": pa.array(
                [[1, 2, 3], [4, 5, 6]], type=pa.list_(pa.float32(), 3)
            ),
            "Velocity.dx": pa.array([7, 8], type=pa.int32()),
            "Frozen": pa.array([True, True]),
        }
    )
    ids = w.spawn_batch(table, classes=[Position, Heading, Velocity, Frozen])
    assert _info(w) == [(("Position", "Heading", "Velocity", "Frozen"), 2)]
    assert w.component(ids[1], Position) == Position(2.0, 4.0)
    assert w.component(ids[0], Heading) == Heading((1.0, 2.0, 3.0))
    assert w.component(ids[1], Velocity) == Velocity(8.0, 0.0)  # dy defaulted


def test_spawn_batch_from_record_batch_and_chunked_table():
    w = World()
    rb = pa.RecordBatch.from_pydict({"Mass.m": pa.array([1, 2], type=pa.int8())})
    ids = w.spawn_batch(rb, classes=[Mass])
    np.testing.assert_array_equal(w.get_batch(ids, Mass)["m"], [1, 2])
    chunked = pa.Table.from_batches([rb, rb])
    ids = w.spawn_batch(chunked, classes=[Mass])
    np.testing.assert_array_equal(w.get_batch(ids, Mass)["m"], [1, 2, 1, 2])


def test_spawn_batch_round_trips_a_table_batch():
    w = World()
    ids = w.spawn_batch({Position: {"x": [1.0, 2.0]}, Heading: {"v": np.ones((2, 3))}})
    batch = w.tables[1].batch().drop_columns(["entity"])
    again = w.spawn_batch(batch, classes=[Position, Heading])
    np.testing.assert_array_equal(
        w.get_batch(again, Heading)["v"], w.get_batch(ids, Heading)["v"]
    )
    np.testing.assert_array_equal(
        w.get_batch(again, Position)["x"], w.get_batch(ids, Position)["x"]
    )


def test_spawn_batch_arrow_unknown_component_column_is_rejected(world, world_state):
    before = world_state(world)
    table = pa.table({"Position.x": [1.0], "Foo.x": [2.0]})
    with pytest.raises(ComponentNotRegisteredError, match=r"^\[E0002\]") as info:
        world.spawn_batch(table, classes=[Position])
    assert "'Foo.x'" in str(info.value)
    assert "classes=" in str(info.value)
    assert world_state(world) == before


def test_spawn_batch_arrow_unknown_field_column_raises_e0005(
    world, world_state, raises_coded
):
    before = world_state(world)
    table = pa.table({"Position.x": [1.0], "Position.z": [2.0]})
    with raises_coded(SchemaError, "E0005", "Position", "'z'"):
        world.spawn_batch(table, classes=[Position])
    assert world_state(world) == before


def test_spawn_batch_arrow_string_column_raises_e0003(world, world_state, raises_coded):
    before = world_state(world)
    table = pa.table({"Position.x": ["a", "b"]})
    with raises_coded(SchemaError, "E0003", "Position.x"):
        world.spawn_batch(table, classes=[Position])
    assert world_state(world) == before


def test_spawn_batch_arrow_tag_column_with_false_is_rejected(
    world, world_state, raises_coded
):
    before = world_state(world)
    table = pa.table({"Position.x": [1.0, 2.0], "Frozen": [True, False]})
    with raises_coded(SchemaError, "E0003", "'Frozen'"):
        world.spawn_batch(table, classes=[Position, Frozen])
    assert world_state(world) == before


@pytest.mark.parametrize(
    ("column", "where"),
    [
        (pa.array([1.0, None], type=pa.float32()), "Position.x"),
        (pa.array([1, None], type=pa.int32()), "Mass.m"),
        (pa.array([True, None]), "Flag.on"),
        (pa.array([[1, 2, 3], None], type=pa.list_(pa.float32(), 3)), "Heading.v"),
    ],
    ids=["float", "int", "bool", "vector"],
)
def test_spawn_batch_arrow_nulls_are_rejected(world, world_state, column, where):
    before = world_state(world)
    table = pa.table({where: column})
    with pytest.raises(SchemaError, match=r"^\[E00\d\d\]") as info:
        world.spawn_batch(table, classes=[Position, Mass, Flag, Heading])
    assert where in str(info.value)
    assert "null" in str(info.value)
    assert world_state(world) == before


@pytest.mark.parametrize(
    "column", [pa.array([1, 1]), pa.array([1.0, 1.0]), pa.array(["y", "y"])]
)
def test_spawn_batch_arrow_tag_column_must_be_bool(
    world, world_state, raises_coded, column
):
    before = world_state(world)
    with raises_coded(SchemaError, "E0003", "'Frozen'"):
        world.spawn_batch(pa.table({"Frozen": column}), classes=[Frozen])
    assert world_state(world) == before


def test_spawn_batch_arrow_bare_column_for_component_with_fields_is_rejected(
    world, world_state
):
    before = world_state(world)
    with pytest.raises(SchemaError, match=r"^\[E00\d\d\]") as info:
        world.spawn_batch(pa.table({"Position": [True, True]}), classes=[Position])
    assert "'Position'" in str(info.value)
    assert "Position.x" in str(info.value)
    assert world_state(world) == before


def test_spawn_batch_arrow_sliced_vector_column_keeps_its_offset():
    w = World()
    vs = pa.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], type=pa.list_(pa.float32(), 3))
    ids = w.spawn_batch(pa.table({"Heading.v": vs}).slice(1), classes=[Heading])
    assert w.get_batch(ids, Heading)["v"].tolist() == [[4, 5, 6], [7, 8, 9]]


# despawn


def test_despawn_removes_the_entity_and_keeps_the_others_intact(world):
    a, b, c = _ids(world, "Position")
    world.despawn(a)
    assert not world.is_alive(a)
    assert len(world) == 5
    assert world.component(b, Position) == Position(1.0, 11.0)
    assert world.component(c, Position) == Position(2.0, 12.0)
    assert _info(world)[0] == (("Position",), 2)


def test_despawn_batch_across_archetypes_keeps_rows_dense(world):
    pos = _ids(world, "Position")
    vel = _ids(world, "Position", "Velocity")
    world.despawn_batch([pos[0], vel[1], pos[2]])
    assert len(world) == 3
    assert _info(world) == [
        (("Position",), 1),
        (("Position", "Velocity"), 1),
        (("Mass",), 1),
    ]
    assert world.component(pos[1], Position) == Position(1.0, 11.0)
    assert world.component(vel[0], Velocity) == Velocity(0.5, 1.0)


def test_despawn_batch_despawns_duplicates_once(world):
    pos = _ids(world, "Position")
    world.despawn_batch([pos[1], pos[1], pos[0]])
    assert len(world) == 4
    assert world.is_alive(pos[2])
    assert int(world.entities.generation[Entity(int(pos[1])).index]) == 2


def test_despawn_of_stale_id_raises_e0001_and_changes_nothing(
    world, world_state, raises_coded
):
    (a, *_) = _ids(world, "Position")
    world.despawn(a)
    world.spawn(Position())  # recycles a's slot
    before = world_state(world)
    with raises_coded(EntityNotAliveError, "E0001", "despawn", f"{_label(a)} is stale"):
        world.despawn(a)
    assert world_state(world) == before


@pytest.mark.parametrize(
    ("entity", "reason"),
    [
        (0, "null entity"),
        (3, "pending id"),
        (int(Entity.from_parts(500, 1)), "500v1 was never spawned"),
    ],
)
def test_despawn_of_never_alive_id_raises_e0001(
    world, world_state, raises_coded, entity, reason
):
    before = world_state(world)
    with raises_coded(EntityNotAliveError, "E0001", reason):
        world.despawn(entity)
    assert world_state(world) == before


def test_despawn_batch_with_one_dead_id_despawns_nothing(
    world, world_state, raises_coded
):
    pos = _ids(world, "Position")
    world.despawn(pos[0])
    before = world_state(world)
    with raises_coded(
        EntityNotAliveError, "E0001", "1 of 3 entities", f"{_label(pos[0])} is stale"
    ):
        world.despawn_batch([pos[1], pos[0], pos[2]])
    assert world_state(world) == before


def test_dead_id_message_lists_at_most_five_ids(world, raises_coded):
    dead = [int(Entity.from_parts(1000 + i, 1)) for i in range(7)]
    with raises_coded(EntityNotAliveError, "E0001", "7 of 7", "(and 2 more)"):
        world.despawn_batch(dead)


def test_despawn_batch_rejects_non_integer_ids(world, world_state):
    before = world_state(world)
    with pytest.raises(SchemaError, match=r"entity ids must be a 1-d array"):
        world.despawn_batch([1.5])
    with pytest.raises(SchemaError, match=r"must not be negative"):
        world.despawn_batch([-1])
    assert world_state(world) == before


# insert


def test_insert_new_component_moves_entity_and_keeps_values(world):
    a, b, _ = _ids(world, "Position")
    world.insert(b, Velocity(1.0, 2.0))
    assert world.component(b, Position) == Position(1.0, 11.0)
    assert world.component(b, Velocity) == Velocity(1.0, 2.0)
    assert world.component(a, Position) == Position(0.0, 10.0)
    assert _info(world)[:2] == [(("Position",), 2), (("Position", "Velocity"), 3)]


def test_insert_existing_component_overwrites_in_place(world):
    b = _ids(world, "Position", "Velocity")[1]
    table, row = world.entities.locate_batch(np.array([b], dtype=np.uint64))
    world.insert(b, Velocity(9.0, 9.0))
    assert world.component(b, Velocity) == Velocity(9.0, 9.0)
    again = world.entities.locate_batch(np.array([b], dtype=np.uint64))
    assert (again[0][0], again[1][0]) == (table[0], row[0])  # no move
    assert _info(world)[1] == (("Position", "Velocity"), 2)


def test_insert_new_and_existing_components_at_once(world):
    b = _ids(world, "Position", "Velocity")[0]
    world.insert(b, Velocity(5.0, 5.0), Frozen, Mass(3))
    assert world.component(b, Velocity) == Velocity(5.0, 5.0)
    assert world.component(b, Mass) == Mass(3)
    assert world.has(b, Frozen)
    assert world.component(b, Position) == Position(3.0, 0.0)


def test_insert_a_tag_class(world):
    a = _ids(world, "Position")[0]
    world.insert(a, Frozen)
    assert world.has(a, Frozen)
    assert world.component(a, Position) == Position(0.0, 10.0)


def test_insert_on_dead_entity_raises_e0001_and_changes_nothing(
    world, world_state, raises_coded
):
    a = _ids(world, "Position")[0]
    world.despawn(a)
    before = world_state(world)
    with raises_coded(EntityNotAliveError, "E0001", "insert", _label(a)):
        world.insert(a, Velocity())
    assert world_state(world) == before


@pytest.mark.parametrize(
    ("bad", "exc", "code", "where"),
    [
        (Mass(m=2.5), SchemaError, "E0003", "Mass.m"),
        (Level(value=-3), SchemaError, "E0003", "Level.value"),
        (Heading((1.0,)), SchemaError, "E0004", "Heading.v"),
        ("oops", ComponentNotRegisteredError, "E0002", "'oops'"),
    ],
)
def test_insert_with_one_bad_component_changes_nothing(
    world, world_state, raises_coded, bad, exc, code, where
):
    a = _ids(world, "Position")[0]
    before = world_state(world)
    with raises_coded(exc, code, where):
        world.insert(a, Velocity(1.0, 1.0), bad)
    assert world_state(world) == before


def test_insert_batch_with_columns_moves_all_entities(world):
    pos = _ids(world, "Position")
    world.insert_batch(pos, Velocity, {"dx": [1.0, 2.0, 3.0]})
    got = world.get_batch(pos, Velocity)
    np.testing.assert_array_equal(got["dx"], [1, 2, 3])
    np.testing.assert_array_equal(got["dy"], [0, 0, 0])
    np.testing.assert_array_equal(world.get_batch(pos, Position)["y"], [10, 11, 12])
    assert _info(world) == [(("Position", "Velocity"), 5), (("Mass",), 1)]


def test_insert_batch_defaults_broadcast_and_tags(world):
    pos = _ids(world, "Position")
    world.insert_batch(pos[:2], Mass)
    world.insert_batch(pos[:2], Velocity, Velocity(4.0, 4.0))
    world.insert_batch(pos[:2], Frozen)
    np.testing.assert_array_equal(world.get_batch(pos[:2], Mass)["m"], [1, 1])
    np.testing.assert_array_equal(world.get_batch(pos[:2], Velocity)["dy"], [4, 4])
    assert all(world.has(e, Frozen) for e in pos[:2])
    assert not world.has(pos[2], Frozen)


def test_insert_batch_over_mixed_archetypes_overwrites_existing(world):
    pos = _ids(world, "Position")
    vel = _ids(world, "Position", "Velocity")
    ids = np.array([vel[0], pos[0], vel[1]], dtype=np.uint64)
    world.insert_batch(ids, Velocity, {"dx": [10.0, 20.0, 30.0], "dy": [1, 2, 3]})
    got = world.get_batch(ids, Velocity)
    np.testing.assert_array_equal(got["dx"], [10, 20, 30])
    np.testing.assert_array_equal(got["dy"], [1, 2, 3])
    assert _info(world)[1] == (("Position", "Velocity"), 3)


def test_insert_batch_repeated_id_keeps_last_values(world):
    a = _ids(world, "Position")[0]
    world.insert_batch([a, a, a], Mass, {"m": [1, 2, 3]})
    assert world.component(a, Mass) == Mass(3)
    assert len(world) == 6


@pytest.mark.parametrize(
    ("values", "code", "where"),
    [
        ({"dx": [1.0, 2.0]}, "E0009", "Velocity.dx"),
        ({"dx": [1, 2, 3], "dz": [1, 2, 3]}, "E0005", "'dz'"),
        ({"dx": ["a", "b", "c"]}, "E0003", "Velocity.dx"),
        ({"dx": np.zeros((3, 2))}, "E0004", "Velocity.dx"),
    ],
)
def test_insert_batch_rejects_bad_values_and_changes_nothing(
    world, world_state, raises_coded, values, code, where
):
    pos = _ids(world, "Position")
    before = world_state(world)
    with raises_coded(SchemaError, code, where):
        world.insert_batch(pos, Velocity, values)
    assert world_state(world) == before


def test_insert_batch_with_a_dead_id_raises_e0001_and_changes_nothing(
    world, world_state, raises_coded
):
    pos = _ids(world, "Position")
    world.despawn(pos[1])
    before = world_state(world)
    with raises_coded(EntityNotAliveError, "E0001", "insert_batch", _label(pos[1])):
        world.insert_batch(pos, Frozen)
    assert world_state(world) == before


# remove


def test_remove_moves_entity_and_keeps_other_values(world):
    b = _ids(world, "Position", "Velocity")[1]
    world.remove(b, Velocity)
    assert not world.has(b, Velocity)
    assert world.component(b, Position) == Position(4.0, 0.0)
    assert _info(world)[:2] == [(("Position",), 4), (("Position", "Velocity"), 1)]


def test_remove_absent_component_is_a_noop(world, world_state):
    a = _ids(world, "Position")[0]
    before = world_state(world)
    world.remove(a, Velocity)
    world.remove(a, Frozen, Heading)
    assert world_state(world) == before


def test_remove_last_component_leaves_entity_in_empty_archetype(world):
    m = _ids(world, "Mass")[0]
    world.remove(m, Mass)
    assert world.is_alive(m)
    assert ((), 1) in _info(world)


def test_remove_batch_of_several_components_over_mixed_archetypes(world):
    world.insert(_ids(world, "Position")[0], Frozen)
    every = np.concatenate([t.entities for t in world.tables])
    world.remove_batch(every, Velocity, Frozen)
    assert _info(world) == [(("Position",), 5), (("Mass",), 1)]
    assert world.component(_ids(world, "Mass")[0], Mass) == Mass(7)


def test_remove_batch_with_duplicates_removes_once(world):
    vel = _ids(world, "Position", "Velocity")
    world.remove_batch([vel[0], vel[0], vel[1]], Velocity)
    assert _info(world)[0] == (("Position",), 5)


def test_remove_on_dead_entity_raises_e0001_and_changes_nothing(
    world, world_state, raises_coded
):
    b = _ids(world, "Position", "Velocity")[0]
    world.despawn(b)
    before = world_state(world)
    with raises_coded(EntityNotAliveError, "E0001", "remove", _label(b)):
        world.remove(b, Velocity)
    assert world_state(world) == before


def test_remove_non_component_raises_e0002_and_changes_nothing(
    world, world_state, raises_coded
):
    b = _ids(world, "Position", "Velocity")[0]
    before = world_state(world)
    with raises_coded(ComponentNotRegisteredError, "E0002", "int", "remove"):
        world.remove(b, Velocity, int)
    assert world_state(world) == before


# component / get / get_batch


def test_component_returns_an_instance_with_python_values(world):
    w = World()
    e = w.spawn(Heading((1.0, 2.0, 3.0)), Mass(4), Flag(on=False), Target(7))
    assert w.component(e, Heading) == Heading((1.0, 2.0, 3.0))
    assert isinstance(w.component(e, Heading).v, tuple)
    assert w.component(e, Mass) == Mass(4)
    assert w.component(e, Flag).on is False
    assert w.component(e, Target).e == 7


def test_component_of_dead_entity_raises_e0001(world, raises_coded):
    a = _ids(world, "Position")[0]
    world.despawn(a)
    with raises_coded(
        EntityNotAliveError, "E0001", "component(Position)", _label(a), "world.get("
    ):
        world.component(a, Position)


def test_component_missing_raises_e0006_naming_entity_and_archetype(
    world, raises_coded
):
    a = _ids(world, "Position")[0]
    with raises_coded(
        MissingComponentError, "E0006", _label(a), "no Velocity", "[Position]"
    ):
        world.component(a, Velocity)


def test_component_of_non_component_raises_e0002(world, raises_coded):
    a = _ids(world, "Position")[0]
    with raises_coded(ComponentNotRegisteredError, "E0002", "component"):
        world.component(a, int)


def test_get_returns_value_or_default(world):
    a = _ids(world, "Position")[0]
    assert world.get(a, Position) == Position(0.0, 10.0)
    assert world.get(a, Velocity) is None
    assert world.get(a, Velocity, Velocity(1, 1)) == Velocity(1, 1)
    world.despawn(a)
    assert world.get(a, Position) is None
    assert world.get(a, Position, default=Position(5, 5)) == Position(5, 5)


def test_get_batch_returns_copies_in_input_order_across_archetypes(world):
    pos = _ids(world, "Position")
    vel = _ids(world, "Position", "Velocity")
    ids = np.array([vel[1], pos[2], vel[0], pos[0]], dtype=np.uint64)
    got = world.get_batch(ids, Position)
    np.testing.assert_array_equal(got["x"], [4, 2, 3, 0])
    assert got["x"].dtype == np.float32
    got["x"][:] = -1
    assert world.component(pos[0], Position).x == 0.0


def test_get_batch_of_vector_field_is_n_by_k():
    w = World()
    ids = w.spawn_batch({Heading: {"v": np.eye(3)}})
    got = w.get_batch(ids[::-1], Heading)["v"]
    np.testing.assert_array_equal(got, np.eye(3)[::-1])


def test_get_batch_with_dead_id_raises_e0001(world, raises_coded):
    a = _ids(world, "Position")[0]
    world.despawn(a)
    with raises_coded(EntityNotAliveError, "E0001", "get_batch", _label(a)):
        world.get_batch([a], Position)


def test_get_batch_with_missing_component_raises_e0006(world, raises_coded):
    pos = _ids(world, "Position")
    vel = _ids(world, "Position", "Velocity")
    with raises_coded(
        MissingComponentError, "E0006", "get_batch", "no Velocity", _label(pos[0])
    ):
        world.get_batch([vel[0], pos[0]], Velocity)


# set / set_batch


def test_set_overwrites_every_field(world):
    b = _ids(world, "Position", "Velocity")[0]
    world.set(b, Position(7.0, 8.0), Velocity(0.0, 0.0))
    assert world.component(b, Position) == Position(7.0, 8.0)
    assert world.component(b, Velocity) == Velocity(0.0, 0.0)


def test_set_does_not_move_the_entity(world, world_state):
    b = _ids(world, "Position", "Velocity")[0]
    info = world.archetypes_info()
    located = world.entities.locate_batch(np.array([b], dtype=np.uint64))
    world.set(b, Position(7.0, 8.0))
    assert world.archetypes_info() == info
    again = world.entities.locate_batch(np.array([b], dtype=np.uint64))
    assert (again[0][0], again[1][0]) == (located[0][0], located[1][0])


def test_set_missing_component_raises_e0006_and_writes_nothing(
    world, world_state, raises_coded
):
    a = _ids(world, "Position")[0]
    before = world_state(world)
    with raises_coded(MissingComponentError, "E0006", "set", _label(a), "no Velocity"):
        world.set(a, Position(5.0, 5.0), Velocity(1.0, 1.0))
    assert world_state(world) == before


def test_set_on_dead_entity_raises_e0001(world, world_state, raises_coded):
    a = _ids(world, "Position")[0]
    world.despawn(a)
    before = world_state(world)
    with raises_coded(EntityNotAliveError, "E0001", "set(Position)", _label(a)):
        world.set(a, Position(5.0, 5.0))
    assert world_state(world) == before


def test_set_with_bad_value_raises_e0003_and_writes_nothing(
    world, world_state, raises_coded
):
    m = _ids(world, "Mass")[0]
    world.insert(m, Position())
    before = world_state(world)
    with raises_coded(SchemaError, "E0003", "Mass.m"):
        world.set(m, Position(5.0, 5.0), Mass(m=1.5))
    assert world_state(world) == before


def test_set_with_component_class_instead_of_instance_names_the_component(
    world, world_state
):
    a = _ids(world, "Position")[0]
    before = world_state(world)
    with pytest.raises(SchemaError) as info:
        world.set(a, Position)
    assert "Position" in str(info.value)
    assert "instance" in str(info.value)
    assert world_state(world) == before


def test_set_batch_writes_only_the_named_fields(world):
    pos = _ids(world, "Position")
    world.set_batch(pos, Position, {"x": [7.0, 8.0, 9.0]})
    got = world.get_batch(pos, Position)
    np.testing.assert_array_equal(got["x"], [7, 8, 9])
    np.testing.assert_array_equal(got["y"], [10, 11, 12])


def test_set_batch_broadcasts_an_instance_across_archetypes(world):
    ids = np.concatenate([_ids(world, "Position"), _ids(world, "Position", "Velocity")])
    world.set_batch(ids, Position, Position(1.0, 2.0))
    got = world.get_batch(ids, Position)
    np.testing.assert_array_equal(got["x"], [1] * 5)
    np.testing.assert_array_equal(got["y"], [2] * 5)


def test_set_batch_takes_a_bare_array_for_a_one_field_component(world):
    m = _ids(world, "Mass")
    world.set_batch(m, Mass, np.array([42]))
    assert world.component(m[0], Mass) == Mass(42)


def test_set_batch_repeated_id_keeps_last_values(world):
    a, b, _ = _ids(world, "Position")
    world.set_batch([a, b, a], Position, {"x": [1.0, 2.0, 3.0]})
    assert world.component(a, Position).x == 3.0
    assert world.component(b, Position).x == 2.0


def test_set_batch_missing_in_one_archetype_writes_nothing_anywhere(
    world, world_state, raises_coded
):
    pos = _ids(world, "Position")
    vel = _ids(world, "Position", "Velocity")
    before = world_state(world)
    with raises_coded(
        MissingComponentError, "E0006", "set_batch", "no Velocity", _label(pos[1])
    ):
        world.set_batch([vel[0], pos[1], vel[1]], Velocity, {"dx": [9.0, 9.0, 9.0]})
    assert world_state(world) == before


@pytest.mark.parametrize(
    ("values", "exc", "code", "where"),
    [
        ({"x": [1.0, 2.0]}, SchemaError, "E0009", "Position.x"),
        ({"z": [1.0, 2.0, 3.0]}, SchemaError, "E0005", "'z'"),
        ({"x": ["a", "b", "c"]}, SchemaError, "E0003", "Position.x"),
        ({"x": np.zeros((3, 3))}, SchemaError, "E0004", "Position.x"),
    ],
)
def test_set_batch_rejects_bad_values_and_writes_nothing(
    world, world_state, raises_coded, values, exc, code, where
):
    pos = _ids(world, "Position")
    before = world_state(world)
    with raises_coded(exc, code, where):
        world.set_batch(pos, Position, values)
    assert world_state(world) == before


def test_set_batch_with_dead_id_raises_e0001_and_writes_nothing(
    world, world_state, raises_coded
):
    pos = _ids(world, "Position")
    world.despawn(pos[2])
    before = world_state(world)
    with raises_coded(EntityNotAliveError, "E0001", "set_batch", _label(pos[2])):
        world.set_batch(pos, Position, {"x": [1.0, 2.0, 3.0]})
    assert world_state(world) == before


# has / is_alive


def test_has_reports_components_of_live_entities_only(world):
    b = _ids(world, "Position", "Velocity")[0]
    assert world.has(b, Position)
    assert world.has(b, Velocity)
    assert not world.has(b, Mass)
    world.despawn(b)
    assert not world.has(b, Position)


def test_has_with_non_component_raises_e0002(world, raises_coded):
    b = _ids(world, "Position", "Velocity")[0]
    with raises_coded(ComponentNotRegisteredError, "E0002", "has"):
        world.has(b, str)


def test_is_alive_is_false_for_null_pending_stale_and_unknown_ids(world):
    a = _ids(world, "Position")[0]
    world.despawn(a)
    b = world.spawn(Position())
    assert world.is_alive(b)
    assert not world.is_alive(a)
    assert not world.is_alive(0)
    assert not world.is_alive(1)  # a pending id
    assert not world.is_alive(Entity.from_parts(900, 1))
    probe = np.array([b, a, 0, 1, Entity.from_parts(900, 1)], dtype=np.uint64)
    np.testing.assert_array_equal(
        world.is_alive_batch(probe), [True, False, False, False, False]
    )


def test_id_lists_mixing_entities_and_numpy_ids_are_accepted(world):
    # spawn() returns Entity (a Python int), spawn_batch() numpy uint64: users mix them.
    a = world.spawn(Position())
    b = _ids(world, "Position")[0]
    np.testing.assert_array_equal(world.is_alive_batch([a, b]), [True, True])
    world.despawn_batch([b, a])
    assert not world.is_alive(a)
    assert not world.is_alive(b)


def test_is_alive_batch_of_nothing_is_empty(world):
    assert world.is_alive_batch([]).shape == (0,)


def test_is_alive_batch_rejects_non_integer_ids(world):
    with pytest.raises(SchemaError, match=r"is_alive_batch: entity ids must be"):
        world.is_alive_batch(["a"])


# resources


class Gravity:
    def __init__(self, g: float) -> None:
        self.g = g


class Clock:
    pass


def test_resources_are_stored_by_type():
    w = World()
    g = Gravity(9.8)
    w.insert_resource(g)
    assert w.resource(Gravity) is g
    assert w.get_resource(Gravity) is g
    assert w.has_resource(Gravity)
    assert not w.has_resource(Clock)
    assert w.get_resource(Clock) is None
    assert w.get_resource(Clock, "none") == "none"


def test_insert_resource_replaces_the_previous_one():
    w = World()
    w.insert_resource(Gravity(1.0))
    w.insert_resource(Gravity(2.0))
    assert w.resource(Gravity).g == 2.0


def test_remove_resource_returns_it_and_forgets_it():
    w = World()
    g = Gravity(1.0)
    w.insert_resource(g)
    assert w.remove_resource(Gravity) is g
    assert not w.has_resource(Gravity)


def test_missing_resource_raises_e0008_naming_type_and_held(raises_coded):
    w = World()
    w.insert_resource(Gravity(1.0))
    with raises_coded(
        ResourceNotFoundError,
        "E0008",
        "type Clock",
        "held: ",
        "Gravity",
        "insert_resource",
    ):
        w.resource(Clock)
    with raises_coded(ResourceNotFoundError, "E0008", "Clock"):
        w.remove_resource(Clock)
    assert w.has_resource(Gravity)


# len / archetypes_info / tables / repr


def test_len_counts_live_entities(world):
    assert len(world) == 6
    world.despawn_batch(_ids(world, "Position"))
    assert len(world) == 3
    world.spawn()
    assert len(world) == 4


def test_archetypes_info_lists_non_empty_archetypes_with_row_counts(world):
    assert world.archetypes_info() == [
        ArchetypeInfo(1, ("Position",), 3),
        ArchetypeInfo(2, ("Position", "Velocity"), 2),
        ArchetypeInfo(3, ("Mass",), 1),
    ]
    world.despawn_batch(_ids(world, "Position", "Velocity"))
    assert [a.components for a in world.archetypes_info()] == [("Position",), ("Mass",)]


def test_tables_include_empty_archetypes_indexed_by_id(world):
    world.despawn_batch(_ids(world, "Mass"))
    assert [t.id for t in world.tables] == list(range(len(world.tables)))
    assert world.tables[0].names == ()
    assert len(world.tables[3]) == 0


def test_component_ids_are_per_world_and_stable(world):
    assert world.component_id(Position) == 0
    assert world.component_id(Velocity) == 1
    assert world.component_id(Mass) == 2
    other = World()
    assert other.component_id(Mass) == 0


def test_two_classes_with_one_name_raise_e0010_in_one_world(world, raises_coded):
    def make():
        @component
        class Position:
            z: f32 = 0.0

        return Position

    with raises_coded(SchemaError, "E0010", "'Position'"):
        world.spawn(make()())


def test_repr_summarizes_the_world(world):
    assert repr(world) == "<World entities=6 archetypes=3 components=3>"


# bulk consistency


def _check_index_agrees_with_tables(world: World) -> None:
    alive = 0
    for table in world.tables:
        ids = table.entities
        alive += len(ids)
        assert world.is_alive_batch(ids).all()
        tables, rows = world.entities.locate_batch(ids)
        assert (tables == table.id).all()
        np.testing.assert_array_equal(rows, np.arange(len(ids)))
    assert alive == len(world)


def test_bulk_spawn_despawn_insert_remove_keeps_index_and_values_consistent():
    rng = np.random.default_rng(7)
    w = World()
    model: dict[int, float] = {}  # id -> Position.x, for live entities
    for step in range(6):
        xs = rng.random(700).astype(np.float32)
        ids = w.spawn_batch({Position: {"x": xs}})
        model.update(zip(ids.tolist(), xs.tolist(), strict=True))
        live = np.array(sorted(model), dtype=np.uint64)
        gone = rng.choice(live, size=len(live) // 3, replace=False)
        w.despawn_batch(gone)
        for e in gone.tolist():
            del model[e]
        live = np.array(sorted(model), dtype=np.uint64)
        some = rng.choice(live, size=len(live) // 2, replace=False)
        w.insert_batch(some, Mass, {"m": np.full(len(some), step)})
        w.remove_batch(rng.choice(live, size=len(live) // 4, replace=False), Mass)
        _check_index_agrees_with_tables(w)
    assert len(w) == len(model)
    live = np.array(sorted(model), dtype=np.uint64)
    np.testing.assert_array_equal(
        w.get_batch(live, Position)["x"], np.array([model[e] for e in live.tolist()])
    )
    assert len(np.unique(live & np.uint64(0xFFFF_FFFF))) == len(live)


def test_world_state_snapshot_sees_every_kind_of_change(world, world_state):
    # The no-change assertions above are only as good as this snapshot.
    a = _ids(world, "Position")[0]
    changes = [
        lambda: world.set(a, Position(99.0, 99.0)),  # a value
        lambda: world.insert(a, Frozen),  # a move
        lambda: world.spawn_batch({Heading: None}, n=0),  # a new, empty archetype
        lambda: world.despawn(a),  # index arrays and the free list
        lambda: world.spawn(),  # a recycled slot
        lambda: world.insert_resource(Gravity(1.0)),  # a resource
    ]
    for change in changes:
        before = world_state(world)
        change()
        assert world_state(world) != before


def test_a_dropped_world_is_freed_without_the_garbage_collector(tmp_path):
    """No reference cycle through the world (its executor, registry hook, cached
    queries and hierarchy hold it weakly), so its tables go as soon as the last
    reference does, not at some later full GC pass."""
    import gc
    import weakref

    from archetype_ecs import njit, system
    from archetype_ecs.hierarchy import ChildOf
    from archetype_ecs.serialization import load, save

    @component
    class Heat:
        t: f32 = 0.0

    @njit
    def warm(t):
        for i in range(t.shape[0]):
            t[i] += 1.0

    @system(reads=[Heat])
    def look(ctx):
        for _ents, _heat in ctx.query(Heat):
            pass

    def build() -> World:
        world = World(seed=1)
        ids = world.spawn_batch({Heat: None}, n=100)
        world.spawn_batch({Heat: None, ChildOf: {"parent": ids[:3]}})  # hierarchy
        world.add_system(system(warm, query=[Heat], writes=[Heat]), look)
        world.track_changes(Heat)
        world.step()
        world.step()
        list(world.query(Heat))
        return world

    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        world = build()
        ref = weakref.ref(world)
        save(world, tmp_path)
        del world
        assert ref() is None
        loaded = load(tmp_path, World(), components=[Heat, ChildOf]).world
        loaded.step()
        ref = weakref.ref(loaded)
        del loaded
        assert ref() is None
    finally:
        if was:
            gc.enable()


def test_a_query_outliving_its_world_says_so():
    import gc

    @component
    class Spark:
        on: f32 = 0.0

    query = World().query(Spark)  # the world is dropped at once
    gc.collect()
    with pytest.raises(RuntimeError, match="query's world no longer exists"):
        list(query)
