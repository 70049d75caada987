"""Parallel schedule execution equals serial execution in plan order (issue #3).

Hypothesis draws random system graphs over a fixed pool of one-field components
(``C0``..``C5``), two tags and three resources: kernel systems from a small family of
Numba kernels (query = written components first, then read ones), Python systems that
record structural commands, write components or fold a component into a resource,
random ``before`` / ``after`` constraints forming a DAG, random phases and run
conditions. The same graph runs three frames in a ``World(threads=4)``, a
``World(threads=1)`` and a hand-written reference that calls the kernels per archetype
in ``schedule.plan()`` order and applies command buffers at each phase's end; the three
states must be bit-identical.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from archetype_ecs import CommandBuffer, World, component, every, f64, njit, system
from archetype_ecs.errors import ScheduleCycleError
from archetype_ecs.table import changed_key

pytestmark = pytest.mark.hypothesis

JIT_OFF = bool(numba.config.DISABLE_JIT)
ROWS_PER_ARCHETYPE = 60 if JIT_OFF else 6_000  # 6 archetypes: 36k entities
FRAMES = 3
PHASES = ("update", "post_update")

# ------------------------------------------------------------------ components


@component
class C0:
    v: f64 = 0.0


@component
class C1:
    v: f64 = 0.0


@component
class C2:
    v: f64 = 0.0


@component
class C3:
    v: f64 = 0.0


@component
class C4:
    v: f64 = 0.0


@component
class C5:
    v: f64 = 0.0


@component
class T0:
    pass


@component
class T1:
    pass


@dataclass
class R0:
    value: float = 0.0


@dataclass
class R1:
    value: float = 0.0


@dataclass
class R2:
    value: float = 0.0


COMPS: tuple[type, ...] = (C0, C1, C2, C3, C4, C5)
TAGS: tuple[type, ...] = (T0, T1)
RESOURCES: tuple[type, ...] = (R0, R1, R2)
RESOURCE_START = (0.125, -0.25, 0.375)
# initial archetypes: component indices (+ tag index or None)
ARCHETYPES: tuple[tuple[tuple[int, ...], int | None], ...] = (
    ((0, 1, 2, 3, 4, 5), None),
    ((0, 1, 2), None),
    ((3, 4, 5), 0),
    ((0, 2, 4), None),
    ((1, 3, 5), 1),
    ((0, 1, 3, 4), 0),
)


def key_of(c: type) -> str:
    return f"{c.__name__}.v"


# --------------------------------------------------------------------- kernels
# Each variant comes in two forms: over every row, and over the ``rows`` a change
# filter passes (the executor hands those first). Views are flat, in query order:
# written components first, then read ones; the last argument is the factor ``k``.


@njit
def axpy(w, r, k):
    for i in range(w.shape[0]):
        w[i] += r[i] * k


@njit
def axpy_rows(rows, w, r, k):
    for i in rows:
        w[i] += r[i] * k


@njit
def sin_blend(w, r, k):
    for i in range(w.shape[0]):
        w[i] = math.sin(r[i]) * k + 0.5 * w[i]


@njit
def sin_blend_rows(rows, w, r, k):
    for i in rows:
        w[i] = math.sin(r[i]) * k + 0.5 * w[i]


@njit
def step_mask(w, r, k):
    out = np.zeros(w.shape[0], dtype=np.bool_)
    for i in range(w.shape[0]):
        if r[i] > 0.0:
            w[i] = 0.5 * w[i] + k
            out[i] = True
    return out


@njit
def step_mask_rows(rows, w, r, k):
    out = np.zeros(rows.shape[0], dtype=np.bool_)
    for j in range(rows.shape[0]):
        i = rows[j]
        if r[i] > 0.0:
            w[i] = 0.5 * w[i] + k
            out[j] = True
    return out


@njit
def sin_add(w, a, b, k):
    for i in range(w.shape[0]):
        w[i] = math.sin(a[i]) + b[i] * k


@njit
def sin_add_rows(rows, w, a, b, k):
    for i in rows:
        w[i] = math.sin(a[i]) + b[i] * k


@njit
def tanh_prod_mask(w, a, b, k):
    out = np.zeros(w.shape[0], dtype=np.bool_)
    for i in range(w.shape[0]):
        if a[i] > b[i]:
            w[i] = math.tanh(a[i] * b[i]) + k
            out[i] = True
    return out


@njit
def tanh_prod_mask_rows(rows, w, a, b, k):
    out = np.zeros(rows.shape[0], dtype=np.bool_)
    for j in range(rows.shape[0]):
        i = rows[j]
        if a[i] > b[i]:
            w[i] = math.tanh(a[i] * b[i]) + k
            out[j] = True
    return out


@njit
def two_writes(w1, w2, r, k):
    for i in range(w1.shape[0]):
        w1[i] += r[i] * k
        w2[i] = 0.5 * w2[i] - 0.25 * w1[i]


@njit
def two_writes_rows(rows, w1, w2, r, k):
    for i in rows:
        w1[i] += r[i] * k
        w2[i] = 0.5 * w2[i] - 0.25 * w1[i]


@dataclass(frozen=True)
class KernelKind:
    arity: int  # components in the query
    writes: int  # the first ``writes`` of them are written
    full: Callable[..., Any]
    rows: Callable[..., Any]


KERNELS: dict[str, KernelKind] = {
    "axpy": KernelKind(2, 1, axpy, axpy_rows),
    "sin_blend": KernelKind(2, 1, sin_blend, sin_blend_rows),
    "step_mask": KernelKind(2, 1, step_mask, step_mask_rows),
    "sin_add": KernelKind(3, 1, sin_add, sin_add_rows),
    "tanh_prod_mask": KernelKind(3, 1, tanh_prod_mask, tanh_prod_mask_rows),
    "two_writes": KernelKind(3, 2, two_writes, two_writes_rows),
}
PY_OPS = ("tag_insert", "tag_remove", "respawn", "scale", "accumulate")

# ------------------------------------------------------------------- the specs


@dataclass(frozen=True)
class Spec:
    """One drawn system, independent of any world (built once per world)."""

    name: str
    kind: str  # "kernel" | "python"
    phase: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    every: tuple[int, int] | None = None
    # kernel systems
    kernel: str = ""
    query: tuple[int, ...] = ()  # component indices, written ones first
    without: int | None = None  # tag index
    changed: int | None = None  # component index (one of the query's)
    resource: int | None = None  # read resource: k = f(resource value)
    k: float = 0.0
    # python systems
    op: str = ""
    comp: int = 0
    tag: int = 0
    thr: float = 0.0

    @property
    def writes(self) -> frozenset[type]:
        if self.kind == "kernel":
            return frozenset(
                COMPS[i] for i in self.query[: KERNELS[self.kernel].writes]
            )
        return frozenset({COMPS[self.comp]}) if self.op == "scale" else frozenset()

    @property
    def reads(self) -> frozenset[type]:
        if self.kind == "kernel":
            return frozenset(COMPS[i] for i in self.query)
        with_tag = self.op in ("tag_remove", "scale")
        return frozenset({COMPS[self.comp], *([TAGS[self.tag]] if with_tag else [])})

    @property
    def resource_reads(self) -> frozenset[type]:
        if self.kind == "kernel" and self.resource is not None:
            return frozenset({RESOURCES[self.resource]})
        return self.resource_writes

    @property
    def resource_writes(self) -> frozenset[type]:
        if self.op == "accumulate":
            return frozenset({RESOURCES[self.comp % len(RESOURCES)]})
        return frozenset()

    def conflicts(self, other: Spec) -> bool:
        """Independent of ``Access``: does one write what the other touches?"""
        return bool(
            self.writes & (other.reads | other.writes)
            or other.writes & self.reads
            or self.resource_writes & (other.resource_reads | other.resource_writes)
            or other.resource_writes & self.resource_reads
        )

    def runs_on(self, frame: int) -> bool:
        return self.every is None or frame % self.every[0] == self.every[1]


def kernel_factor(spec: Spec, value_of: Callable[[type], float]) -> float:
    if spec.resource is None:
        return spec.k
    return 0.5 + 0.25 * math.tanh(value_of(RESOURCES[spec.resource]))


# ------------------------------------------------------------ the Python bodies
# Shared by the worlds and the reference: only *how rows are found* differs
# (ctx.query in a system, a walk over world.tables in the reference).

Rows = Callable[[type, type | None, type | None], Iterator[tuple[Any, Any]]]


def python_op(
    spec: Spec, rows: Rows, commands: Callable[[], CommandBuffer], res: Any
) -> None:
    x, t = COMPS[spec.comp], TAGS[spec.tag]
    if spec.op == "tag_insert":
        for ents, v in rows(x, None, t):
            sel = ents[v > spec.thr]
            if len(sel):
                commands().insert_batch(sel, t)
    elif spec.op == "tag_remove":
        for ents, v in rows(x, t, None):
            sel = ents[v < spec.thr]
            if len(sel):
                commands().remove_batch(sel, t)
    elif spec.op == "respawn":
        y = COMPS[(spec.comp + 1) % len(COMPS)]
        for ents, v in rows(x, None, None):
            band = (v > spec.thr) & (v < spec.thr + 0.1)
            if band.any():
                vals = v[band]
                commands().despawn_batch(ents[band])
                commands().spawn_batch({x: {"v": -vals}, y: {"v": 0.5 * vals}})
    elif spec.op == "scale":
        for _ents, v in rows(x, t, None):
            v *= 0.5
    else:  # accumulate
        total = 0.0
        for _ents, v in rows(x, None, None):
            total += float(np.sum(v))
        res.value = 0.5 * res.value + total * 1e-5


def system_body(spec: Spec) -> Callable[[Any], None]:
    def body(ctx: Any) -> None:
        def rows(x: type, with_tag: type | None, without: type | None) -> Iterator[Any]:
            req = (x,) if with_tag is None else (x, with_tag)
            wo = [without] if without is not None else []
            for ents, view, *_tag in ctx.query(*req, without=wo):
                yield ents, view.v

        res = None
        if spec.op == "accumulate":
            res = ctx.resource_mut(RESOURCES[spec.comp % len(RESOURCES)])
        python_op(spec, rows, lambda: ctx.commands, res)

    return body


def build_system(spec: Spec) -> Any:
    common: dict[str, Any] = {
        "name": spec.name,
        "phase": spec.phase,
        "before": spec.before,
        "after": spec.after,
        "run_if": every(*spec.every) if spec.every else (),
    }
    if spec.kind == "python":
        return system(
            system_body(spec),
            reads=sorted(spec.reads, key=lambda c: c.__name__),
            writes=list(spec.writes),
            resources_mut=list(spec.resource_writes),
            commands=spec.op in ("tag_insert", "tag_remove", "respawn"),
            **common,
        )
    kind = KERNELS[spec.kernel]
    comps = [COMPS[i] for i in spec.query]
    res = RESOURCES[spec.resource] if spec.resource is not None else None
    return system(
        kind.rows if spec.changed is not None else kind.full,
        query=comps,
        writes=comps[: kind.writes],
        without=[TAGS[spec.without]] if spec.without is not None else [],
        changed=[COMPS[spec.changed]] if spec.changed is not None else [],
        resources=[res] if res is not None else [],
        args=lambda ctx: (kernel_factor(spec, lambda r: ctx.resource(r).value),),
        parallel_threshold=0,
        **common,
    )


# ------------------------------------------------------------------ strategies


@st.composite
def kernel_specs(draw: Any, name: str, phase: str) -> Spec:
    kernel = draw(st.sampled_from(sorted(KERNELS)))
    arity = KERNELS[kernel].arity
    query = tuple(
        draw(
            st.lists(
                st.integers(0, len(COMPS) - 1),
                min_size=arity,
                max_size=arity,
                unique=True,
            )
        )
    )
    return Spec(
        name=name,
        kind="kernel",
        phase=phase,
        kernel=kernel,
        query=query,
        without=draw(st.none() | st.integers(0, len(TAGS) - 1)),
        changed=draw(st.none() | st.sampled_from(query)),
        resource=draw(st.none() | st.integers(0, len(RESOURCES) - 1)),
        k=draw(st.sampled_from([0.25, 0.5, -0.75, 1.5])),
    )


@st.composite
def python_specs(draw: Any, name: str, phase: str) -> Spec:
    return Spec(
        name=name,
        kind="python",
        phase=phase,
        op=draw(st.sampled_from(PY_OPS)),
        comp=draw(st.integers(0, len(COMPS) - 1)),
        tag=draw(st.integers(0, len(TAGS) - 1)),
        thr=draw(st.sampled_from([-0.5, 0.0, 0.3, 0.8])),
    )


@st.composite
def system_graphs(draw: Any, min_systems: int = 2, max_systems: int = 10) -> list[Spec]:
    """Systems with acyclic constraints: every edge follows (phase, drawn rank)."""
    n = draw(st.integers(min_systems, max_systems))
    rank = draw(st.permutations(range(n)))
    specs: list[Spec] = []
    for i in range(n):
        phase = draw(st.sampled_from(PHASES))
        kind = draw(st.sampled_from(["kernel", "kernel", "python"]))
        name = f"s{i}_{kind}"
        base = draw((kernel_specs if kind == "kernel" else python_specs)(name, phase))
        links = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        key = (PHASES.index(phase), rank[i])
        before, after = [], []
        for j in sorted(links):
            other = specs[j]
            if (PHASES.index(other.phase), rank[j]) < key:
                after.append(other.name)
            else:
                before.append(other.name)
        cond = draw(st.sampled_from([None, None, (2, 0), (2, 1)]))
        specs.append(
            replace(base, before=tuple(before), after=tuple(after), every=cond)
        )
    return specs


# ------------------------------------------------------------ worlds and state


def populate(world: World, seed: int) -> None:
    for c in (*COMPS, *TAGS):  # same component ids in every world
        world.component_id(c)
    for r, start in zip(RESOURCES, RESOURCE_START, strict=True):
        world.insert_resource(r(start))
    rng = np.random.default_rng(seed)
    n = ROWS_PER_ARCHETYPE
    for comps, tag in ARCHETYPES:
        cols: dict[type, Any] = {
            COMPS[i]: {"v": rng.uniform(-1.0, 1.0, n)} for i in comps
        }
        if tag is not None:
            cols[TAGS[tag]] = None
        world.spawn_batch(cols, n=n)


def snapshot(world: World, *, ticks: bool) -> dict[str, np.ndarray]:
    """Every table's batch (entity + fields, bit patterns), the index, resources.

    ``ticks`` adds the change-tick columns and ``change_tick`` (compared between
    two executor runs, not against the reference, which stamps ticks in plan order).
    """
    out: dict[str, np.ndarray] = {}
    for t in world.tables:
        label = f"table {t.id} {t.names}"
        out[f"{label} len"] = np.array([t.len])
        batch = t.batch()
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            out[f"{label} {name}"] = col.to_numpy(zero_copy_only=False).copy()
        if ticks:
            for k in t.keys:
                if "#" in k:
                    out[f"{label} {k}"] = t.column(k).copy()
    index = world.entities
    size = index.size
    out["index.alive_count"] = np.array([index.alive_count])
    out["index.generation"] = index.generation[:size].copy()
    out["index.table"] = index.table[:size].copy()
    out["index.row"] = index.row[:size].copy()
    out["index.free_list"] = index.free_list().copy()
    out["resources"] = np.array(
        [world.resource(r).value for r in RESOURCES if world.has_resource(r)]
    )
    if ticks:
        out["change_tick"] = np.array([world.change_tick])
    return out


def assert_same_state(
    got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str
) -> None:
    assert sorted(got) == sorted(want), what
    for key, a in want.items():
        b = got[key]
        if a.dtype != b.dtype:
            raise AssertionError(f"{what}: {key} dtype {a.dtype} != {b.dtype}")
        if a.shape != b.shape or a.tobytes() != b.tobytes():
            if a.shape == b.shape:
                diff = np.flatnonzero(
                    a.view(np.uint8).reshape(len(a), -1)
                    != b.view(np.uint8).reshape(len(b), -1)
                )
                first = int(diff[0]) // max(1, a.itemsize) if len(diff) else -1
                detail = f"first differing row {first}: {a[first]!r} != {b[first]!r}"
            else:
                detail = f"shape {a.shape} != {b.shape}"
            raise AssertionError(f"{what}: {key} differs ({detail})")


# --------------------------------------------------------------- the reference


class Reference:
    """Runs the drawn systems by hand, serially, in plan order.

    Kernels are called per matching archetype on the table columns (read components
    as read-only views); change filters use per-system ``last_run`` ticks; written,
    tracked components are stamped like the executor documents (a returned bool mask
    marks only those rows); command buffers apply at each phase's end, in plan order.
    """

    def __init__(
        self, specs: list[Spec], order: dict[str, list[str]], seed: int
    ) -> None:
        self.world = World(threads=1)
        populate(self.world, seed)
        self.specs = {s.name: s for s in specs}
        self.order = order
        self.last_run = dict.fromkeys(self.specs, 0)
        tracked = {COMPS[s.changed] for s in specs if s.changed is not None}
        if tracked:
            self.world.track_changes(*sorted(tracked, key=lambda c: c.__name__))

    def _tables(
        self, req: list[type], without: type | None
    ) -> Iterator[Any]:  # matched, non-empty, in archetype order
        w = self.world
        ids = {w.component_id(c) for c in req}
        wo = w.component_id(without) if without is not None else None
        for t in w.tables:
            if t.len and ids <= t.component_set and wo not in t.component_set:
                yield t

    def _stamp(self, t: Any, written: list[type], rows: np.ndarray, tick: int) -> None:
        for c in written:
            key = changed_key(c.__name__)
            if key in t.keys:
                t.column(key)[rows] = tick

    def _kernel(self, spec: Spec, tick: int) -> None:
        kind = KERNELS[spec.kernel]
        comps = [COMPS[i] for i in spec.query]
        k = kernel_factor(spec, lambda r: self.world.resource(r).value)
        without = TAGS[spec.without] if spec.without is not None else None
        for t in self._tables(comps, without):
            cols = []
            for j, c in enumerate(comps):
                col = t.column(key_of(c))
                if j >= kind.writes:
                    col = col.view()
                    col.flags.writeable = False
                cols.append(col)
            if spec.changed is None:
                rows = np.arange(t.len)
                result = kind.full(*cols, k)
            else:
                ticks = t.column(changed_key(COMPS[spec.changed].__name__))
                rows = np.flatnonzero(ticks > self.last_run[spec.name])
                if not len(rows):
                    continue
                result = kind.rows(rows, *cols, k)
            if isinstance(result, np.ndarray) and result.dtype == np.bool_:
                rows = rows[result]
            self._stamp(t, comps[: kind.writes], rows, tick)

    def _python(self, spec: Spec, tick: int) -> CommandBuffer:
        buf = CommandBuffer(spec.name)

        def rows(x: type, with_tag: type | None, without: type | None) -> Iterator[Any]:
            req = [x] if with_tag is None else [x, with_tag]
            for t in self._tables(req, without):
                yield t.entities.copy(), t.column(key_of(x))
                self._stamp(t, list(spec.writes), np.arange(t.len), tick)

        res = None
        if spec.op == "accumulate":
            res = self.world.resource(RESOURCES[spec.comp % len(RESOURCES)])
        python_op(spec, rows, lambda: buf, res)
        return buf

    def step(self, frame: int) -> None:
        w = self.world
        for phase in PHASES:
            buffers = []
            for name in self.order[phase]:
                spec = self.specs[name]
                if not spec.runs_on(frame):
                    continue
                tick = w.change_tick
                w.change_tick += 1
                if spec.kind == "kernel":
                    self._kernel(spec, tick)
                else:
                    buffers.append(self._python(spec, tick))
                self.last_run[name] = tick
            if buffers:
                w.apply(*buffers)


# ---------------------------------------------------------------- plan checks


def check_plan(world: World, specs: list[Spec]) -> dict[str, list[str]]:
    """Plan order honors declared edges; batches never hold conflicting systems."""
    by_name = {s.name: s for s in specs}
    plans = world.schedule.plan()
    order: dict[str, list[str]] = {}
    for phase in PHASES:
        plan = plans[phase]
        names = [s.name for s in plan.order]
        assert sorted(names) == sorted(s.name for s in specs if s.phase == phase)
        pos = {n: i for i, n in enumerate(names)}
        level = {s.name: b for b, batch in enumerate(plan.batches) for s in batch}
        for s in specs:
            if s.phase != phase:
                continue
            for other in s.before:
                if other in pos:
                    assert pos[s.name] < pos[other], (s.name, "before", other)
            for other in s.after:
                if other in pos:
                    assert pos[other] < pos[s.name], (s.name, "after", other)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if by_name[a].conflicts(by_name[b]):
                    assert level[a] < level[b], (a, b, "conflict in one batch")
        if any(sum(s.kind == "kernel" for s in batch) > 1 for batch in plan.batches):
            event("a batch ran several kernel systems on the pool")
        order[phase] = names
    return order


# -------------------------------------------------------------------- the tests


def run_world(specs: list[Spec], seed: int, threads: int) -> World:
    world = World(threads=threads)
    populate(world, seed)
    world.add_system(*(build_system(s) for s in specs))
    try:
        world.run(FRAMES)
    finally:
        world.close()
    return world


def check_parallel_equals_serial(specs: list[Spec], seed: int) -> None:
    for s in specs:
        note(repr(s))
    parallel = run_world(specs, seed, threads=4)
    serial = run_world(specs, seed, threads=1)
    order = check_plan(parallel, specs)
    assert order == check_plan(serial, specs)
    assert_same_state(
        snapshot(parallel, ticks=True),
        snapshot(serial, ticks=True),
        "threads=4 vs threads=1",
    )
    ref = Reference(specs, order, seed)
    for frame in range(1, FRAMES + 1):
        ref.step(frame)
    assert ref.world.change_tick == parallel.change_tick
    assert_same_state(
        snapshot(parallel, ticks=False),
        snapshot(ref.world, ticks=False),
        "threads=4 vs by-hand reference in plan order",
    )


COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@settings(max_examples=50, **COMMON)
@given(specs=system_graphs(), seed=st.integers(0, 2**16))
def test_parallel_execution_equals_serial_in_plan_order(
    specs: list[Spec], seed: int
) -> None:
    check_parallel_equals_serial(specs, seed)


@pytest.mark.slow
@settings(max_examples=500, **COMMON)
@given(specs=system_graphs(), seed=st.integers(0, 2**16))
def test_parallel_execution_equals_serial_in_plan_order_many(
    specs: list[Spec], seed: int
) -> None:
    check_parallel_equals_serial(specs, seed)


@st.composite
def cyclic_graphs(draw: Any) -> tuple[list[Spec], set[tuple[str, str]]]:
    """A DAG of systems in one phase plus a drawn cycle; returns specs and edges."""
    specs = draw(system_graphs(min_systems=2, max_systems=8))
    specs = [replace(s, phase="update") for s in specs]
    names = [s.name for s in specs]
    cycle = draw(st.permutations(names))[: draw(st.integers(2, len(names)))]
    extra_before: dict[str, list[str]] = {n: [] for n in names}
    extra_after: dict[str, list[str]] = {n: [] for n in names}
    for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):  # a runs before b
        if draw(st.booleans()):
            extra_before[a].append(b)
        else:
            extra_after[b].append(a)
    specs = [
        replace(
            s,
            before=(*s.before, *extra_before[s.name]),
            after=(*s.after, *extra_after[s.name]),
        )
        for s in specs
    ]
    edges = {(s.name, b) for s in specs for b in s.before}
    edges |= {(a, s.name) for s in specs for a in s.after}
    return specs, edges


@settings(max_examples=50, **COMMON)
@given(graph=cyclic_graphs())
def test_drawn_cycle_raises_schedule_cycle_error_naming_it(
    graph: tuple[list[Spec], set[tuple[str, str]]],
) -> None:
    specs, edges = graph
    world = World(threads=1)
    world.add_system(*(build_system(s) for s in specs))
    with pytest.raises(ScheduleCycleError) as info:
        world.schedule.plan()
    message = str(info.value)
    assert message.startswith("[E0012] "), message
    found = re.search(r"form a cycle: (.+?); ", message)
    assert found, message
    path = found.group(1).split(" -> ")
    assert len(path) >= 3, message
    assert path[0] == path[-1], message
    assert len(set(path[:-1])) == len(path) - 1, message
    for a, b in itertools.pairwise(path):
        assert (a, b) in edges, (a, b, message)
    with pytest.raises(ScheduleCycleError):
        world.step()
    world.close()


@njit
def heavy(w, r, reps):
    for i in range(w.shape[0]):
        acc = w[i]
        for _ in range(reps):
            acc = math.sin(acc + r[i])
        w[i] = acc


def test_non_conflicting_heavy_systems_run_on_different_threads() -> None:
    n = 25_000  # above the default parallel_threshold (20_000)
    reps = 1 if JIT_OFF else 200
    worlds = {}
    for threads in (2, 1):
        world = World(threads=threads)
        rng = np.random.default_rng(7)
        world.spawn_batch({c: {"v": rng.uniform(-1, 1, n)} for c in COMPS}, n=n)
        world.add_system(
            system(heavy, name="heavy_a", query=[C0, C1], writes=[C0], args=(reps,)),
            system(heavy, name="heavy_b", query=[C2, C3], writes=[C2], args=(reps,)),
        )
        try:
            world.run(3)
        finally:
            world.close()
        worlds[threads] = world
    plan = worlds[2].schedule.plan()["update"]
    assert [[s.name for s in b] for b in plan.batches] == [["heavy_a", "heavy_b"]]
    spans = [s for s in worlds[2].profiler.spans() if s.kind == "system"]
    assert {s.name for s in spans} == {"heavy_a", "heavy_b"}
    assert len({s.thread for s in spans}) > 1, spans
    stats = worlds[2].stats().to_pylist()
    assert {r["name"]: r["calls"] for r in stats if r["kind"] == "system"} == {
        "heavy_a": 3,
        "heavy_b": 3,
    }
    serial_spans = [s for s in worlds[1].profiler.spans() if s.kind == "system"]
    assert len({s.thread for s in serial_spans}) == 1
    assert_same_state(
        snapshot(worlds[2], ticks=True),
        snapshot(worlds[1], ticks=True),
        "threads=2 vs threads=1",
    )
