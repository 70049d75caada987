"""Command log: recording, the Arrow layout, save / load, replay and divergence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from archetype_ecs import (
    CommandBuffer,
    EntityRef,
    Rng,
    SystemContext,
    Time,
    World,
    component,
    f32,
    i32,
    njit,
    on_add,
    system,
)
from archetype_ecs.command_log import (
    SNAPSHOT_PHASE,
    CommandLog,
    ReplayDivergenceError,
    replay,
)
from archetype_ecs.commands import Op
from archetype_ecs.errors import EcsError, SchemaError, SerializationError
from archetype_ecs.schema import bool_


@component
class Pos:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Vel:
    dx: f32 = 0.0
    dy: f32 = 0.0


@component
class Energy:
    value: i32 = 10
    hungry: bool_ = False


@component
class Heading:
    v: f32[3]


@component
class Target:
    e: EntityRef


@component
class Tagged:
    pass


@component
class Body:
    mass: f32 = 1.0
    dims: f32[3] = (1.0, 1.0, 1.0)


@component
class Marker:
    pass


# ---------------------------------------------------------------- a demo-like run
# Every per-frame change goes through commands, driven by the world's Rng.


@system(reads=[Pos, Vel], commands=True, phase="update")
def move(ctx: SystemContext) -> None:
    """Positions advance through two partial sets (x, then y)."""
    dt = ctx.time.dt
    for ents, pos, vel in ctx.query(Pos, Vel):
        ctx.commands.set_batch(ents, Pos, {"x": pos.x + vel.dx * dt})
        ctx.commands.set_batch(ents, Pos, {"y": pos.y + vel.dy * dt})


@system(reads=[Energy], resources=[Rng], commands=True, phase="update")
def metabolism(ctx: SystemContext) -> None:
    """Energy drops; starved or unlucky entities despawn."""
    rng = ctx.resource(Rng)
    frame = ctx.time.frame
    for ents, energy in ctx.query(Energy):
        value = energy.value - 1
        ctx.commands.set_batch(ents, Energy, {"value": value, "hungry": value < 4})
        unlucky = rng.bernoulli(0.04, "die", ents, tick=frame)
        ctx.commands.despawn_batch(ents[(value <= 0) | unlucky])


@system(reads=[Vel, Tagged, Heading], resources=[Rng], commands=True)
def retag(ctx: SystemContext) -> None:
    """Insert / remove a tag and a vector component at random."""
    rng = ctx.resource(Rng)
    frame = ctx.time.frame
    for ents, _ in ctx.query(Vel, without=[Tagged]):
        ctx.commands.insert_batch(ents[rng.bernoulli(0.1, "tag", ents, frame)], Tagged)
    for ents, _, _ in ctx.query(Vel, Tagged):
        ctx.commands.remove_batch(
            ents[rng.bernoulli(0.2, "untag", ents, frame)], Tagged
        )
    for ents, _ in ctx.query(Vel, without=[Heading]):
        pick = ents[rng.bernoulli(0.1, "head", ents, frame)]
        v = rng.normal("hv", np.repeat(pick, 3).reshape(-1, 3), frame)
        ctx.commands.insert_batch(pick, Heading, {"v": v.astype(np.float32)})
    for ents, _, _ in ctx.query(Vel, Heading):
        ctx.commands.remove_batch(
            ents[rng.bernoulli(0.1, "unhead", ents, frame)], Heading
        )


@system(resources=[Rng], commands=True, phase="post_update")
def births(ctx: SystemContext) -> None:
    """A few newcomers, one of them followed by a pending-id reference."""
    rng = ctx.resource(Rng)
    frame = ctx.time.frame
    n = int(rng.integers(1, 6, "births", [1], frame)[0])
    keys = np.arange(n, dtype=np.uint64) + np.uint64(1)
    cmd = ctx.commands
    cmd.spawn_batch(_agents(rng, keys, frame))
    leader = cmd.spawn(Pos(1.0, 2.0), Vel(0.5, 0.5), Energy(3))
    cmd.spawn(Pos(), Target(leader))


def _agents(rng: Rng, keys: np.ndarray[Any, Any], tick: int) -> dict[type, Any]:
    f = np.float32
    return {
        Pos: {
            "x": rng.uniform("x", keys, tick).astype(f),
            "y": rng.uniform("y", keys, tick).astype(f),
        },
        Vel: {
            "dx": rng.normal("dx", keys, tick).astype(f),
            "dy": rng.normal("dy", keys, tick).astype(f),
        },
        Energy: {"value": rng.integers(3, 20, "energy", keys, tick).astype(np.int32)},
    }


def _mark_tagged(trigger: Any) -> None:
    # Not idempotent: replay must not fire it again (its commands are logged).
    trigger.commands.spawn_batch({Marker: None, Target: {"e": trigger.entities}})


def build(seed: int = 3) -> World:
    """The start state: 60 agents, systems and an observer (same seed, same world)."""
    world = World(seed=seed, threads=1)
    rng = world.resource(Rng)
    world.spawn_batch(_agents(rng, np.arange(1, 61, dtype=np.uint64), 0))
    world.add_system(move, metabolism, retag, births)
    world.observe(on_add, Tagged, _mark_tagged)
    return world


def state(world: World) -> dict[str, Any]:
    """Every table's batch, the entity index, the free list, and the frame."""
    index = world.entities
    size = index.size
    return {
        "frame": world.resource(Time).frame,
        "len": len(world),
        # Names sorted: component ids (hence column order) depend on registration.
        "tables": [
            (t.id, tuple(sorted(t.names)), t.batch().to_pydict()) for t in world.tables
        ],
        "generation": index.generation[:size].tolist(),
        "table": index.table[:size].tolist(),
        "row": index.row[:size].tolist(),
        "free": index.free_list().tolist(),
        "alive": index.alive_count,
    }


