from __future__ import annotations

import numpy as np
import pytest

from archetype_ecs import NULL_ENTITY, Entity
from archetype_ecs.entity import (
    MAX_GENERATION,
    NO_TABLE,
    EntityIndex,
    pack,
    pending_slot,
    split,
)

# Entity ids


def test_entity_from_parts_packs_index_low_and_generation_high():
    e = Entity.from_parts(42, 3)
    assert int(e) == (3 << 32) | 42
    assert (e.index, e.generation) == (42, 3)
    assert isinstance(e, int)


def test_entity_repr_and_label_show_index_v_generation():
    e = Entity.from_parts(42, 3)
    assert repr(e) == "Entity(42v3)"
    assert e.label() == "42v3"


def test_null_entity_is_zero_and_not_pending():
    assert NULL_ENTITY == 0
    assert not NULL_ENTITY.is_pending
    assert (NULL_ENTITY.index, NULL_ENTITY.generation) == (0, 0)


def test_generation_zero_nonzero_id_is_pending():
    p = Entity(7)
    assert p.is_pending
    assert repr(p) == "Entity(pending 7)"
    assert not Entity.from_parts(7, 1).is_pending


def test_pack_and_split_are_inverse_on_extreme_values():
    index = np.array([0, 1, 0xFFFF_FFFF, 12345], dtype=np.int64)
    gen = np.array([1, 0xFFFF_FFFF, 7, 0], dtype=np.uint32)
    ids = pack(index, gen)
    assert ids.dtype == np.uint64
    assert int(ids[1]) == (0xFFFF_FFFF << 32) | 1
    back_index, back_gen = split(ids)
    assert back_index.dtype == np.int64
    assert back_gen.dtype == np.uint32
    np.testing.assert_array_equal(back_index, index)
    np.testing.assert_array_equal(back_gen, gen)


def test_pack_agrees_with_entity_from_parts():
    ids = pack(np.array([5]), np.array([9]))
    assert int(ids[0]) == Entity.from_parts(5, 9)


def test_pending_slot_counts_from_one():
    np.testing.assert_array_equal(
        pending_slot(np.array([1, 2, 10], dtype=np.uint64)), [0, 1, 9]
    )


# EntityIndex


def _spawn(index: EntityIndex, n: int, table: int = 0) -> np.ndarray:
    ids = index.allocate(n)
    index.place(ids, table, np.arange(n), spawned=True)
    return ids


def test_allocate_hands_out_fresh_slots_with_generation_one():
    index = EntityIndex()
    ids = index.allocate(3)
    idx, gen = split(ids)
    np.testing.assert_array_equal(idx, [0, 1, 2])
    np.testing.assert_array_equal(gen, [1, 1, 1])
    assert index.size == 3


def test_allocated_ids_are_not_alive_until_placed():
    index = EntityIndex()
    ids = index.allocate(2)
    assert not index.is_alive_batch(ids).any()
    assert index.alive_count == 0
    index.place(ids, 4, np.array([10, 11]), spawned=True)
    assert index.is_alive_batch(ids).all()
    assert index.alive_count == 2


def test_place_records_table_and_row_and_moving_keeps_alive_count():
    index = EntityIndex()
    ids = _spawn(index, 2, table=1)
    index.place(ids[:1], 3, np.array([7]))
    tables, rows = index.locate_batch(ids)
    np.testing.assert_array_equal(tables, [3, 1])
    np.testing.assert_array_equal(rows, [7, 1])
    assert index.alive_count == 2


def test_release_bumps_generation_and_stale_id_is_never_alive():
    index = EntityIndex()
    ids = _spawn(index, 2)
    index.release(ids[:1])
    assert not index.is_alive(int(ids[0]))
    assert index.is_alive(int(ids[1]))
    assert int(index.generation[0]) == 2
    assert index.alive_count == 1
    (again,) = index.allocate(1)
    index.place(np.array([again]), 0, np.array([0]), spawned=True)
    assert Entity(int(again)).index == 0
    assert Entity(int(again)).generation == 2
    assert index.is_alive(int(again))
    assert not index.is_alive(int(ids[0]))  # stale id of the same slot
    assert not index.is_alive_batch(ids[:1])[0]


def test_free_list_is_lifo():
    index = EntityIndex()
    ids = _spawn(index, 5)
    index.release(ids[[1, 3]])
    index.release(ids[[4]])
    np.testing.assert_array_equal(index.free_list(), [1, 3, 4])
    idx, _ = split(index.allocate(2))
    np.testing.assert_array_equal(idx, [4, 3])  # most recently freed first
    np.testing.assert_array_equal(index.free_list(), [1])


def test_allocate_takes_recycled_slots_before_fresh_ones():
    index = EntityIndex()
    ids = _spawn(index, 3)
    index.release(ids[[0]])
    idx, gen = split(index.allocate(3))
    np.testing.assert_array_equal(idx, [0, 3, 4])
    np.testing.assert_array_equal(gen, [2, 1, 1])
    assert index.free_list().size == 0


