"""Analysis outputs against plain-Python and numpy references, over random worlds.

- ``to_arrow`` / ``lookup`` give exactly the values the reference model holds;
- ``sql`` aggregates (count, min, max, sum, avg, joins) equal the same computation
  done with numpy on the model's values;
- a ``Recorder`` (in memory, as a ring buffer, or on disk as Parquet) holds exactly
  the per-frame snapshots taken by hand from the model, and the ring buffer keeps
  only its last ``max_frames`` frames.

Worlds come from :mod:`archetype_ecs.testing.strategies`: random component schemas
(every field type, vectors, tags, ``EntityRef``), random spawns and despawns, and
floats that include NaN, infinities and subnormals.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import EntityNotAliveError, MissingComponentError, World
from archetype_ecs.analysis import lookup, sql, to_arrow
from archetype_ecs.component import schema_of
from archetype_ecs.recorder import Recorder
from archetype_ecs.resources import Time
from archetype_ecs.testing import strategies as ecs_st
from archetype_ecs.testing.reference import ReferenceWorld, values_equal

pytestmark = pytest.mark.hypothesis

pytest.importorskip("duckdb")

Row = list[Any]


def _registered(world: World) -> list[type]:
    return [s.cls for s in world.components]


def _py(value: Any) -> Any:
    """Arrow's Python value as the model stores it (vectors as tuples)."""
    return tuple(value) if isinstance(value, list) else value


def _rows(table: pa.Table) -> dict[int, Row]:
    """Entity -> the row's other values, from a table whose first column is entity."""
    cols = [[_py(v) for v in c.to_pylist()] for c in table.columns]
    out: dict[int, Row] = {}
    for r, e in enumerate(cols[0]):
        assert e not in out, f"entity {e} appears twice"
        out[e] = [c[r] for c in cols[1:]]
    return out


def _expected_row(
    comps: dict[type, tuple[Any, ...]],
    required: Sequence[type],
    optional: Sequence[type],
) -> Row:
    """One entity's row as to_arrow lays it out, written out by hand from the model."""
    row: Row = []
    for cls in required:
        row.extend(comps[cls])
    for cls in optional:
        fields = schema_of(cls).fields
        if not fields:
            row.append(cls in comps)  # an optional tag is a presence column
        row.extend(comps[cls] if cls in comps else [None] * len(fields))
    return row


def _expected_table(
    ref: ReferenceWorld,
    required: Sequence[type],
    without: Sequence[type] = (),
    optional: Sequence[type] = (),
) -> dict[int, Row]:
    return {
        e: _expected_row(comps, required, optional)
        for e, comps in ref.entities.items()
        if all(c in comps for c in required) and not any(c in comps for c in without)
    }


def _column_names(required: Sequence[type], optional: Sequence[type]) -> list[str]:
    names = ["entity"]
    for i, cls in enumerate([*required, *optional]):
        s = schema_of(cls)
        if i >= len(required) and s.is_tag:
            names.append(s.name)
        names.extend(f"{s.name}.{f.name}" for f in s.fields)
    return names


def _assert_rows_equal(got: dict[int, Row], want: dict[int, Row], what: str) -> None:
    assert got.keys() == want.keys(), f"{what}: entities differ"
    for e, row in want.items():
        assert values_equal(got[e], row), f"{what}: entity {e}: {got[e]} != {row}"


# ------------------------------------------------------------------- to_arrow


@given(st.data())
def test_to_arrow_equals_the_model(data: st.DataObject) -> None:
    state = data.draw(ecs_st.world_states(), label="world")
    world, ref = state.world, state.reference
    known = _registered(world)
    if not known:
        assert to_arrow(world).num_rows == len(ref)
        return
    required = data.draw(st.lists(st.sampled_from(known), unique=True), label="req")
    rest = [c for c in known if c not in required]
    without = (
        data.draw(st.lists(st.sampled_from(rest), unique=True), label="without")
        if rest
        else []
    )
    optional = [c for c in rest if c not in without and data.draw(st.booleans())]
    if not required and not optional:
        # No component at all: every live entity, every registered component optional.
        table = to_arrow(world)
        required, without, optional = [], [], known
    else:
        table = to_arrow(world, *required, without=without, optional=optional)
    assert table.column_names == _column_names(required, optional)
    want = _expected_table(ref, required, without, optional)
    _assert_rows_equal(_rows(table), want, "to_arrow")


