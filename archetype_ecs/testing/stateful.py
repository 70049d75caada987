"""WorldStateMachine: drive a real World and a ReferenceWorld side by side, then compare.

Each rule performs one operation (spawn, spawn_batch, despawn, insert, remove, set, their
``_batch`` forms, whole command buffers) on both; the ``@invariant`` checks after every
step assert that every live entity sits in exactly one table at one row, the entity index
agrees (ids, generations, free list), every value equals the model's, queries equal the
model's, stale ids stay dead and ``len(world)`` matches. Calls the model predicts to fail
(dead ids, missing components) must fail in the world with the same exception and leave
it unchanged. The assertion helpers (:func:`assert_world_matches` ...) are usable on
their own.

Test your own systems by subclassing: choose the components, add a rule that runs your
system on ``self.world`` and the same step on the model ``self.ref`` (its ``entities``
dict maps id -> {class -> tuple of field values}; use :func:`cast_value` so float32
fields round like the world's), and keep every inherited rule and invariant::

    from hypothesis import note, strategies as st
    from hypothesis.stateful import rule
    from archetype_ecs.testing import WorldStateMachine, cast_value

    class MoveMachine(WorldStateMachine):
        component_classes = st.just([Position, Velocity])

        @rule(dt=st.floats(0, 1, width=32))
        def move(self, dt):
            note(f"move(dt={dt})")
            move_system(self.world, dt)               # the system under test
            for comps in self.ref.entities.values():  # the same step on the model
                if Position in comps and Velocity in comps:
                    (x,), (vx,) = comps[Position], comps[Velocity]
                    comps[Position] = (cast_value(f32, x + cast_value(f32, vx * dt)),)

    TestMoveMachine = MoveMachine.TestCase

Override :meth:`WorldStateMachine.setup` to seed the world (call it on both), or
``max_batch`` to change batch sizes. Rules draw ids from ``self.ref``, so a subclass
that spawns must spawn on both.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from archetype_ecs.commands import ApplyReport, CommandBuffer
from archetype_ecs.component import schema_of
from archetype_ecs.entity import Entity
from archetype_ecs.errors import EcsError, EntityNotAliveError, MissingComponentError
from archetype_ecs.hierarchy import (
    ChildOf,
    DespawnPolicy,
    HierarchyCycleError,
    dangling,
    hierarchy,
    set_parent,
)
from archetype_ecs.prefab import Prefab, instantiate_scene, prefabs, spawn_prefab
from archetype_ecs.serialization import load
from archetype_ecs.snapshot import Snapshot
from archetype_ecs.testing.reference import (
    CommandPlan,
    HierarchyReferenceWorld,
    Pending,
    ReferenceReport,
    ReferenceWorld,
    cast_value,
    values_equal,
)
from archetype_ecs.testing.strategies import (
    batch_values,
    column_values,
    command_buffers,
    component_class_lists,
    component_values,
    entity_ids,
    record_batch_of,
    world_states,
)
from archetype_ecs.world import World

__all__ = [
    "HierarchyWorldStateMachine",
    "OrphanWorldStateMachine",
    "WorldStateMachine",
    "apply_both",
    "assert_diff_matches",
    "assert_entity_index_matches",
    "assert_hierarchy_matches",
    "assert_query_matches",
    "assert_report_matches",
    "assert_tables_match",
    "assert_rows_equal",
    "assert_world_matches",
    "cast_value",
    "query_rows",
    "world_rows",
]

T = TypeVar("T")

_EXPECTED_ERRORS = (EntityNotAliveError, MissingComponentError)


def _py(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _label(e: int) -> str:
    return Entity(e).label()


@contextlib.contextmanager
def pytest_raises(kind: type[BaseException]) -> Iterator[None]:
    """Like ``pytest.raises`` (without needing pytest): the block must raise ``kind``."""
    try:
        yield
    except kind:
        return
    raise AssertionError(f"expected {kind.__name__}, nothing was raised")


def assert_entity_index_matches(world: World, ref: ReferenceWorld) -> None:
    """Slots, generations, free list, live count and stale ids agree with the model."""
    index = world.entities
    assert index.size == len(ref.generations), (index.size, len(ref.generations))
    gens = index.generation[: index.size].tolist()
    assert gens == ref.generations, f"generations {gens} != model {ref.generations}"
    free = index.free_list().tolist()
    assert free == ref.free, f"free list {free} != model {ref.free}"
    assert len(world) == len(ref), f"len(world) == {len(world)}, model has {len(ref)}"
    assert index.alive_count == len(ref)
    if ref.despawned:
        stale = np.fromiter(ref.despawned, dtype=np.uint64, count=len(ref.despawned))
        alive = world.is_alive_batch(stale)
        assert not alive.any(), f"stale ids alive: {[_label(e) for e in stale[alive]]}"
    if ref.entities:
        ids = np.fromiter(ref.entities, dtype=np.uint64, count=len(ref.entities))
        assert world.is_alive_batch(ids).all(), "a live entity of the model is dead"


def assert_tables_match(world: World, ref: ReferenceWorld) -> None:
    """Every live entity sits in exactly one table at one row, with the model's values.

    Checks ``table.entities[row] == id`` against the entity index, the archetype's
    component set against the model's, and every field value exactly (NaN == NaN).
    """
    index = world.entities
    seen: set[int] = set()
    for t in world.tables:
        classes = {t.schemas[c].cls for c in t.components}
        ents = t.entities.tolist()
        for row, e in enumerate(ents):
            assert e in ref.entities, (
                f"table {t.id} row {row} holds {_label(e)}, not alive"
            )
            assert e not in seen, f"{_label(e)} sits in two rows"
            seen.add(e)
            slot = e & 0xFFFF_FFFF
            where = (int(index.table[slot]), int(index.row[slot]))
            assert where == (t.id, row), (
                f"index says {_label(e)} at {where}, is at {t.id, row}"
            )
            assert set(ref.entities[e]) == classes, (
                f"{_label(e)} has {sorted(c.__name__ for c in classes)}, model "
                f"{sorted(c.__name__ for c in ref.entities[e])}"
            )
        for cid in t.components:
            s = t.schemas[cid]
            cols = [t.column(k).tolist() for k in s.column_keys()]
            for row, e in enumerate(ents):
                got = tuple(_py(c[row]) for c in cols)
                want = ref.entities[e][s.cls]
                assert values_equal(got, want), (
                    f"{_label(e)}.{s.name}: {got} != model {want}"
                )
    assert seen == set(ref.entities), "live entities missing from every table"


def query_rows(
    world: World,
    required: Sequence[type],
    without: Sequence[type] = (),
    optional: Sequence[type] = (),
) -> dict[int, tuple[Any, ...]]:
    """A world query as the model's shape: entity -> one row (or None) per component."""
    out: dict[int, tuple[Any, ...]] = {}
    for ents, *views in world.query(*required, without=without, optional=optional):
        cols = [None if v is None else [a.tolist() for a in v] for v in views]
        for r, e in enumerate(ents.tolist()):
            assert e not in out, f"query yields {_label(e)} twice"
            out[e] = tuple(
                None if c is None else tuple(_py(f[r]) for f in c) for c in cols
            )
    return out