def test_slot_at_max_generation_is_retired_not_recycled():
    index = EntityIndex()
    ids = _spawn(index, 2)
    index.generation[0] = MAX_GENERATION
    stale = pack(np.array([0]), np.array([MAX_GENERATION]))
    index.release(stale)
    assert int(index.generation[0]) == MAX_GENERATION  # never wraps to 0
    assert 0 not in index.free_list().tolist()
    assert not index.is_alive(int(stale[0]))
    idx, _ = split(index.allocate(1))
    assert idx.tolist() == [2]
    assert index.is_alive(int(ids[1]))


def test_growth_beyond_capacity_keeps_existing_slots():
    index = EntityIndex(capacity=4)
    first = _spawn(index, 3, table=2)
    index.release(first[[1]])
    more = index.allocate(2000)
    index.place(more, 5, np.arange(2000), spawned=True)
    assert len(index.generation) >= 2002
    assert index.is_alive(int(first[0]))
    assert index.is_alive(int(first[2]))
    assert not index.is_alive(int(first[1]))
    assert int(index.generation[1]) == 2
    tables, _ = index.locate_batch(first)
    np.testing.assert_array_equal(tables, [2, NO_TABLE, 2])
    assert index.alive_count == 2002


def test_free_list_grows_past_its_initial_capacity():
    index = EntityIndex(capacity=2)
    ids = _spawn(index, 10)
    index.release(ids)
    assert index.free_list().tolist() == list(range(10))
    assert index.alive_count == 0


def test_is_alive_batch_rejects_null_pending_stale_and_never_spawned():
    index = EntityIndex()
    live = _spawn(index, 2)
    index.release(live[[0]])
    probe = np.array(
        [
            0,  # null
            3,  # pending (generation 0)
            int(live[0]),  # stale
            int(live[1]),  # alive
            int(Entity.from_parts(500, 1)),  # never spawned
            int(Entity.from_parts(1, 9)),  # future generation
        ],
        dtype=np.uint64,
    )
    np.testing.assert_array_equal(
        index.is_alive_batch(probe), [False, False, False, True, False, False]
    )
    assert [index.is_alive(int(e)) for e in probe] == [
        False,
        False,
        False,
        True,
        False,
        False,
    ]


def test_locate_batch_gives_minus_one_for_dead_ids():
    index = EntityIndex()
    ids = index.allocate(3)
    index.place(ids, 6, np.array([0, 1, 2]), spawned=True)
    index.release(ids[[1]])
    tables, rows = index.locate_batch(np.concatenate([ids, [0]]).astype(np.uint64))
    np.testing.assert_array_equal(tables, [6, NO_TABLE, 6, NO_TABLE])
    assert rows[0] == 0
    assert rows[2] == 2


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda ids: 0, "null entity (id 0) is never alive"),
        (lambda ids: 2, "pending id from a CommandBuffer"),
        (lambda ids: int(Entity.from_parts(99, 1)), "99v1 was never spawned"),
        (lambda ids: int(ids[0]), "0v1 is stale (slot 0 now holds generation 2)"),
    ],
)
def test_describe_dead_explains_why(make, expected):
    index = EntityIndex()
    ids = _spawn(index, 2)
    index.release(ids[[0]])
    assert expected in index.describe_dead(make(ids))


def test_spawn_allocates_and_places_recycled_then_fresh_rows():
    index = EntityIndex()
    old = index.spawn(3, 1, 0)
    assert index.alive_count == 3
    index.release(old[[0, 2]])
    ids = index.spawn(3, 4, 10)
    idx, gen = split(ids)
    np.testing.assert_array_equal(idx, [2, 0, 3])
    np.testing.assert_array_equal(gen, [2, 2, 1])
    tables, rows = index.locate_batch(ids)
    np.testing.assert_array_equal(tables, [4, 4, 4])
    np.testing.assert_array_equal(rows, [10, 11, 12])
    assert index.alive_count == 4


def test_spawn_without_table_only_allocates():
    index = EntityIndex()
    ids = index.spawn(2, None, 0)
    assert not index.is_alive_batch(ids).any()
    assert index.alive_count == 0


def test_first_and_last_occurrences_mark_repeats():
    index = EntityIndex()
    a, b, c = index.spawn(3, 0, 0)
    ids = np.array([a, b, a, c, b, a], dtype=np.uint64)
    np.testing.assert_array_equal(
        index.first_occurrences(ids), [True, True, False, True, False, False]
    )
    np.testing.assert_array_equal(
        index.last_occurrences(ids), [False, False, False, True, True, True]
    )


def test_occurrence_masks_are_none_for_unique_ids():
    index = EntityIndex()
    ids = index.spawn(3, 0, 0)
    assert index.first_occurrences(ids) is None
    assert index.last_occurrences(ids) is None
    assert index.last_occurrences(ids[:1]) is None
    # repeated calls do not see each other's stamps
    twice = np.concatenate([ids, ids[:1]])
    assert index.first_occurrences(twice).tolist() == [True, True, True, False]
    assert index.first_occurrences(ids) is None
