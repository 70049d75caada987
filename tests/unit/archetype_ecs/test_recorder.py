"""Recorder: in-memory and Parquet time series equal snapshots taken by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from archetype_ecs import CommandBuffer, Time, World, component, f32, i32, system
from archetype_ecs.recorder import FRAME_COLUMN, PARTITION_COLUMN, Recorder


@component
class Position:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Velocity:
    dx: f32 = 1.0
    dy: f32 = 0.5


@component
class Health:
    hp: i32 = 10


@component
class Frozen:
    pass


@system(phase="update", writes=[Position], exclusive=True)
def _move(world: World) -> None:
    for _, pos, vel in world.query(Position, Velocity):
        pos.x += vel.dx
        pos.y += vel.dy


@system(phase="update", after=["_move"], exclusive=True)
def _churn(world: World) -> None:
    """Structural changes every frame: spawn two, despawn the oldest, tag one."""
    frame = world.resource(Time).frame
    cmd = CommandBuffer("churn")
    cmd.spawn_batch({Position: {"x": [frame, -frame]}, Velocity: None})
    ents = world.query(Position).entities()
    cmd.despawn(int(ents.min()))
    if frame % 3 == 0:
        cmd.insert(int(ents.max()), Frozen)
    world.apply(cmd)


def _world() -> World:
    w = World(threads=1)
    w.spawn_batch({Position: {"x": np.arange(5.0)}, Velocity: None})
    w.spawn_batch({Position: {"x": [100.0, 200.0]}, Health: None})
    w.add_system(_move, _churn)
    return w


def _by_hand(world: World, frame: int) -> dict[tuple[int, int], tuple[float, float]]:
    """The reference: one Python loop over the rows a recorder should copy."""
    out = {}
    for ents, pos in world.query(Position):
        for i, e in enumerate(ents.tolist()):
            out[(frame, e)] = (float(pos.x[i]), float(pos.y[i]))
    return out


def _as_dict(table: pa.Table) -> dict[tuple[int, int], tuple[float, float]]:
    rows = table.to_pylist()
    out = {(r["frame"], r["entity"]): (r["Position.x"], r["Position.y"]) for r in rows}
    assert len(out) == len(rows), "a (frame, entity) pair was recorded twice"
    return out


def _run(world: World, rec: Recorder, frames: int, every: int = 1) -> dict[Any, Any]:
    want: dict[Any, Any] = {}
    for _ in range(frames):
        world.step()
        rec.on_frame_end(world)
        frame = world.resource(Time).frame
        if frame % every == 0:
            want.update(_by_hand(world, frame))
    return want


def test_memory_series_equals_snapshots_taken_by_hand():
    w = _world()
    rec = Recorder(w, [Position], every=2, attach=False)
    want = _run(w, rec, 9, every=2)
    table = rec.to_arrow()
    assert table.column_names == ["frame", "entity", "Position.x", "Position.y"]
    assert _as_dict(table) == want
    assert rec.frames() == [2, 4, 6, 8]
    assert table[FRAME_COLUMN].to_pylist() == sorted(table[FRAME_COLUMN].to_pylist())


def test_recorded_frames_are_copies_unaffected_by_later_changes():
    w = _world()
    rec = Recorder(w, [Position], attach=False)
    w.step()
    rec.on_frame_end(w)
    before = rec.to_arrow()
    saved = before["Position.x"].to_pylist()
    for _, pos in w.query(Position):
        pos.x[:] = -1.0
    w.spawn_batch({Position: None}, n=1000)  # grows tables: buffers move
    assert rec.to_arrow()["Position.x"].to_pylist() == saved


def test_ring_buffer_keeps_the_last_frames_and_bounded_memory():
    w = World(threads=1)
    w.spawn_batch({Position: None, Velocity: None}, n=1000)
    w.add_system(_move)
    rec = Recorder(w, [Position, Velocity], max_frames=3, attach=False)
    per_frame = []
    for _ in range(20):
        w.step()
        rec.on_frame_end(w)
        per_frame.append(rec.nbytes)
    assert rec.frames() == [18, 19, 20]
    assert len(rec) == 3000
    one = per_frame[0]
    assert max(per_frame) <= 3 * one
    assert rec.nbytes == 3 * one
    assert set(rec.to_arrow()[FRAME_COLUMN].to_pylist()) == {18, 19, 20}


def test_parquet_dataset_equals_snapshots_and_is_partitioned_by_bucket(tmp_path):
    w = _world()
    out = tmp_path / "run"
    rec = Recorder(w, [Position], path=out, bucket_frames=4, attach=False)
    assert not rec.memory  # a path alone keeps memory bounded
    want = _run(w, rec, 10)
    rec.close()
    buckets = sorted(p.name for p in out.iterdir())
    assert buckets == [
        f"{PARTITION_COLUMN}=0",
        f"{PARTITION_COLUMN}=1",
        f"{PARTITION_COLUMN}=2",
    ]
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert _as_dict(table) == want
    frames = table[FRAME_COLUMN].to_numpy()
    np.testing.assert_array_equal(table[PARTITION_COLUMN].to_numpy(), frames // 4)
    assert _as_dict(rec.to_arrow()) == want


def test_parquet_and_memory_together_hold_the_same_rows(tmp_path):
    w = _world()
    rec = Recorder(w, [Position], path=tmp_path / "r", memory=True, attach=False)
    _run(w, rec, 5)
    rec.flush()
    on_disk = rec.dataset().to_table().drop_columns([PARTITION_COLUMN])
    assert _as_dict(on_disk) == _as_dict(rec.to_arrow())


def test_flush_rows_splits_a_bucket_into_part_files(tmp_path):
    w = _world()
    rec = Recorder(w, [Position], path=tmp_path / "r", flush_rows=10, attach=False)
    want = _run(w, rec, 6)
    rec.close()
    parts = sorted((tmp_path / "r").rglob("*.parquet"))
    assert len(parts) >= 3
    assert not list((tmp_path / "r").rglob("*.tmp"))
    assert _as_dict(rec.to_arrow()) == want


def test_rolled_back_frames_are_written_to_new_files(tmp_path):
    w = _world()
    rec = Recorder(w, [Position], path=tmp_path / "r", attach=False)
    snap = w.snapshot()
    _run(w, rec, 2)
    rec.flush()
    w.restore(snap)  # Time goes back: frames 1 and 2 again
    _run(w, rec, 2)
    rec.close()
    assert len(list((tmp_path / "r").rglob("*.parquet"))) == 2
    assert rec.to_arrow()[FRAME_COLUMN].to_pylist().count(1) > 0
    assert rec.frames() == [1, 2, 1, 2]


def test_existing_dataset_is_not_overwritten(tmp_path):
    w = _world()
    with Recorder(w, [Position], path=tmp_path / "r", attach=False) as rec:
        rec.record()
    with pytest.raises(FileExistsError, match="new folder"):
        Recorder(w, [Position], path=tmp_path / "r", attach=False)


def test_query_rows_with_without_and_optional_are_recorded():
    w = _world()
    q = w.query(Position, without=[Frozen], optional=[Health])
    rec = Recorder(w, q, attach=False)
    _run(w, rec, 4)
    table = rec.to_arrow()
    assert table.column_names == [
        "frame",
        "entity",
        "Position.x",
        "Position.y",
        "Health.hp",
    ]
    last = table.filter(pc.field("frame") == 4)
    assert last.num_rows == q.count()
    assert sorted(last["entity"].to_pylist()) == sorted(q.entities().tolist())
    assert last["Health.hp"].null_count == last.num_rows - 2


def test_where_filters_before_copying():
    w = _world()
    rec = Recorder(w, [Position], where=pc.field("Position.x") >= 100, attach=False)
    _run(w, rec, 3)
    assert min(rec.to_arrow()["Position.x"].to_pylist()) >= 100


def test_on_frame_end_records_multiples_of_every_once():
    w = World(threads=1)
    w.spawn_batch({Position: None}, n=3)
    rec = Recorder(w, [Position], every=3, attach=False)
    for _ in range(7):
        w.step()
        rec.on_frame_end(w)
        rec.on_frame_end(w)  # a second hook in the same frame records nothing
    assert rec.frames() == [3, 6]
    assert len(rec) == 6


def test_a_post_update_system_can_drive_the_recorder():
    w = _world()
    rec = Recorder(w, [Position], attach=False)

    @system(phase="post_update", exclusive=True, name="record")
    def record(world: World) -> None:
        rec.on_frame_end(world)

    w.add_system(record)
    w.run(3)
    assert rec.frames() == [1, 2, 3]
    assert rec.to_arrow().num_rows > 0


def test_recorder_attaches_to_world_recorders_when_the_world_has_them():
    w = _world()
    w.recorders = []  # what the World wiring provides
    rec = Recorder(w, [Position])
    assert w.recorders == [rec]
    rec.close()
    assert w.recorders == []
    assert Recorder(w, [Position], attach=False) not in w.recorders


def test_closed_recorder_ignores_frames_and_refuses_record():
    w = _world()
    rec = Recorder(w, [Position], attach=False)
    rec.close()
    w.step()
    rec.on_frame_end(w)
    assert rec.frames() == []
    with pytest.raises(RuntimeError, match="closed"):
        rec.record()
    rec.close()  # idempotent


def test_empty_frames_keep_their_number(tmp_path):
    w = World(threads=1)
    rec = Recorder(w, [Position], path=tmp_path / "r", memory=True, attach=False)
    w.step()
    rec.on_frame_end(w)
    rec.close()
    assert rec.frames() == [1]
    assert rec.to_arrow().num_rows == 0
    assert rec.dataset().to_table().num_rows == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"components": []}, "name the components"),
        ({"every": 0}, "every=0"),
        ({"max_frames": -1}, "max_frames=-1"),
        ({"bucket_frames": 1.5}, "bucket_frames"),
        ({"memory": False}, "would keep nothing"),
    ],
)
def test_bad_arguments_are_refused_with_a_hint(kwargs, match):
    w = _world()
    args: dict[str, Any] = {"components": [Position], "attach": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        Recorder(w, **args)


def test_queries_of_other_worlds_or_with_change_filters_are_refused():
    w, other = _world(), World()
    with pytest.raises(ValueError, match="another world"):
        Recorder(w, other.query(Position), attach=False)
    with pytest.raises(ValueError, match="filters"):
        Recorder(w, w.query(Position, changed=[Position]), attach=False)
    rec = Recorder(w, [Position], attach=False)
    with pytest.raises(ValueError, match="another world"):
        rec.on_frame_end(other)


def test_dataset_without_path_is_an_error():
    w = _world()
    with pytest.raises(ValueError, match="no path"):
        Recorder(w, [Position], attach=False).dataset()


def test_repr_and_html_summarize_the_recording(tmp_path: Path):
    w = _world()
    rec = Recorder(w, [Position], max_frames=2, attach=False)
    _run(w, rec, 3)
    assert "frames=3" in repr(rec)
    assert "max_frames=2" in repr(rec)
    html = rec._repr_html_()
    assert "frames 2 to 3" in html
    assert "last 2 kept" in html
    assert "Position.x" in html
