"""Plain-Python reference interpreter: ticks ONE agent at a time, by the semantics table.

It implements ``docs/behaviors.md`` directly and recursively, with an agent's state in
plain lists, and records the sequence of leaf invocations. Tests compare the vectorized
kernel against it; it is also the slow path for stepping a single agent in a debugger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from behaviors.nodes import (
    Action,
    Condition,
    Cooldown,
    ForceFailure,
    ForceSuccess,
    Guard,
    Inverter,
    Leaf,
    Parallel,
    Repeat,
    Retry,
    Selector,
    Sequence,
    Timeout,
)
from behaviors.tree import BehaviorTree, Layout

__all__ = ["AgentState", "LeafCall", "ReferenceInterpreter"]

SUCCESS, FAILURE, RUNNING, INVALID = 1, 2, 3, 0

LeafCall = Callable[[int, int, Leaf], int]
"""``call(agent, node_index, leaf) -> status`` (a Condition returns 1 / 0 or a bool)."""


@dataclass
class AgentState:
    """One agent's running state: the same three vectors as the state component."""

    status: list[int]
    data: list[int]
    entered: list[int]
    log: list[int] = field(default_factory=list)  # node indices of leaf calls

    @classmethod
    def fresh(cls, n: int) -> AgentState:
        """The state of an agent that just got the tree."""
        return cls([INVALID] * n, [0] * n, [-1] * n)


class ReferenceInterpreter:
    """Tick one agent through a tree, exactly as ``docs/behaviors.md`` says.

    Parameters
    ----------
    tree
        The tree.
    call
        Leaf callback ``call(agent, node_index, leaf) -> status``.
    dt
        Frame length, to convert Timeout / Cooldown seconds.

    Examples
    --------
    >>> from behaviors.nodes import Sequence, Condition, Action
    >>> t = BehaviorTree(Sequence([Condition("ok"), Action("go")]), "t")
    >>> ref = ReferenceInterpreter(t, lambda agent, k, leaf: 1 if leaf.name == "ok" else 3)
    >>> st = AgentState.fresh(t.n_nodes)
    >>> ref.tick(0, st, frame=1), st.status, st.log
    (3, [3, 1, 3], [1, 2])
    """

    def __init__(
        self, tree: BehaviorTree, call: LeafCall, dt: float = 1.0 / 60.0
    ) -> None:
        self.tree = tree
        self.layout: Layout = tree.layout(dt)
        self.call = call

    def tick(self, agent: int, state: AgentState, frame: int) -> int:
        """Tick the root once for ``agent``; returns the root's status."""
        return self._tick(0, agent, state, frame)

    def halt(self, k: int, s: AgentState) -> None:
        """Halt node ``k``'s subtree: RUNNING nodes become INVALID, their data 0.

        Cooldown nodes keep their data (the frame their cooldown ends).
        """
        lo, hi = k, k + int(self.layout.size[k])
        for j in range(lo, hi):
            if s.status[j] == RUNNING:
                s.status[j] = INVALID
                if not isinstance(self.tree.nodes[j], Cooldown):
                    s.data[j] = 0

    def _tick(self, k: int, agent: int, s: AgentState, frame: int) -> int:
        node = self.tree.nodes[k]
        s.entered[k] = frame
        was_running = s.status[k] == RUNNING
        kids = self.layout.children(k)
        if isinstance(node, Leaf):
            r = self._leaf(k, node, agent, s)
        elif isinstance(node, Sequence | Selector):
            r = self._composite(k, node, kids, agent, s, frame, was_running=was_running)
        elif isinstance(node, Parallel):
            r = self._parallel(k, kids, agent, s, frame, was_running=was_running)
        else:
            r = self._decorator(k, node, kids, agent, s, frame, was_running=was_running)
        s.status[k] = r
        if r != RUNNING and not isinstance(node, Cooldown):
            s.data[k] = 0
        return r

    def _leaf(self, k: int, node: Leaf, agent: int, s: AgentState) -> int:
        s.log.append(k)
        v = int(self.call(agent, k, node))
        if isinstance(node, Condition):
            return SUCCESS if v else FAILURE
        assert isinstance(node, Action)
        return v if v in (SUCCESS, RUNNING) else FAILURE

    def _composite(
        self,
        k: int,
        node: Sequence | Selector,
        kids: list[int],
        agent: int,
        s: AgentState,
        frame: int,
        *,
        was_running: bool,
    ) -> int:
        # A Sequence goes on while children succeed; a Selector while they fail.
        go_on = SUCCESS if isinstance(node, Sequence) else FAILURE
        prev = s.data[k] if was_running else -1
        start = prev if (node.memory and prev >= 0) else 0
        for j in range(start, len(kids)):
            r = self._tick(kids[j], agent, s, frame)
            if r != go_on:
                if not node.memory and prev >= 0 and prev != j:
                    self.halt(kids[prev], s)
                if r == RUNNING:
                    s.data[k] = j
                return r
        if not node.memory and prev >= 0:
            self.halt(kids[prev], s)
        return go_on

    def _parallel(
        self,
        k: int,
        kids: list[int],
        agent: int,
        s: AgentState,
        frame: int,
        *,
        was_running: bool,
    ) -> int:
        need_s, need_f = int(self.layout.param0[k]), int(self.layout.param1[k])
        ns = nf = nr = 0
        for c in kids:
            if was_running and s.status[c] in (SUCCESS, FAILURE):
                q = s.status[c]  # finished earlier in this activation: not re-ticked
            else:
                q = self._tick(c, agent, s, frame)
            if q == SUCCESS:
                ns += 1
            elif q == FAILURE:
                nf += 1
            else:
                nr += 1
        if ns >= need_s:
            r = SUCCESS
        elif nf >= need_f or ns + nr < need_s:
            r = FAILURE
        else:
            return RUNNING
        for c in kids:
            self.halt(c, s)
        return r

    def _decorator(
        self,
        k: int,
        node: object,
        kids: list[int],
        agent: int,
        s: AgentState,
        frame: int,
        *,
        was_running: bool,
    ) -> int:
        p0 = int(self.layout.param0[k])
        if isinstance(node, Guard):
            cond, child = kids
            if self._tick(cond, agent, s, frame) == SUCCESS:
                return self._tick(child, agent, s, frame)
            self.halt(child, s)
            return FAILURE
        (child,) = kids
        if isinstance(node, Timeout):
            start = s.data[k] if was_running else frame
            if frame - start >= p0:
                self.halt(child, s)
                return FAILURE
            r = self._tick(child, agent, s, frame)
            s.data[k] = start
            return r
        if isinstance(node, Cooldown):
            if not was_running and frame < s.data[k]:
                return FAILURE
            r = self._tick(child, agent, s, frame)
            if r != RUNNING:
                s.data[k] = frame + p0
            return r
        r = self._tick(child, agent, s, frame)
        if isinstance(node, Inverter):
            return {SUCCESS: FAILURE, FAILURE: SUCCESS}.get(r, r)
        if isinstance(node, ForceSuccess):
            return r if r == RUNNING else SUCCESS
        if isinstance(node, ForceFailure):
            return r if r == RUNNING else FAILURE
        if isinstance(node, Repeat | Retry):
            count = s.data[k] if was_running else 0
            done, other = (
                (SUCCESS, FAILURE) if isinstance(node, Repeat) else (FAILURE, SUCCESS)
            )
            if r in (RUNNING, other):
                s.data[k] = count
                return r
            count += 1
            s.data[k] = count
            return done if count >= p0 else RUNNING
        raise AssertionError(f"unknown node kind {type(node).__name__}")
