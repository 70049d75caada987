"""Executor: the frame lifecycle (Time, startup, phases, sync points), command
buffers of systems, structural-change refusal, exclusive systems, parallel batches,
stats and trace, and determinism across thread counts and repeated runs."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from archetype_ecs import (
    ResourceNotFoundError,
    Rng,
    StructuralChangeError,
    Time,
    World,
    component,
    event,
    f32,
    f64,
    i32,
    njit,
    on_add,
    resource_equals,
    system,
)

# ---------------------------------------------------------------- fixtures


@component
class Position:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Velocity:
    dx: f32 = 0.0
    dy: f32 = 0.0


@component
class Age:
    a: i32 = 0


@component
class Energy:
    e: f64 = 100.0


@component
class Marked:
    pass


@component
class Counter:
    deaths: i32 = 0
    oldest: i32 = 0


@event
class Died:
    age: i32 = 0


@njit
def k_move(x, y, dx, dy, dt):
    for i in range(x.shape[0]):
        x[i] += dx[i] * dt
        y[i] += dy[i] * dt


@njit
def k_age(a):
    for i in range(a.shape[0]):
        a[i] += 1


@njit
def k_drain(e, rate):
    for i in range(e.shape[0]):
        e[i] = e[i] * (1.0 - rate) + 0.125


@njit
def k_clamp(x, y, lo, hi):
    for i in range(x.shape[0]):
        x[i] = min(max(x[i], lo), hi)
        y[i] = min(max(y[i], lo), hi)


@njit
def k_nudge(rows, x, y, dx, dy):
    for i in rows:
        y[i] += dx[i] * 0.5


@njit
def k_fail_on_negative(a):
    for i in range(a.shape[0]):
        if a[i] < 0:
            raise ValueError("negative age")


def _notes(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", []))


# ------------------------------------------------------------------- frames


def test_time_advances_every_frame() -> None:
    w = World(threads=1, dt=0.25)
    seen: list[tuple[int, float, float]] = []
    w.add_system(
        system(
            lambda ctx: seen.append((ctx.time.frame, ctx.time.elapsed, ctx.time.dt)),
            name="t",
        )
    )
    assert w.resource(Time).frame == 0
    w.run(4)
    assert seen == [(f, f * 0.25, 0.25) for f in (1, 2, 3, 4)]
    clock = w.resource(Time)
    assert (clock.frame, clock.elapsed) == (4, 1.0)
    assert clock.real_dt > 0.0


def test_startup_runs_once_before_the_other_phases() -> None:
    w = World(threads=1)
    log: list[tuple[str, int]] = []
    w.add_system(
        system(lambda ctx: log.append(("update", ctx.time.frame)), name="u"),
        system(
            lambda ctx: log.append(("startup", ctx.time.frame)),
            name="s",
            phase="startup",
        ),
        system(
            lambda world: log.append(("x-startup", 0)),
            name="x",
            phase="startup",
            exclusive=True,
        ),
    )
    w.run(3)
    assert log == [
        ("startup", 1),
        ("x-startup", 0),
        ("update", 1),
        ("update", 2),
        ("update", 3),
    ]


def test_run_with_progress_bar_steps_every_frame(
    capsys: pytest.CaptureFixture[str],
) -> None:
    w = World(threads=1)
    w.run(3, progress=True)
    assert w.resource(Time).frame == 3
    assert "3" in capsys.readouterr().err


# ----------------------------------------------------------------- commands


def test_commands_apply_at_the_phase_sync_point_in_plan_order() -> None:
    w = World(threads=1)
    e = w.spawn(Position(0.0, 0.0))
    seen: dict[str, Any] = {}

    def writer(value: float):
        def body(ctx):
            ctx.commands.set(e, Position(value, value))
            ctx.commands.insert(e, Age(int(value)))

        return body

    def peek_same_phase(ctx):
        seen["same"] = (len(ctx._world), ctx._world.has(e, Age))

    def peek_next_phase(ctx):
        seen["next"] = (
            ctx._world.component(e, Position).x,
            ctx._world.component(e, Age).a,
        )

    w.add_system(
        # registered first but ordered last: its commands apply last and win
        system(writer(2.0), name="second", commands=True, after=["first"]),
        system(writer(1.0), name="first", commands=True),
        system(peek_same_phase, name="peek", after=["second"]),
        system(peek_next_phase, name="peek_next", phase="post_update"),
    )
    w.step()
    assert seen["same"] == (1, False)  # nothing applied mid-phase
    assert seen["next"] == (2.0, 2)
    assert w.component(e, Position) == Position(2.0, 2.0)


def test_commands_of_different_systems_apply_in_plan_order_not_run_order() -> None:
    w = World(threads=1)
    e = w.spawn(Position())

    def despawner(ctx):
        ctx.commands.despawn(e)

    def setter(ctx):
        ctx.commands.set(e, Position(5.0, 5.0))

    w.add_system(
        system(setter, name="setter", commands=True, after=["despawner"]),
        system(despawner, name="despawner", commands=True),
    )
    w.step()
    assert not w.is_alive(e)  # despawn first, the set is skipped


def test_spawned_entities_are_visible_in_the_next_phase() -> None:
    w = World(threads=1)
    counts: list[tuple[str, int]] = []

    def spawner(ctx):
        ctx.commands.spawn_batch({Position: None}, n=5)

    def counter(label):
        def body(ctx):
            counts.append((label, ctx.query(Position).count()))

        return body

    w.add_system(
        system(spawner, commands=True, phase="pre_update"),
        system(
            counter("pre"),
            name="pre",
            reads=[Position],
            phase="pre_update",
            after=["spawner"],
        ),
        system(counter("upd"), name="upd", reads=[Position]),
    )
    w.step()
    assert counts == [("pre", 0), ("upd", 5)]
    assert len(w) == 5


def test_empty_command_buffer_is_not_applied() -> None:
    w = World(threads=1)
    w.add_system(system(lambda ctx: ctx.commands, name="noop", commands=True))
    w.step()
    assert not any(
        r["kind"] == "sync" and r["calls"] == 0 for r in w.stats().to_pylist()
    )


# ------------------------------------------------------- structural changes


@pytest.mark.parametrize(
    "op",
    [
        lambda w, e: w.spawn(Position()),
        lambda w, e: w.despawn(e),
        lambda w, e: w.insert(e, Age(1)),
        lambda w, e: w.remove(e, Position),
        lambda w, e: w.spawn_batch({Position: None}, n=2),
        lambda w, e: w.apply(),
    ],
    ids=["spawn", "despawn", "insert", "remove", "spawn_batch", "apply"],
)
def test_structural_change_from_a_system_is_refused(op: Any) -> None:
    w = World(threads=1)
    e = w.spawn(Position())
    w.add_system(system(lambda ctx: op(w, e), name="rogue", reads=[Position]))
    with pytest.raises(StructuralChangeError, match=r"\[E0007\]") as err:
        w.step()
    assert any("while running system 'rogue'" in n for n in _notes(err.value))
    assert len(w) == 1
    assert w.has(e, Position)
    assert not w.has(e, Age)
    w.spawn(Position())  # the failed frame left no guard behind
    assert len(w) == 2


def test_structural_change_from_a_kernel_batch_thread_is_refused() -> None:
    w = World(threads=2)
    w.spawn_batch({Age: None, Energy: None}, n=10)
    w.add_system(
        system(k_age, query=[Age], writes=[Age], parallel_threshold=1),
        system(
            k_drain, query=[Energy], writes=[Energy], args=(0.5,), parallel_threshold=1
        ),
        system(lambda ctx: w.spawn(Age()), name="rogue"),
    )
    with pytest.raises(StructuralChangeError):
        w.step()
    assert len(w) == 10


def test_exclusive_system_may_change_structure_directly() -> None:
    w = World(threads=1)
    doomed = w.spawn(Position())
    counts: list[int] = []

    def rebuild(world):
        world.despawn(doomed)
        ids = world.spawn_batch({Position: None, Velocity: Velocity(1.0, 0.0)}, n=3)
        world.insert_batch(ids, Age)
        for _, pos, _vel in world.query(Position, Velocity):
            pos.x[:] = 9.0

    w.add_system(
        system(rebuild, exclusive=True),
        system(
            lambda ctx: counts.append(ctx.query(Age).count()),
            name="after",
            reads=[Age],
            after=["rebuild"],
        ),
    )
    w.step()
    assert counts == [3]
    assert not w.is_alive(doomed)
    assert w.query(Position, Velocity, Age).count() == 3
    assert w.query(Position).to_arrow().column("Position.x").to_pylist() == [9.0] * 3


@pytest.mark.parametrize("exclusive", [True, False])
def test_step_from_inside_a_frame_is_refused(exclusive: bool) -> None:
    w = World(threads=1)
    if exclusive:
        w.add_system(system(lambda world: world.step(), name="reent", exclusive=True))
    else:
        w.add_system(system(lambda ctx: w.step(), name="reent"))
    with pytest.raises((RuntimeError, StructuralChangeError), match="step") as err:
        w.step()
    assert not isinstance(err.value, RecursionError)
    assert w.resource(Time).frame == 1


def test_failing_run_condition_names_the_system() -> None:
    @dataclass
    class Paused:
        on: bool = False

    w = World(threads=1)
    w.add_system(
        system(
            lambda ctx: None,
            name="gated",
            run_if=resource_equals(Paused, "on", False),
        )
    )
    with pytest.raises(ResourceNotFoundError) as err:
        w.step()
    assert any("'gated'" in n for n in _notes(err.value))


def test_exclusive_system_runs_in_a_batch_of_its_own() -> None:
    w = World(threads=1)
    w.add_system(
        system(lambda ctx: None, name="a"),
        system(lambda world: None, name="ex", exclusive=True),
        system(lambda ctx: None, name="b"),
    )
    batches = [[s.name for s in b] for b in w.schedule.plan()["update"].batches]
    assert ["ex"] in batches
    assert all(len(b) == 1 for b in batches if "ex" in b)


# ------------------------------------------------------------------ parallel


def _parallel_world(threads: int) -> World:
    w = World(threads=threads)
    w.spawn_batch({Age: None, Energy: None}, n=50)
    w.spawn_batch({Position: None, Velocity: Velocity(2.0, -2.0)}, n=50)
    w.add_system(
        system(k_age, query=[Age], writes=[Age], parallel_threshold=10),
        system(
            k_drain, query=[Energy], writes=[Energy], args=(0.5,), parallel_threshold=10
        ),
        system(
            k_move,
            query=[Position, Velocity],
            writes=[Position],
            args=lambda ctx: (ctx.time.dt,),
            parallel_threshold=10,
        ),
    )
    return w


def test_parallel_batch_runs_kernels_on_worker_threads() -> None:
    w = _parallel_world(threads=3)
    assert [len(b) for b in w.schedule.plan()["update"].batches] == [3]
    w.run(3)
    spans = [s for s in w.profiler.spans() if s.kind == "system"]
    assert {s.name for s in spans} == {"k_age", "k_drain", "k_move"}
    assert len({s.thread for s in spans}) >= 2
    assert threading.get_ident() in {s.thread for s in spans}
    assert w.query(Age).to_arrow().column("Age.a").to_pylist() == [3] * 50
    w.close()


def test_error_in_a_pooled_system_propagates_with_note() -> None:
    w = World(threads=2)
    w.spawn_batch({Age: {"a": [-1, 2]}, Energy: None})
    w.add_system(
        system(
            k_drain, query=[Energy], writes=[Energy], args=(0.5,), parallel_threshold=1
        ),
        system(k_fail_on_negative, query=[Age], parallel_threshold=1),
    )
    with pytest.raises(ValueError, match="negative age") as err:
        w.step()
    assert any(
        "while running system 'k_fail_on_negative'" in n for n in _notes(err.value)
    )
    # the other pooled system completed before the error surfaced
    assert w.query(Energy).to_arrow().column("Energy.e").to_pylist() == [50.125] * 2
    w.spawn(Age())  # no guard left behind
    w.close()


# ------------------------------------------------------------ stats, trace


def test_stats_have_one_row_per_system_with_python_flag() -> None:
    w = _parallel_world(threads=1)
    w.add_system(
        system(lambda ctx: None, name="py_sys", reads=[Age]),
        system(lambda world: None, name="ex_sys", exclusive=True, phase="post_update"),
        system(lambda ctx: None, name="sometimes", run_if=lambda world: False),
    )
    w.run(4)
    rows = [r for r in w.stats().to_pylist() if r["kind"] == "system"]
    by_name = {r["name"]: r for r in rows}
    assert len(rows) == len(by_name) == 5  # "sometimes" never ran
    assert {n: r["python"] for n, r in by_name.items()} == {
        "k_age": False,
        "k_drain": False,
        "k_move": False,
        "py_sys": True,
        "ex_sys": True,
    }
    assert all(r["calls"] == 4 for r in rows)
    assert by_name["k_age"]["rows_last"] == 50
    assert by_name["k_age"]["rows_total"] == 200
    assert by_name["ex_sys"]["phase"] == "post_update"
    kinds = [r["kind"] for r in w.stats().to_pylist()]
    assert kinds[0] == "frame"
    assert {"phase", "sync"} <= set(kinds)


def test_profile_off_records_nothing_and_runs_the_same() -> None:
    w = _parallel_world(threads=1)
    w.profiler.enabled = False
    w.run(2)
    assert w.stats().num_rows == 0
    assert w.query(Age).to_arrow().column("Age.a").to_pylist() == [2] * 50


def test_trace_json_has_a_track_per_thread_and_frame_markers(tmp_path: Any) -> None:
    w = _parallel_world(threads=2)
    w.add_system(system(lambda ctx: None, name="py_sys", reads=[Age]))
    w.run(3)
    path = w.trace(str(tmp_path / "trace.json"))
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    tracks = {
        e["tid"]: e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name"
    }
    spans = [e for e in events if e["ph"] == "X" and e["cat"] != "frame"]
    frames = [e for e in events if e["ph"] == "X" and e["cat"] == "frame"]
    assert tracks[0] == "frames"
    assert {e["tid"] for e in spans} == set(tracks) - {0}
    assert "main" in tracks.values()
    assert any(name.startswith("worker") for name in tracks.values())
    assert [e["name"] for e in frames] == ["frame 1", "frame 2", "frame 3"]
    assert all(e["tid"] == 0 for e in frames)
    sys_spans = [e for e in spans if e["cat"] == "system"]
    assert {e["name"] for e in sys_spans} == {"k_age", "k_drain", "k_move", "py_sys"}
    assert {e["args"]["python"] for e in sys_spans if e["name"] == "py_sys"} == {True}
    w.close()


# --------------------------------------------------------------- determinism

N_MOVERS = 3000
N_AGERS = 2000


@dataclass
class Knobs:
    reap_p: float = 0.02
    mark_p: float = 0.05


def _seed_world(world: World) -> None:
    rng = world.resource(Rng)
    movers = world.spawn_batch({Position: None, Velocity: None}, n=N_MOVERS)
    world.set_batch(
        movers,
        Position,
        {
            "x": rng.uniform("px", movers, 0) * 50,
            "y": rng.uniform("py", movers, 0) * 50,
        },
    )
    world.set_batch(
        movers,
        Velocity,
        {"dx": rng.normal("vx", movers, 0), "dy": rng.normal("vy", movers, 0)},
    )
    agers = world.spawn_batch({Age: None, Energy: None}, n=N_AGERS)
    world.set_batch(agers, Age, {"a": rng.integers(0, 50, "age", agers, 0)})


def _jitter(ctx: Any) -> None:
    rng = ctx.resource(Rng)
    tick = ctx.time.frame
    for ents, vel in ctx.query(Velocity):
        vel.dx += (rng.normal("jx", ents, tick) * 0.1).astype(np.float32)
        vel.dy += (rng.normal("jy", ents, tick) * 0.1).astype(np.float32)


def _reap(ctx: Any) -> None:
    rng = ctx.resource(Rng)
    knobs = ctx.resource(Knobs)
    tick = ctx.time.frame
    for ents, age in ctx.query(Age):
        doomed = (age.a > 40) & rng.bernoulli(knobs.reap_p * 10, "reap", ents, tick)
        dead = ents[doomed]
        ctx.commands.despawn_batch(dead)
        ctx.send_batch(Died, {"age": age.a[doomed]})
        n = len(dead)
        if n:
            born = ctx.commands.spawn_batch(
                {Age: None, Energy: Energy(float(tick))}, n=n
            )
            ctx.commands.insert_batch(born, Marked)
    for ents, _pos in ctx.query(Position):
        hit = ents[rng.bernoulli(knobs.mark_p, "mark", ents, tick)]
        ctx.commands.insert_batch(hit, Marked)
        ctx.commands.set_batch(hit, Position, {"x": np.full(len(hit), float(tick))})
        old = ents[rng.bernoulli(knobs.mark_p, "unmark", ents, tick)]
        ctx.commands.remove_batch(old, Marked)
        if tick % 3 == 0:
            ctx.commands.spawn_batch(
                {Position: {"x": rng.uniform("sx", ents[:7], tick)}, Velocity: None}
            )


def _tally(ctx: Any) -> None:
    died = ctx.read(Died)
    for _, counter in ctx.query(Counter):
        counter.deaths += died.count
        counter.oldest = max(counter.oldest, int(died["age"].max(initial=0)))


def _program_systems() -> list[Any]:
    return [
        system(_seed_world, name="seed", phase="startup", exclusive=True),
        system(
            k_move,
            query=[Position, Velocity],
            writes=[Position],
            args=lambda ctx: (ctx.time.dt,),
            parallel_threshold=1000,
        ),
        system(k_age, query=[Age], writes=[Age], parallel_threshold=1000),
        system(
            k_drain,
            query=[Energy],
            writes=[Energy],
            args=(0.01,),
            parallel_threshold=1000,
        ),
        system(
            _jitter, name="jitter", writes=[Velocity], resources=[Rng], after=["k_move"]
        ),
        system(
            _reap,
            name="reap",
            reads=[Age, Position],
            resources=[Rng, Knobs],
            events_mut=[Died],
            commands=True,
            phase="post_update",
        ),
        system(
            k_nudge,
            query=[Position, Velocity],
            changed=[Velocity],
            writes=[Position],
            after=["jitter"],
        ),
        system(
            _tally,
            name="tally",
            events=[Died],
            writes=[Counter],
            phase="pre_update",
        ),
        system(
            k_clamp,
            query=[Position],
            writes=[Position],
            args=(-30.0, 80.0),
            phase="post_update",
            before=["reap"],
        ),
    ]


def _zero_marked(trigger: Any) -> None:
    ents = trigger.entities
    has_pos = np.array([trigger.world.has(e, Position) for e in ents], dtype=bool)
    if has_pos.any():
        trigger.commands.set_batch(ents[has_pos], Velocity, Velocity(0.0, 0.5))


def _run_program(threads: int, systems: list[Any], frames: int = 12) -> dict[str, Any]:
    w = World(threads=threads, seed=1234)
    w.insert_resource(Knobs())
    w.track_changes(Velocity)
    w.spawn(Counter())
    w.observe(on_add, Marked, _zero_marked)
    w.add_system(*systems)
    w.run(frames)
    snap = _snapshot(w)
    w.close()
    return snap


def _snapshot(w: World) -> dict[str, Any]:
    """Bytes of every table's batch() and every column, and the entity index."""
    snap: dict[str, Any] = {}
    for t in w.tables:
        batch = t.batch()
        snap[f"batch{t.id}"] = (
            tuple(batch.schema.names),
            tuple(c.to_numpy(zero_copy_only=False).tobytes() for c in batch.columns),
        )
        snap[f"cols{t.id}"] = {k: t.column(k)[: t.len].tobytes() for k in t.keys}
    ix = w.entities
    snap["index"] = (
        ix.size,
        ix.alive_count,
        ix.generation[: ix.size].tobytes(),
        ix.table[: ix.size].tobytes(),
        ix.row[: ix.size].tobytes(),
        ix.free_list().tobytes(),
    )
    snap["change_tick"] = w.change_tick
    snap["counter"] = w.query(Counter).to_arrow().to_pylist()
    return snap


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], f"{k} differs"


