"""spawn_batch: every accepted input form builds the same world as the model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archetype_ecs import World, component, u64
from archetype_ecs.testing import assert_world_matches, values_equal
from archetype_ecs.testing import strategies as ecs_st
from archetype_ecs.testing.stateful import query_rows

pytestmark = pytest.mark.hypothesis


@given(st.data())
def test_spawn_batch_from_arrow_equals_from_dict(data):
    classes = data.draw(ecs_st.component_class_lists(), label="classes")
    subset = data.draw(st.lists(st.sampled_from(classes), min_size=1, unique=True))
    n = data.draw(st.integers(1, 12), label="n")
    values = {c: data.draw(ecs_st.column_values(c, n)) for c in subset}
    from_dict, from_arrow = World(), World()
    ids = from_dict.spawn_batch(values, n=n)
    arrow_ids = from_arrow.spawn_batch(
        ecs_st.record_batch_of(values, n), classes=subset
    )
    assert arrow_ids.tolist() == ids.tolist()
    for c in subset:
        got, want = query_rows(from_arrow, [c]), query_rows(from_dict, [c])
        assert got.keys() == want.keys()
        assert all(values_equal(got[e], want[e]) for e in want)


@given(st.data())
def test_spawn_batch_in_any_value_form_matches_model(data):
    state = data.draw(ecs_st.world_states(), label="world")
    subset = data.draw(st.lists(st.sampled_from(state.classes), unique=True))
    n = data.draw(st.integers(0, 8), label="n")
    values = {c: data.draw(ecs_st.batch_values(c, n)) for c in subset}
    ids = state.world.spawn_batch(values, n=n)
    assert ids.tolist() == state.reference.spawn_batch(values, n=n).tolist()
    assert_world_matches(state.world, state.reference, state.classes)


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=8))
def test_u64_column_from_python_ints_is_exact(values):
    @component
    class Big:
        v: u64 = 0

    world = World()
    ids = world.spawn_batch({Big: {"v": values}})
    assert world.get_batch(ids, Big)["v"].tolist() == values
