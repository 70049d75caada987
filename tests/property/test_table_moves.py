"""Swap-remove and archetype moves keep tables dense and the entity index exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archetype_ecs import World, schema_of
from archetype_ecs.testing import apply_both, assert_world_matches, values_equal
from archetype_ecs.testing import strategies as ecs_st

pytestmark = pytest.mark.hypothesis


def _table_rows(table, keys):
    cols = [table.column(k).tolist() for k in keys]
    return [tuple(c[r] for c in cols) for r in range(table.len)]


@given(st.data())
def test_swap_remove_fills_holes_with_tail_rows_in_order(data):
    cls = data.draw(ecs_st.component_schemas(), label="component")
    n = data.draw(st.integers(1, 40), label="n")
    world = World()
    world.spawn_batch({cls: data.draw(ecs_st.column_values(cls, n))}, n=n)
    table = world.archetypes.get_or_create([world.component_id(cls)])
    keys = ("entity", *schema_of(cls).column_keys())
    before = _table_rows(table, keys)
    rows = sorted(data.draw(st.sets(st.integers(0, n - 1)), label="rows"))
    movers, holes = table.swap_remove(np.asarray(rows, dtype=np.int64))
    # Model: the surviving tail rows, in order, fill the holes below the new length.
    new_n = n - len(rows)
    removed = set(rows)
    survivors = [r for r in range(new_n, n) if r not in removed]
    expected = list(before[:new_n])
    for hole, mover in zip([r for r in rows if r < new_n], survivors, strict=True):
        expected[hole] = before[mover]
    assert table.len == new_n
    assert values_equal(_table_rows(table, keys), expected)
    assert movers.tolist() == survivors
    assert holes.tolist() == [r for r in rows if r < new_n]


@st.composite
def _moves(draw, state):
    """A batch insert / remove / despawn over many entities of several archetypes."""
    live = list(state.reference.entities)
    ids = draw(st.lists(st.sampled_from(live), max_size=40)) if live else []
    kind = draw(st.sampled_from(["insert", "remove", "despawn"]))
    cls = draw(st.sampled_from(state.classes))
    if kind == "insert":
        values = draw(ecs_st.batch_values(cls, len(ids)))
        return f"insert_batch({cls.__name__})", lambda w: w.insert_batch(
            ids, cls, values
        )
    if kind == "remove":
        return f"remove_batch({cls.__name__})", lambda w: w.remove_batch(ids, cls)
    return "despawn_batch", lambda w: w.despawn_batch(ids)


@given(st.data())
def test_random_batches_of_moves_keep_every_entity_in_one_row(data):
    state = data.draw(ecs_st.world_states(max_steps=4, max_batch=30), label="world")
    for _ in range(data.draw(st.integers(1, 6), label="steps")):
        _, op = data.draw(_moves(state), label="move")
        apply_both(state.world, state.reference, op)
        assert_world_matches(state.world, state.reference, state.classes, arrow=False)
