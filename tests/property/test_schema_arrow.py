"""Round trips between component schemas, numpy columns and Arrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archetype_ecs import World, schema_of
from archetype_ecs.schema import ENTITY_METADATA
from archetype_ecs.testing import strategies as ecs_st
from archetype_ecs.testing import values_equal

pytestmark = pytest.mark.hypothesis


def _rows(arr: pa.Array | pa.ChunkedArray) -> list[object]:
    return [tuple(v) if isinstance(v, list) else v for v in arr.to_pylist()]


def _np_rows(arr: np.ndarray) -> list[object]:
    return [tuple(v) if isinstance(v, list) else v for v in arr.tolist()]


@given(ecs_st.field_types())
def test_arrow_type_of_a_field_matches_its_numpy_dtype(ftype):
    arrow = ftype.arrow_type
    if ftype.shape:
        assert pa.types.is_fixed_size_list(arrow)
        assert arrow.list_size == ftype.shape[0]
        arrow = arrow.value_type
    assert arrow.to_pandas_dtype() == ftype.dtype


@given(st.data())
def test_column_round_trips_through_table_batch(data):
    cls = data.draw(ecs_st.component_schemas(), label="component")
    n = data.draw(st.integers(0, 20), label="n")
    cols = data.draw(ecs_st.column_values(cls, n), label="columns")
    world = World()
    ids = world.spawn_batch({cls: cols}, n=n)
    table = world.archetypes.get_or_create([world.component_id(cls)])
    batch = table.batch()
    s = schema_of(cls)
    assert batch.num_rows == n
    assert batch.column("entity").to_pylist() == ids.tolist()
    for f in s.fields:
        key = f"{s.name}.{f.name}"
        field = batch.schema.field(key)
        assert field.type == f.type.arrow_type
        if f.type.is_entity:
            assert field.metadata == ENTITY_METADATA
        assert values_equal(_rows(batch.column(key)), _np_rows(cols[f.name]))


@given(st.data())
def test_table_batch_spawns_an_equal_world(data):
    classes = data.draw(ecs_st.component_class_lists(), label="classes")
    n = data.draw(st.integers(1, 12), label="n")
    values = {c: data.draw(ecs_st.column_values(c, n)) for c in classes}
    source = World()
    source.spawn_batch(values, n=n)
    (table,) = [t for t in source.tables if t.len]
    batch = table.batch()
    names = [name for name in batch.schema.names if name != "entity"]
    # tags have no field columns: give them a column named after the component
    tags = [schema_of(c).name for c in classes if schema_of(c).is_tag]
    arrow = pa.table(
        [batch.column(k) for k in names] + [pa.array([True] * n) for _ in tags],
        names=names + tags,
    )
    copy = World()
    copy.spawn_batch(arrow, classes=classes)
    (copied,) = [t for t in copy.tables if t.len]
    assert sorted(copied.names) == sorted(table.names)
    again = copied.batch()
    for k in batch.schema.names:
        assert values_equal(_rows(again.column(k)), _rows(batch.column(k))), k


@given(st.data())
def test_record_batch_spawns_rows_that_batch_gives_back(data):
    classes = data.draw(ecs_st.component_class_lists(), label="classes")
    record = data.draw(ecs_st.record_batches(classes), label="record batch")
    world = World()
    ids = world.spawn_batch(record, classes=classes)
    table = world.archetypes.get_or_create(world.component_id(c) for c in classes)
    batch = table.batch()
    assert batch.column("entity").to_pylist() == ids.tolist()
    for name in record.schema.names:
        if "." in name:  # tag columns are not stored
            assert values_equal(_rows(batch.column(name)), _rows(record.column(name)))
