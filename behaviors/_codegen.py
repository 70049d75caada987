"""Code generation of one tree's tick: Python source for a Numba kernel over all agents.

Every node becomes an inline block that sets a local ``r<k>`` (the node's status); the
blocks form the body of a loop over agents (``prange`` in ``tick_par``, ``range`` in
``tick_serial``) and of ``tick_one(a, ...)`` for stepping one agent. Inlining the whole
tree (rather than one jitted function per node) keeps the Numba compile to one function
per loop, and avoids passing every column per call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from archetype_ecs._jit import njit, prange
from behaviors.nodes import (
    Action,
    Condition,
    Cooldown,
    ForceFailure,
    ForceSuccess,
    Guard,
    Inverter,
    Parallel,
    Repeat,
    Retry,
    Selector,
    Sequence,
    Timeout,
)
from behaviors.tree import BehaviorTree, Layout, TreeError

__all__ = ["LeafCallSpec", "build_kernels", "generate_source", "tick_all_of"]

MAX_NESTING = 90  # CPython refuses source nested past 100 indentation levels

LeafCallSpec = tuple[str, tuple[str, ...], tuple[Any, ...]]
"""Per leaf node: (function name in scope, field argument names, parameter values)."""


@njit
def halt_range(status, data, a, lo, hi, keep):  # type: ignore[no-untyped-def] # numba kernel
    """Halt nodes ``[lo, hi)`` of agent ``a``: RUNNING -> INVALID, data -> 0 unless kept."""
    for j in range(lo, hi):
        if status[a, j] == 3:
            status[a, j] = 0
            if not keep[j]:
                data[a, j] = 0


class _Gen:
    def __init__(
        self, tree: BehaviorTree, layout: Layout, calls: dict[int, LeafCallSpec]
    ) -> None:
        self.tree = tree
        self.lay = layout
        self.calls = calls
        self.lines: list[str] = []

    def out(self, ind: int, text: str) -> None:
        self.lines.append("    " * ind + text)

    def halt(self, ind: int, lo: int, hi: int) -> None:
        self.out(ind, f"halt_range(status, data, a, {lo}, {hi}, KEEP)")

    def span(self, c: int) -> tuple[int, int]:
        return c, c + int(self.lay.size[c])

    def node(self, k: int, ind: int) -> None:
        node = self.tree.nodes[k]
        self.out(ind, f"entered[a, {k}] = frame")
        if isinstance(node, Condition | Action):
            self.leaf(k, node, ind)
        elif isinstance(node, Sequence | Selector):
            self.composite(k, node, ind)
        elif isinstance(node, Parallel):
            self.parallel(k, ind)
        elif isinstance(node, Guard):
            self.guard(k, ind)
        elif isinstance(node, Timeout | Cooldown):
            self.timed(k, node, ind)
        else:
            self.simple_decorator(k, node, ind)
        self.out(ind, f"status[a, {k}] = r{k}")

    def leaf(self, k: int, node: Condition | Action, ind: int) -> None:
        fn, fields, params = self.calls[k]
        args = ", ".join(["a", *fields, *(repr(p) for p in params)])
        if isinstance(node, Condition):
            self.out(ind, f"if {fn}({args}):")
            self.out(ind + 1, f"r{k} = 1")
            self.out(ind, "else:")
            self.out(ind + 1, f"r{k} = 2")
            return
        self.out(ind, f"v{k} = {fn}({args})")
        self.out(ind, f"if v{k} == 1:")
        self.out(ind + 1, f"r{k} = 1")
        self.out(ind, f"elif v{k} == 3:")
        self.out(ind + 1, f"r{k} = 3")
        self.out(ind, "else:")
        self.out(ind + 1, f"r{k} = 2")

    def composite(self, k: int, node: Sequence | Selector, ind: int) -> None:
        go_on = 1 if isinstance(node, Sequence) else 2
        kids = self.lay.children(k)
        self.out(ind, f"p{k} = data[a, {k}] if status[a, {k}] == 3 else -1")
        self.out(ind, f"r{k} = {go_on}")
        self.out(ind, f"w{k} = -1")
        for j, c in enumerate(kids):
            cond = f"w{k} == -1"
            if node.memory:
                cond += f" and p{k} <= {j}"
            self.out(ind, f"if {cond}:")
            self.node(c, ind + 1)
            self.out(ind + 1, f"if r{c} != {go_on}:")
            self.out(ind + 2, f"r{k} = r{c}")
            self.out(ind + 2, f"w{k} = {j}")
        if not node.memory:
            self.out(ind, f"if p{k} >= 0 and p{k} != w{k}:")
            for j, c in enumerate(kids):
                self.out(ind + 1, f"if p{k} == {j}:")
                self.halt(ind + 2, *self.span(c))
        self.out(ind, f"data[a, {k}] = w{k} if r{k} == 3 else 0")

    def parallel(self, k: int, ind: int) -> None:
        need_s, need_f = int(self.lay.param0[k]), int(self.lay.param1[k])
        self.out(ind, f"c{k} = status[a, {k}] == 3")
        self.out(ind, f"ns{k} = 0")
        self.out(ind, f"nf{k} = 0")
        self.out(ind, f"nr{k} = 0")
        for c in self.lay.children(k):
            self.out(ind, f"if c{k} and (status[a, {c}] == 1 or status[a, {c}] == 2):")
            self.out(ind + 1, f"q{c} = np.int64(status[a, {c}])")
            self.out(ind, "else:")
            self.node(c, ind + 1)
            self.out(ind + 1, f"q{c} = np.int64(r{c})")
            self.out(ind, f"if q{c} == 1:")
            self.out(ind + 1, f"ns{k} += 1")
            self.out(ind, f"elif q{c} == 2:")
            self.out(ind + 1, f"nf{k} += 1")
            self.out(ind, "else:")
            self.out(ind + 1, f"nr{k} += 1")
        self.out(ind, f"if ns{k} >= {need_s}:")
        self.out(ind + 1, f"r{k} = 1")
        self.out(ind, f"elif nf{k} >= {need_f} or ns{k} + nr{k} < {need_s}:")
        self.out(ind + 1, f"r{k} = 2")
        self.out(ind, "else:")
        self.out(ind + 1, f"r{k} = 3")
        self.out(ind, f"if r{k} != 3:")
        self.halt(ind + 1, k + 1, k + int(self.lay.size[k]))

    def guard(self, k: int, ind: int) -> None:
        g, c = self.lay.children(k)
        self.node(g, ind)
        self.out(ind, f"if r{g} == 1:")
        self.node(c, ind + 1)
        self.out(ind + 1, f"r{k} = r{c}")
        self.out(ind, "else:")
        self.halt(ind + 1, *self.span(c))
        self.out(ind + 1, f"r{k} = 2")

    def timed(self, k: int, node: Timeout | Cooldown, ind: int) -> None:
        (c,) = self.lay.children(k)
        frames = int(self.lay.param0[k])
        if isinstance(node, Timeout):
            self.out(ind, f"t{k} = data[a, {k}] if status[a, {k}] == 3 else frame")
            self.out(ind, f"if frame - t{k} >= {frames}:")
            self.halt(ind + 1, *self.span(c))
            self.out(ind + 1, f"r{k} = 2")
            self.out(ind, "else:")
            self.node(c, ind + 1)
            self.out(ind + 1, f"r{k} = r{c}")
            self.out(ind, f"data[a, {k}] = t{k} if r{k} == 3 else 0")
            return
        self.out(ind, f"if status[a, {k}] != 3 and frame < data[a, {k}]:")
        self.out(ind + 1, f"r{k} = 2")
        self.out(ind, "else:")
        self.node(c, ind + 1)
        self.out(ind + 1, f"r{k} = r{c}")
        self.out(ind + 1, f"if r{k} != 3:")
        self.out(ind + 2, f"data[a, {k}] = frame + {frames}")

    def simple_decorator(self, k: int, node: object, ind: int) -> None:
        (c,) = self.lay.children(k)
        if isinstance(node, Repeat | Retry):
            done, other = (1, 2) if isinstance(node, Repeat) else (2, 1)
            self.out(ind, f"n{k} = data[a, {k}] if status[a, {k}] == 3 else 0")
        self.node(c, ind)
        if isinstance(node, Inverter):
            self.out(ind, f"r{k} = 3 if r{c} == 3 else (2 if r{c} == 1 else 1)")
        elif isinstance(node, ForceSuccess):
            self.out(ind, f"r{k} = 3 if r{c} == 3 else 1")
        elif isinstance(node, ForceFailure):
            self.out(ind, f"r{k} = 3 if r{c} == 3 else 2")
        else:
            n = int(self.lay.param0[k])
            self.out(ind, f"if r{c} == 3 or r{c} == {other}:")
            self.out(ind + 1, f"r{k} = r{c}")
            self.out(ind, "else:")
            self.out(ind + 1, f"n{k} += 1")
            self.out(ind + 1, f"r{k} = {done} if n{k} >= {n} else 3")
            self.out(ind, f"data[a, {k}] = n{k} if r{k} == 3 else 0")


def generate_source(
    tree: BehaviorTree,
    layout: Layout,
    fields: list[str],
    calls: dict[int, LeafCallSpec],
    resource_args: list[str] | None = None,
) -> str:
    """Python source of ``tick_one(a, status, data, entered, *fields, frame, *res)``,
    ``tick_par`` (a ``prange`` loop over rows) and ``tick_serial`` for ``tree``."""
    gen = _Gen(tree, layout, calls)
    gen.node(0, 0)
    body = gen.lines
    deepest = max(len(line) - len(line.lstrip(" ")) for line in body) // 4
    if deepest > MAX_NESTING:
        raise TreeError(
            f"tree {tree.name!r} nests too deeply for one kernel ({deepest} block "
            f"levels, at most {MAX_NESTING}); split it into trees or flatten chains "
            "of single-child decorators and composites"
        )
    sig = ", ".join(
        ["status", "data", "entered", *fields, "frame", *(resource_args or [])]
    )

    def indented(level: int) -> list[str]:
        return ["    " * level + line for line in body]

    # The body is inlined into each loop: a call per agent passing every column
    # costs several times the tree's own work (measured: 69 vs 11 ns per agent).
    lines = [f"def tick_one(a, {sig}):", *indented(1), "    return r0", ""]
    lines += [f"def tick_par({sig}):", "    for a in prange(status.shape[0]):"]
    lines += [*indented(2), ""]
    lines += [f"def tick_serial({sig}):", "    for a in range(status.shape[0]):"]
    lines += indented(2)
    return "\n".join(lines) + "\n"


def build_kernels(
    source: str, scope: dict[str, Any], keep: np.ndarray[Any, Any], name: str
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """``exec`` the generated source and jit it: ``(tick_one, tick_serial, tick_par)``.

    Generated code has no file, so Numba's on-disk cache cannot hold it: each new
    (tree shape, leaf set) compiles once per process, each loop on first use.
    """
    ns: dict[str, Any] = {
        **scope,
        "np": np,
        "prange": prange,
        "halt_range": halt_range,
        "KEEP": keep,
    }
    code = compile(source, f"<behavior tree {name}>", "exec")
    exec(code, ns)
    ns["tick_one"] = njit(ns["tick_one"])
    return ns["tick_one"], njit(ns["tick_serial"]), njit(ns["tick_par"], parallel=True)


def tick_all_of(
    serial: Callable[..., Any],
    par: Callable[..., Any],
    parallel_min_rows: int | None,
    name: str,
) -> Callable[..., None]:
    """``tick_all(status, *rest)``: the ``prange`` loop from ``parallel_min_rows``
    rows up (never when ``None``), else the serial loop."""
    if parallel_min_rows is None:

        def tick_all(status: np.ndarray[Any, Any], *rest: Any) -> None:
            serial(status, *rest)

    else:
        least = parallel_min_rows

        def tick_all(status: np.ndarray[Any, Any], *rest: Any) -> None:
            if status.shape[0] >= least:
                par(status, *rest)
            else:
                serial(status, *rest)

    tick_all.__name__ = f"tick_{name}"
    return tick_all
