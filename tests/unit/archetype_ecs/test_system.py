"""Systems: declaration, kinds, run conditions, SystemContext access checks, read-only
views, kernel arguments, events between systems."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest

from archetype_ecs import (
    SystemContext,
    Time,
    World,
    component,
    event,
    every,
    f32,
    njit,
    resource_equals,
    system,
    u64,
)
from archetype_ecs.errors import UndeclaredAccessError

# ---------------------------------------------------------------- fixtures


@component
class Position:
    x: f32 = 0.0


@component
class Velocity:
    dx: f32 = 0.0


@component
class Who:
    id: u64 = 0


@event
class Hit:
    amount: f32 = 0.0


@dataclass
class Paused:
    on: bool = False


@dataclass
class Score:
    points: int = 0


@njit
def k_integrate(x, dx, dt):
    for i in range(x.shape[0]):
        x[i] += dx[i] * dt


@njit
def k_copy_ids(ents, ids):
    for i in range(ids.shape[0]):
        ids[i] = ents[i]


@njit
def k_write_second(x, dx):
    for i in range(x.shape[0]):
        dx[i] = x[i]


def _world(n: int = 4) -> tuple[World, np.ndarray]:
    w = World(threads=1)
    ents = w.spawn_batch(
        {Position: None, Velocity: {"dx": np.arange(n, dtype=np.float32)}}
    )
    return w, ents


def _notes(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", []))


# ---------------------------------------------------------------- declaration


def test_kernel_system_reads_its_query_and_writes_what_it_lists() -> None:
    s = system(k_integrate, query=[Position, Velocity], writes=[Position])
    assert s.kind == "kernel"
    assert not s.is_python
    assert s.name == "k_integrate"
    assert s.access.reads == {Position, Velocity}
    assert s.access.writes == {Position}
    assert s.describe() == "k_integrate [kernel] update: R[Velocity] W[Position]"


def test_python_and_exclusive_systems_are_flagged_python() -> None:
    py = system(lambda ctx: None, name="py", reads=[Position])
    ex = system(lambda world: None, name="ex", exclusive=True)
    assert (py.kind, py.is_python) == ("python", True)
    assert (ex.kind, ex.is_python, ex.access.exclusive) == ("exclusive", True, True)


def test_kernel_without_query_is_refused() -> None:
    with pytest.raises(TypeError, match="needs query"):
        system(k_integrate)


def test_kernel_writing_outside_its_query_is_refused() -> None:
    with pytest.raises(TypeError, match="Who"):
        system(k_integrate, query=[Position, Velocity], writes=[Who])


def test_decorator_form_with_options() -> None:
    @system(phase="post_update", reads=[Position], before=["x"], sets=["s"])
    def named(ctx: object) -> None:
        pass

    assert (named.name, named.phase, named.before, named.sets) == (
        "named",
        "post_update",
        ("x",),
        ("s",),
    )


# ------------------------------------------------------------ run conditions


def test_every_needs_a_positive_period() -> None:
    with pytest.raises(ValueError, match="k must be >= 1"):
        every(0)


@pytest.mark.parametrize("offset", [2, 5, -1])
def test_every_refuses_an_offset_outside_the_period(offset: int) -> None:
    with pytest.raises(ValueError, match="offset"):
        every(2, offset=offset)


def test_every_k_runs_on_matching_frames_and_skipped_frames_keep_last_run() -> None:
    w, _ = _world()
    frames: list[int] = []
    last_runs: list[int] = []

    def body(ctx):
        frames.append(ctx.time.frame)
        last_runs.append(ctx.last_run)

    s = system(body, name="every3", run_if=every(3, offset=1))
    w.add_system(s)
    s = w.schedule.system("every3")  # run state lives on the registered copy
    seen: list[tuple[int, int]] = []
    for _ in range(8):
        w.step()
        seen.append((s.runs, s.last_run))
    assert frames == [1, 4, 7]
    # the system's last_run only moves on the frames it ran
    assert [r for r, _ in seen] == [1, 1, 1, 2, 2, 2, 3, 3]
    assert seen[1][1] == seen[0][1] == seen[2][1]
    assert seen[4][1] == seen[3][1] > seen[0][1]
    assert last_runs[0] == 0
    assert last_runs[1] == seen[0][1]
    assert last_runs[2] == seen[3][1]


def test_resource_equals_gates_the_system() -> None:
    w, _ = _world()
    w.insert_resource(Paused(on=False))
    ran: list[int] = []
    s = system(
        lambda ctx: ran.append(ctx.time.frame),
        name="gated",
        run_if=resource_equals(Paused, "on", False),
    )
    w.add_system(s)
    s = w.schedule.system("gated")  # run state lives on the registered copy
    w.step()
    w.resource(Paused).on = True
    w.step()
    w.step()
    w.resource(Paused).on = False
    w.step()
    assert ran == [1, 4]
    assert s.runs == 2


def test_all_run_conditions_must_hold() -> None:
    w, _ = _world()
    w.insert_resource(Paused(on=False))
    ran: list[int] = []
    w.add_system(
        system(
            lambda ctx: ran.append(ctx.time.frame),
            name="both",
            run_if=[every(2), resource_equals(Paused, "on", False)],
        )
    )
    for f in range(1, 7):
        w.resource(Paused).on = f == 4
        w.step()
    assert ran == [2, 6]


def test_run_condition_names_describe_them() -> None:
    assert every(2).__name__ == "every(2, 0)"
    assert resource_equals(Paused, "on", True).__name__ == "Paused.on == True"


# --------------------------------------------------------------- kernels


def test_kernel_system_gets_views_then_args() -> None:
    w, ents = _world(4)
    w.add_system(
        system(
            k_integrate,
            query=[Position, Velocity],
            writes=[Position],
            args=lambda ctx: (ctx.time.dt,),
        )
    )
    w.step()
    w.step()
    x = w.get_batch(ents, Position)["x"]
    np.testing.assert_allclose(x, 2 * np.arange(4) / 60.0, rtol=1e-6)


def test_kernel_system_with_tuple_args() -> None:
    w, ents = _world(3)
    w.add_system(
        system(k_integrate, query=[Position, Velocity], writes=[Position], args=(2.0,))
    )
    w.step()
    assert w.get_batch(ents, Position)["x"].tolist() == [0.0, 2.0, 4.0]


def test_kernel_system_with_entities_gets_the_id_column_first() -> None:
    w = World(threads=1)
    ents = w.spawn_batch({Who: None, Position: None}, n=3)
    more = w.spawn_batch({Who: None}, n=2)  # a second archetype
    w.add_system(system(k_copy_ids, query=[Who], writes=[Who], entities=True))
    w.step()
    assert w.get_batch(ents, Who)["id"].tolist() == ents.tolist()
    assert w.get_batch(more, Who)["id"].tolist() == more.tolist()


def test_kernel_system_writing_a_read_only_view_fails_with_system_note() -> None:
    w, ents = _world()
    w.add_system(system(k_write_second, query=[Position, Velocity], writes=[Position]))
    with pytest.raises(Exception, match=r"readonly|read-only") as err:
        w.step()
    assert any("while running system 'k_write_second'" in n for n in _notes(err.value))
    assert w.get_batch(ents, Velocity)["dx"].tolist() == [0.0, 1.0, 2.0, 3.0]


# -------------------------------------------------------- python systems


def test_python_system_writing_a_read_only_view_raises_with_note() -> None:
    w, ents = _world()

    def sneaky(ctx):
        for _, _pos, vel in ctx.query(Position, Velocity):
            vel.dx[:] = 7.0

    w.add_system(system(sneaky, reads=[Position, Velocity], writes=[Position]))
    with pytest.raises(ValueError, match="read-only") as err:
        w.step()
    assert any(
        "while running system 'sneaky' (phase update, frame 1" in n
        for n in _notes(err.value)
    )
    assert w.get_batch(ents, Velocity)["dx"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_python_system_writes_through_declared_views() -> None:
    w, ents = _world(3)

    def push(ctx):
        for _, pos, vel in ctx.query(Position, Velocity):
            pos.x[:] = vel.dx * 10

    w.add_system(system(push, reads=[Velocity], writes=[Position]))
    w.step()
    assert w.get_batch(ents, Position)["x"].tolist() == [0.0, 10.0, 20.0]


def test_python_system_query_of_undeclared_component_is_e0011() -> None:
    w, _ = _world()

    def peek(ctx):
        for _ in ctx.query(Position, Velocity):
            pass

    w.add_system(system(peek, reads=[Position]))
    with pytest.raises(UndeclaredAccessError, match=r"\[E0011\]") as err:
        w.step()
    msg = str(err.value)
    assert "system 'peek'" in msg
    assert "Velocity" in msg
    assert "reads=[Velocity]" in msg
    assert any("while running system 'peek'" in n for n in _notes(err.value))


def test_optional_component_must_be_declared_too() -> None:
    w, _ = _world()
    w.add_system(
        system(
            lambda ctx: list(ctx.query(Position, optional=[Who])),
            name="opt",
            reads=[Position],
        )
    )
    with pytest.raises(UndeclaredAccessError, match="Who"):
        w.step()


@pytest.mark.parametrize("kind", ["changed", "added"])
def test_change_filter_on_an_undeclared_component_is_e0011(kind: str) -> None:
    w, _ = _world()

    def sneaky(ctx):
        for _ in ctx.query(Position, **{kind: [Velocity]}):
            pass

    w.add_system(system(sneaky, reads=[Position]))
    with pytest.raises(UndeclaredAccessError, match=r"\[E0011\].*Velocity"):
        w.step()


@pytest.mark.parametrize(
    ("name", "body", "fix"),
    [
        ("res", lambda ctx: ctx.resource(Score), "resources=[Score]"),
        ("res_mut", lambda ctx: ctx.resource_mut(Score), "resources_mut=[Score]"),
        ("send", lambda ctx: ctx.send(Hit(1.0)), "events_mut=[Hit]"),
        ("send_b", lambda ctx: ctx.send_batch(Hit, {"amount": [1.0]}), "events_mut"),
        ("read", lambda ctx: ctx.read(Hit), "events=[Hit]"),
        ("cmds", lambda ctx: ctx.commands, "commands=True"),
    ],
)
def test_undeclared_resource_event_and_command_use_is_e0011(
    name: str, body: object, fix: str
) -> None:
    w, _ = _world()
    w.insert_resource(Score())
    w.add_system(
        system(body, name=name, resources=[Score] if name == "res_mut" else ())
    )
    with pytest.raises(UndeclaredAccessError, match=r"\[E0011\]") as err:
        w.step()
    assert f"system {name!r}" in str(err.value)
    assert fix in str(err.value)


def test_declared_resources_are_reachable_and_time_always_is() -> None:
    w, _ = _world()
    w.insert_resource(Score())
    w.insert_resource(Paused())

    def scorer(ctx):
        assert ctx.resource(Paused).on is False
        ctx.resource_mut(Score).points += ctx.resource(Time).frame

    w.add_system(system(scorer, resources=[Paused], resources_mut=[Score]))
    w.run(3)
    assert w.resource(Score).points == 1 + 2 + 3


def test_exclusive_system_gets_the_world() -> None:
    w, _ = _world(2)
    got: list[object] = []
    w.add_system(system(got.append, name="grab", exclusive=True))
    w.step()
    assert got == [w]


def test_context_tick_and_last_run() -> None:
    w, _ = _world()
    seen: list[tuple[int, int]] = []
    s = system(lambda ctx: seen.append((ctx.tick, ctx.last_run)), name="t")
    w.add_system(s)
    s = w.schedule.system("t")  # run state lives on the registered copy
    w.run(3)
    assert seen[0][1] == 0
    for (tick, _), (_, nxt_last) in itertools.pairwise(seen):
        assert nxt_last == tick
    assert seen[0][0] < seen[1][0] < seen[2][0]
    assert s.last_run == seen[-1][0]


# -------------------------------------------------------------------- events


def _event_world() -> tuple[World, list[tuple[str, int, list[float]]]]:
    """early_reader -> sender -> late_reader, all in update."""
    w, _ = _world()
    log: list[tuple[str, int, list[float]]] = []

    def reader(label):
        def body(ctx):
            log.append((label, ctx.time.frame, ctx.read(Hit)["amount"].tolist()))

        return body

    def sender(ctx):
        f = ctx.time.frame
        ctx.send(Hit(float(f)))
        ctx.send_batch(Hit, {"amount": [f + 0.5, f + 0.25]})

    w.add_system(
        system(reader("early"), name="early", events=[Hit], before=["sender"]),
        system(sender, events_mut=[Hit]),
        system(reader("late"), name="late", events=[Hit], after=["sender"]),
    )
    return w, log


def test_event_is_read_later_in_the_same_frame_and_earlier_next_frame() -> None:
    w, log = _event_world()
    w.run(3)
    by = {(who, f): amounts for who, f, amounts in log}
    assert by["late", 1] == [1.0, 1.5, 1.25]
    assert by["early", 1] == []
    assert by["early", 2] == [1.0, 1.5, 1.25]
    assert by["late", 2] == [2.0, 2.5, 2.25]
    assert by["early", 3] == [2.0, 2.5, 2.25]
    assert by["late", 3] == [3.0, 3.5, 3.25]


def test_event_readers_track_what_they_read() -> None:
    w, log = _event_world()
    w.run(4)
    for who in ("early", "late"):
        read = [a for label, _, amounts in log if label == who for a in amounts]
        assert len(read) == len(set(read))  # nothing read twice
    late = [a for label, _, amounts in log if label == "late" for a in amounts]
    assert late == [f + d for f in (1, 2, 3, 4) for d in (0.0, 0.5, 0.25)]


def test_system_reading_every_other_frame_gets_both_frames() -> None:
    w, _ = _world()
    got: list[list[float]] = []
    w.add_system(
        system(lambda ctx: ctx.send(Hit(ctx.time.frame)), name="s", events_mut=[Hit]),
        system(
            lambda ctx: got.append(ctx.read(Hit)["amount"].tolist()),
            name="r",
            events=[Hit],
            after=["s"],
            run_if=every(2),
        ),
    )
    w.run(4)
    assert got == [[1.0, 2.0], [3.0, 4.0]]


# ------------------------------------------------------- run state per world


@system(events_mut=[Hit])
def _module_sender(ctx):
    ctx.send(Hit(1.0))


_module_log: list[tuple[int, list[float]]] = []


@system(events=[Hit], after=["_module_sender"])
def _module_reader(ctx):
    _module_log.append((ctx.last_run, ctx.read(Hit)["amount"].tolist()))


def test_module_level_system_in_two_worlds_keeps_separate_state() -> None:
    results = []
    for _ in range(2):
        _module_log.clear()
        w = World(threads=1)
        w.add_system(_module_sender, _module_reader)
        w.run(2)
        results.append(list(_module_log))
    assert results[0][0] == (0, [1.0])
    assert results[1] == results[0]


def test_one_declaration_in_two_worlds_queries_each_world() -> None:
    """ctx.query caches the checked query per registered system: never across worlds."""
    seen: list[tuple[int, int]] = []

    @system(reads=[Position, Velocity])
    def count(ctx: SystemContext) -> None:
        a = sum(len(e) for e, _ in ctx.query(Position))
        b = sum(len(e) for e, _, _ in ctx.query(Position, Velocity))
        seen.append((a, b))

    w1, w2 = World(), World()
    w1.spawn_batch({Position: None}, n=3)
    w2.spawn_batch({Position: None, Velocity: None}, n=5)
    w1.add_system(count)
    w2.add_system(count)
    for _ in range(2):
        w1.step()
        w2.step()
    assert seen == [(3, 0), (5, 5), (3, 0), (5, 5)]
    # the checks ran once per world: a later undeclared query is still refused
    registered = w1.schedule.systems[0]
    assert len(registered._bound) == 2
    with pytest.raises(UndeclaredAccessError):
        SystemContext(w1, registered, 0).query(Who)
