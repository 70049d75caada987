"""Per-node semantics, tick by tick, through the Numba kernel (the reference must agree).

``Run.status()`` asserts that the kernel and the reference interpreter agree on every
agent's state and leaf log before returning the kernel's status vector. Leaves are
scripted: ``S(k)`` / ``A(k)`` read their outcome for node ``k`` from a column.
Statuses: 0 INVALID, 1 SUCCESS, 2 FAILURE, 3 RUNNING.
"""

from __future__ import annotations

import pytest

from behaviors.nodes import (
    ALL,
    ONE,
    Action,
    Condition,
    Cooldown,
    ForceFailure,
    ForceSuccess,
    Guard,
    Inverter,
    N,
    Parallel,
    Repeat,
    Retry,
    Selector,
    Sequence,
    Status,
    Timeout,
)
from behaviors.tree import BehaviorTree
from unit.behaviors.harness import Run, registry_world

INV, S_, F_, R_ = 0, 1, 2, 3


def C(k: int) -> Condition:
    return Condition("sc", code=k)


def A(k: int) -> Action:
    return Action("sa", code=k)


@pytest.fixture(scope="module")
def world_factory():  # type: ignore[no-untyped-def]
    shared = registry_world()
    from archetype_ecs import World
    from behaviors.leaves import LeafRegistry

    def make(root, name):  # type: ignore[no-untyped-def]
        w = World()
        w.insert_resource(shared.resource(LeafRegistry))
        return Run.make(BehaviorTree(root, name), 2, world=w)

    return make


def test_status_values_are_py_trees_names() -> None:
    assert [s.name for s in Status] == ["INVALID", "SUCCESS", "FAILURE", "RUNNING"]
    assert int(Status.RUNNING) == 3