@given(st.data())
def test_to_arrow_where_keeps_the_rows_the_filter_selects(data: st.DataObject) -> None:
    state = data.draw(ecs_st.world_states(), label="world")
    world, ref = state.world, state.reference
    known = _registered(world)
    if not known:
        return
    cls = data.draw(st.sampled_from(known), label="component")
    parity = data.draw(st.integers(0, 1), label="parity")

    def even_or_odd(t: pa.Table) -> Any:
        bit = pc.bit_wise_and(t["entity"], pa.scalar(1, pa.uint64()))
        return pc.equal(bit, pa.scalar(parity, pa.uint64()))

    table = to_arrow(world, cls, where=even_or_odd)
    want = {e: r for e, r in _expected_table(ref, [cls]).items() if e % 2 == parity}
    _assert_rows_equal(_rows(table), want, "to_arrow(where=)")


# --------------------------------------------------------------------- lookup


@given(st.data())
def test_lookup_with_nulls_equals_the_model(data: st.DataObject) -> None:
    state = data.draw(ecs_st.world_states(), label="world")
    world, ref = state.world, state.reference
    known = _registered(world)
    if not known:
        return
    comps = data.draw(st.lists(st.sampled_from(known), min_size=1, unique=True))
    candidates = [*ref.entities, *ref.despawned, 0]
    ids = data.draw(st.lists(st.sampled_from(candidates), max_size=12), label="ids")
    table = lookup(world, np.asarray(ids, dtype=np.uint64), *comps, missing="null")
    assert table.column("entity").to_pylist() == ids  # input order, repeats kept
    cols = [[_py(v) for v in c.to_pylist()] for c in table.columns[1:]]
    for r, e in enumerate(ids):
        want: Row = []
        held = ref.entities.get(e, {})
        for cls in comps:
            fields = schema_of(cls).fields
            if not fields:
                want.append(cls in held)
            want.extend(held[cls] if cls in held else [None] * len(fields))
        got = [c[r] for c in cols]
        assert values_equal(got, want), f"lookup row {r} ({e}): {got} != {want}"


@given(st.data())
def test_lookup_strict_raises_or_equals_the_model(data: st.DataObject) -> None:
    state = data.draw(ecs_st.world_states(), label="world")
    world, ref = state.world, state.reference
    known = _registered(world)
    if not known:
        return
    comps = data.draw(st.lists(st.sampled_from(known), min_size=1, unique=True))
    candidates = [*ref.entities, *ref.despawned]
    if not candidates:
        return
    ids = data.draw(st.lists(st.sampled_from(candidates), max_size=8), label="ids")
    dead = [e for e in ids if e not in ref.entities]
    lacking = [
        e for e in ids if e in ref.entities and not all(ref.has(e, c) for c in comps)
    ]
    arr = np.asarray(ids, dtype=np.uint64)
    if dead:
        with pytest.raises(EntityNotAliveError):
            lookup(world, arr, *comps)
        return
    if lacking:
        with pytest.raises(MissingComponentError):
            lookup(world, arr, *comps)
        return
    table = lookup(world, arr, *comps)
    assert table.column("entity").to_pylist() == ids
    cols = [[_py(v) for v in c.to_pylist()] for c in table.columns[1:]]
    for r, e in enumerate(ids):
        want: Row = []
        for cls in comps:
            if schema_of(cls).is_tag:
                want.append(True)
            want.extend(ref.entities[e][cls])
        assert values_equal([c[r] for c in cols], want)


# ------------------------------------------------------------------------ SQL


def _values(ref: ReferenceWorld, cls: type, index: int) -> list[Any]:
    return [comps[cls][index] for comps in ref.entities.values() if cls in comps]


def _float_sum_matches(got: float | None, values: np.ndarray[Any, Any]) -> bool:
    """DuckDB's double sum of a float column against numpy's, order-insensitively."""
    if len(values) == 0:
        return got is None
    v = values.astype(np.float64)
    assert got is not None
    if np.isnan(v).any() or (np.isposinf(v).any() and np.isneginf(v).any()):
        return math.isnan(got)
    if np.isinf(v).any():
        return got == (math.inf if np.isposinf(v).any() else -math.inf)
    scale = float(np.sum(np.abs(v)))
    if scale > 1e300:  # the float64 sum may overflow depending on the order
        return True
    return math.isclose(got, float(np.sum(v)), rel_tol=1e-9, abs_tol=scale * 1e-12)


def _float_extreme(values: np.ndarray[Any, Any], *, high: bool) -> float | None:
    """min / max as DuckDB orders floats: NaN sorts above every other value."""
    if len(values) == 0:
        return None
    nan = np.isnan(values)
    if high:
        return math.nan if nan.any() else float(np.max(values))
    return math.nan if nan.all() else float(np.min(values[~nan]))


