"""Public test kit: Hypothesis strategies, a reference model and a stateful machine.

- :mod:`archetype_ecs.testing.strategies`: field types, ``@component`` classes made on
  the fly, values, columns, worlds and command buffers;
- :mod:`archetype_ecs.testing.reference`: :class:`ReferenceWorld`, a dict-of-dicts model
  with the world's semantics, :class:`HierarchyReferenceWorld`, which adds ChildOf
  hierarchies, despawn policies, prefabs and scenes, and :class:`CommandPlan`, a
  replayable command buffer;
- :mod:`archetype_ecs.testing.stateful`: :class:`WorldStateMachine`, which runs a World
  and the model side by side (subclass it to test your own systems), and
  :class:`HierarchyWorldStateMachine` / :class:`OrphanWorldStateMachine`, which add
  hierarchy, prefab, snapshot / restore and save / load rules.

Importing this package needs ``hypothesis`` (a core dependency).
"""

from archetype_ecs.testing.reference import (
    CommandPlan,
    HierarchyReferenceWorld,
    Pending,
    ReferenceReport,
    ReferenceWorld,
    cast_value,
    values_equal,
)
from archetype_ecs.testing.stateful import (
    HierarchyWorldStateMachine,
    OrphanWorldStateMachine,
    WorldStateMachine,
    apply_both,
    assert_entity_index_matches,
    assert_query_matches,
    assert_report_matches,
    assert_tables_match,
    assert_world_matches,
)

__all__ = [
    "CommandPlan",
    "HierarchyReferenceWorld",
    "HierarchyWorldStateMachine",
    "OrphanWorldStateMachine",
    "Pending",
    "ReferenceReport",
    "ReferenceWorld",
    "WorldStateMachine",
    "apply_both",
    "assert_entity_index_matches",
    "assert_query_matches",
    "assert_report_matches",
    "assert_tables_match",
    "assert_world_matches",
    "cast_value",
    "values_equal",
]
