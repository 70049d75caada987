"""Observers: ``on_add`` / ``on_remove`` / ``on_set`` callbacks per component, batched.

An observer is called while commands apply (and after direct world calls), once per
bulk operation with the array of affected entities, never once per entity. It may
record commands in ``trigger.commands``; those apply in the same sync point, and a
cascade deeper than ``World.max_observer_depth`` raises ``ObserverCascadeError``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from archetype_ecs.commands import CommandBuffer

if TYPE_CHECKING:
    from archetype_ecs.component import ComponentId
    from archetype_ecs.world import World

__all__ = [
    "Observer",
    "ObserverKind",
    "Observers",
    "Trigger",
    "on_add",
    "on_remove",
    "on_set",
]


class ObserverKind(enum.Enum):
    """When an observer fires."""

    ADD = "on_add"
    REMOVE = "on_remove"
    SET = "on_set"


on_add = ObserverKind.ADD
on_remove = ObserverKind.REMOVE
on_set = ObserverKind.SET


@dataclass
class Trigger:
    """What an observer is told.

    Attributes
    ----------
    kind
        ``on_add`` (entities gained the component; values readable), ``on_remove``
        (entities are about to lose it; values still readable), ``on_set`` (values
        were overwritten by set / set_batch or an insert of a component already
        present).
    component
        The component class.
    entities
        Affected ids (uint64), in the order of the operation, each once.
    values
        For ``on_set``: the new values of the written fields, aligned with
        ``entities``; ``None`` otherwise.
    world
        The world, for reads (``world.get_batch``); structural calls are refused.
    commands
        Record follow-up changes here; they apply in the same sync point.
    """

    kind: ObserverKind
    component: type
    entities: np.ndarray[Any, Any]
    values: dict[str, np.ndarray[Any, Any]] | None
    world: World
    commands: CommandBuffer
    chain: tuple[str, ...] = ()


@dataclass
class Observer:
    """A registered callback."""

    name: str
    kind: ObserverKind
    component: type
    callback: Callable[[Trigger], None]
    calls: int = 0
    entities_seen: int = 0


@dataclass
class Observers:
    """A world's observers, indexed by (kind, component id), in registration order."""

    by_key: dict[tuple[ObserverKind, ComponentId], list[Observer]] = field(
        default_factory=dict
    )

    @property
    def active(self) -> bool:
        """True when any observer is registered (else firing costs nothing)."""
        return bool(self.by_key)

    def add(self, cid: ComponentId, observer: Observer) -> None:
        """Register ``observer`` for component id ``cid``."""
        self.by_key.setdefault((observer.kind, cid), []).append(observer)

    def get(self, kind: ObserverKind, cid: ComponentId) -> list[Observer]:
        """Observers of (kind, component), in registration order."""
        return self.by_key.get((kind, cid), [])

    def all(self) -> list[Observer]:
        """Every observer."""
        return [o for obs in self.by_key.values() for o in obs]