def test_memory_sequence_resumes_at_running_child(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(Sequence([C(1), A(2), A(3)], memory=True), "mseq")
    r.set_outcomes({1: 1, 2: R_, 3: R_})
    r.tick(1)
    assert r.status() == [R_, S_, R_, INV]
    assert r.log() == [1, 2]
    r.set_outcomes({1: 0, 2: S_})  # the condition now fails: not re-checked
    r.tick(2)
    assert r.status() == [R_, S_, S_, R_]
    assert r.log() == [2, 3]
    r.set_outcomes({3: S_})
    r.tick(3)
    assert r.status() == [S_, S_, S_, S_]
    r.tick(4)  # finished: starts again at child 0, whose condition now fails
    assert r.status()[0:2] == [F_, F_]
    assert r.log() == [1]


def test_reactive_sequence_rechecks_and_halts_running_child(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(
        Sequence([C(1), Sequence([A(3), A(4)]), A(5)], memory=False), "rseq"
    )
    r.set_outcomes({1: 1, 3: S_, 4: R_})
    r.tick(1)
    assert r.status() == [R_, S_, R_, S_, R_, INV]
    r.tick(2)  # condition re-checked, running child resumed
    assert r.log() == [1, 4]
    r.set_outcomes({1: 0})
    r.tick(3)  # condition fails: the running subtree is halted
    assert r.status() == [F_, F_, INV, S_, INV, INV]
    assert r.kernel_state()["data"][0].tolist() == [0] * 6


def test_memory_selector_resumes_and_reactive_selector_aborts_lower_priority(
    world_factory,  # type: ignore[no-untyped-def]
) -> None:
    mem = world_factory(Selector([C(1), A(2)], memory=True), "msel")
    mem.set_outcomes({1: 0, 2: R_})
    mem.tick(1)
    mem.set_outcomes({1: 1})
    mem.tick(2)
    assert mem.log() == [2]  # resumed the running child, condition not re-checked
    reac = world_factory(Selector([C(1), A(2)], memory=False), "rsel")
    reac.set_outcomes({1: 0, 2: R_})
    reac.tick(1)
    assert reac.status() == [R_, F_, R_]
    reac.set_outcomes({1: 1})
    reac.tick(2)  # higher priority succeeds: the running action is halted
    assert reac.status() == [S_, S_, INV]
    assert reac.log() == [1]


@pytest.mark.parametrize(
    ("success", "failure", "outcomes", "expect"),
    [
        (ALL, ONE, {1: S_, 2: R_, 3: S_}, R_),
        (ALL, ONE, {1: S_, 2: F_, 3: R_}, F_),
        (ONE, ALL, {1: F_, 2: S_, 3: R_}, S_),
        (N(2), ALL, {1: S_, 2: R_, 3: S_}, S_),
        (N(2), N(2), {1: F_, 2: R_, 3: F_}, F_),
        (N(3), ALL, {1: F_, 2: R_, 3: R_}, F_),  # 3 successes unreachable
    ],
)
def test_parallel_policies(world_factory, success, failure, outcomes, expect) -> None:  # type: ignore[no-untyped-def]
    name = f"par_{success.kind}{success.k}_{failure.kind}{failure.k}_{expect}"
    r = world_factory(
        Parallel([A(1), A(2), A(3)], success=success, failure=failure), name
    )
    r.set_outcomes(outcomes)
    r.tick(1)
    st = r.status()
    assert st[0] == expect
    if expect != R_:  # resolved: still-running children are halted
        assert R_ not in st[1:]


def test_parallel_does_not_retick_finished_children(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(Parallel([A(1), A(2)], success=ALL, failure=ONE), "par_sync")
    r.set_outcomes({1: S_, 2: R_})
    r.tick(1)
    r.tick(2)
    assert r.log() == [2]
    r.set_outcomes({2: S_})
    r.tick(3)
    assert r.status() == [S_, S_, S_]
    r.tick(4)  # a new activation re-ticks every child
    assert r.log() == [1, 2]


def test_inverter_and_forces(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(
        Sequence([Inverter(A(2)), ForceSuccess(A(4)), ForceFailure(A(6))]), "inv"
    )
    r.set_outcomes({2: F_, 4: F_, 6: S_})
    r.tick(1)
    assert r.status() == [F_, S_, F_, S_, F_, F_, S_]
    r.set_outcomes({2: R_})
    r.tick(2)
    assert r.status()[0:3] == [R_, R_, R_]


def test_repeat_counts_one_completion_per_tick_and_resets(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(Repeat(A(1), n=3), "rep")
    r.set_outcomes({1: S_})
    r.tick(1)
    assert r.status() == [R_, S_]
    assert r.kernel_state()["data"][0, 0] == 1
    r.tick(2)
    assert r.kernel_state()["data"][0, 0] == 2
    r.tick(3)
    assert r.status() == [S_, S_]
    assert r.kernel_state()["data"][0, 0] == 0
    r.set_outcomes({1: F_})
    r.tick(4)
    assert r.status() == [F_, F_]


def test_retry_retries_until_success_or_n_failures(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(Retry(A(1), n=2), "ret")
    r.set_outcomes({1: F_})
    r.tick(1)
    assert r.status() == [R_, F_]
    r.tick(2)
    assert r.status() == [F_, F_]
    r.tick(3)
    r.set_outcomes({1: S_})
    r.tick(4)
    assert r.status() == [S_, S_]


def test_timeout_fails_and_halts_after_frames(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(Timeout(Sequence([A(2)]), frames=3), "tmo")
    r.set_outcomes({2: R_})
    for f in (10, 11, 12):
        r.tick(f)
        assert r.status() == [R_, R_, R_]
    assert r.kernel_state()["data"][0, 0] == 10
    r.tick(13)
    assert r.status() == [F_, INV, INV]
    assert r.log() == []


def test_timeout_seconds_convert_with_dt() -> None:
    t = BehaviorTree(Timeout(A(1), seconds=0.05), "tsec")
    assert int(t.layout(dt=1 / 60).param0[0]) == 3


def test_cooldown_blocks_after_completion(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(Cooldown(A(1), frames=3), "cool")
    r.set_outcomes({1: S_})
    r.tick(1)
    assert r.status() == [S_, S_]
    assert r.kernel_state()["data"][0, 0] == 4
    r.tick(2)
    assert r.status()[0] == F_
    assert r.log() == []
    r.tick(4)
    assert r.status()[0] == S_
    assert r.log() == [1]


def test_cooldown_survives_a_halt(world_factory) -> None:  # type: ignore[no-untyped-def]
    root = Sequence([C(1), Sequence([Cooldown(A(4), frames=5), A(5)])], memory=False)
    r = world_factory(root, "coolhalt")
    r.set_outcomes({1: 1, 4: S_, 5: R_})
    r.tick(1)
    r.set_outcomes({1: 0})
    r.tick(2)  # halts the running branch; the cooldown timer stays
    assert r.kernel_state()["data"][0, 3] == 6
    r.set_outcomes({1: 1})
    r.tick(3)
    assert r.status()[3] == F_


def test_guard_aborts_running_subtree_when_condition_turns_false(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(Guard(C(1), Sequence([A(3), A(4)])), "guard")
    r.set_outcomes({1: 1, 3: S_, 4: R_})
    r.tick(1)
    assert r.status() == [R_, S_, R_, S_, R_]
    r.tick(2)
    assert r.log() == [1, 4]  # re-checked every tick, child resumed
    r.set_outcomes({1: 0})
    r.tick(3)
    assert r.status() == [F_, F_, INV, S_, INV]


def test_agents_run_independently(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(Selector([C(1), A(2)]), "indep")
    r.set_outcomes({1: 1}, agent=0)
    r.set_outcomes({1: 0, 2: R_}, agent=1)
    r.tick(1)
    assert r.status(0)[0] == S_
    assert r.status(1)[0] == R_


def test_invalid_action_return_counts_as_failure(world_factory) -> None:  # type: ignore[no-untyped-def]
    r = world_factory(Sequence([A(1)]), "badret")
    r.set_outcomes({1: 7})
    r.tick(1)
    assert r.status() == [F_, F_]