def setup(world: World) -> None:
    """Commands applied outside any frame, at the attach frame (frame 0)."""
    cmd = CommandBuffer("setup")
    cmd.insert_batch(
        world.query(Pos).to_arrow().column("entity").to_numpy()[:5], Tagged
    )
    world.apply(cmd)


def record_run(
    frames: int, checkpoints: tuple[int, ...], **kw: Any
) -> tuple[CommandLog, dict[int, Any]]:
    world = build()
    log = CommandLog.attach(world, **kw)
    cmd = CommandBuffer("setup")  # applied outside any frame, at the attach frame
    cmd.insert_batch(
        world.query(Pos).to_arrow().column("entity").to_numpy()[:5], Tagged
    )
    world.apply(cmd)
    seen = {}
    for _ in range(frames):
        world.step()
        frame = world.resource(Time).frame
        if frame in checkpoints:
            seen[frame] = state(world)
    return log, seen


@pytest.fixture(scope="module")
def run() -> tuple[CommandLog, dict[int, Any]]:
    """A 12-frame run recorded from ``build()``, with states at frames 3, 7, 12."""
    return record_run(12, (3, 7, 12))


# ----------------------------------------------------------------------- replay


def test_replay_reproduces_the_run_at_every_checkpoint(
    run: tuple[CommandLog, dict[int, Any]],
) -> None:
    log, seen = run
    target = build()
    assert state(target) != seen[3]
    for frame in (3, 7, 12):  # each call continues from the world's frame
        report = replay(target, log, until_frame=frame)
        assert report.to_frame == frame
        assert state(target) == seen[frame]
    assert report.next_seq is None


def test_replay_straight_to_a_middle_frame(
    run: tuple[CommandLog, dict[int, Any]],
) -> None:
    log, seen = run
    target = build()
    report = replay(target, log, until_frame=7)
    assert state(target) == seen[7]
    assert report.from_frame == 0
    assert report.next_seq == min(r.seq for r in log._records if r.frame == 8)


