from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from archetype_ecs import ArchetypeTable, component, schema_of
from archetype_ecs.component import Components
from archetype_ecs.errors import InternalError
from archetype_ecs.schema import ENTITY_METADATA, EntityRef, bool_, f32, i16, u64
from archetype_ecs.table import ENTITY_COLUMN, MIN_CAPACITY


@component
class Pos:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Head:
    v: f32[3]


@component
class Flags:
    on: bool_ = False
    level: i16 = 0


@component
class Link:
    to: EntityRef


@component
class Frozen:
    pass


def _table(*classes: type) -> ArchetypeTable:
    reg = Components()
    cids = tuple(reg.id_of(c) for c in classes)
    return ArchetypeTable(7, cids, {c: reg.schemas[c] for c in cids})


def _rows(
    table: ArchetypeTable, ids: list[int], **cols: object
) -> dict[str, np.ndarray]:
    """Values for every column of ``table``: given ones, zeros for the rest."""
    n = len(ids)
    out: dict[str, np.ndarray] = {}
    for key in table.keys:
        spec = table._specs[key]
        out[key] = np.zeros((n, *spec.shape), dtype=spec.dtype)
    out[ENTITY_COLUMN] = np.asarray(ids, dtype=np.uint64)
    for key, value in cols.items():
        out[key.replace("__", ".")] = np.asarray(value)
    return out


def test_new_table_is_empty_and_lists_entity_then_field_columns():
    t = _table(Pos)
    assert len(t) == 0
    assert t.id == 7
    assert t.names == ("Pos",)
    assert t.keys[:3] == (ENTITY_COLUMN, "Pos.x", "Pos.y")
    assert t.batch().num_rows == 0
    assert t.entities.shape == (0,)


def test_first_append_reserves_at_least_the_minimum_capacity():
    t = _table(Pos)
    t.append(_rows(t, [1]))
    assert t.capacity >= MIN_CAPACITY


def test_append_returns_first_row_and_stores_values():
    t = _table(Pos)
    assert t.append(_rows(t, [10, 11], Pos__x=[1.0, 2.0])) == 0
    assert t.append(_rows(t, [12], Pos__x=[3.0])) == 2
    np.testing.assert_array_equal(t.entities, [10, 11, 12])
    np.testing.assert_array_equal(t.column("Pos.x"), [1, 2, 3])
    assert t.column("Pos.x").dtype == np.float32


def test_append_with_missing_column_is_an_internal_error():
    t = _table(Pos)
    values = _rows(t, [1])
    del values["Pos.y"]
    with pytest.raises(InternalError, match=r"column mismatch"):
        t.append(values)
    assert len(t) == 0


def test_growth_keeps_data_and_bumps_version():
    t = _table(Pos, Head)
    xs = np.arange(MIN_CAPACITY, dtype=np.float32)
    heads = np.arange(MIN_CAPACITY * 3, dtype=np.float32).reshape(-1, 3)
    t.append(_rows(t, list(range(MIN_CAPACITY)), Pos__x=xs, Head__v=heads))
    version = t.version
    t.append(_rows(t, [99], Pos__x=[99.0], Head__v=[[9, 9, 9]]))
    assert t.capacity == 2 * MIN_CAPACITY
    assert t.version > version
    np.testing.assert_array_equal(t.column("Pos.x")[:MIN_CAPACITY], xs)
    np.testing.assert_array_equal(t.column("Head.v")[:MIN_CAPACITY], heads)
    assert t.column("Pos.x")[-1] == 99
    assert t.entities.tolist() == [*range(MIN_CAPACITY), 99]


def test_large_append_grows_to_fit_at_once():
    t = _table(Pos)
    t.append(_rows(t, list(range(1000))))
    assert t.capacity >= 1000
    assert len(t) == 1000


def test_vector_column_is_n_by_k():
    t = _table(Head)
    t.append(_rows(t, [1, 2], Head__v=[[1, 2, 3], [4, 5, 6]]))
    col = t.column("Head.v")
    assert col.shape == (2, 3)
    assert col.dtype == np.float32
    np.testing.assert_array_equal(col[1], [4, 5, 6])


def test_columns_are_writable_views_into_storage():
    t = _table(Pos)
    t.append(_rows(t, [1, 2]))
    t.column("Pos.x")[:] = 4.0
    np.testing.assert_array_equal(t.column("Pos.x"), [4, 4])
    assert t.batch().column("Pos.x").to_pylist() == [4.0, 4.0]


def test_swap_remove_fills_holes_from_the_end_and_returns_moves():
    t = _table(Pos)
    t.append(_rows(t, [10, 11, 12, 13, 14, 15], Pos__x=[0, 1, 2, 3, 4, 5]))
    version = t.version
    moved_from, moved_to = t.swap_remove(np.array([1, 3]))
    np.testing.assert_array_equal(moved_from, [4, 5])
    np.testing.assert_array_equal(moved_to, [1, 3])
    assert len(t) == 4
    assert t.version > version
    np.testing.assert_array_equal(t.entities, [10, 14, 12, 15])
    np.testing.assert_array_equal(t.column("Pos.x"), [0, 4, 2, 5])


