"""Behavior trees compiled to one vectorized tick over all agents (issue #5).

Define a tree from the node kinds in :mod:`behaviors.nodes`, register Numba leaves with
:func:`~behaviors.leaves.leaf` in the world's :class:`~behaviors.leaves.LeafRegistry`,
and add :func:`~behaviors.tick.behavior_system` to the world. Semantics: docs/behaviors.md.
"""

from behaviors.compile import CompiledTree, compile_tree
from behaviors.leaves import REQUIRED, LeafDef, LeafRegistry, leaf
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
from behaviors.tick import (
    add_agents,
    behavior_system,
    check_agents,
    compiled,
    switch_tree,
    tick_tree,
)
from behaviors.tree import BehaviorTree, TreeError

__all__ = [
    "ALL",
    "ONE",
    "REQUIRED",
    "Action",
    "BehaviorTree",
    "CompiledTree",
    "Condition",
    "Cooldown",
    "ForceFailure",
    "ForceSuccess",
    "Guard",
    "Inverter",
    "LeafDef",
    "LeafRegistry",
    "N",
    "Parallel",
    "Repeat",
    "Retry",
    "Selector",
    "Sequence",
    "Status",
    "Timeout",
    "TreeError",
    "add_agents",
    "behavior_system",
    "check_agents",
    "compile_tree",
    "compiled",
    "leaf",
    "switch_tree",
    "tick_tree",
]