def test_program_is_bit_identical_with_one_or_two_threads() -> None:
    # fresh System objects per world: run state must not leak between them
    one = _run_program(1, _program_systems())
    two = _run_program(2, _program_systems())
    _assert_same(one, two)
    # the program did exercise structure (spawns, despawns, tags), events and filters
    assert len([k for k in one if k.startswith("batch")]) > 4
    ((counter,),) = [one["counter"]]
    assert counter["Counter.deaths"] > 0
    assert counter["Counter.oldest"] > 40


def test_program_parallel_batch_is_used() -> None:
    w = World(threads=2, seed=1234)
    w.insert_resource(Knobs())
    w.add_system(*_program_systems())
    batches = [[s.name for s in b] for b in w.schedule.plan()["update"].batches]
    assert ["k_move", "k_age", "k_drain"] in batches
    w.run(2)
    threads = {
        s.thread
        for s in w.profiler.spans()
        if s.kind == "system" and s.name.startswith("k_")
    }
    assert len(threads) >= 2
    w.close()


_MODULE_PROGRAM = _program_systems()  # the documented pattern: systems built once


def test_same_program_twice_in_a_row_is_bit_identical() -> None:
    first = _run_program(2, _MODULE_PROGRAM)
    second = _run_program(2, _MODULE_PROGRAM)
    _assert_same(first, second)


