"""Node kinds of a behavior tree as pure data: composites, decorators and leaves.

Nodes hold no runtime state: one tree definition serves every agent, and each agent's
running state lives in the columns of the tree's state component (see
:mod:`behaviors.tree`). The semantics of every node are written down in
``docs/behaviors.md``; :mod:`behaviors.reference` implements them one agent at a time.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALL",
    "ONE",
    "Action",
    "Condition",
    "Cooldown",
    "ForceFailure",
    "ForceSuccess",
    "Guard",
    "Inverter",
    "Leaf",
    "N",
    "Node",
    "Parallel",
    "Policy",
    "Repeat",
    "Retry",
    "Selector",
    "Sequence",
    "Status",
    "Timeout",
    "children_of",
]


class Status(enum.IntEnum):
    """Result of ticking a node, stored as int8 (py_trees names).

    ``INVALID`` means "not ticked since the agent got the tree, or halted".
    """

    INVALID = 0
    SUCCESS = 1
    FAILURE = 2
    RUNNING = 3


@dataclass(frozen=True)
class Policy:
    """A Parallel threshold: ``ALL`` children, ``ONE`` child or ``N(k)`` children."""

    kind: str  # "all" | "one" | "n"
    k: int = 0

    def threshold(self, n_children: int) -> int:
        """The number of children this policy needs out of ``n_children``."""
        if self.kind == "all":
            return n_children
        if self.kind == "one":
            return 1
        return self.k

    def __repr__(self) -> str:
        return (
            "ALL"
            if self.kind == "all"
            else "ONE"
            if self.kind == "one"
            else f"N({self.k})"
        )


ALL = Policy("all")
ONE = Policy("one")


def N(k: int) -> Policy:
    """A Parallel threshold of ``k`` children."""
    return Policy("n", int(k))


class Node:
    """Base class of every node kind (pure data, immutable)."""

    __slots__ = ()
    label: str  # every node kind has a free-text label (default "")

    @property
    def kind(self) -> str:
        """The node kind's name (``"Sequence"``, ``"Action"``, ...)."""
        return type(self).__name__


def _tuple(children: Iterable[Node]) -> tuple[Node, ...]:
    return tuple(children)


@dataclass(frozen=True)
class Sequence(Node):
    """Tick children in order until one does not succeed.

    ``memory=True`` resumes at the running child; ``memory=False`` (reactive)
    re-evaluates from the first child every tick and halts the previously running
    child when another child decides.
    """

    children: Seq[Node]
    memory: bool = True
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "children", _tuple(self.children))


@dataclass(frozen=True)
class Selector(Node):
    """Tick children in order until one does not fail (a Fallback).

    ``memory`` has the same meaning as for :class:`Sequence`.
    """

    children: Seq[Node]
    memory: bool = True
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "children", _tuple(self.children))


@dataclass(frozen=True)
class Parallel(Node):
    """Tick every unfinished child each tick; resolve by success / failure policies."""

    children: Seq[Node]
    success: Policy = ALL
    failure: Policy = ONE
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "children", _tuple(self.children))


@dataclass(frozen=True)
class _Decorator(Node):
    child: Node


@dataclass(frozen=True)
class Inverter(_Decorator):
    """SUCCESS <-> FAILURE; RUNNING passes through."""

    label: str = ""


@dataclass(frozen=True)
class ForceSuccess(_Decorator):
    """SUCCESS unless the child is RUNNING."""

    label: str = ""


@dataclass(frozen=True)
class ForceFailure(_Decorator):
    """FAILURE unless the child is RUNNING."""

    label: str = ""


@dataclass(frozen=True)
class Repeat(_Decorator):
    """Run the child to SUCCESS ``n`` times (one completion per tick); FAILURE fails."""

    n: int = 1
    label: str = ""


@dataclass(frozen=True)
class Retry(_Decorator):
    """Run the child until it succeeds, at most ``n`` attempts (one per tick)."""

    n: int = 1
    label: str = ""


def _frames(frames: int | None, seconds: float | None, dt: float, what: str) -> int:
    if (frames is None) == (seconds is None):
        raise ValueError(f"{what}: give exactly one of frames= or seconds=")
    if frames is not None:
        return int(frames)
    assert seconds is not None
    return max(1, math.ceil(seconds / dt - 1e-9))


@dataclass(frozen=True)
class Timeout(_Decorator):
    """FAILURE (and halt the child) once the child has run ``frames`` frames.

    Give ``frames`` or ``seconds`` (converted with ``Time.dt`` at compile).
    """

    frames: int | None = None
    seconds: float | None = None
    label: str = ""

    def frames_at(self, dt: float) -> int:
        """The timeout in frames for a frame length ``dt``."""
        return _frames(self.frames, self.seconds, dt, "Timeout")


@dataclass(frozen=True)
class Cooldown(_Decorator):
    """After the child finishes, FAILURE without ticking it for ``frames`` frames."""

    frames: int | None = None
    seconds: float | None = None
    label: str = ""

    def frames_at(self, dt: float) -> int:
        """The cooldown in frames for a frame length ``dt``."""
        return _frames(self.frames, self.seconds, dt, "Cooldown")


@dataclass(frozen=True, init=False)
class Leaf(Node):
    """A registered leaf called by name with parameters."""

    name: str
    params: tuple[tuple[str, Any], ...] = field(default=())
    label: str = ""

    def __init__(self, name: str, label: str = "", **params: Any) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", tuple(sorted(params.items())))
        object.__setattr__(self, "label", label)

    @property
    def param_dict(self) -> dict[str, Any]:
        """The parameters as a dict."""
        return dict(self.params)


@dataclass(frozen=True, init=False)
class Condition(Leaf):
    """A leaf that returns a bool: SUCCESS when true, FAILURE when false."""


@dataclass(frozen=True, init=False)
class Action(Leaf):
    """A leaf that returns a status (SUCCESS, FAILURE or RUNNING)."""


@dataclass(frozen=True)
class Guard(Node):
    """Re-check ``condition`` every tick; while false, halt ``child`` and fail.

    This is Unreal's "abort self" observer: the condition is evaluated before the
    child on every tick, also while the child is RUNNING.
    """

    condition: Condition
    child: Node
    label: str = ""


def children_of(node: Node) -> tuple[Node, ...]:
    """A node's children in tick order (a Guard's condition comes first)."""
    if isinstance(node, Sequence | Selector | Parallel):
        return tuple(node.children)
    if isinstance(node, Guard):
        return (node.condition, node.child)
    if isinstance(node, _Decorator):
        return (node.child,)
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Pre-order traversal (the flat layout's order)."""
    yield node
    for c in children_of(node):
        yield from walk(c)