def test_swap_remove_of_tail_rows_moves_only_survivors():
    t = _table(Pos)
    t.append(_rows(t, [10, 11, 12, 13, 14, 15], Pos__x=[0, 1, 2, 3, 4, 5]))
    moved_from, moved_to = t.swap_remove(np.array([1, 5]))
    np.testing.assert_array_equal(moved_from, [4])
    np.testing.assert_array_equal(moved_to, [1])
    np.testing.assert_array_equal(t.entities, [10, 14, 12, 13])
    np.testing.assert_array_equal(t.column("Pos.x"), [0, 4, 2, 3])


def test_swap_remove_of_only_tail_rows_moves_nothing():
    t = _table(Pos)
    t.append(_rows(t, [10, 11, 12]))
    moved_from, moved_to = t.swap_remove(np.array([1, 2]))
    assert len(moved_from) == 0
    assert len(moved_to) == 0
    np.testing.assert_array_equal(t.entities, [10])


def test_swap_remove_all_rows_empties_the_table():
    t = _table(Pos)
    t.append(_rows(t, [10, 11, 12]))
    t.swap_remove(np.array([0, 1, 2]))
    assert len(t) == 0
    assert t.batch().num_rows == 0


def test_swap_remove_keeps_every_column_aligned():
    t = _table(Pos, Head)
    ids = list(range(100, 110))
    xs = np.arange(10, dtype=np.float32)
    heads = np.repeat(xs[:, None], 3, axis=1)
    t.append(_rows(t, ids, Pos__x=xs, Head__v=heads))
    t.swap_remove(np.array([0, 2, 3, 8]))
    survivors = t.entities - 100
    np.testing.assert_array_equal(t.column("Pos.x"), survivors)
    np.testing.assert_array_equal(t.column("Head.v")[:, 2], survivors)
    assert sorted(survivors.tolist()) == [1, 4, 5, 6, 7, 9]


def test_gather_copies_selected_rows():
    t = _table(Pos)
    t.append(_rows(t, [10, 11, 12], Pos__x=[0, 1, 2]))
    got = t.gather(np.array([2, 0]), ("Pos.x",))
    assert list(got) == ["Pos.x"]
    np.testing.assert_array_equal(got["Pos.x"], [2, 0])
    got["Pos.x"][:] = 9
    np.testing.assert_array_equal(t.column("Pos.x"), [0, 1, 2])
    assert set(t.gather(np.array([0]))) == set(t.keys)


def test_batch_has_entity_column_then_fields():
    t = _table(Pos, Head)
    t.append(_rows(t, [5, 6], Pos__x=[1, 2], Head__v=[[1, 2, 3], [4, 5, 6]]))
    b = t.batch()
    assert b.schema.names == ["entity", "Pos.x", "Pos.y", "Head.v"]
    assert b.column("entity").to_pylist() == [5, 6]
    assert b.column("Head.v").to_pylist() == [[1, 2, 3], [4, 5, 6]]
    assert b.schema.field("Head.v").type == pa.list_(pa.float32(), 3)
    assert not b.schema.field("Pos.x").nullable


def test_batch_can_be_restricted_to_some_components():
    t = _table(Pos, Head)
    t.append(_rows(t, [5]))
    head_id = next(c for c in t.components if t.schemas[c].name == "Head")
    assert t.batch((head_id,)).schema.names == ["entity", "Head.v"]
    assert t.batch(()).schema.names == ["entity"]


def test_entity_columns_carry_entity_metadata():
    t = _table(Link)
    t.append(_rows(t, [5], Link__to=[3]))
    schema = t.batch().schema
    assert schema.field("entity").metadata == ENTITY_METADATA
    assert schema.field("Link.to").metadata == ENTITY_METADATA
    assert schema.field("Link.to").type == pa.uint64()


def test_tag_table_has_only_the_entity_column_in_batch():
    t = _table(Frozen)
    t.append(_rows(t, [1]))
    assert t.batch().schema.names == ["entity"]


def _address(arr: pa.Array) -> int:
    return arr.buffers()[1].address


def test_batch_is_zero_copy_for_scalar_columns():
    t = _table(Pos)
    t.append(_rows(t, [1, 2, 3], Pos__x=[1, 2, 3]))
    b = t.batch()
    for key in ("entity", "Pos.x", "Pos.y"):
        assert _address(b.column(key)) == t.column(key).ctypes.data, key


def test_batch_is_zero_copy_for_vector_columns():
    t = _table(Head)
    t.append(_rows(t, [1, 2], Head__v=[[1, 2, 3], [4, 5, 6]]))
    col = t.batch().column("Head.v")
    assert isinstance(col, pa.FixedSizeListArray)
    assert _address(col.values) == t.column("Head.v").ctypes.data


def test_batch_sees_in_place_writes_without_rebuild():
    t = _table(Pos)
    t.append(_rows(t, [1, 2]))
    b = t.batch()
    t.column("Pos.x")[0] = 42.0
    assert b.column("Pos.x")[0].as_py() == 42.0


