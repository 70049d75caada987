"""The vectorized tick: one kernel system per tree over every agent carrying its state.

``behavior_system(world, tree)`` returns an arrow-ecs kernel system whose declared
access is the tree's state component plus its leaves' components, so the scheduler
orders it against other systems like any system. ``tick_tree`` runs one tick by hand;
``switch_tree`` records a tree switch (state resets) in a command buffer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from archetype_ecs.commands import CommandBuffer
from archetype_ecs.component import schema_of
from archetype_ecs.resources import Time
from archetype_ecs.system import System, SystemContext, system
from archetype_ecs.world import World
from behaviors.compile import CompiledTree, compile_tree
from behaviors.leaves import LeafRegistry
from behaviors.tree import BehaviorTree, TreeError

__all__ = [
    "add_agents",
    "behavior_system",
    "check_agents",
    "compiled",
    "switch_tree",
    "tick_tree",
]


def compiled(
    world: World,
    tree: BehaviorTree | CompiledTree,
    *,
    parallel_min_rows: int | None = None,
) -> CompiledTree:
    """``tree`` compiled against the world's leaf registry and frame length.

    See :func:`~behaviors.compile.compile_tree` for ``parallel_min_rows``.
    """
    if isinstance(tree, CompiledTree):
        return tree
    return compile_tree(
        tree,
        LeafRegistry.of(world),
        world.resource(Time).dt,
        parallel_min_rows=parallel_min_rows,
    )


def behavior_system(
    world: World, tree: BehaviorTree | CompiledTree, **options: Any
) -> System:
    """A kernel system that ticks ``tree`` once per frame for all its agents.

    Its access: the state component and the leaves' components (query), their
    written components (writes) and the resources the leaves read.

    Parameters
    ----------
    world
        The world whose leaf registry and ``Time.dt`` compile the tree.
    tree
        The tree (compiled here) or a compiled tree.
    **options
        Passed to :func:`archetype_ecs.system` (``phase``, ``before``, ``after``,
        ``run_if`` ...); the name defaults to ``behavior_<tree name>``.

    Returns
    -------
    System
        Query: the state component and every leaf component; writes: the state
        component and the leaves' written components.

    Notes
    -----
    Agents lacking a component some leaf declares are not matched and so never
    ticked; :func:`check_agents` reports them.
    """
    ct = compiled(world, tree)
    options.setdefault("name", f"behavior_{ct.tree.name}")
    res = sorted({r for r, _ in ct.resources}, key=lambda r: r.__name__)
    options["resources"] = [*options.get("resources", ()), *res]

    def args(ctx: SystemContext) -> tuple[Any, ...]:
        return (ctx.time.frame, *(getattr(ctx.resource(r), a) for r, a in ct.resources))

    made: System = system(
        ct.tick_all,
        query=[ct.state, *ct.components],
        writes=[ct.state, *sorted(ct.writes, key=lambda c: schema_of(c).name)],
        args=args,
        **options,
    )
    return made


def tick_tree(world: World, tree: CompiledTree, frame: int | None = None) -> None:
    """Tick ``tree`` once for every agent carrying its state (outside a schedule).

    ``frame`` defaults to ``Time.frame``.
    """
    f = world.resource(Time).frame if frame is None else frame
    world.query(tree.state, *tree.components).for_each(
        tree.tick_all, np.int64(f), *tree.resource_args(world)
    )


def check_agents(world: World, tree: BehaviorTree | CompiledTree) -> None:
    """Raise when some agent carries the tree's state but lacks a leaf's component.

    Raises
    ------
    TreeError
        Naming up to five such agents and the components each lacks.
    """
    ct = compiled(world, tree)
    everyone = world.query(ct.state).entities()
    ok = world.query(ct.state, *ct.components).entities()
    bad = np.setdiff1d(everyone, ok)
    if not len(bad):
        return
    parts = []
    for e in bad[:5]:
        missing = [schema_of(c).name for c in ct.components if not world.has(int(e), c)]
        parts.append(f"{int(e) & 0xFFFFFFFF}v{int(e) >> 32} lacks {missing}")
    raise TreeError(
        f"{len(bad)} agent(s) run tree {ct.tree.name!r} but lack components its "
        f"leaves use: {'; '.join(parts)}; insert those components or remove "
        f"{schema_of(ct.state).name} from them"
    )


def add_agents(
    world: World, tree: BehaviorTree | CompiledTree, entities: Sequence[int] | Any
) -> None:
    """Give ``entities`` the tree's state component (fresh state) directly."""
    t = tree.tree if isinstance(tree, CompiledTree) else tree
    world.insert_batch(np.asarray(entities, dtype=np.uint64), t.state_component)


def switch_tree(
    commands: CommandBuffer,
    entities: Sequence[int] | Any,
    old: BehaviorTree | CompiledTree | None,
    new: BehaviorTree | CompiledTree,
) -> None:
    """Record switching ``entities`` from tree ``old`` to ``new`` (state resets).

    The old state component is removed and a fresh state of ``new`` inserted when
    the buffer applies (at the next sync point inside a frame).
    """
    ids = np.asarray(entities, dtype=np.uint64)
    old_t = old.tree if isinstance(old, CompiledTree) else old
    new_t = new.tree if isinstance(new, CompiledTree) else new
    if old_t is not None and old_t.state_component is not new_t.state_component:
        commands.remove_batch(ids, old_t.state_component)
    commands.insert_batch(ids, new_t.state_component)