def test_the_run_used_every_op_and_observers(
    run: tuple[CommandLog, dict[int, Any]],
) -> None:
    log, _ = run
    recs = log.records()
    assert set(recs.column("op").to_pylist()) == {
        "spawn",
        "despawn",
        "insert",
        "remove",
        "set",
    }
    sources = set(recs.column("source").to_pylist())
    assert {"setup", "observers", "move", "metabolism", "retag", "births"} <= sources
    assert recs.column("frame").to_pylist()[0] == 0  # the setup buffer
    assert log.start_frame == 0
    assert log.end_frame == 12


def test_observers_fire_but_their_commands_apply_once() -> None:
    # The start world's observer spawns a Marker per tagged entity (not idempotent);
    # replay fires it again (caches observers keep stay right) and drops its
    # commands, which the log holds as records of source "observers".
    calls: dict[str, int] = {}

    def counting(name: str) -> World:
        world = build()
        world.observe(
            on_add, Tagged, lambda t: calls.update({name: calls.get(name, 0) + 1})
        )
        return world

    world = counting("run")
    log = CommandLog.attach(world)
    setup(world)
    world.run(6)
    target = counting("replay")
    replay(target, log)
    assert state(target) == state(world)
    assert calls["replay"] == calls["run"] > 0
    assert target._observer_cmds is None


def test_spawn_with_other_ids_is_a_divergence_naming_the_seq(
    run: tuple[CommandLog, dict[int, Any]],
) -> None:
    log, _ = run
    target = build()
    target.despawn(target.query(Pos).to_arrow().column("entity")[10].as_py())
    first_spawn = next(r for r in log._records if r.op is Op.SPAWN)
    before_spawn = [r for r in log._records if r.seq < first_spawn.seq]
    with pytest.raises(ReplayDivergenceError, match=rf"seq {first_spawn.seq} ") as info:
        replay(target, log)
    assert "spawn" in str(info.value)
    assert "free list" in str(info.value)
    # The world holds the state up to the record before.
    assert all(r.frame <= first_spawn.frame for r in before_spawn)


def test_command_on_a_dead_entity_is_a_divergence() -> None:
    world = World()
    ids = world.spawn_batch({Pos: None}, n=3)
    log = CommandLog.attach(world)
    cmd = CommandBuffer("killer")
    cmd.despawn_batch(ids[:2])
    world.apply(cmd)
    target = World()
    target.spawn_batch({Pos: None}, n=3)
    target.despawn(ids[1])
    with pytest.raises(
        ReplayDivergenceError,
        match=r"seq 0 .*killer.*1 of 2 entities are not alive \(1v1",
    ):
        replay(target, log)
    assert target.is_alive(ids[0])  # checked before the record changed anything


def _set_frame(world: World, frame: int) -> None:
    world.resource(Time).frame = frame


def test_replay_refuses_frames_outside_the_log(
    run: tuple[CommandLog, dict[int, Any]],
) -> None:
    log, _ = run
    target = build()
    with pytest.raises(ValueError, match="log ends at frame 12"):
        replay(target, log, until_frame=13)
    _set_frame(target, 5)
    with pytest.raises(ValueError, match="world is at frame 5"):
        replay(target, log, until_frame=4)


def test_replay_refuses_a_world_before_the_logs_start() -> None:
    world = build()
    world.run(2)
    log = CommandLog.attach(world)
    world.run(2)
    with pytest.raises(SerializationError, match="starts at frame 2"):
        replay(build(), log)


def test_replay_from_a_state_saved_later_in_the_run(
    run: tuple[CommandLog, dict[int, Any]],
) -> None:
    log, seen = run
    later = build()  # the same run, without a log, up to frame 3
    setup(later)
    later.run(3)
    assert state(later) == seen[3]
    replay(later, log)
    assert state(later) == seen[12]