def _arrow_expected(
    ref_rows: dict[int, tuple[Any, ...]], requested: Sequence[type], required: int
) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for e, rows in ref_rows.items():
        vals: list[Any] = []
        for i, (cls, row) in enumerate(zip(requested, rows, strict=True)):
            fields = schema_of(cls).fields
            if i >= required and not fields:
                vals.append(row is not None)
            vals.extend(row if row is not None else [None] * len(fields))
        out[e] = vals
    return out


def assert_query_matches(
    world: World,
    ref: ReferenceWorld,
    required: Sequence[type],
    without: Sequence[type] = (),
    optional: Sequence[type] = (),
    *,
    arrow: bool = True,
) -> None:
    """Iteration, ``count()``, ``entities()`` and (if ``arrow``) ``to_arrow()`` agree."""
    want = ref.query(*required, without=without, optional=optional)
    got = query_rows(world, required, without, optional)
    spec = (
        f"query({[c.__name__ for c in required]}, without={[c.__name__ for c in without]}, "
        f"optional={[c.__name__ for c in optional]})"
    )
    assert got.keys() == want.keys(), f"{spec}: entities differ"
    for e, row in want.items():
        assert values_equal(got[e], row), (
            f"{spec}: {_label(e)}: {got[e]} != model {row}"
        )
    q = world.query(*required, without=without, optional=optional)
    assert q.count() == len(want), spec
    assert sorted(q.entities().tolist()) == sorted(want), spec
    if not arrow:
        return
    table = q.to_arrow()
    cols = [[_py(v) for v in c.to_pylist()] for c in table.columns]
    arrow_rows = {e: [c[r] for c in cols[1:]] for r, e in enumerate(cols[0])}
    expected = _arrow_expected(want, [*required, *optional], len(required))
    assert arrow_rows.keys() == expected.keys(), f"{spec}.to_arrow(): entities differ"
    for e, vals in expected.items():
        assert values_equal(arrow_rows[e], vals), f"{spec}.to_arrow(): {_label(e)}"


def assert_world_matches(
    world: World,
    ref: ReferenceWorld,
    classes: Sequence[type] = (),
    *,
    arrow: bool = True,
) -> None:
    """Entity index, tables, values and one query per class agree with the model."""
    assert_entity_index_matches(world, ref)
    assert_tables_match(world, ref)
    for i, c in enumerate(classes):
        assert_query_matches(world, ref, [c], arrow=arrow)
        if len(classes) > 2:
            nxt, opt = classes[(i + 1) % len(classes)], classes[(i + 2) % len(classes)]
            assert_query_matches(world, ref, [c], [nxt], [opt], arrow=arrow)


def assert_report_matches(
    report: ApplyReport,
    expected: ReferenceReport,
    buffers: Sequence[tuple[CommandBuffer, Sequence[int]]] = (),
) -> None:
    """An ``ApplyReport`` agrees with the model's (dead / missing compared as multisets).

    ``buffers`` pairs each applied buffer with its pending ids, to check
    ``report.resolve`` too.
    """
    assert report.spawned.tolist() == expected.spawned, (
        f"spawned {report.spawned.tolist()} != model {expected.spawned}"
    )
    dead, missing = Counter(report.dead.tolist()), Counter(report.missing.tolist())
    assert dead == Counter(expected.dead), (
        f"dead {dead} != model {Counter(expected.dead)}"
    )
    assert missing == Counter(expected.missing), f"missing {missing} != model"
    assert report.applied == expected.applied, (
        f"applied {report.applied} != model {expected.applied}"
    )
    if not buffers:
        return
    for (buffer, pending), real in zip(buffers, expected.pending, strict=True):
        if len(pending):
            assert report.resolve(buffer, list(pending)).tolist() == real


def apply_both(
    world: World, ref: ReferenceWorld, op: Callable[[Any], T]
) -> tuple[T | None, T | None]:
    """Run ``op`` on the model, then on the world; they must fail alike or not at all.

    Returns ``(world_result, model_result)``; both ``None`` when the model raised
    ``EntityNotAliveError`` / ``MissingComponentError`` and the world raised the same.
    """
    try:
        want: T | None = op(ref)
        expected: Exception | None = None
    except _EXPECTED_ERRORS as exc:
        want, expected = None, exc
    try:
        got: T | None = op(world)
    except EcsError as exc:
        if expected is None or type(exc) is not type(expected):
            raise
        if currently_in_test_context():
            note(f"  -> raised {type(exc).__name__}, as the model did")
            event(f"direct call raised {type(exc).__name__}")
        return None, None
    if expected is not None:
        raise AssertionError(
            f"the world did not raise {type(expected).__name__}: {expected}"
        )
    return got, want


