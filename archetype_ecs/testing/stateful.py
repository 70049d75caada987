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

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
from hypothesis import event, note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from archetype_ecs.commands import ApplyReport, CommandBuffer
from archetype_ecs.component import schema_of
from archetype_ecs.entity import Entity
from archetype_ecs.errors import EcsError, EntityNotAliveError, MissingComponentError
from archetype_ecs.testing.reference import (
    CommandPlan,
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
)
from archetype_ecs.world import World

__all__ = [
    "WorldStateMachine",
    "apply_both",
    "assert_entity_index_matches",
    "assert_query_matches",
    "assert_report_matches",
    "assert_tables_match",
    "assert_world_matches",
    "cast_value",
    "query_rows",
]

T = TypeVar("T")

_EXPECTED_ERRORS = (EntityNotAliveError, MissingComponentError)


def _py(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _label(e: int) -> str:
    return Entity(e).label()


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
        have = list(self.ref.entities.get(e, {}))
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