# ---------------------------------------------------------------- what is logged


def test_records_are_columnar_and_skip_runs_that_did_nothing() -> None:
    world = World()
    log = CommandLog.attach(world)
    ids = world.spawn_batch({Pos: None}, n=3)  # direct call: not a command
    cmd = CommandBuffer("b")
    cmd.set_batch(ids, Vel, {"dx": [1.0, 2.0, 3.0]})  # they lack Vel: skipped
    cmd.despawn_batch(ids[:1])
    cmd.set_batch(ids, Pos, {"x": np.array([4.0, 5.0, 6.0])})  # ids[0] is dead
    world.apply(cmd)
    recs = log.records().to_pylist()
    assert [(r["op"], r["length"], r["fields"]) for r in recs] == [
        ("despawn", 1, []),
        ("set", 2, ["Pos.x"]),
    ]
    assert log.values(Pos).to_pydict() == {
        "seq": [1, 1],
        "row": [0, 1],
        "entity": ids[1:].tolist(),
        "x": [5.0, 6.0],
        "y": [None, None],  # a partial set did not write y
    }


def test_recorded_values_do_not_alias_the_callers_arrays() -> None:
    world = World()
    log = CommandLog.attach(world)
    ids = world.spawn_batch({Pos: None}, n=2)
    xs = np.array([1.0, 2.0], dtype=np.float32)
    cmd = CommandBuffer()
    cmd.set_batch(ids, Pos, {"x": xs})
    world.apply(cmd)
    xs[:] = 99.0
    ids[:] = 0
    assert log.values(Pos).column("x").to_pylist() == [1.0, 2.0]
    assert log.values(Pos).column("entity").to_pylist() != [0, 0]


def test_long_table_joins_the_value_tables_on_seq_and_row(
    run: tuple[CommandLog, dict[int, Any]],
) -> None:
    log, _ = run
    long = log.to_arrow()
    assert long.column_names == [
        "seq",
        "frame",
        "source",
        "op",
        "row",
        "entity",
        "component",
    ]
    assert long.schema.field("entity").metadata == {b"arrow_ecs.type": b"entity"}
    # One row per (record, row, component); despawns carry a null component.
    recs = log.records().to_pylist()
    expected = sum(r["length"] * max(1, len(r["components"])) for r in recs)
    assert long.num_rows == expected
    despawned = long.filter(pc.equal(long.column("op"), "despawn"))
    assert despawned.column("component").null_count == despawned.num_rows > 0
    # Joining the Pos rows with the Pos values gives one value row per Pos write.
    pos_rows = long.filter(pc.equal(long.column("component"), "Pos"))
    writes = pos_rows.filter(
        pc.is_in(pos_rows.column("op"), pa.array(["spawn", "set"]))
    )
    values = log.values(Pos)
    joined = writes.join(values, keys=["seq", "row"], right_suffix="_v")
    assert joined.num_rows == writes.num_rows == values.num_rows
    assert joined.column("entity").to_pylist() == joined.column("entity_v").to_pylist()
    heading = log.values(Heading)
    assert heading.schema.field("v").type == pa.list_(pa.float32(), 3)
    assert log.values("Target").schema.field("e").metadata == {
        b"arrow_ecs.type": b"entity"
    }


def test_spawn_values_hold_resolved_entity_references(
    run: tuple[CommandLog, dict[int, Any]],
) -> None:
    log, _ = run
    targets = log.values(Target).column("e").to_numpy()
    assert (targets >> np.uint64(32) > 0).all()  # real ids, no pending ones


def test_max_frames_keeps_the_last_frames_only() -> None:
    log, seen = record_run(10, (4, 10), max_frames=4)
    frames = set(log.records().column("frame").to_pylist())
    assert frames == {7, 8, 9, 10}
    assert log.dropped_through == 6
    with pytest.raises(
        SerializationError, match="dropped the records of frames up to 6"
    ):
        replay(build(), log)
    later = build()
    setup(later)
    later.run(6)
    replay(later, log)
    assert state(later) == seen[10]