class WorldStateMachine(RuleBasedStateMachine):
    """Rule-based test of :class:`~archetype_ecs.World` against :class:`ReferenceWorld`.

    Attributes
    ----------
    world, ref
        The world under test and its model.
    classes
        The component classes of this run (drawn from ``component_classes``).
    component_classes
        Class attribute: strategy of the component-class list (override to use yours).
    max_batch
        Class attribute: largest batch per rule.
    check_arrow
        Class attribute: also compare ``to_arrow()`` in query checks.
    """

    component_classes: st.SearchStrategy[list[type]] = component_class_lists()
    max_batch = 6
    check_arrow = True

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.ref = ReferenceWorld()
        self.classes: list[type] = []

    # ---------------------------------------------------------------- helpers

    def setup(self) -> None:
        """Hook run once after the classes are drawn; seed the world here (on both)."""

    def both(self, op: Callable[[Any], T]) -> tuple[T | None, T | None]:
        """:func:`apply_both` on this machine's world and model."""
        return apply_both(self.world, self.ref, op)

    def live(self) -> list[int]:
        """Live ids of the model, in spawn order."""
        return list(self.ref.entities)

    def dead(self) -> list[int]:
        """Ids that are not alive: stale, null, pending-looking and never spawned."""
        fresh = len(self.ref.generations)
        return [
            *sorted(self.ref.despawned),
            0,
            int(Entity(3)),
            int(Entity.from_parts(fresh, 1)),
            int(Entity.from_parts(fresh + 5, 2)),
        ]

    def draw_id(self, data: st.DataObject, *, dead_ok: bool = True) -> int:
        """One id: usually live, sometimes dead (when ``dead_ok``)."""
        live = self.live()
        if not live or (dead_ok and data.draw(st.integers(0, 9), label="dead?") == 0):
            return data.draw(st.sampled_from(self.dead()), label="dead id")
        return data.draw(st.sampled_from(live), label="id")

    def draw_ids(self, data: st.DataObject, *, dead_ok: bool = True) -> list[int]:
        """Up to ``max_batch`` live ids with repeats; sometimes one dead id mixed in."""
        live = self.live()
        ids = (
            data.draw(st.lists(st.sampled_from(live), max_size=self.max_batch))
            if live
            else []
        )
        if dead_ok and data.draw(st.integers(0, 9), label="mix in dead?") == 0:
            dead = data.draw(st.sampled_from(self.dead()), label="dead id")
            ids.insert(data.draw(st.integers(0, len(ids))), dead)
        return ids

    def refs(self) -> st.SearchStrategy[int]:
        """``EntityRef`` values: null, live, stale or any real-looking id."""
        return entity_ids(live=self.live() + self.dead()[:-3])

    def draw_component(
        self, data: st.DataObject, cls: type, *, tag_as_class: bool = True
    ) -> Any:
        """An instance of ``cls`` (or, sometimes, the class itself: all defaults)."""
        if tag_as_class and data.draw(st.integers(0, 3), label="as class?") == 0:
            return cls
        return data.draw(component_values(cls, entities=self.refs()))

    def draw_classes(self, data: st.DataObject, *, min_size: int = 0) -> list[type]:
        """Up to three classes of this run (repeats allowed)."""
        return data.draw(
            st.lists(st.sampled_from(self.classes), min_size=min_size, max_size=3)
        )

    # ------------------------------------------------------------ setup rules

    @initialize(data=st.data())
    def choose_classes(self, data: st.DataObject) -> None:
        self.classes = data.draw(self.component_classes, label="classes")
        note(f"classes: {[schema_of(c) for c in self.classes]}")
        self.setup()

    # -------------------------------------------------------------- spawning

    @rule(data=st.data())
    def spawn(self, data: st.DataObject) -> None:
        comps = [self.draw_component(data, c) for c in self.draw_classes(data)]
        note(f"world.spawn(*{comps})")
        got, want = self.both(lambda w: w.spawn(*comps))
        assert got == want, f"spawned {got!r}, model {want!r}"

    def _spawn_values(self, data: st.DataObject, n: int) -> dict[type, object]:
        subset = data.draw(st.lists(st.sampled_from(self.classes), unique=True))
        return {c: data.draw(batch_values(c, n, entities=self.refs())) for c in subset}

    @rule(data=st.data())
    def spawn_batch(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(0, self.max_batch), label="n")
        values = self._spawn_values(data, n)
        fixes_n = any(
            isinstance(v, np.ndarray | dict) and len(v) for v in values.values()
        )
        kw = {} if fixes_n and data.draw(st.booleans(), label="omit n") else {"n": n}
        note(f"world.spawn_batch({values}, **{kw})")
        got, want = self.both(lambda w: w.spawn_batch(values, **kw))
        assert got is not None
        assert want is not None
        assert got.tolist() == want.tolist(), f"spawned {got}, model {want}"

    @rule(data=st.data())
    def spawn_batch_from_arrow(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(1, self.max_batch), label="n")
        subset = data.draw(
            st.lists(st.sampled_from(self.classes), min_size=1, unique=True)
        )
        values = {
            c: data.draw(column_values(c, n, entities=self.refs())) for c in subset
        }
        table = pa.Table.from_batches([record_batch_of(values, n)])
        if data.draw(st.booleans(), label="as record batch"):
            table = table.to_batches()[0]
        note(f"world.spawn_batch(<arrow table {table.schema}>, classes={subset})")
        got, want = self.both(lambda w: w.spawn_batch(table, classes=subset))
        assert got is not None
        assert want is not None
        assert got.tolist() == want.tolist(), f"spawned {got}, model {want}"

    # ------------------------------------------------------------ despawning

    @rule(data=st.data())
    def despawn(self, data: st.DataObject) -> None:
        e = self.draw_id(data)
        note(f"world.despawn({Entity(e)!r})")
        self.both(lambda w: w.despawn(e))

    @rule(data=st.data())
    def despawn_batch(self, data: st.DataObject) -> None:
        ids = self.draw_ids(data)
        note(f"world.despawn_batch({[Entity(e) for e in ids]})")
        self.both(lambda w: w.despawn_batch(np.asarray(ids, dtype=np.uint64)))

    # -------------------------------------------------------- insert / remove

    @rule(data=st.data())
    def insert(self, data: st.DataObject) -> None:
        e = self.draw_id(data)
        comps = [
            self.draw_component(data, c) for c in self.draw_classes(data, min_size=1)
        ]
        note(f"world.insert({Entity(e)!r}, *{comps})")
        self.both(lambda w: w.insert(e, *comps))

    @rule(data=st.data())
    def insert_batch(self, data: st.DataObject) -> None:
        ids = self.draw_ids(data)
        cls = data.draw(st.sampled_from(self.classes), label="class")
        values = data.draw(batch_values(cls, len(ids), entities=self.refs()))
        note(
            f"world.insert_batch({[Entity(e) for e in ids]}, {cls.__name__}, {values!r})"
        )
        self.both(
            lambda w: w.insert_batch(np.asarray(ids, dtype=np.uint64), cls, values)
        )

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        e = self.draw_id(data)
        classes = self.draw_classes(data)
        note(f"world.remove({Entity(e)!r}, *{[c.__name__ for c in classes]})")
        self.both(lambda w: w.remove(e, *classes))

    @rule(data=st.data())
    def remove_batch(self, data: st.DataObject) -> None:
        ids = self.draw_ids(data)
        classes = self.draw_classes(data)
        note(
            f"world.remove_batch({[Entity(e) for e in ids]}, *{[c.__name__ for c in classes]})"
        )
        self.both(lambda w: w.remove_batch(np.asarray(ids, dtype=np.uint64), *classes))

    # ------------------------------------------------------------------- set

    @rule(data=st.data())
    def set(self, data: st.DataObject) -> None:
        e = self.draw_id(data)
        have = [c for c in self.ref.entities.get(e, {}) if c in self.classes]
        if have and data.draw(st.integers(0, 4), label="only present?"):
            classes = data.draw(st.lists(st.sampled_from(have), min_size=1, max_size=3))
        else:
            classes = self.draw_classes(data, min_size=1)
        comps = [self.draw_component(data, c, tag_as_class=False) for c in classes]
        note(f"world.set({Entity(e)!r}, *{comps})")
        self.both(lambda w: w.set(e, *comps))

    @rule(data=st.data())
    def set_batch(self, data: st.DataObject) -> None:
        cls = data.draw(st.sampled_from(self.classes), label="class")
        carriers = [e for e, comps in self.ref.entities.items() if cls in comps]
        if carriers and data.draw(st.integers(0, 4), label="only carriers?"):
            ids = data.draw(
                st.lists(st.sampled_from(carriers), max_size=self.max_batch)
            )
        else:
            ids = self.draw_ids(data)
        values = data.draw(
            batch_values(cls, len(ids), entities=self.refs(), allow_none=False)
        )
        note(f"world.set_batch({[Entity(e) for e in ids]}, {cls.__name__}, {values!r})")
        self.both(lambda w: w.set_batch(np.asarray(ids, dtype=np.uint64), cls, values))

    # -------------------------------------------------------------- commands

    def command_plans(self) -> st.SearchStrategy[CommandPlan]:
        """Strategy of command plans for the current world (override to customize)."""
        return command_buffers(self.world, self.classes, max_batch=self.max_batch)

    @rule(data=st.data())
    def apply_commands(self, data: st.DataObject) -> None:
        plans = data.draw(st.lists(self.command_plans(), min_size=1, max_size=2))
        for i, plan in enumerate(plans):
            note(f"buffer {i}: {plan}")
        built = [plan.build(f"buffer{i}") for i, plan in enumerate(plans)]
        expected = self.ref.apply(*plans)
        report = self.world.apply(*(b for b, _ in built))
        note(f"  -> {report}; model {expected}")
        event(f"apply: {'some' if expected.dead else 'no'} dead ids")
        event(f"apply: {'some' if expected.missing else 'no'} missing components")
        assert all(len(b) == 0 for b, _ in built), "apply must empty the buffers"
        assert_report_matches(report, expected, built)

    # ----------------------------------------------------------------- reads

    @rule(data=st.data())
    def read_back(self, data: st.DataObject) -> None:
        e = self.draw_id(data)
        cls = data.draw(st.sampled_from(self.classes), label="class")
        note(f"read {Entity(e)!r}.{cls.__name__}")
        assert self.world.has(e, cls) == self.ref.has(e, cls)
        assert self.world.is_alive(e) == self.ref.is_alive(e)
        got, want = self.both(lambda w: w.component(e, cls))
        if want is not None:
            names = schema_of(cls).field_names()
            as_row = tuple(_py(getattr(got, n)) for n in names)
            assert values_equal(as_row, self.ref.row(e, cls)), f"{got} != model {want}"
        sentinel = object()
        if self.world.get(e, cls, sentinel) is sentinel:
            assert not self.ref.has(e, cls)
        ids = self.draw_ids(data)
        got_b, want_b = self.both(
            lambda w: w.get_batch(np.asarray(ids, dtype=np.uint64), cls)
        )
        if want_b is not None and got_b is not None:
            for name, col in want_b.items():
                got_col = [_py(v) for v in got_b[name].tolist()]
                assert values_equal(got_col, col), (
                    f"get_batch {name}: {got_col} != {col}"
                )

    @rule(data=st.data())
    def query(self, data: st.DataObject) -> None:
        required = self.draw_classes(data)
        without = data.draw(st.lists(st.sampled_from(self.classes), max_size=2))
        optional = data.draw(st.lists(st.sampled_from(self.classes), max_size=2))
        optional = [c for c in dict.fromkeys(optional) if c not in required]
        note(f"world.query(*{required}, without={without}, optional={optional})")
        assert_query_matches(
            self.world, self.ref, required, without, optional, arrow=self.check_arrow
        )

    # ------------------------------------------------------------ invariants

    @invariant()
    def entity_index_agrees(self) -> None:
        assert_entity_index_matches(self.world, self.ref)

    @invariant()
    def tables_hold_model_values(self) -> None:
        assert_tables_match(self.world, self.ref)

    @invariant()
    def queries_match_model(self) -> None:
        for i, c in enumerate(self.classes):
            assert_query_matches(self.world, self.ref, [c], arrow=False)
            if len(self.classes) > 2:
                n = len(self.classes)
                nxt, opt = self.classes[(i + 1) % n], self.classes[(i + 2) % n]
                assert_query_matches(
                    self.world, self.ref, [c], [nxt], [opt], arrow=False
                )


