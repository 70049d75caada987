"""Hypothesis strategies for arrow-ecs: field types up to whole worlds and command buffers.

They build on each other: :func:`field_types` -> :func:`component_schemas` (real
``@component`` classes made on the fly) -> :func:`component_values` /
:func:`column_values` / :func:`batch_values` / :func:`record_batches` ->
:func:`world_states` / :func:`worlds` -> :func:`command_buffers`. Use them to test your own systems::

    from hypothesis import given
    from archetype_ecs.testing import strategies as ecs_st

    @given(ecs_st.world_states())
    def test_my_system_keeps_entity_count(state):
        n = len(state.world)
        my_system(state.world)
        assert len(state.world) == n
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from archetype_ecs.component import component, schema_of
from archetype_ecs.entity import Entity
from archetype_ecs.schema import FIELD_TYPES, FieldType
from archetype_ecs.testing.reference import CommandPlan, Pending, ReferenceWorld
from archetype_ecs.world import World

__all__ = [
    "FIELD_NAMES",
    "WorldState",
    "batch_values",
    "column_values",
    "command_buffers",
    "component_class_lists",
    "component_schemas",
    "component_values",
    "entity_ids",
    "field_types",
    "field_values",
    "live_ids",
    "dead_ids",
    "record_batch_of",
    "record_batches",
    "world_states",
    "worlds",
]

FIELD_NAMES = (
    "x", "y", "z", "w", "hp", "mass", "speed", "flag", "target", "count", "level", "heading",
)  # fmt: skip
"""Field names drawn by :func:`component_schemas` (valid, non-clashing identifiers)."""

SCALAR_TYPES: tuple[FieldType, ...] = tuple(FIELD_TYPES.values())


def field_types(
    *,
    scalars: Sequence[FieldType] = SCALAR_TYPES,
    vector_scalars: Sequence[FieldType] | None = None,
    max_vector_size: int = 4,
) -> st.SearchStrategy[FieldType]:
    """Field types: scalars (bool, ints, uints, floats, EntityRef) and vectors.

    Parameters
    ----------
    scalars
        The scalar types to draw from (default: every field type).
    vector_scalars
        Scalar types allowed as vector elements (default: ``scalars``); ``()`` for no
        vectors.
    max_vector_size
        Largest vector size, e.g. 4 allows ``f32[1]`` ... ``f32[4]``.

    Examples
    --------
    >>> from archetype_ecs import f32
    >>> field_types(scalars=[f32], vector_scalars=()).example()  # doctest: +SKIP
    f32
    """
    vec = list(scalars if vector_scalars is None else vector_scalars)
    strategy: st.SearchStrategy[FieldType] = st.sampled_from(list(scalars))
    if vec and max_vector_size >= 1:
        vectors = st.builds(
            lambda t, k: t[k], st.sampled_from(vec), st.integers(1, max_vector_size)
        )
        strategy = st.one_of(strategy, vectors)
    return strategy


def entity_ids(*, live: Sequence[int] = ()) -> st.SearchStrategy[int]:
    """Entity ids as ``EntityRef`` values: null, ``live`` ids, or any real-looking id.

    Real-looking ids have a generation >= 1 (an id with generation 0 is a pending id of
    a command buffer, never a stored reference).
    """
    options: list[st.SearchStrategy[int]] = [
        st.just(0),
        st.builds(
            Entity.from_parts, st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1)
        ),
    ]
    if live:
        options.append(st.sampled_from(list(live)))
    return st.one_of(options)


def _scalar_values(ftype: FieldType, entities: st.SearchStrategy[Any] | None) -> Any:
    if ftype.is_entity:
        return entity_ids() if entities is None else entities
    kind = ftype.dtype.kind
    if kind == "b":
        return st.booleans()
    if kind in "iu":
        info = np.iinfo(ftype.dtype)
        return st.integers(int(info.min), int(info.max))
    return st.floats(width=8 * ftype.dtype.itemsize)


def field_values(
    ftype: FieldType, *, entities: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Any]:
    """One value that fits ``ftype``: a Python scalar, or a tuple for a vector.

    Floats include NaN, infinities and subnormals; a float32 field draws float32 values.
    ``entities`` overrides the ``EntityRef`` values (default :func:`entity_ids`).
    """
    scalar = _scalar_values(ftype, entities)
    if ftype.shape:
        return st.tuples(*[scalar] * ftype.shape[0])
    return scalar


@st.composite
def component_schemas(
    draw: st.DrawFn,
    *,
    name: str | st.SearchStrategy[str] | None = None,
    max_fields: int = 4,
    types: st.SearchStrategy[FieldType] | None = None,
) -> type:
    """A fresh ``@component`` class with random fields and defaults (no fields: a tag).

    Parameters
    ----------
    name
        The component name (a string or a strategy); default ``C<n>``. Names must be
        unique within one world: use :func:`component_class_lists` for several.
    max_fields
        At most this many fields (0 to always get tags).
    types
        Strategy of field types (default :func:`field_types`).
    """
    if name is None:
        cname = f"C{draw(st.integers(0, 99))}"
    elif isinstance(name, str):
        cname = name
    else:
        cname = draw(name)
    types = field_types() if types is None else types
    names = draw(
        st.lists(st.sampled_from(FIELD_NAMES), unique=True, max_size=max_fields)
    )
    annotations: dict[str, FieldType] = {}
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": cname}
    for fname in names:
        ftype = draw(types)
        annotations[fname] = ftype
        if draw(st.booleans()):
            namespace[fname] = draw(field_values(ftype))
    namespace["__annotations__"] = annotations
    return component(type(cname, (), namespace))


def component_class_lists(
    *, min_size: int = 1, max_size: int = 4, **schema_kwargs: Any
) -> st.SearchStrategy[list[type]]:
    """Lists of component classes with distinct names ``C0``, ``C1`` ...

    ``schema_kwargs`` go to :func:`component_schemas`.
    """

    @st.composite
    def build(draw: st.DrawFn) -> list[type]:
        n = draw(st.integers(min_size, max_size))
        return [
            draw(component_schemas(name=f"C{i}", **schema_kwargs)) for i in range(n)
        ]

    return build()


def component_values(
    cls: type, *, entities: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Any]:
    """Instances of the component class ``cls`` with random field values."""
    fields = schema_of(cls).fields
    return st.builds(
        cls, **{f.name: field_values(f.type, entities=entities) for f in fields}
    )


def _column(ftype: FieldType, n: int, entities: st.SearchStrategy[Any] | None) -> Any:
    shape = (n, *ftype.shape)
    elements = _scalar_values(ftype, entities)
    if ftype.is_entity:  # may hold Pending markers: build via lists
        size = int(np.prod(shape, dtype=np.int64))

        def to_array(values: list[Any]) -> np.ndarray[Any, Any]:
            pending = any(isinstance(v, Pending) for v in values)
            out = np.empty(size, dtype=object if pending else np.uint64)
            out[:] = values
            return out.reshape(shape)

        return st.lists(elements, min_size=size, max_size=size).map(to_array)
    return hnp.arrays(ftype.dtype, shape, elements=elements)


def column_values(
    cls: type, n: int, *, entities: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[dict[str, np.ndarray[Any, Any]]]:
    """Full columns of ``n`` rows for every field of ``cls``: field name -> array.

    Arrays have the field's dtype and shape ``(n, *field_shape)``. ``EntityRef``
    columns are uint64 (object arrays when ``entities`` draws :class:`Pending` markers).
    """
    fields = schema_of(cls).fields
    return st.fixed_dictionaries({f.name: _column(f.type, n, entities) for f in fields})


def record_batch_of(
    values: Mapping[type, Mapping[str, np.ndarray[Any, Any]]], n: int
) -> pa.RecordBatch:
    """An Arrow record batch as ``World.spawn_batch`` reads it, from full columns.

    Columns are named ``"<Component>.<field>"`` (vectors as fixed-size lists); a tag
    gets an all-true column named ``"<Component>"``.
    """
    arrays: list[pa.Array] = []
    names: list[str] = []
    for cls, cols in values.items():
        s = schema_of(cls)
        if s.is_tag:
            arrays.append(pa.array(np.ones(n, dtype=np.bool_)))
            names.append(s.name)
        for f in s.fields:
            arr = np.asarray(cols[f.name])
            if f.type.shape:
                flat = pa.array(arr.reshape(-1))
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, f.type.shape[0]))
            else:
                arrays.append(pa.array(arr))
            names.append(f"{s.name}.{f.name}")
    return pa.RecordBatch.from_arrays(arrays, names=names)


@st.composite
def record_batches(
    draw: st.DrawFn, classes: Sequence[type], *, min_rows: int = 1, max_rows: int = 8
) -> pa.RecordBatch:
    """Arrow record batches holding every component of ``classes`` (one archetype).

    Tags need at least one row to be seen, hence ``min_rows=1``.
    """
    n = draw(st.integers(min_rows, max_rows))
    return record_batch_of({c: draw(column_values(c, n)) for c in classes}, n)


@st.composite
def batch_values(
    draw: st.DrawFn,
    cls: type,
    n: int,
    *,
    entities: st.SearchStrategy[Any] | None = None,
    allow_none: bool = True,
) -> object:
    """Values for ``n`` rows of ``cls`` in any accepted form.

    One of: ``None`` (defaults), an instance (broadcast), a dict of some or all fields
    -> columns, or for a one-field component its bare column.
    """
    fields = schema_of(cls).fields
    forms = ["instance", "dict"] + (["none"] if allow_none else [])
    if len(fields) == 1:
        forms.append("bare")
    form = draw(st.sampled_from(forms))
    if form == "none":
        return None
    if form == "instance":
        return draw(component_values(cls, entities=entities))
    cols = draw(column_values(cls, n, entities=entities))
    if form == "bare":
        return cols[fields[0].name]
    keep = (
        draw(st.lists(st.sampled_from([f.name for f in fields]), unique=True))
        if fields
        else []
    )
    return {k: cols[k] for k in keep}


class WorldState(NamedTuple):
    """A world, its reference model (kept in step) and the component classes used."""

    world: World
    reference: ReferenceWorld
    classes: list[type]


@st.composite
def world_states(
    draw: st.DrawFn,
    classes: Sequence[type] | None = None,
    *,
    max_steps: int = 6,
    max_batch: int = 6,
) -> WorldState:
    """A :class:`WorldState` built by random batch spawns and despawns.

    Despawns leave recycled slots (generation > 1) and a non-empty free list behind,
    so ids in later tests exercise the whole entity index.
    """
    classes = list(draw(component_class_lists()) if classes is None else classes)
    world, ref = World(), ReferenceWorld()
    for _ in range(draw(st.integers(0, max_steps))):
        live = list(ref.entities)
        if live and draw(st.booleans()):
            ids = draw(st.lists(st.sampled_from(live), min_size=1, unique=True))
            world.despawn_batch(np.asarray(ids, dtype=np.uint64))
            ref.despawn_batch(ids)
            continue
        subset = (
            draw(st.lists(st.sampled_from(classes), unique=True)) if classes else []
        )
        n = draw(st.integers(0, max_batch))
        ents = entity_ids(live=live)
        values = {c: draw(batch_values(c, n, entities=ents)) for c in subset}
        world.spawn_batch(values, n=n)
        ref.spawn_batch(values, n=n)
    return WorldState(world, ref, classes)


def worlds(
    classes: Sequence[type] | None = None, **kwargs: Any
) -> st.SearchStrategy[World]:
    """Worlds with some spawned (and some despawned) entities; see :func:`world_states`."""
    return world_states(classes, **kwargs).map(lambda s: s.world)


def live_ids(world: World) -> list[int]:
    """Every live entity of ``world``, in table order."""
    return [int(e) for t in world.tables for e in t.entities.tolist()]


def dead_ids(world: World) -> list[int]:
    """Some ids that are not alive: null, stale generations and never-spawned slots."""
    index = world.entities
    gens = index.generation[: index.size].tolist()
    stale = [Entity.from_parts(i, g - 1) for i, g in enumerate(gens) if g > 1]
    return [
        0,
        *stale,
        Entity.from_parts(index.size, 1),
        Entity.from_parts(index.size + 7, 3),
    ]


_KINDS = (
    "spawn", "spawn_batch", "despawn", "despawn_batch", "insert", "insert_batch",
    "remove", "remove_batch", "set", "set_batch",
)  # fmt: skip


@st.composite
def command_buffers(
    draw: st.DrawFn,
    world: World,
    classes: Sequence[type] | None = None,
    *,
    max_commands: int = 10,
    max_batch: int = 4,
    pending_refs: bool = True,
) -> CommandPlan:
    """A :class:`~archetype_ecs.testing.reference.CommandPlan` for ``world``.

    Random mixes of every command kind naming live ids, dead ids (stale, null, never
    spawned), repeated ids, despawn-then-use, and the pending ids of the plan's own
    earlier spawns. ``plan.build()`` gives the ``CommandBuffer``;
    ``ReferenceWorld.apply(plan)`` replays it on a model.

    Parameters
    ----------
    world
        The world the buffer will be applied to (its ids are drawn from).
    classes
        Component classes to use (default: those registered in ``world``).
    max_commands
        At most this many recorded calls.
    max_batch
        At most this many ids per batch call.
    pending_refs
        Let ``EntityRef`` values name pending entities of the plan.
    """
    classes = (
        list(classes) if classes is not None else [s.cls for s in world.components]
    )
    drawer = _PlanDrawer(draw, world, classes, max_batch, pending_refs=pending_refs)
    kinds = _KINDS if classes else _KINDS[:4]
    for _ in range(draw(st.integers(0, max_commands))):
        getattr(drawer, draw(st.sampled_from(kinds)))()
    return drawer.plan


class _PlanDrawer:
    """Draws one planned call per method, with ids biased towards reuse."""

    def __init__(
        self,
        draw: st.DrawFn,
        world: World,
        classes: list[type],
        max_batch: int,
        *,
        pending_refs: bool,
    ) -> None:
        self.draw, self.classes, self.max_batch = draw, classes, max_batch
        self.pending_refs = pending_refs
        self.live, self.dead = live_ids(world), dead_ids(world)
        self.plan = CommandPlan()
        self.pending: list[Pending] = []
        self.used: list[Any] = []  # ids named before: despawn-then-use, repeats

    def one_id(self) -> Any:
        pools = [p for p in (self.live, self.dead, self.pending, self.used) if p]
        e = self.draw(st.sampled_from(self.draw(st.sampled_from(pools))))
        self.used.append(e)
        return e

    def some_ids(self) -> list[Any]:
        return [self.one_id() for _ in range(self.draw(st.integers(0, self.max_batch)))]

    def refs(self) -> st.SearchStrategy[Any]:
        options = [entity_ids(live=self.live + self.dead)]
        if self.pending_refs and self.pending:
            options.append(st.sampled_from(list(self.pending)))
        return st.one_of(options)

    def instance(self, cls: type, *, tag_as_class: bool = True) -> Any:
        if tag_as_class and self.draw(st.booleans()):
            return cls
        return self.draw(component_values(cls, entities=self.refs()))

    def some_classes(self, min_size: int = 0) -> list[type]:
        classes = st.sampled_from(self.classes)
        return self.draw(st.lists(classes, min_size=min_size, max_size=3))

    def one_class(self) -> type:
        return self.draw(st.sampled_from(self.classes))

    def spawn(self) -> None:
        comps = [self.instance(c) for c in self.some_classes()]
        self.pending.append(self.plan.spawn(*comps))

    def spawn_batch(self) -> None:
        n = self.draw(st.integers(0, self.max_batch))
        classes = st.sampled_from(self.classes) if self.classes else st.nothing()
        subset = self.draw(st.lists(classes, unique=True))
        values = {
            c: self.draw(batch_values(c, n, entities=self.refs())) for c in subset
        }
        self.pending.extend(self.plan.spawn_batch(values, n=n))

    def despawn(self) -> None:
        self.plan.despawn(self.one_id())

    def despawn_batch(self) -> None:
        self.plan.despawn_batch(self.some_ids())

    def insert(self) -> None:
        e = self.one_id()
        self.plan.insert(e, *(self.instance(c) for c in self.some_classes(1)))

    def insert_batch(self) -> None:
        ids, cls = self.some_ids(), self.one_class()
        values = self.draw(batch_values(cls, len(ids), entities=self.refs()))
        self.plan.insert_batch(ids, cls, values)

    def remove(self) -> None:
        self.plan.remove(self.one_id(), *self.some_classes())

    def remove_batch(self) -> None:
        self.plan.remove_batch(self.some_ids(), *self.some_classes())

    def set(self) -> None:
        e = self.one_id()
        comps = [self.instance(c, tag_as_class=False) for c in self.some_classes(1)]
        self.plan.set(e, *comps)

    def set_batch(self) -> None:
        ids, cls = self.some_ids(), self.one_class()
        values = self.draw(
            batch_values(cls, len(ids), entities=self.refs(), allow_none=False)
        )
        self.plan.set_batch(ids, cls, values)