def _check_field_aggregates(
    world: World, ref: ReferenceWorld, cls: type, index: int
) -> None:
    s = schema_of(cls)
    f = s.fields[index]
    col = f'"{f.name}"' if f.name != "entity" else f'"{s.name}.entity"'
    values = np.asarray(_values(ref, cls, index), dtype=f.type.dtype)
    kind = f.type.dtype.kind
    arg = f"CAST({col} AS INTEGER)" if kind == "b" else col
    got = sql(
        world,
        f"SELECT count(*) AS n, min({col}) AS lo, max({col}) AS hi, "
        f'sum({arg}) AS total, avg({arg}) AS mean FROM "{s.name}"',
    ).to_pylist()[0]
    where = f"{s.name}.{f.name}"
    assert got["n"] == len(values), where
    if kind == "f":
        assert values_equal(got["lo"], _float_extreme(values, high=False)), where
        assert values_equal(got["hi"], _float_extreme(values, high=True)), where
        assert _float_sum_matches(got["total"], values), (where, got["total"])
        return
    if len(values) == 0:
        assert got["lo"] is got["hi"] is got["total"] is got["mean"] is None, where
        return
    exact = values.astype(object)  # Python ints: no overflow in the sum
    assert got["lo"] == np.min(values), where
    assert got["hi"] == np.max(values), where
    assert int(got["total"]) == int(np.sum(exact)), where
    assert math.isclose(got["mean"], int(np.sum(exact)) / len(values), rel_tol=1e-9)


@settings(max_examples=100)
@given(st.data())
def test_sql_aggregates_equal_numpy(data: st.DataObject) -> None:
    state = data.draw(ecs_st.world_states(), label="world")
    world, ref = state.world, state.reference
    for cls in _registered(world):
        s = schema_of(cls)
        n = sum(cls in comps for comps in ref.entities.values())
        got = sql(world, f'SELECT count(*) AS n FROM "{s.name}"')["n"][0].as_py()
        assert got == n, s.name
        for i, f in enumerate(s.fields):
            if not f.type.shape:
                _check_field_aggregates(world, ref, cls, i)


@settings(max_examples=100)
@given(st.data())
def test_sql_joins_and_vector_elements_equal_numpy(data: st.DataObject) -> None:
    state = data.draw(ecs_st.world_states(), label="world")
    world, ref = state.world, state.reference
    known = _registered(world)
    if len(known) < 2:
        return
    a, b = data.draw(
        st.lists(st.sampled_from(known), min_size=2, max_size=2, unique=True)
    )
    na, nb = schema_of(a).name, schema_of(b).name
    both = sorted(e for e, comps in ref.entities.items() if a in comps and b in comps)
    got = sql(
        world, f'SELECT entity FROM "{na}" JOIN "{nb}" USING (entity) ORDER BY entity'
    )
    assert got["entity"].to_pylist() == both
    only_a = sql(
        world,
        f'SELECT count(*) AS n FROM "{na}" WHERE entity NOT IN '
        f'(SELECT entity FROM "{nb}")',
    )["n"][0].as_py()
    assert only_a == sum(a in c and b not in c for c in ref.entities.values())
    # Vector fields are DuckDB arrays: element k (1-based) of every row.
    for i, f in enumerate(schema_of(a).fields):
        if not f.type.shape or f.type.dtype.kind not in "iu":
            continue
        rows = np.asarray(_values(ref, a, i), dtype=f.type.dtype).reshape(
            -1, f.type.shape[0]
        )
        last = f.type.shape[0]
        total = sql(world, f'SELECT sum("{f.name}"[{last}]) AS t FROM "{na}"')["t"][0]
        want = int(rows[:, last - 1].astype(object).sum()) if len(rows) else None
        assert (None if total.as_py() is None else int(total.as_py())) == want


# ------------------------------------------------------------------- recorder


