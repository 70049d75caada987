"""Differential tests: every core Numba kernel equals its NumPy reference twin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from archetype_ecs._kernels import (
    INDEX_BAD_FREE,
    INDEX_DUPLICATE_ID,
    INDEX_OK,
    INDEX_UNACCOUNTED,
    check_saved_index,
    check_saved_index_reference,
    group_by_kernel,
    group_by_reference,
    mark_first_kernel,
    mark_first_reference,
    mark_last_kernel,
    mark_last_reference,
    remap_ids_kernel,
    remap_ids_reference,
)

slots = arrays(np.int64, st.integers(0, 200), elements=st.integers(0, 49))


@pytest.mark.hypothesis
@given(slots, st.integers(1, 1000))
def test_mark_last_equals_reference(s: np.ndarray, epoch: int) -> None:
    stamp = np.zeros(50, dtype=np.int64)
    stamp[::2] = epoch - 1  # stale stamps from an earlier call must not matter
    np.testing.assert_array_equal(
        mark_last_kernel(s, stamp, epoch), mark_last_reference(s)
    )


@pytest.mark.hypothesis
@given(slots, st.integers(1, 1000))
def test_mark_first_equals_reference(s: np.ndarray, epoch: int) -> None:
    stamp = np.zeros(50, dtype=np.int64)
    np.testing.assert_array_equal(
        mark_first_kernel(s, stamp, epoch), mark_first_reference(s)
    )


@pytest.mark.hypothesis
@given(arrays(np.int32, st.integers(0, 200), elements=st.integers(0, 9)))
def test_group_by_equals_reference(keys: np.ndarray) -> None:
    order, offsets = group_by_kernel(keys, 10)
    ref_order, ref_offsets = group_by_reference(keys, 10)
    np.testing.assert_array_equal(order, ref_order)
    np.testing.assert_array_equal(offsets, ref_offsets)


@st.composite
def saved_indexes(draw):
    """An entity index as a save holds it, valid or broken in one of many ways."""
    size = draw(st.integers(0, 30))
    generation = np.array(
        draw(
            st.lists(
                st.sampled_from([0, 1, 2, 7, 0xFFFF_FFFF]), min_size=size, max_size=size
            )
        ),
        dtype=np.uint32,
    )
    state = draw(st.lists(st.sampled_from("lfn"), min_size=size, max_size=size))
    live = [s for s in range(size) if state[s] == "l"]
    free = [s for s in range(size) if state[s] == "f"]
    ids = [(int(generation[s]) << 32) | s for s in live]
    # corruptions: repeated / stale / out-of-range ids, bad free entries
    extra = draw(st.lists(st.integers(0, 40), max_size=3))
    ids += [(int(draw(st.sampled_from([1, 2, 0xFFFF_FFFF]))) << 32) | e for e in extra]
    if ids and draw(st.booleans()):
        ids.append(draw(st.sampled_from(ids)))
    free += draw(st.lists(st.integers(-2, 40), max_size=2))
    ids = draw(st.permutations(ids))
    return (
        np.array(ids, dtype=np.uint64),
        generation,
        np.array(draw(st.permutations(free)), dtype=np.int64),
    )


def _check(ids, generation, free, cut=None):
    runs = [ids] if cut is None else [ids[:cut], ids[cut:]]
    return check_saved_index(runs, generation, free)


@pytest.mark.hypothesis
@given(saved_indexes(), st.data())
def test_check_saved_index_equals_reference(index, data) -> None:
    ids, generation, free = index
    cut = data.draw(st.none() | st.integers(0, len(ids)))  # one table or two
    code, table, row, gen = _check(ids, generation, free, cut)
    assert code == check_saved_index_reference(ids, generation, free)
    if code != INDEX_OK:
        return
    # the index arrays place run k at table k, rows 0.. in order; generations copied
    np.testing.assert_array_equal(gen, generation)
    slots = (ids & np.uint64(0xFFFF_FFFF)).astype(np.int64)
    first = len(ids) if cut is None else cut
    np.testing.assert_array_equal(
        table[slots], np.repeat([0, 1], [first, len(ids) - first])
    )
    np.testing.assert_array_equal(
        row[slots], np.r_[np.arange(first), np.arange(len(ids) - first)]
    )
    live = np.zeros(len(generation), dtype=bool)
    live[slots] = True
    assert (table[~live] == -1).all()


def test_check_saved_index_accepts_a_consistent_index() -> None:
    generation = np.array([1, 3, 0xFFFF_FFFF, 2], dtype=np.uint32)
    ids = np.array([(3 << 32) | 1, (1 << 32) | 0], dtype=np.uint64)
    free = np.array([3], dtype=np.int64)
    code, table, row, gen = check_saved_index([ids], generation, free, [(5, 10)])
    assert code == INDEX_OK
    assert table.tolist() == [5, 5, -1, -1]
    assert row[:2].tolist() == [11, 10]
    assert gen.tolist() == generation.tolist()
    assert _check(ids[:1], generation, free)[0] == INDEX_UNACCOUNTED
    assert _check(ids[[0, 0]], generation, free)[0] == INDEX_DUPLICATE_ID
    assert _check(ids, generation, np.array([3, 3]))[0] == INDEX_BAD_FREE


@pytest.mark.hypothesis
@given(
    st.lists(st.integers(0, 60), unique=True, max_size=40),
    st.lists(st.integers(0, 80), max_size=60),
    st.integers(1, 3),
)
def test_remap_ids_equals_reference(slots, probe, gen) -> None:
    old = np.array([(gen << 32) | s for s in slots], dtype=np.uint64)
    new = np.arange(1000, 1000 + len(old), dtype=np.uint64)
    # probes: known ids, wrong generations, unknown slots, null
    ids = np.array(
        [((gen if p % 3 else gen + 1) << 32) | p for p in probe] + [0], dtype=np.uint64
    )
    got, dangling = remap_ids_kernel(ids, old, new)
    want, want_dangling = remap_ids_reference(ids, old, new)
    np.testing.assert_array_equal(got, want)
    assert dangling == want_dangling
