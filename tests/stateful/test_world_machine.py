"""World vs ReferenceWorld, driven by the public WorldStateMachine.

``TestWorldMachine`` runs in the default tier (200 examples); the ``slow`` tier runs the
same machine with at least 2,000. ``TestMoveSystemMachine`` shows how a user subclasses
the machine to test a system of their own.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from archetype_ecs import component, f32
from archetype_ecs.testing import WorldStateMachine, cast_value

STEPS = 50
_SUPPRESS = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
]


class WorldMachine(WorldStateMachine):
    """The machine exactly as shipped."""


@pytest.mark.hypothesis
class TestWorldMachine(WorldMachine.TestCase):
    settings = settings(
        max_examples=max(200, settings.default.max_examples),
        stateful_step_count=STEPS,
        suppress_health_check=_SUPPRESS,
    )


@pytest.mark.hypothesis
@pytest.mark.slow
class TestWorldMachineManyExamples(WorldMachine.TestCase):
    settings = settings(
        max_examples=max(2_000, settings.default.max_examples),
        stateful_step_count=2 * STEPS,
        suppress_health_check=_SUPPRESS,
    )


@component
class Position:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Velocity:
    dx: f32 = 0.0
    dy: f32 = 0.0


@component
class Frozen:
    pass


def move_system(world, dt):
    """The system under test: integrate velocity into position, skipping Frozen."""
    # inf * 0 is nan by IEEE rules; the values may hold inf, so no warning here
    with np.errstate(invalid="ignore", over="ignore"):
        for _, pos, vel in world.query(Position, Velocity, without=[Frozen]):
            pos.x += vel.dx * f32.dtype.type(dt)
            pos.y += vel.dy * f32.dtype.type(dt)


class MoveSystemMachine(WorldStateMachine):
    """A user's machine: own components, one extra rule, every inherited check."""

    component_classes = st.just([Position, Velocity, Frozen])

    @rule(dt=st.floats(0, 1, width=32))
    def move(self, dt):
        note(f"move_system(world, dt={dt})")
        move_system(self.world, dt)
        step = cast_value(f32, dt)
        for comps in self.ref.entities.values():
            if Position in comps and Velocity in comps and Frozen not in comps:
                (x, y), (dx, dy) = comps[Position], comps[Velocity]
                comps[Position] = (
                    cast_value(f32, x + cast_value(f32, dx * step)),
                    cast_value(f32, y + cast_value(f32, dy * step)),
                )


@pytest.mark.hypothesis
class TestMoveSystemMachine(MoveSystemMachine.TestCase):
    settings = settings(
        max_examples=50, stateful_step_count=STEPS, suppress_health_check=_SUPPRESS
    )
