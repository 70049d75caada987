"""Differential tests: every core Numba kernel equals its NumPy reference twin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from archetype_ecs._kernels import (
    group_by_kernel,
    group_by_reference,
    mark_first_kernel,
    mark_first_reference,
    mark_last_kernel,
    mark_last_reference,
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
