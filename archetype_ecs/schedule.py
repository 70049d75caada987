"""Schedule: phases, ordering constraints, conflict analysis and parallel batches.

Each phase's systems are put in a deterministic topological order (``before`` /
``after`` edges between systems and sets; ties broken by registration order). Two
systems whose declared accesses conflict are never run at once: without an explicit
order, the earlier one in that order goes first (``ambiguities()`` lists these pairs;
``strict=True`` makes them errors). Systems are then grouped in batches of mutually
non-conflicting systems that may run in parallel; a sync point follows each phase.
"""

from __future__ import annotations

import dataclasses
import heapq
import html
from dataclasses import dataclass, field

from archetype_ecs.errors import (
    E_CYCLE,
    AccessConflictError,
    ScheduleCycleError,
    coded,
)
from archetype_ecs.system import System

__all__ = ["DEFAULT_PHASES", "PhasePlan", "Schedule"]

DEFAULT_PHASES = ("startup", "pre_update", "update", "post_update")


@dataclass
class PhasePlan:
    """A phase's systems in run order and their parallel batches."""

    phase: str
    order: list[System]
    batches: list[list[System]]
    edges: dict[str, set[str]]  # explicit + implicit (conflict) ordering edges
    ambiguous: list[tuple[str, str, list[str]]] = field(default_factory=list)


# System fields that are run state, kept when a system's declaration is replaced.
_RUN_STATE = frozenset({"name", "last_run", "runs", "order", "_readers", "_bound"})
# Fields whose change invalidates the schedule's plans.
_SCHEDULING = ("access", "phase", "before", "after", "sets")