def test_a_failing_frame_end_hook_still_times_the_frame_and_runs_the_others() -> None:
    from archetype_ecs import Time, World

    w = World(threads=1)
    ran: list[int] = []

    def stop(world: World) -> None:
        raise RuntimeError("stop here")

    w.frame_end_hooks.extend(
        [stop, lambda world: ran.append(world.resource(Time).frame)]
    )
    with pytest.raises(RuntimeError, match="stop here"):
        w.step()
    assert ran == [1]  # the hook after the failing one ran in the same frame
    assert [f for f, _, _ in w.profiler.frames()] == [1]
    assert w.resource(Time).real_dt > 0


# ------------------------------------------------------------------- run_tasks


def _tasks_on(world: World, n: int) -> list:
    """Tasks that record which thread ran them and hold the GIL-free part briefly."""
    import threading
    import time

    def task(i: int):
        def run():
            time.sleep(0.005)  # releases the GIL: other threads take tasks meanwhile
            return i, threading.get_ident()

        return run

    return [task(i) for i in range(n)]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_run_tasks_returns_results_in_task_order(threads):
    import threading

    world = World(threads=threads)
    out = world._executor.run_tasks(_tasks_on(world, 12))
    assert [i for i, _ in out] == list(range(12))
    used = {t for _, t in out}
    if threads == 1:
        assert used == {threading.get_ident()}
    else:
        assert threading.get_ident() in used  # the caller works too
        assert len(used) > 1
    world.close()


def test_run_tasks_finishes_every_task_then_raises_the_first_error():
    world = World(threads=2)
    ran = []

    def ok(i):
        return lambda: ran.append(i)

    def bad(msg):
        def run():
            raise ValueError(msg)

        return run

    with pytest.raises(ValueError, match="first"):
        world._executor.run_tasks([ok(0), bad("first"), ok(1), bad("second"), ok(2)])
    assert sorted(ran) == [0, 1, 2]
    world.close()


def test_run_tasks_from_a_busy_worker_does_not_wait_for_itself():
    """Called on the pool's only worker, the caller drains the queue alone."""
    world = World(threads=2)
    ex = world._executor
    inner = ex._workers().submit(lambda: ex.run_tasks(_tasks_on(world, 4)))
    assert [i for i, _ in inner.result(timeout=10)] == [0, 1, 2, 3]
    world.close()