# ------------------------------------------------------------------ hierarchy and persistence


def world_rows(world: World) -> dict[int, dict[type, tuple[Any, ...]]]:
    """Every live entity of ``world`` as the model stores it: id -> {class -> row}."""
    out: dict[int, dict[type, tuple[Any, ...]]] = {}
    for t in world.tables:
        ents = t.entities.tolist()
        comps: dict[type, list[list[Any]]] = {}
        for cid in t.components:
            s = t.schemas[cid]
            comps[s.cls] = [t.column(k).tolist() for k in s.column_keys()]
        for r, e in enumerate(ents):
            out[e] = {
                cls: tuple(_py(c[r]) for c in cols) for cls, cols in comps.items()
            }
    return out


def assert_rows_equal(
    got: dict[int, dict[type, tuple[Any, ...]]],
    want: dict[int, dict[type, tuple[Any, ...]]],
    what: str = "world",
) -> None:
    """Two id -> {class -> row} mappings are equal (NaN == NaN)."""
    assert got.keys() == want.keys(), (
        f"{what}: entities {sorted(map(_label, got.keys() ^ want.keys()))} differ"
    )
    for e, comps in want.items():
        assert got[e].keys() == comps.keys(), (
            f"{what}: {_label(e)} has {sorted(c.__name__ for c in got[e])}, "
            f"expected {sorted(c.__name__ for c in comps)}"
        )
        for cls, row in comps.items():
            assert values_equal(got[e][cls], row), (
                f"{what}: {_label(e)}.{cls.__name__}: {got[e][cls]} != {row}"
            )


def assert_hierarchy_matches(world: World, ref: HierarchyReferenceWorld) -> None:
    """Parents, children, depths, roots and order of ``world`` equal the model's.

    Also: every ``ChildOf`` names a live parent and the relation has no cycle.
    """
    h = hierarchy(world)
    for e, comps in ref.entities.items():
        if ChildOf in comps:
            p = comps[ChildOf][0]
            assert p in ref.entities, f"{_label(e)} is a child of dead {Entity(p)!r}"
    cycle = ref.find_cycle()
    assert not cycle, f"model has a cycle {[_label(e) for e in cycle]}"
    assert dangling(world, ChildOf, "parent").tolist() == []
    live = sorted(ref.entities, key=lambda e: e & 0xFFFF_FFFF)
    ids = np.asarray(live, dtype=np.uint64)
    got_parents = h.parent_of(ids).tolist()
    want_parents = [ref.parent(e) for e in live]
    assert got_parents == want_parents, f"parent_of {got_parents} != {want_parents}"
    assert h.depth_of(ids).tolist() == [ref.depth(e) for e in live], "depth_of"
    offsets, kids = h.children_of(ids)
    kids_map = ref.children_map()
    got_kids = [kids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(live))]
    assert got_kids == [kids_map.get(e, []) for e in live], "children_of"
    assert h.roots().tolist() == ref.roots(), "roots"
    levels = ref.levels()
    order, level_offsets = h.levels()
    assert order.tolist() == [e for lv in levels for e in lv], "levels / order"
    assert np.diff(level_offsets).tolist() == [len(lv) for lv in levels], "levels"
    assert h.order().tolist() == order.tolist()


