"""World vs HierarchyReferenceWorld: hierarchy, prefabs, scenes, snapshots, save/load.

The machines (``archetype_ecs.testing.stateful``) extend the core ``WorldStateMachine``:
every inherited rule and invariant runs too, with despawns now applying the
hierarchy's policy (``cascade`` or ``orphan``, one machine each). Ids are modelled
exactly, including the order in which a cascade frees slots, across snapshot /
restore and save / load into a fresh world; loads into a used world are compared
through the returned id mapping.

The default tier keeps both machines well under a minute on a 2-core box; the
``slow`` tier runs at least 1,000 examples of each with twice the steps. Failures
shrink without the (slow, for state machines) explain phase and report one bug at a
time.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings

from archetype_ecs.testing.stateful import (
    HierarchyWorldStateMachine,
    OrphanWorldStateMachine,
)

STEPS = 30
_SUPPRESS = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
]
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]


def _settings(examples: int, steps: int = STEPS) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        suppress_health_check=_SUPPRESS,
        deadline=None,
        phases=_PHASES,
        report_multiple_bugs=False,
    )


def _at_least(n: int) -> int:
    return max(n, settings.default.max_examples)


@pytest.mark.hypothesis
class TestCascadeMachine(HierarchyWorldStateMachine.TestCase):
    settings = _settings(200)


@pytest.mark.hypothesis
class TestOrphanMachine(OrphanWorldStateMachine.TestCase):
    settings = _settings(100)


@pytest.mark.hypothesis
@pytest.mark.slow
class TestCascadeMachineManyExamples(HierarchyWorldStateMachine.TestCase):
    settings = _settings(_at_least(1_000), 2 * STEPS)


@pytest.mark.hypothesis
@pytest.mark.slow
class TestOrphanMachineManyExamples(OrphanWorldStateMachine.TestCase):
    settings = _settings(_at_least(1_000), 2 * STEPS)
