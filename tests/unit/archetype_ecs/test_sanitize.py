"""The invariant checker accepts healthy worlds and names each kind of corruption."""

from __future__ import annotations

import numpy as np
import pytest

from archetype_ecs import CommandBuffer, World, component, f32
from archetype_ecs._sanitize import check_world
from archetype_ecs.errors import InternalError


@component
class SanPos:
    x: f32 = 0.0


@component
class SanTag:
    pass


def _world() -> tuple[World, np.ndarray]:
    w = World()
    ids = w.spawn_batch({SanPos: {"x": np.arange(20.0)}})
    w.insert_batch(ids[::3], SanTag)
    cmd = CommandBuffer()
    cmd.despawn_batch(ids[1::4])
    cmd.spawn_batch({SanPos: None}, n=3)
    w.apply(cmd)
    return w, ids


def test_healthy_world_passes() -> None:
    w, _ = _world()
    check_world(w)


def test_index_row_disagreeing_with_table_is_reported() -> None:
    w, _ = _world()
    slot = int(w.query(SanPos).entities()[0]) & 0xFFFF_FFFF
    w.entities.row[slot] += 1
    with pytest.raises(InternalError, match="entity index says"):
        check_world(w)


def test_live_count_drift_is_reported() -> None:
    w, _ = _world()
    w.entities.alive_count += 1
    with pytest.raises(InternalError, match="live count mismatch"):
        check_world(w)


def test_live_slot_on_free_list_is_reported() -> None:
    w, _ = _world()
    free = w.entities.free_list()
    assert len(free)
    w.entities.table[free[0]] = 1
    with pytest.raises(InternalError):
        check_world(w)


def test_sanitize_mode_checks_after_every_structural_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARCHETYPE_ECS_SANITIZE", "1")
    w = World()
    ids = w.spawn_batch({SanPos: None}, n=4)
    w.entities.alive_count += 5  # corrupt, then any structural call must notice
    with pytest.raises(InternalError, match="please report"):
        w.despawn(ids[0])