class HierarchyWorldStateMachine(WorldStateMachine):
    """:class:`WorldStateMachine` plus hierarchy, prefabs, scenes, snapshots, save/load.

    The model is a :class:`HierarchyReferenceWorld`; every inherited rule and
    invariant still runs (despawns now cascade, or orphan, per ``on_despawn``). New
    rules: ``set_parent`` (direct, with cycles and dead ids; or recorded in a command
    buffer with pending entities), raw ``ChildOf`` writes, despawns of parents
    (direct and as several coalescing commands), hierarchy lookups, ``spawn_prefab``
    of a few prefab trees drawn at setup (``n`` copies with overrides, direct or via a
    buffer), ``instantiate_scene``, ``snapshot`` / ``restore`` / ``diff`` against
    deep copies of the model, and ``save`` followed later by ``load`` into a fresh
    world (exact ids; the machine continues on the loaded world) or into a used
    scratch world (remapped ids, compared through the returned mapping).
    The extra invariant :func:`assert_hierarchy_matches` runs after every step.

    Attributes
    ----------
    on_despawn
        Class attribute: the despawn policy under test (``"cascade"`` / ``"orphan"``).
    max_copies
        Class attribute: most copies per ``spawn_prefab`` / ``instantiate_scene``.
    file_formats
        Class attribute: save formats drawn from.
    """

    on_despawn: DespawnPolicy = "cascade"
    max_copies = 3
    max_snapshots = 3
    file_formats: tuple[str, ...] = ("ipc", "parquet")

    def __init__(self) -> None:
        super().__init__()
        self.ref: HierarchyReferenceWorld = HierarchyReferenceWorld(self.on_despawn)
        self.prefab_list: list[Prefab] = []
        self.snapshots: list[tuple[Snapshot, HierarchyReferenceWorld, str]] = []
        self.save_dir: str | None = None
        self.saved: HierarchyReferenceWorld | None = None

    def teardown(self) -> None:
        if self.save_dir is not None:
            shutil.rmtree(self.save_dir, ignore_errors=True)

    # ---------------------------------------------------------------- helpers

    def setup(self) -> None:
        hierarchy(self.world, on_despawn=self.on_despawn)

    def calls(
        self,
        world_call: Callable[[], T],
        model_call: Callable[[], Any],
    ) -> tuple[T | None, Any]:
        """Run the model call, then the world call; they must fail alike or not at all.

        Expected failures: ``EntityNotAliveError``, ``MissingComponentError``,
        ``HierarchyCycleError`` (the model must not change when it raises).
        """
        try:
            want = model_call()
            expected: Exception | None = None
        except (*_EXPECTED_ERRORS, HierarchyCycleError) as exc:
            want, expected = None, exc
        try:
            got = world_call()
        except EcsError as exc:
            if expected is None or type(exc) is not type(expected):
                raise
            note(f"  -> raised {type(exc).__name__}, as the model did")
            event(f"hierarchy call raised {type(exc).__name__}")
            return None, None
        if expected is not None:
            raise AssertionError(
                f"the world did not raise {type(expected).__name__}: {expected}"
            )
        return got, want

    def parents(self) -> list[int]:
        """Live entities that have children."""
        return list(self.ref.children_map())

    def draw_parent_ids(self, data: st.DataObject) -> list[int]:
        """Ids to despawn: mostly parents and their descendants, repeats allowed."""
        parents = self.parents()
        if not parents:
            return self.draw_ids(data, dead_ok=False)
        pool = parents + self.ref.descendants(parents)
        return data.draw(
            st.lists(st.sampled_from(pool), min_size=1, max_size=self.max_batch),
            label="parents",
        )

    def draw_value(self, data: st.DataObject, cls: type, n: int) -> object:
        """A prefab / override value: instance, class, dict of some fields."""
        return data.draw(
            batch_values(cls, n, entities=self.refs(), allow_none=False), label="value"
        )

    def draw_prefab(
        self, data: st.DataObject, name: str, shape: tuple[Any, ...]
    ) -> Prefab:
        """A prefab of the given shape: ``(child name, child shape)`` pairs."""
        comps: dict[type, object] = {}
        for cls in data.draw(st.lists(st.sampled_from(self.classes), unique=True)):
            form = data.draw(st.sampled_from(["none", "class", "value"]), label="form")
            if form == "none":
                comps[cls] = None
            elif form == "class":
                comps[cls] = cls
            else:
                value = self.draw_value(data, cls, 1)
                if isinstance(value, dict):  # one row: scalars, not columns
                    value = {k: np.asarray(v)[0] for k, v in value.items()}
                elif isinstance(value, np.ndarray):
                    value = {schema_of(cls).fields[0].name: value[0]}
                comps[cls] = value
        children = [self.draw_prefab(data, n, sub) for n, sub in shape]
        return Prefab(name, comps, children=children)

    # ------------------------------------------------------------ setup rules

    @initialize(data=st.data())
    def choose_classes(self, data: st.DataObject) -> None:
        super().choose_classes(data)
        shapes = {
            "solo": (),
            "pair": (("a", ()),),
            "tree": (("a", (("b", ()),)), ("c", ())),
        }
        registry = prefabs(self.world)
        for name, shape in shapes.items():
            p = self.draw_prefab(data, name, shape)
            note(f"prefabs(world).register({p!r})")
            registry.register(p)
            self.prefab_list.append(p)
        n = data.draw(st.integers(0, 2), label="seed trees")
        note(f"spawn_prefab(world, 'tree', n={n})  # a hierarchy to start with")
        got = spawn_prefab(self.world, "tree", n)
        assert got.tolist() == self.ref.spawn_prefab(self.prefab_list[-1], n)

    # ------------------------------------------------------------ hierarchy

    @rule(data=st.data())
    def set_parent(self, data: st.DataObject) -> None:
        kids = self.draw_ids(data)
        live = self.live()
        if kids and live and data.draw(st.booleans(), label="one parent"):
            below = [e for e in self.ref.descendants(kids) if e in self.ref.entities]
            pool = [*live, 0]
            if below and data.draw(st.integers(0, 3), label="a descendant?") == 0:
                pool = below  # a cycle
            parents: Any = data.draw(st.sampled_from(pool), label="parent")
            if data.draw(st.integers(0, 9), label="dead parent?") == 0:
                parents = data.draw(st.sampled_from(self.dead()), label="dead parent")
        else:
            ids = st.sampled_from(live) if live else st.just(0)
            parents = data.draw(
                st.lists(
                    st.one_of(ids, st.just(0)), min_size=len(kids), max_size=len(kids)
                ),
                label="parents",
            )
            if data.draw(st.booleans(), label="as array"):
                parents = np.asarray(parents, dtype=np.uint64)
        shown = (
            parents if isinstance(parents, int) else [Entity(int(p)) for p in parents]
        )
        note(f"set_parent(world, {[Entity(e) for e in kids]}, {shown!r})")
        self.calls(
            lambda: set_parent(self.world, np.asarray(kids, dtype=np.uint64), parents),
            lambda: self.ref.set_parent(kids, parents),
        )

    @rule(data=st.data())
    def set_parent_commands(self, data: st.DataObject) -> None:
        buffer, plan = CommandBuffer("hierarchy"), CommandPlan()
        markers: list[Any] = []
        real: list[Entity] = []
        for _ in range(data.draw(st.integers(0, 2), label="spawns")):
            markers.append(plan.spawn())
            real.append(buffer.spawn())
        pool = [*self.live(), *markers]
        if not pool:
            note("set_parent(buffer, ...): no entity to parent")
            return
        kids = data.draw(st.lists(st.sampled_from(pool), max_size=self.max_batch))
        parents = data.draw(
            st.lists(
                st.one_of(st.sampled_from(pool), st.just(0)),
                min_size=len(kids),
                max_size=len(kids),
            )
        )

        def world_id(v: Any) -> int:
            return int(real[v.k]) if isinstance(v, Pending) else int(v)

        note(f"{plan}; set_parent(buffer, {kids}, {parents}, world=world)")
        try:
            pairs = self._check_pending_set_parent(kids, parents)
        except HierarchyCycleError:
            with pytest_raises(HierarchyCycleError):
                set_parent(
                    buffer,
                    np.asarray([world_id(k) for k in kids], dtype=np.uint64),
                    np.asarray([world_id(p) for p in parents], dtype=np.uint64),
                    world=self.world,
                )
            note("  -> raised HierarchyCycleError, as the model did")
            assert len(buffer) == len(real), "a refused set_parent recorded commands"
            return
        set_parent(
            buffer,
            np.asarray([world_id(k) for k in kids], dtype=np.uint64),
            np.asarray([world_id(p) for p in parents], dtype=np.uint64),
            world=self.world,
        )
        detach = [k for k, p in pairs if p == 0]
        attach = [(k, p) for k, p in pairs if p != 0]
        if detach:
            plan.remove_batch(detach, ChildOf)
        if attach:
            plan.insert_batch(
                [k for k, _ in attach], ChildOf, {"parent": [p for _, p in attach]}
            )
        if data.draw(st.booleans(), label="then despawn"):
            e = data.draw(st.sampled_from(pool), label="despawn")
            note(f"  buffer.despawn({e!r})")
            plan.despawn(e)
            buffer.despawn(world_id(e))
        expected = self.ref.apply(plan)
        report = self.world.apply(buffer)
        note(f"  -> {report}; model {expected}")
        assert_report_matches(report, expected, [(buffer, real)] if real else [])

    def _check_pending_set_parent(
        self, kids: list[Any], parents: list[Any]
    ) -> list[tuple[Any, Any]]:
        """The model's ``set_parent(buffer, ..., world=)`` check with pending markers.

        Pending entities are alive-to-be and have no subtree before this call; the
        call's own changes (pending ones included) must not close a cycle.
        """
        last: dict[Any, Any] = {}
        for k, p in zip(kids, parents, strict=True):
            last.pop(k, None)
            last[k] = p
        if any(k == p for k, p in last.items()):
            raise HierarchyCycleError("own parent")
        graph: dict[Any, Any] = {e: self.ref.parent(e) for e in self.ref.entities}
        graph.update(last)
        if self.ref.find_cycle(graph):
            raise HierarchyCycleError("cycle")
        return list(last.items())

    @rule(data=st.data())
    def write_child_of_raw(self, data: st.DataObject) -> None:
        """ChildOf written around set_parent (no cycle, live parent): observers."""
        live = self.live()
        if len(live) < 2:
            note("raw ChildOf write: fewer than two live entities")
            return
        kids = data.draw(
            st.lists(st.sampled_from(live), min_size=1, max_size=3, unique=True)
        )
        graph = {e: self.ref.parent(e) for e in live}
        parents = []
        for k in kids:
            p = data.draw(st.sampled_from(live), label="parent")
            graph[k] = p
            if p == k or self.ref.find_cycle(graph):
                graph[k] = self.ref.parent(k)
                note(f"  ({Entity(k)!r} -> {Entity(p)!r} would cycle: skipped)")
                return
            parents.append(p)
        how = data.draw(st.sampled_from(["insert", "set", "set_batch", "commands"]))
        arr = np.asarray(kids, dtype=np.uint64)
        note(
            f"raw {how}: ChildOf of {[Entity(k) for k in kids]} = {[Entity(p) for p in parents]}"
        )
        make: Any = ChildOf
        if how in ("insert", "set"):
            for k, p in zip(kids, parents, strict=True):
                value = make(parent=p)

                def one(w: Any, k: int = k, v: object = value) -> None:
                    getattr(w, how)(k, v)

                self.both(one)
        elif how == "set_batch":
            cols = {"parent": np.asarray(parents, dtype=np.uint64)}
            self.both(lambda w: w.set_batch(arr, ChildOf, cols))
        else:
            plan = CommandPlan()
            plan.insert_batch(kids, ChildOf, {"parent": parents})
            buffer, _ = plan.build()
            assert_report_matches(self.world.apply(buffer), self.ref.apply(plan))

    @rule(data=st.data())
    def detach_raw(self, data: st.DataObject) -> None:
        ids = self.draw_ids(data)
        note(f"world.remove_batch({[Entity(e) for e in ids]}, ChildOf)")
        self.both(lambda w: w.remove_batch(np.asarray(ids, dtype=np.uint64), ChildOf))

    @precondition(lambda self: any(ChildOf in c for c in self.ref.entities.values()))
    @rule(data=st.data())
    def despawn_parents(self, data: st.DataObject) -> None:
        ids = self.draw_parent_ids(data)
        before = len(self.ref)
        if data.draw(st.booleans(), label="as commands"):
            plan = CommandPlan()
            for e in ids:
                plan.despawn(e)
            note(f"buffer: {plan}")
            buffer, _ = plan.build()
            expected = self.ref.apply(plan)
            report = self.world.apply(buffer)
            note(f"  -> {report}; model {expected}")
            assert_report_matches(report, expected)
        else:
            note(f"world.despawn_batch({[Entity(e) for e in ids]})")
            self.both(lambda w: w.despawn_batch(np.asarray(ids, dtype=np.uint64)))
        extra = before - len(self.ref) - len(set(ids))
        if extra > 0:
            event(f"despawn_parents: {self.on_despawn} took more entities")

    def _alive_then(self, ids: list[int], fn: Callable[[], T]) -> Callable[[], T]:
        """A model call: raise like the world for dead ids, else ``fn()``."""

        def call() -> T:
            self.ref._check_alive(ids)
            return fn()

        return call

    @rule(data=st.data())
    def hierarchy_lookups(self, data: st.DataObject) -> None:
        ids = self.draw_ids(data)
        arr = np.asarray(ids, dtype=np.uint64)
        h = hierarchy(self.world)
        ref = self.ref
        note(f"hierarchy lookups of {[Entity(e) for e in ids]}")

        def csr() -> list[list[int]]:
            offsets, kids = h.children_of(arr)
            return [kids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(ids))]

        checks: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
            (
                "parent_of",
                lambda: h.parent_of(arr).tolist(),
                lambda: [ref.parent(e) for e in ids],
            ),
            (
                "depth_of",
                lambda: h.depth_of(arr).tolist(),
                lambda: [ref.depth(e) for e in ids],
            ),
            (
                "descendants_of",
                lambda: h.descendants_of(arr).tolist(),
                lambda: ref.descendants(ids),
            ),
            ("children_of", csr, lambda: [ref.children(e) for e in ids]),
        ]
        e = self.draw_id(data)
        checks += [
            (
                "ancestors_of",
                lambda: h.ancestors_of(e).tolist(),
                lambda: ref.ancestors(e),
            ),
            ("children", lambda: h.children(e).tolist(), lambda: ref.children(e)),
        ]
        for name, world_call, model_call in checks:
            args = [e] if name in ("ancestors_of", "children") else ids
            got, want = self.calls(world_call, self._alive_then(args, model_call))
            assert got == want, f"{name}: {got} != model {want}"

    # ---------------------------------------------------------------- prefabs

    def draw_overrides(
        self, data: st.DataObject, prefab: Prefab, n: int
    ) -> dict[object, object]:
        out: dict[object, object] = {}
        paths = [p for p, *_ in prefab.walk()]
        for path in data.draw(
            st.lists(st.sampled_from(paths), unique=True, max_size=2)
        ):
            classes = data.draw(
                st.lists(st.sampled_from(self.classes), unique=True, max_size=2)
            )
            values = {c: self.draw_value(data, c, n) for c in classes}
            if path:
                out[path] = values
            else:
                out.update(values)
        live = self.live()
        if live and data.draw(st.integers(0, 3), label="attach?") == 0:
            parents = data.draw(
                st.lists(st.sampled_from(live), min_size=n, max_size=n), label="attach"
            )
            out[ChildOf] = {"parent": np.asarray(parents, dtype=np.uint64)}
        return out

    @rule(data=st.data())
    def spawn_prefab(self, data: st.DataObject) -> None:
        prefab = data.draw(st.sampled_from(self.prefab_list), label="prefab")
        n = data.draw(st.integers(0, self.max_copies), label="n")
        if n == 0 and data.draw(st.integers(0, 3), label="keep n=0?"):
            n = 1
        overrides = self.draw_overrides(data, prefab, n)
        by_name = data.draw(st.booleans(), label="by name")
        which: Prefab | str = prefab.name if by_name else prefab
        via = data.draw(st.sampled_from(["world", "commands"]), label="via")
        note(f"spawn_prefab({via}, {prefab.name!r}, n={n}, overrides={overrides!r})")
        event(f"spawn_prefab: {prefab.name}, via {via}, n={min(n, 2)}")
        want = self.ref.spawn_prefab(prefab, n, overrides)
        if via == "world":
            got = spawn_prefab(self.world, which, n, overrides)
            assert got.tolist() == want, f"roots {got.tolist()} != model {want}"
            return
        buffer = CommandBuffer("prefab")
        pending = spawn_prefab(
            buffer, which, n, overrides, registry=prefabs(self.world)
        )
        kill = n > 0 and data.draw(st.booleans(), label="despawn a copy")
        if kill:
            note(f"  buffer.despawn(root copy 0 = {want[0]!r})")
            buffer.despawn(int(pending[0]))
        report = self.world.apply(buffer)
        assert report.resolve(buffer, pending).tolist() == want
        if kill:
            self.ref.despawn_batch([want[0]])
        note(f"  -> {report}")

    @precondition(lambda self: len(self.ref) > 0)
    @rule(data=st.data())
    def instantiate_scene(self, data: st.DataObject) -> None:
        parents = self.parents()
        if parents and data.draw(st.integers(0, 3), label="a parent?") > 0:
            root = data.draw(st.sampled_from(parents), label="root")
        else:
            root = self.draw_id(data)
        n = data.draw(st.integers(0, self.max_copies), label="n")
        via = data.draw(st.sampled_from(["world", "commands"]), label="via")
        note(f"instantiate_scene(world, {Entity(root)!r}, n={n}) via {via}")
        if root in self.ref.entities:
            size = 1 + len(self.ref.descendants([root]))
            event(
                f"instantiate_scene: subtree of {min(size, 3)}{'+' if size >= 3 else ''}"
            )
        index = self.world.entities

        def table_of(e: int) -> int:
            return int(index.table[e & 0xFFFF_FFFF])

        if via == "world":
            got, want = self.calls(
                lambda: instantiate_scene(self.world, root, n).tolist(),
                lambda: self.ref.instantiate_scene(root, n, table_of=table_of),
            )
            assert got == want, f"copies {got} != model {want}"
            return
        buffer = CommandBuffer("scene")
        pending, want = self.calls(
            lambda: instantiate_scene(self.world, root, n, commands=buffer),
            lambda: self.ref.instantiate_scene(root, n, table_of=table_of),
        )
        if want is None:
            return
        report = self.world.apply(buffer)
        note(f"  -> {report}")
        assert report.resolve(buffer, pending).tolist() == want

    # -------------------------------------------------------------- snapshots

    @rule()
    def take_snapshot(self) -> None:
        note(f"snap{len(self.snapshots)} = world.snapshot()")
        self.snapshots.append(
            (self.world.snapshot(), self.ref.copy(), self.world.token)
        )
        if len(self.snapshots) > self.max_snapshots:
            self.snapshots.pop(0)

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def restore_snapshot(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.snapshots) - 1), label="snapshot")
        snap, model, token = self.snapshots[i]
        note(f"world.restore(snapshot {i})")
        if token != self.world.token:
            with pytest_raises(EcsError):
                self.world.restore(snap)
            note("  -> refused: a snapshot of another world")
            return
        self.world.restore(snap)
        self.ref = model.copy()

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def diff_snapshot(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.snapshots) - 1), label="snapshot")
        snap, model, token = self.snapshots[i]
        note(f"world.diff(snapshot {i})")
        if token != self.world.token:
            # A snapshot of the world this one was loaded from (same ids): the diff
            # must be right, or refused like restore refuses it.
            try:
                got = self.world.diff(snap)
            except EcsError as exc:
                note(f"  -> refused: {type(exc).__name__}")
                return
            event("diff against a snapshot of another world")
            assert_diff_matches(got, model, self.ref)
            return
        assert_diff_matches(self.world.diff(snap), model, self.ref)

    # -------------------------------------------------------------- save / load

    @rule(data=st.data())
    def save(self, data: st.DataObject) -> None:
        fmt = data.draw(st.sampled_from(self.file_formats), label="format")
        if self.save_dir is None:
            self.save_dir = tempfile.mkdtemp(prefix="ecs-machine-")
        note(f"world.save(tmp, file_format={fmt!r})")
        self.world.save(self.save_dir, file_format=fmt)
        self.saved = self.ref.copy()

    def _load_classes(self) -> list[type]:
        return [*self.classes, ChildOf]

    @precondition(lambda self: self.saved is not None)
    @rule(early=st.booleans())
    def load_exact(self, *, early: bool) -> None:
        """Load the last save into a fresh world and carry on with that world.

        With ``early``, the fresh world gets its hierarchy (index built, empty)
        before the load, as an application that sets up first would do.
        """
        assert self.save_dir is not None
        assert self.saved is not None
        note(
            "world = load(tmp, World()).world  (the machine continues on it)"
            f"{'; hierarchy created before the load' if early else ''}"
        )
        fresh = World()
        if early:
            hierarchy(fresh, on_despawn=self.on_despawn).order()
        result = load(self.save_dir, fresh, components=self._load_classes())
        assert result.exact
        assert result.world is fresh
        assert result.old_ids.tolist() == result.new_ids.tolist()
        assert sorted(result.old_ids.tolist()) == sorted(self.saved.entities)
        assert result.dangling == 0
        self.world = fresh
        self.ref = self.saved.copy()
        self.setup()  # the hierarchy resource and its despawn hook are not saved
        registry = prefabs(fresh)
        for p in self.prefab_list:
            registry.register(p)
        event("loaded into a fresh world")

    @precondition(lambda self: self.saved is not None)
    @rule(data=st.data())
    def load_into_scratch(self, data: st.DataObject) -> None:
        """Load the last save into a used world: remapped ids (exact if it is empty).

        Sometimes the scratch world has its hierarchy (index built) before the load,
        and afterwards a loaded parent is despawned there (the policy must apply to
        the loaded, remapped relation).
        """
        assert self.save_dir is not None
        assert self.saved is not None
        scratch = data.draw(world_states(self.classes, max_steps=3), label="scratch")
        world, before = scratch.world, dict(scratch.reference.entities)
        built = data.draw(st.booleans(), label="hierarchy before load")
        if built:
            hierarchy(world, on_despawn=self.on_despawn).order()
        note(
            f"load(tmp, scratch world with {len(before)} entities"
            f"{', hierarchy built' if built else ''})"
        )
        result = load(self.save_dir, world, components=self._load_classes())
        saved = self.saved.copy()
        if not before:  # an empty (maybe used) world: exact
            assert result.exact
            assert_entity_index_matches(world, saved)
            assert_rows_equal(world_rows(world), saved.entities, "exact load")
            assert_hierarchy_matches(world, saved)
            event("loaded into an empty used world (exact)")
            return
        assert not result.exact
        old, new = result.old_ids.tolist(), result.new_ids.tolist()
        assert sorted(old) == sorted(saved.entities), "old_ids are not the saved ids"
        assert len(set(new)) == len(new), "new ids repeat"
        assert not set(new) & set(before), "new ids collide with the world's"
        assert world.is_alive_batch(result.new_ids).all()
        mapping = dict(zip(old, new, strict=True))
        want, dangling = _remapped_rows(saved, mapping)
        assert_rows_equal(world_rows(world), {**before, **want}, "remapped load")
        assert result.dangling == dangling, f"dangling {result.dangling} != {dangling}"
        probe = [*old[:3], *sorted(saved.despawned)[:2], 0]
        assert result.remap(probe).tolist() == [mapping.get(x, 0) for x in probe]
        h = hierarchy(world, on_despawn=self.on_despawn)
        live = list(saved.entities)
        got = h.parent_of(np.asarray([mapping[e] for e in live], np.uint64)).tolist()
        assert got == [mapping.get(saved.parent(e), 0) for e in live], "parent_of"
        got = h.depth_of(np.asarray([mapping[e] for e in live], np.uint64)).tolist()
        assert got == [saved.depth(e) for e in live], "depth_of"
        event("loaded into a used world (remapped)")
        parents = list(saved.children_map())
        if not parents:
            return
        victim = data.draw(st.sampled_from(parents), label="despawn a loaded parent")
        note(
            f"  scratch.despawn({Entity(mapping[victim])!r})  (saved {Entity(victim)!r})"
        )
        world.despawn(mapping[victim])
        saved.despawn_batch([victim])
        still = {mapping[e] for e in saved.entities}
        want, _ = _remapped_rows(saved, mapping)
        got_rows = world_rows(world)
        assert_rows_equal(
            {e: r for e, r in got_rows.items() if e not in before},
            want,
            f"scratch after despawning a loaded parent ({self.on_despawn})",
        )
        assert still == got_rows.keys() - before.keys()

    # ---------------------------------------------------- several in one step

    @rule(data=st.data())
    def several_steps(self, data: st.DataObject) -> None:
        """2-4 hierarchy-changing rules with no lookup (no invariant) in between.

        The invariants rebuild the lazily built children index after every step;
        here the despawn hooks and lookups must see changes made since the last
        build (observers, restores and loads that fire none).
        """
        steps: list[Callable[[st.DataObject], None]] = [
            self.set_parent,
            self.detach_raw,
            self.write_child_of_raw,
            self.spawn_prefab,
            self.despawn_batch,
            self.take_snapshot_data,
            self.set_parent_commands,
        ]
        if any(ChildOf in c for c in self.ref.entities.values()):
            steps.append(self.despawn_parents)
        if self.ref.entities:
            steps.append(self.instantiate_scene)
        if self.snapshots:
            steps.append(self.restore_snapshot)
        chosen = data.draw(st.lists(st.sampled_from(steps), min_size=2, max_size=4))
        note(f"several steps: {[f.__name__ for f in chosen]}")
        for step in chosen:
            step(data)

    def take_snapshot_data(self, data: st.DataObject) -> None:
        self.take_snapshot()

    # ------------------------------------------------------------- invariants

    @invariant()
    def hierarchy_agrees(self) -> None:
        assert_hierarchy_matches(self.world, self.ref)
        levels = len(self.ref.levels())
        if levels:
            event(f"hierarchy levels: {min(levels, 4)}{'+' if levels >= 4 else ''}")