def test_attach_refuses_a_second_log_and_detach_stops_recording() -> None:
    world = build()
    log = CommandLog.attach(world)
    with pytest.raises(ValueError, match="already records"):
        CommandLog.attach(world)
    world.step()
    n = len(log)
    log.detach()
    world.step()
    assert len(log) == n
    assert log.end_frame == 1
    assert world.command_log is None


# ---------------------------------------------------- the limitation: in-place writes


@njit
def _damp(dx: np.ndarray[Any, Any], dy: np.ndarray[Any, Any], k: float) -> None:
    for i in range(dx.shape[0]):
        dx[i] *= k
        dy[i] *= k


# Velocities change in place only: no command ever sets Vel.
damp = system(_damp, query=[Vel], writes=[Vel], args=(0.9,), phase="post_update")


def build_kernel_world() -> World:
    """Velocities change in place (a kernel), everything else through commands."""
    world = build()
    world.add_system(damp)
    return world


def test_in_place_kernel_writes_are_not_replayed_without_snapshot() -> None:
    world = build_kernel_world()
    log = CommandLog.attach(world)
    world.run(5)
    target = build_kernel_world()
    replay(target, log)
    got, want = state(target), state(world)
    assert got["generation"] == want["generation"]  # structure matches
    assert got["tables"] != want["tables"]  # but the kernel's writes are missing


def test_snapshot_mode_reproduces_in_place_writes() -> None:
    world = build_kernel_world()
    log = CommandLog.attach(world, snapshot=[Vel])
    assert world.schedule.phases[-1] == SNAPSHOT_PHASE
    seen = {}
    for _ in range(6):
        world.step()
        seen[world.resource(Time).frame] = state(world)
    snaps = log.records().filter(pc.equal(log.records().column("source"), "snapshot"))
    assert snaps.column("frame").to_pylist() == [1, 2, 3, 4, 5, 6]
    target = build_kernel_world()
    for frame in (2, 6):
        replay(target, log, until_frame=frame)
        assert state(target) == seen[frame]


def test_snapshot_refuses_tags_and_a_phase_after_it() -> None:
    with pytest.raises(SchemaError, match="Tagged"):
        CommandLog(World(), snapshot=[Tagged])
    world = build_kernel_world()
    CommandLog.attach(world, snapshot=[Vel])
    world.schedule.add_phase("render")
    with pytest.raises(EcsError, match="'render' now runs after 'command_log'"):
        world.step()


# -------------------------------------------------------------------- save / load


def test_save_load_round_trip_replays_identically(
    run: tuple[CommandLog, dict[int, Any]], tmp_path: Path
) -> None:
    log, seen = run
    path = log.save(tmp_path / "run.log")
    loaded = CommandLog.load(path, components=[Heading, Target, Marker])
    for table in ("records", "entities", "to_arrow"):
        assert getattr(loaded, table)().equals(getattr(log, table)())
    for name in ("Pos", "Energy", "Heading", "Target"):
        assert loaded.values(name).equals(log.values(name))
    assert (loaded.start_frame, loaded.end_frame) == (0, 12)
    target = build()
    replay(target, loaded, until_frame=7)
    assert state(target) == seen[7]
    replay(target, loaded)
    assert state(target) == seen[12]


