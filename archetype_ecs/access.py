"""Access sets: what a system reads and writes, and when two systems conflict.

Two systems conflict when one writes something (component, resource, event queue)
that the other reads or writes. The schedule orders conflicting systems and runs the
others in parallel batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archetype_ecs.component import schema_of

__all__ = ["Access"]


def _names(types: frozenset[type]) -> list[str]:
    out = []
    for t in types:
        try:
            out.append(schema_of(t).name)
        except Exception:
            out.append(t.__name__)
    return sorted(out)


@dataclass(frozen=True)
class Access:
    """Declared access of one system (classes, not ids, so it is world-independent).

    ``exclusive`` systems conflict with every other system (they may touch anything
    through the world, e.g. plain-Python systems that take the world itself).
    """

    reads: frozenset[type] = field(default_factory=frozenset)
    writes: frozenset[type] = field(default_factory=frozenset)
    resource_reads: frozenset[type] = field(default_factory=frozenset)
    resource_writes: frozenset[type] = field(default_factory=frozenset)
    event_reads: frozenset[type] = field(default_factory=frozenset)
    event_writes: frozenset[type] = field(default_factory=frozenset)
    exclusive: bool = False

    @property
    def components(self) -> frozenset[type]:
        """Every component read or written."""
        return self.reads | self.writes

    def conflicts_with(self, other: Access) -> list[str]:
        """Human-readable reasons why the two cannot run at the same time (empty: none).

        Examples
        --------
        >>> from archetype_ecs import component, f32
        >>> @component
        ... class Hp:
        ...     value: f32 = 0.0
        >>> Access(writes=frozenset({Hp})).conflicts_with(Access(reads=frozenset({Hp})))
        ['component Hp: written by one, read by the other']
        """
        if self.exclusive or other.exclusive:
            return ["exclusive system (whole-world access)"]
        out: list[str] = []
        for kind, mine_w, mine_r, theirs_w, theirs_r in (
            ("component", self.writes, self.reads, other.writes, other.reads),
            (
                "resource",
                self.resource_writes,
                self.resource_reads,
                other.resource_writes,
                other.resource_reads,
            ),
            (
                "event",
                self.event_writes,
                self.event_reads,
                other.event_writes,
                other.event_reads,
            ),
        ):
            both = mine_w & theirs_w
            for name in _names(both):
                out.append(f"{kind} {name}: written by both")
            for name in _names(((mine_w & theirs_r) | (theirs_w & mine_r)) - both):
                out.append(f"{kind} {name}: written by one, read by the other")
        return out

    def describe(self) -> str:
        """One line: ``R[Velocity] W[Position] res R[Time] ...``."""
        parts = []
        for label, items in (
            ("R", self.reads - self.writes),
            ("W", self.writes),
            ("res R", self.resource_reads - self.resource_writes),
            ("res W", self.resource_writes),
            ("ev R", self.event_reads),
            ("ev W", self.event_writes),
        ):
            if items:
                parts.append(f"{label}[{', '.join(_names(frozenset(items)))}]")
        if self.exclusive:
            parts.append("EXCLUSIVE")
        return " ".join(parts) or "(no access)"