class Schedule:
    """Phases and systems of one world (``world.schedule``).

    Examples
    --------
    >>> s = Schedule()
    >>> s.add_phase("physics", after="update")
    >>> s.phases
    ['startup', 'pre_update', 'update', 'physics', 'post_update']
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.phases: list[str] = list(DEFAULT_PHASES)
        self.systems: list[System] = []
        self.strict = strict
        self._by_name: dict[str, System] = {}
        self._set_before: dict[str, set[str]] = {}
        self._set_after: dict[str, set[str]] = {}
        self._plans: dict[str, PhasePlan] | None = None

    def add_phase(
        self, name: str, *, before: str | None = None, after: str | None = None
    ) -> None:
        """Insert a user phase before or after an existing one (default: at the end)."""
        if name in self.phases:
            raise ValueError(f"phase {name!r} already exists: {self.phases}")
        anchor = before or after
        if anchor is not None and anchor not in self.phases:
            raise ValueError(f"phase {anchor!r} does not exist: {self.phases}")
        if before is not None:
            self.phases.insert(self.phases.index(before), name)
        elif after is not None:
            self.phases.insert(self.phases.index(after) + 1, name)
        else:
            self.phases.append(name)
        self._plans = None

    def add_system(self, sys: System) -> System:
        """Register a copy of a system (names are unique); returns the copy.

        The declaration stays reusable: run state (``last_run``, ``runs``, event
        readers) lives on the copy, so one module-level ``@system`` can serve many
        worlds.
        """
        sys = dataclasses.replace(
            sys, last_run=0, runs=0, order=-1, _readers={}, _bound={}
        )
        if sys.name in self._by_name:
            raise ValueError(
                f"a system named {sys.name!r} is already registered; pass "
                "@system(name=...) to register the same function twice"
            )
        if sys.phase not in self.phases:
            raise ValueError(
                f"system {sys.name!r}: unknown phase {sys.phase!r}; phases are "
                f"{self.phases} (add one with schedule.add_phase)"
            )
        sys.order = len(self.systems)
        self.systems.append(sys)
        self._by_name[sys.name] = sys
        self._plans = None
        return sys

    def configure_set(
        self, name: str, *, before: tuple[str, ...] = (), after: tuple[str, ...] = ()
    ) -> None:
        """Order a named set of systems before / after other systems or sets."""
        self._set_before.setdefault(name, set()).update(before)
        self._set_after.setdefault(name, set()).update(after)
        self._plans = None

    def system(self, name: str) -> System:
        """The system registered under ``name``."""
        return self._by_name[name]

    def replace_system(self, new: System) -> System:
        """Swap in a new declaration for the registered system named ``new.name``.

        The registered copy keeps its run state (``last_run``, ``runs``, order, event
        readers); body, kind, access, query, phase and ordering come from ``new``.
        The plans are rebuilt when access, phase or ordering changed. Call between
        frames (``World.replace_system`` checks that). Returns the registered copy.

        Raises
        ------
        KeyError
            No system of that name is registered (the message lists them).
        ValueError
            ``new.phase`` is not a phase of this schedule.
        """
        live = self._by_name.get(new.name)
        if live is None:
            raise KeyError(
                f"no system named {new.name!r} to replace; registered: "
                f"{sorted(self._by_name)} (add it with add_system)"
            )
        if new.phase not in self.phases:
            raise ValueError(
                f"system {new.name!r}: unknown phase {new.phase!r}; phases are "
                f"{self.phases} (add one with schedule.add_phase)"
            )
        replan = any(getattr(live, a) != getattr(new, a) for a in _SCHEDULING)
        for f in dataclasses.fields(System):
            if f.name not in _RUN_STATE:
                setattr(live, f.name, getattr(new, f.name))
        live._bound = {}  # access-checked queries of the old declaration
        if replan:
            self._plans = None
        return live

    # ------------------------------------------------------------------ planning

    def _members(self, label: str, phase_systems: list[System]) -> list[System]:
        named = [s for s in phase_systems if s.name == label]
        in_set = [s for s in phase_systems if label in s.sets]
        return named + in_set

    def _known(self, label: str) -> bool:
        return (
            label in self._by_name
            or any(label in s.sets for s in self.systems)
            or (label in self._set_before or label in self._set_after)
        )

    def _explicit_edges(self, systems: list[System]) -> dict[str, set[str]]:
        edges: dict[str, set[str]] = {s.name: set() for s in systems}

        def link(first: list[System], then: list[System]) -> None:
            for a in first:
                for b in then:
                    if a is not b:
                        edges[a.name].add(b.name)

        for s in systems:
            for label in s.before:
                self._check_label(s, label)
                link([s], self._members(label, systems))
            for label in s.after:
                self._check_label(s, label)
                link(self._members(label, systems), [s])
        for set_name, targets in self._set_before.items():
            for label in targets:
                link(self._members(set_name, systems), self._members(label, systems))
        for set_name, sources in self._set_after.items():
            for label in sources:
                link(self._members(label, systems), self._members(set_name, systems))
        return edges

    def _check_label(self, s: System, label: str) -> None:
        if not self._known(label):
            raise ValueError(
                f"system {s.name!r} orders itself against {label!r}, which is neither "
                "a registered system nor a set; check the spelling"
            )

    def _all_members(self, label: str) -> list[System]:
        return [s for s in self.systems if s.name == label or label in s.sets]

    def _check_cross_phase(self) -> None:
        """Refuse ``first before then`` where a member of ``first`` runs in a later phase."""
        pairs: list[tuple[str, str, str]] = []  # (first label, then label, declared by)
        for s in self.systems:
            pairs += [
                (s.name, lb, f"system {s.name!r} before {lb!r}") for lb in s.before
            ]
            pairs += [(lb, s.name, f"system {s.name!r} after {lb!r}") for lb in s.after]
        for name, targets in self._set_before.items():
            pairs += [(name, lb, f"set {name!r} before {lb!r}") for lb in targets]
        for name, sources in self._set_after.items():
            pairs += [(lb, name, f"set {name!r} after {lb!r}") for lb in sources]
        rank = {p: i for i, p in enumerate(self.phases)}
        for first, then, who in pairs:
            for a in self._all_members(first):
                for b in self._all_members(then):
                    if rank[a.phase] > rank[b.phase]:
                        raise ValueError(
                            f"{who} cannot hold: {a.name!r} (phase {a.phase}) would run "
                            f"before {b.name!r} (phase {b.phase}), but phases run in the order "
                            f"{self.phases}; move one of them or drop the constraint"
                        )

    @staticmethod
    def _toposort(systems: list[System], edges: dict[str, set[str]]) -> list[System]:
        by_name = {s.name: s for s in systems}
        indeg = {s.name: 0 for s in systems}
        for a in edges:
            for b in edges[a]:
                indeg[b] += 1
        heap = [(s.order, s.name) for s in systems if indeg[s.name] == 0]
        heapq.heapify(heap)
        out: list[System] = []
        while heap:
            _, name = heapq.heappop(heap)
            out.append(by_name[name])
            for b in sorted(edges[name], key=lambda n: by_name[n].order):
                indeg[b] -= 1
                if indeg[b] == 0:
                    heapq.heappush(heap, (by_name[b].order, b))
        if len(out) != len(systems):
            cycle = Schedule._find_cycle({n for n, d in indeg.items() if d > 0}, edges)
            raise ScheduleCycleError(
                coded(
                    E_CYCLE,
                    f"ordering constraints form a cycle: {' -> '.join(cycle)}; remove "
                    "one of these before= / after= constraints",
                )
            )
        return out

    @staticmethod
    def _find_cycle(nodes: set[str], edges: dict[str, set[str]]) -> list[str]:
        # Nodes left after Kahn's sort include ones merely downstream of a cycle:
        # drop nodes without a successor in the set until every node has one.
        nodes = set(nodes)
        while True:
            dead = {n for n in nodes if not (edges[n] & nodes)}
            if not dead:
                break
            nodes -= dead
        start = min(nodes)
        path = [start]
        seen = {start: 0}
        node = start
        while True:
            node = min(b for b in edges[node] if b in nodes)
            if node in seen:
                return [*path[seen[node] :], node]
            seen[node] = len(path)
            path.append(node)

    @staticmethod
    def _reachable(
        order: list[System], edges: dict[str, set[str]]
    ) -> dict[str, set[str]]:
        reach: dict[str, set[str]] = {}
        for s in reversed(order):
            r: set[str] = set()
            for b in edges[s.name]:
                r.add(b)
                r |= reach[b]
            reach[s.name] = r
        return reach

    def _plan_phase(self, phase: str) -> PhasePlan:
        systems = [s for s in self.systems if s.phase == phase]
        edges = self._explicit_edges(systems)
        order = self._toposort(systems, edges)
        reach = self._reachable(order, edges)
        ambiguous: list[tuple[str, str, list[str]]] = []
        implicit = {n: set(v) for n, v in edges.items()}
        for i, a in enumerate(order):
            for b in order[i + 1 :]:
                reasons = a.access.conflicts_with(b.access)
                if not reasons:
                    continue
                if b.name not in reach[a.name] and a.name not in reach[b.name]:
                    ambiguous.append((a.name, b.name, reasons))
                implicit[a.name].add(b.name)  # conflicting: keep the planned order
        if ambiguous and self.strict:
            lines = "; ".join(f"{a} / {b} ({', '.join(r)})" for a, b, r in ambiguous)
            raise AccessConflictError(
                f"phase {phase!r} has conflicting systems with no order between them: "
                f"{lines}; add before= / after= (or turn off strict mode)"
            )
        level: dict[str, int] = {}
        for s in order:
            preds = [
                level[a.name]
                for a in order
                if s.name in implicit[a.name] and a.name in level
            ]
            level[s.name] = 1 + max(preds, default=-1)
        batches: list[list[System]] = [
            [] for _ in range(max(level.values(), default=-1) + 1)
        ]
        for s in order:
            batches[level[s.name]].append(s)
        return PhasePlan(phase, order, batches, implicit, ambiguous)

    def plan(self) -> dict[str, PhasePlan]:
        """Plans of every phase (cached until systems or constraints change).

        Raises
        ------
        ScheduleCycleError
            [E0012] when constraints form a cycle (the message names it).
        AccessConflictError
            In strict mode, when conflicting systems have no order.
        """
        if self._plans is None:
            self._check_cross_phase()
            self._plans = {p: self._plan_phase(p) for p in self.phases}
        return self._plans

    def ambiguities(self) -> list[tuple[str, str, list[str]]]:
        """Conflicting system pairs with no ordering between them (bevy's checker).

        Each item is ``(first, second, reasons)``; the schedule runs ``first`` first.
        """
        strict, self.strict = self.strict, False
        try:
            self._plans = None
            return [amb for p in self.plan().values() for amb in p.ambiguous]
        finally:
            self.strict = strict
            self._plans = None

    # ----------------------------------------------------------------- rendering

    def render_text(self) -> str:
        """Systems per phase in run order, their access, batches and ambiguities."""
        lines = []
        for phase, plan in self.plan().items():
            if not plan.order:
                continue
            lines.append(f"phase {phase}:")
            for i, batch in enumerate(plan.batches):
                par = " (parallel)" if len(batch) > 1 else ""
                lines.append(f"  batch {i}{par}:")
                for s in batch:
                    lines.append(f"    {s.name:<24} [{s.kind}] {s.access.describe()}")
            for a, b, reasons in plan.ambiguous:
                lines.append(f"  ambiguous: {a} / {b}: {', '.join(reasons)}")
            lines.append("  -> sync point (commands, observers)")
        return "\n".join(lines) or "(no systems)"

    def _repr_html_(self) -> str:
        rows = []
        for phase, plan in self.plan().items():
            for i, batch in enumerate(plan.batches):
                for s in batch:
                    rows.append(
                        f"<tr><td>{html.escape(phase)}</td><td>{i}</td>"
                        f"<td>{html.escape(s.name)}</td><td>{s.kind}</td>"
                        f"<td>{html.escape(s.access.describe())}</td></tr>"
                    )
            for a, b, reasons in plan.ambiguous:
                rows.append(
                    f"<tr><td>{html.escape(phase)}</td><td colspan=4>ambiguous: "
                    f"{html.escape(a)} / {html.escape(b)}: "
                    f"{html.escape(', '.join(reasons))}</td></tr>"
                )
        return (
            "<table><thead><tr><th>phase</th><th>batch</th><th>system</th>"
            "<th>kind</th><th>access</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )

    def __repr__(self) -> str:
        return self.render_text()
