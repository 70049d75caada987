"""Entity id allocation: LIFO recycling, generations and retirement match the model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archetype_ecs import World
from archetype_ecs.testing import ReferenceWorld, assert_entity_index_matches
from archetype_ecs.testing.reference import MAX_GENERATION

pytestmark = pytest.mark.hypothesis


def _age_free_slots(world: World, ref: ReferenceWorld, data) -> None:
    """Move some free slots forward to (or near) the last generation, in both."""
    for slot in data.draw(
        st.lists(st.sampled_from(ref.free), unique=True), label="age"
    ):
        # only forwards: an old generation would bring a stale id back to life
        low = max(ref.generations[slot], MAX_GENERATION - 2)
        gen = data.draw(st.integers(low, MAX_GENERATION), label="generation")
        world.entities.generation[slot] = gen
        ref.generations[slot] = gen


@given(st.data())
def test_spawn_and_despawn_sequences_allocate_ids_like_the_model(data):
    world, ref = World(), ReferenceWorld()
    for _ in range(data.draw(st.integers(1, 12), label="steps")):
        if ref.free and data.draw(st.booleans(), label="age slots?"):
            _age_free_slots(world, ref, data)
        live = list(ref.entities)
        if live and data.draw(st.booleans(), label="despawn?"):
            ids = data.draw(
                st.lists(st.sampled_from(live), min_size=1), label="despawn"
            )
            world.despawn_batch(np.asarray(ids, dtype=np.uint64))
            ref.despawn_batch(ids)
        else:
            n = data.draw(st.integers(0, 6), label="spawn")
            got = world.spawn_batch({}, n=n)
            assert got.tolist() == ref.spawn_batch({}, n=n).tolist()
        assert_entity_index_matches(world, ref)


def test_slot_at_last_generation_is_retired_not_reused():
    world, ref = World(), ReferenceWorld()
    for w in (world, ref):
        w.despawn(w.spawn())
    world.entities.generation[0] = ref.generations[0] = MAX_GENERATION
    last = world.spawn()
    assert last == ref.spawn()
    assert last.generation == MAX_GENERATION
    world.despawn(last)
    ref.despawn(last)
    fresh = world.spawn()
    assert fresh == ref.spawn()
    assert fresh.index == 1
    assert not world.is_alive(last)
    assert_entity_index_matches(world, ref)