def _remapped_rows(
    model: ReferenceWorld, mapping: dict[int, int]
) -> tuple[dict[int, dict[type, tuple[Any, ...]]], int]:
    """The model's live rows under new ids, as a remapping load writes them.

    Every EntityRef value naming a mapped id is mapped; other non-null values become
    0 (and are counted: the load's ``dangling``).
    """
    out: dict[int, dict[type, tuple[Any, ...]]] = {}
    dangling = 0
    for e, comps in model.entities.items():
        rows: dict[type, tuple[Any, ...]] = {}
        for cls, row in comps.items():
            mapped = []
            for f, v in zip(schema_of(cls).fields, row, strict=True):
                if f.type.is_entity:
                    vals = list(v) if f.type.shape else [v]
                    dangling += sum(1 for x in vals if x and x not in mapping)
                    vals = [mapping.get(x, 0) for x in vals]
                    v = tuple(vals) if f.type.shape else vals[0]
                mapped.append(v)
            rows[cls] = tuple(mapped)
        out[mapping[e]] = rows
    return out, dangling


def assert_diff_matches(diff: Any, before: ReferenceWorld, now: ReferenceWorld) -> None:
    """``world.diff(snapshot)`` equals the model's diff of two states."""
    added = sorted(set(now.entities) - set(before.entities))
    removed = sorted(set(before.entities) - set(now.entities))
    # (the order of the rows is not specified: table order)
    assert sorted(diff.added.column("entity").to_pylist()) == added, "diff.added"
    assert sorted(diff.removed.column("entity").to_pylist()) == removed, "diff.removed"
    both = sorted(set(now.entities) & set(before.entities))
    comp_added, comp_removed = set(), set()
    changed: dict[str, dict[int, tuple[Any, Any]]] = {}
    for e in both:
        b, a = before.entities[e], now.entities[e]
        for cls in a.keys() - b.keys():
            comp_added.add((e, schema_of(cls).name))
        for cls in b.keys() - a.keys():
            comp_removed.add((e, schema_of(cls).name))
        for cls in a.keys() & b.keys():
            if schema_of(cls).fields and not values_equal(a[cls], b[cls]):
                changed.setdefault(schema_of(cls).name, {})[e] = (b[cls], a[cls])

    def pairs(table: pa.Table) -> set[tuple[int, str]]:
        return set(
            zip(
                table.column("entity").to_pylist(),
                table.column("component").to_pylist(),
                strict=True,
            )
        )

    assert pairs(diff.components_added) == comp_added, "diff.components_added"
    assert pairs(diff.components_removed) == comp_removed, "diff.components_removed"
    assert diff.changed.keys() == changed.keys(), (
        f"diff.changed components {sorted(diff.changed)} != model {sorted(changed)}"
    )
    for name, rows in changed.items():
        table = diff.changed[name]
        cols = {
            c: [_py(v) for v in table.column(c).to_pylist()] for c in table.column_names
        }
        ents = cols.pop("entity")
        fields = [c[: -len("_before")] for c in cols if c.endswith("_before")]
        got = {
            e: (
                tuple(cols[f"{f}_before"][r] for f in fields),
                tuple(cols[f"{f}_after"][r] for f in fields),
            )
            for r, e in enumerate(ents)
        }
        assert got.keys() == rows.keys(), f"diff.changed[{name!r}] entities"
        for e, pair in rows.items():
            assert values_equal(got[e], pair), f"diff.changed[{name!r}] {_label(e)}"


class OrphanWorldStateMachine(HierarchyWorldStateMachine):
    """:class:`HierarchyWorldStateMachine` with the ``"orphan"`` despawn policy."""

    on_despawn: DespawnPolicy = "orphan"
