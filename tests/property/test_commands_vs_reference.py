"""Command buffers applied to a World agree with the ReferenceWorld (differential)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archetype_ecs import CommandBuffer, EntityRef, World, component, f32
from archetype_ecs.testing import (
    CommandPlan,
    ReferenceWorld,
    assert_report_matches,
    assert_world_matches,
)
from archetype_ecs.testing import strategies as ecs_st

pytestmark = pytest.mark.hypothesis

SLOW = settings(
    max_examples=max(2_000, settings.default.max_examples),
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def _states_and_plans(draw):
    state = draw(ecs_st.world_states(), label="world")
    plans = draw(
        st.lists(
            ecs_st.command_buffers(state.world, state.classes), min_size=1, max_size=3
        ),
        label="plans",
    )
    return state, plans


def _check_apply(state, plans):
    built = [plan.build(f"buffer{i}") for i, plan in enumerate(plans)]
    expected = state.reference.apply(*plans)
    report = state.world.apply(*(buffer for buffer, _ in built))
    assert_report_matches(report, expected, built)
    assert_world_matches(state.world, state.reference, state.classes)


@given(_states_and_plans())
def test_apply_matches_reference(case):
    _check_apply(*case)


@pytest.mark.slow
@SLOW
@given(_states_and_plans())
def test_apply_matches_reference_many_examples(case):
    _check_apply(*case)


@component
class Hp:
    value: f32 = 10.0


@component
class Target:
    entity: EntityRef = 0


def _both(plan: CommandPlan, *spawn: object) -> tuple[World, ReferenceWorld, list[int]]:
    world, ref = World(), ReferenceWorld()
    ids = [int(world.spawn(*spawn)) for _ in range(3)]
    assert [int(ref.spawn(*spawn)) for _ in range(3)] == ids
    return world, ref, ids


def test_despawn_wins_over_later_insert_and_is_reported():
    world, ref, (a, b, _) = _both(CommandPlan(), Hp())
    plan = CommandPlan()
    plan.despawn(a)
    plan.insert(a, Target(b))
    plan.set(a, Hp(1.0))
    buffer, _ = plan.build()
    report = world.apply(buffer)
    assert report.dead.tolist() == [a, a]
    assert report.applied == 1
    assert_report_matches(report, ref.apply(plan))
    assert_world_matches(world, ref, [Hp, Target])


def test_set_on_entity_lacking_component_is_reported_missing():
    world, ref, (a, _, _) = _both(CommandPlan(), Hp())
    plan = CommandPlan()
    plan.set(a, Target(0))
    buffer, _ = plan.build()
    report = world.apply(buffer)
    assert report.missing.tolist() == [a]
    assert_report_matches(report, ref.apply(plan))


def test_pending_ids_resolve_in_later_commands_and_refs():
    world, ref, (a, _, _) = _both(CommandPlan(), Hp())
    plan = CommandPlan()
    p = plan.spawn(Hp(1.0))
    q = plan.spawn(Hp(2.0), Target(p))  # a ref to an earlier spawn of this buffer
    plan.insert(a, Target(q))
    plan.set_batch([p, q], Hp, {"value": np.array([3.0, 4.0], dtype=np.float32)})
    buffer, pending = plan.build()
    report = world.apply(buffer)
    expected = ref.apply(plan)
    assert_report_matches(report, expected, [(buffer, pending)])
    assert_world_matches(world, ref, [Hp, Target])
    real_p, real_q = expected.pending[0]
    assert world.component(real_q, Target).entity == real_p
    assert world.component(a, Target).entity == real_q


def test_ref_to_earlier_spawn_in_same_coalesced_run_resolves():
    world, ref = World(), ReferenceWorld()
    plan = CommandPlan()
    p = plan.spawn(Target(0))
    plan.spawn(Target(p))  # same kind and component: coalesces with p's spawn
    buffer, _ = plan.build()
    world.apply(buffer)
    (real_p, real_q) = ref.apply(plan).pending[0]
    assert world.component(real_q, Target).entity == real_p


def test_applying_empties_the_buffer():
    world = World()
    buffer = CommandBuffer()
    buffer.spawn(Hp())
    world.apply(buffer)
    assert len(buffer) == 0
    assert buffer.pending_count == 0


def test_empty_spawn_batch_in_a_buffer_is_a_no_op():
    world = World()
    buffer = CommandBuffer()
    buffer.spawn_batch({Hp: None}, n=0)
    report = world.apply(buffer)
    assert report.spawned.tolist() == []
    assert report.applied == 0
    assert len(world) == 0