def test_batch_after_growth_points_at_the_new_buffers():
    t = _table(Pos)
    t.append(_rows(t, list(range(MIN_CAPACITY))))
    t.append(_rows(t, [99]))
    b = t.batch()
    assert b.num_rows == MIN_CAPACITY + 1
    assert _address(b.column("Pos.x")) == t.column("Pos.x").ctypes.data


def test_buffers_are_64_byte_aligned():
    t = _table(Pos, Head)
    for key in t.keys:
        assert t.column(key).ctypes.data % 64 == 0, key


def test_bool_column_converts_to_arrow_booleans():
    t = _table(Flags)
    t.append(_rows(t, [1, 2, 3], Flags__on=[True, False, True], Flags__level=[1, 2, 3]))
    b = t.batch()
    assert b.schema.field("Flags.on").type == pa.bool_()
    assert b.column("Flags.on").to_pylist() == [True, False, True]
    assert b.column("Flags.level").to_pylist() == [1, 2, 3]
    t.column("Flags.on")[1] = True
    assert t.batch().column("Flags.on").to_pylist() == [True, True, True]


def test_component_view_is_cached_until_a_structural_change():
    t = _table(Pos)
    t.append(_rows(t, [1, 2]))
    cid = t.components[0]
    view = t.component_view(cid)
    assert t.component_view(cid) is view
    assert view.x.shape == (2,)
    view.x[:] = 3.0
    np.testing.assert_array_equal(t.column("Pos.x"), [3, 3])
    t.append(_rows(t, [3]))
    fresh = t.component_view(cid)
    assert fresh is not view
    assert fresh.x.shape == (3,)


def test_nbytes_counts_capacity_not_live_rows():
    t = _table(Pos)
    t.append(_rows(t, [1]))
    per_row = 8 + 4 + 4  # entity, x, y (tick columns, if any, come on top)
    assert t.nbytes() >= t.capacity * per_row
    before = t.nbytes()
    t.append(_rows(t, list(range(2, 2 + t.capacity))))
    assert t.nbytes() > before


def test_repr_names_components_and_rows():
    t = _table(Pos, Head)
    t.append(_rows(t, [1]))
    assert repr(t) == "<ArchetypeTable 7 [Pos, Head] rows=1>"


def test_entity_column_is_uint64():
    t = _table(Pos)
    assert t.entities.dtype == np.uint64
    assert schema_of(Link).fields[0].type.dtype == np.dtype(u64.dtype)


@component
class Mask:
    bits: bool_[2]


def test_bool_vector_column_converts_to_fixed_size_list_of_booleans():
    t = _table(Mask)
    t.append(_rows(t, [1, 2], Mask__bits=[[True, False], [False, True]]))
    col = t.batch().column("Mask.bits")
    assert col.type == pa.list_(pa.bool_(), 2)
    assert col.to_pylist() == [[True, False], [False, True]]


# ------------------------------------------------------------ slabs and adopt


def _specs(*classes):
    from archetype_ecs.table import column_specs

    return column_specs([schema_of(c) for c in classes])


def test_slab_columns_are_aligned_writable_and_share_memory_with_arrow():
    from archetype_ecs.table import allocate_slab

    n = 1_500_000  # Pos (8 B), Head (12 B), Flags (3 B), id (8 B): > 16 MiB, 2+ blocks
    slab = allocate_slab(_specs(Pos, Head, Flags), n)
    bases = set()
    for key, (buf, arr) in slab.items():
        assert arr.ctypes.data % 64 == 0, key
        assert buf.address == arr.ctypes.data, key
        assert arr.flags.writeable
        assert len(arr) == n
        arr[-1] = 1  # the whole capacity is usable
        bases.add(id(arr.base if arr.base is not None else arr))
    assert len(bases) >= 2  # packed into more than one block
    assert slab["Head.v"][1].shape == (n, 3)


def test_adopt_takes_a_filled_slab_without_copying():
    from archetype_ecs.table import allocate_slab

    table = _table(Pos)
    slab = allocate_slab(_specs(Pos), 8)
    slab[ENTITY_COLUMN][1][:5] = np.arange(1, 6)
    slab["Pos.x"][1][:5] = 2.5
    assert table.adopt(slab, 5)
    assert table.len == 5
    assert table.capacity == 8
    assert table.column("Pos.x").ctypes.data == slab["Pos.x"][1].ctypes.data
    assert table.entities.tolist() == [1, 2, 3, 4, 5]
    # not empty any more: refused, nothing changed
    assert not table.adopt(allocate_slab(_specs(Pos), 8), 5)
    assert table.entities.tolist() == [1, 2, 3, 4, 5]


def test_adopt_refuses_a_slab_of_other_columns_or_too_few_rows():
    from archetype_ecs.table import allocate_slab

    table = _table(Pos)
    assert not table.adopt(allocate_slab(_specs(Head), 8), 5)
    assert not table.adopt(allocate_slab(_specs(Pos), 4), 5)
    assert table.len == 0
    assert table.capacity == 0