def test_load_with_components_replays_onto_an_empty_world(tmp_path: Path) -> None:
    world = World(seed=5)
    log = CommandLog.attach(world)
    cmd = CommandBuffer("maker")
    ids = cmd.spawn_batch(_agents(world.resource(Rng), np.arange(1, 9), 0))
    cmd.spawn(Target(int(ids[0])))
    cmd.insert_batch(ids[:3], Heading, {"v": np.ones((3, 3), np.float32)})
    world.apply(cmd)
    path = log.save(tmp_path / "run.log")
    fresh = World()
    with pytest.raises(SerializationError, match="Pos is not registered in the world"):
        replay(fresh, CommandLog.load(path))
    assert len(fresh.components) == 0  # checked before any change
    loaded = CommandLog.load(path, components=[Pos, Vel, Energy, Heading, Target])
    replay(fresh, loaded)
    assert state(fresh) == state(world)
    with pytest.raises(EcsError, match="read-only"):
        loaded.record("x", Op.DESPAWN, np.array([1], np.uint64), {})


def test_load_rejects_a_class_with_other_fields(
    run: tuple[CommandLog, dict[int, Any]], tmp_path: Path
) -> None:
    log, _ = run
    path = log.save(tmp_path / "run.log")

    @component(name="Pos")
    class OtherPos:
        x: f32 = 0.0

    with pytest.raises(SerializationError, match=r"manifest.json: component Pos"):
        CommandLog.load(path, components=[OtherPos])


def test_save_replaces_a_log_and_refuses_other_directories(tmp_path: Path) -> None:
    world = World()
    log = CommandLog.attach(world)
    ids = world.spawn_batch({Pos: None}, n=2)
    log.save(tmp_path / "a")
    cmd = CommandBuffer()
    cmd.despawn_batch(ids)
    world.apply(cmd)
    log.save(tmp_path / "a")
    assert len(CommandLog.load(tmp_path / "a")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # no temp left
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a saved command log"):
        log.save(tmp_path / "b")
    assert (tmp_path / "b" / "mine.txt").read_text() == "keep"


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


@pytest.mark.parametrize(
    ("file", "damage", "message"),
    [
        ("records.arrow", _flip_byte, "checksum mismatch"),
        ("entities.arrow", _truncate, "checksum mismatch"),
        ("values-0.arrow", Path.unlink, "cannot read the file"),
        ("manifest.json", _truncate, "unreadable manifest"),
        ("manifest.json", Path.unlink, "no manifest"),
    ],
)
def test_corrupt_log_raises_serialization_error_naming_the_file(
    run: tuple[CommandLog, dict[int, Any]],
    tmp_path: Path,
    file: str,
    damage: Callable[[Path], Any],
    message: str,
) -> None:
    log, _ = run
    path = log.save(tmp_path / "run.log")
    damage(path / file)
    with pytest.raises(SerializationError, match=message) as info:
        CommandLog.load(path)
    assert str(path / file) in str(info.value)


def _rewrite_manifest(path: Path, **changes: Any) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_other_format_version_and_bad_arrow_are_serialization_errors(
    run: tuple[CommandLog, dict[int, Any]], tmp_path: Path
) -> None:
    log, _ = run
    path = log.save(tmp_path / "run.log")
    _rewrite_manifest(path, version=99)
    with pytest.raises(SerializationError, match="format version 99"):
        CommandLog.load(path)
    path = log.save(tmp_path / "run2.log")
    garbage = b"not arrow at all"
    (path / "records.arrow").write_bytes(garbage)
    import hashlib

    sums = json.loads((path / "manifest.json").read_text())["sha256"]
    sums["records.arrow"] = hashlib.sha256(garbage).hexdigest()
    _rewrite_manifest(path, sha256=sums)
    with pytest.raises(
        SerializationError, match="not a readable Arrow IPC file"
    ) as info:
        CommandLog.load(path)
    assert "records.arrow" in str(info.value)


def test_inconsistent_tables_are_serialization_errors(
    run: tuple[CommandLog, dict[int, Any]], tmp_path: Path
) -> None:
    import hashlib

    log, _ = run
    path = log.save(tmp_path / "run.log")
    entities = log.entities().slice(1)  # one row short of the records' lengths
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, entities.schema) as writer:
        writer.write_table(entities)
    data = sink.getvalue().to_pybytes()
    (path / "entities.arrow").write_bytes(data)
    sums = json.loads((path / "manifest.json").read_text())["sha256"]
    sums["entities.arrow"] = hashlib.sha256(data).hexdigest()
    _rewrite_manifest(path, sha256=sums)
    with pytest.raises(SerializationError, match=r"entities\.arrow: entity rows"):
        CommandLog.load(path)