def _mutate(
    data: st.DataObject, world: World, ref: ReferenceWorld, classes: list[type]
) -> None:
    """One random change applied to the world and the model alike."""
    live = list(ref.entities)
    op = data.draw(st.sampled_from(["spawn", "despawn", "set", "none"]), label="op")
    if op == "spawn":
        subset = data.draw(st.lists(st.sampled_from(classes), unique=True))
        n = data.draw(st.integers(0, 4))
        ents = ecs_st.entity_ids(live=live)
        values = {
            c: data.draw(ecs_st.batch_values(c, n, entities=ents)) for c in subset
        }
        world.spawn_batch(values, n=n)
        ref.spawn_batch(values, n=n)
    elif op == "despawn" and live:
        ids = data.draw(st.lists(st.sampled_from(live), min_size=1, unique=True))
        world.despawn_batch(np.asarray(ids, dtype=np.uint64))
        ref.despawn_batch(ids)
    elif op == "set":
        cls = data.draw(st.sampled_from(classes))
        holders = [e for e in live if ref.has(e, cls)]
        if holders and schema_of(cls).fields:
            ids = data.draw(st.lists(st.sampled_from(holders), min_size=1, unique=True))
            cols = data.draw(ecs_st.column_values(cls, len(ids)))
            world.set_batch(np.asarray(ids, dtype=np.uint64), cls, cols)
            ref.set_batch(ids, cls, cols)


def _by_frame(table: pa.Table) -> dict[int, dict[int, Row]]:
    frames = table.column("frame").to_pylist()
    out: dict[int, dict[int, Row]] = {}
    for f in dict.fromkeys(frames):
        part = table.filter(pc.equal(table["frame"], f)).drop_columns(["frame"])
        out[f] = _rows(part)
    return out


@settings(max_examples=60)
@given(st.data())
def test_recorder_equals_snapshots_taken_by_hand(data: st.DataObject) -> None:
    state = data.draw(ecs_st.world_states(), label="world")
    world, ref, classes = state.world, state.reference, state.classes
    # Register every class, so any of them can be recorded.
    world.spawn_batch(dict.fromkeys(classes), n=1)
    ref.spawn_batch(dict.fromkeys(classes), n=1)
    recorded = data.draw(
        st.lists(st.sampled_from(classes), min_size=1, unique=True), label="recorded"
    )
    every = data.draw(st.integers(1, 3), label="every")
    max_frames = data.draw(st.none() | st.integers(1, 4), label="max_frames")
    even_only = data.draw(st.booleans(), label="even_only")
    where = (
        (
            lambda t: pc.equal(
                pc.bit_wise_and(t["entity"], pa.scalar(1, pa.uint64())),
                pa.scalar(0, pa.uint64()),
            )
        )
        if even_only
        else None
    )
    frames = data.draw(st.integers(1, 7), label="frames")
    by_hand: dict[int, dict[int, Row]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ring = Recorder(
            world, recorded, every=every, max_frames=max_frames, where=where
        )
        disk = Recorder(
            world,
            recorded,
            every=every,
            path=f"{tmp}/run",
            bucket_frames=2,
            flush_rows=data.draw(st.integers(1, 20), label="flush_rows"),
            where=where,
        )
        for _ in range(frames):
            _mutate(data, world, ref, classes)
            world.step()  # both recorders are attached: they record at frame end
            frame = world.resource(Time).frame
            if frame % every == 0:
                snap = _expected_table(ref, recorded)
                by_hand[frame] = {
                    e: r for e, r in snap.items() if not even_only or e % 2 == 0
                }
        kept = sorted(by_hand)[-max_frames:] if max_frames else sorted(by_hand)
        assert ring.frames() == kept
        assert disk.frames() == sorted(by_hand)
        memory_table = ring.to_arrow()
        assert memory_table.column_names == ["frame", *_column_names(recorded, [])]
        assert len(ring) == memory_table.num_rows == sum(len(by_hand[f]) for f in kept)
        got = _by_frame(memory_table)
        for f in kept:
            _assert_rows_equal(got.get(f, {}), by_hand[f], f"ring frame {f}")
        disk.close()
        from_disk = _by_frame(disk.to_arrow())
        for f, want in by_hand.items():
            _assert_rows_equal(from_disk.get(f, {}), want, f"parquet frame {f}")
        if by_hand:  # see test_recorder_dataset_before_any_frame_is_empty
            dataset_rows = disk.dataset().to_table().num_rows
            assert dataset_rows == sum(len(v) for v in by_hand.values())
        world.close()


def test_recorder_dataset_before_any_frame_is_empty(tmp_path: Any) -> None:
    """A recorder that has written nothing yet reads back as an empty dataset."""
    from archetype_ecs import component, f32

    @component
    class Probe:
        x: f32 = 0.0

    world = World(threads=1)
    world.spawn(Probe(1.0))
    rec = Recorder(world, [Probe], every=5, path=tmp_path / "run", attach=False)
    try:
        assert rec.dataset().to_table().num_rows == 0
        assert rec.to_arrow().num_rows == 0
    finally:
        world.close()
