"""Regressions found by the hierarchy state machine (H1, H2, H3 in the session bugs)."""

from __future__ import annotations

import numpy as np
import pytest

from archetype_ecs import CommandBuffer, World
from archetype_ecs.errors import EcsError
from archetype_ecs.hierarchy import ChildOf, HierarchyCycleError, set_parent


def test_buffered_despawn_of_parent_then_child_reports_the_child_dead() -> None:
    w = World(threads=1)
    a = w.spawn()
    c = w.spawn(ChildOf(a))
    cmd = CommandBuffer()
    cmd.despawn(a)
    cmd.despawn(c)  # already removed by a's cascade when its turn comes
    report = w.apply(cmd)
    assert report.applied == 1
    assert report.dead.tolist() == [c]
    assert len(w) == 0


def test_pending_entities_parented_to_each_other_are_refused() -> None:
    w = World(threads=1)
    cmd = CommandBuffer()
    p, q = cmd.spawn(), cmd.spawn()
    with pytest.raises(HierarchyCycleError):
        set_parent(cmd, [p, q], [q, p], world=w)


def test_moving_a_child_to_a_pending_parent_is_not_a_false_cycle() -> None:
    w = World(threads=1)
    root = w.spawn()
    child = w.spawn(ChildOf(root))
    cmd = CommandBuffer()
    newp = cmd.spawn()
    set_parent(cmd, [child, root], [newp, child], world=w)  # root under child is fine
    w.apply(cmd)
    assert len(w) == 3


def test_diff_refuses_a_snapshot_of_another_world() -> None:
    a, b = World(threads=1), World(threads=1)
    a.spawn_batch({ChildOf: None}, n=2)
    snap = a.snapshot()
    with pytest.raises(EcsError, match="another world"):
        b.diff(snap)
    assert np.array_equal(a.diff(snap).added.column("entity").to_numpy(), [])