# ------------------------------------------------------- start state saved on disk


def test_replay_onto_a_start_state_loaded_from_disk(tmp_path: Path) -> None:
    from archetype_ecs.serialization import load, save

    world = build()
    save(world, tmp_path / "start")
    log = CommandLog.attach(world)
    setup(world)
    world.run(8)
    log.save(tmp_path / "run.log")
    classes = [Pos, Vel, Energy, Heading, Target, Tagged, Marker]
    result = load(tmp_path / "start", components=classes)
    assert result.exact
    fresh = result.world
    replay(fresh, CommandLog.load(tmp_path / "run.log", components=classes))
    assert state(fresh) == state(world)


# ------------------------------------------------------------- despawn hooks


def _cascade_to_followers(world: World, ids: np.ndarray[Any, Any]) -> Any:
    """Despawning an entity also despawns the entities whose Target names it."""
    extra = [ents[np.isin(target.e, ids)] for ents, target in world.query(Target)]
    more = np.concatenate(extra) if extra else np.empty(0, np.uint64)
    return np.concatenate([ids, more[~np.isin(more, ids)]])


def build_with_cascade() -> World:
    world = build()
    world.despawn_hooks.append(_cascade_to_followers)
    return world


def test_replay_runs_the_worlds_despawn_hooks_again() -> None:
    world = build_with_cascade()
    log = CommandLog.attach(world)
    setup(world)
    world.run(8)
    despawned = log.records().filter(pc.equal(log.records().column("op"), "despawn"))
    logged = sum(despawned.column("length").to_pylist())
    target = build_with_cascade()
    replay(target, log)
    assert state(target) == state(world)
    # The log holds the despawns asked for; the hook added more in both worlds.
    index = world.entities
    released = int((index.generation[: index.size].astype(np.int64) - 1).sum())
    assert released > logged
    without_hook = build()
    with pytest.raises(ReplayDivergenceError):
        replay(without_hook, log)


def test_partial_sets_of_vector_components_round_trip(tmp_path: Path) -> None:
    world = World()
    log = CommandLog.attach(world)
    cmd = CommandBuffer()
    ids = cmd.spawn_batch({Body: None}, n=3)
    cmd.set_batch(ids, Body, {"mass": [2.0, 3.0, 4.0]})  # dims not written
    cmd.set_batch(ids[:1], Body, {"dims": np.full((1, 3), 5.0, np.float32)})
    world.apply(cmd)
    dims = log.values(Body).column("dims").to_pylist()
    assert dims == [[1.0, 1.0, 1.0]] * 3 + [None] * 3 + [[5.0, 5.0, 5.0]]
    loaded = CommandLog.load(log.save(tmp_path / "log"))
    assert loaded.values(Body).equals(log.values(Body))
    target = World()
    replay(target, CommandLog.load(tmp_path / "log", components=[Body]))
    assert state(target) == state(world)


def test_an_empty_log_saves_loads_and_replays(tmp_path: Path) -> None:
    world = World()
    log = CommandLog.attach(world)
    world.run(3)
    loaded = CommandLog.load(log.save(tmp_path / "log"))
    assert len(loaded) == 0
    assert loaded.to_arrow().num_rows == 0
    assert (loaded.start_frame, loaded.end_frame, loaded.first_frame) == (0, 3, None)
    target = World()
    report = replay(target, loaded)
    assert (report.records, report.to_frame) == (0, 3)
    assert target.resource(Time).frame == 3
