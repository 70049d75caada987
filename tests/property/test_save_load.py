"""save -> load round trips of random worlds, in both file formats.

Into an empty world a load is exact: same ids, generations, free list, archetypes and
rows. Into a non-empty world it remaps: every saved entity gets a new id, EntityRef
fields follow the mapping, refs to entities outside the save become null and are
counted as dangling, and the entities already there are left alone.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow.ipc as ipc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World, schema_of
from archetype_ecs._sanitize import check_world
from archetype_ecs.serialization import _threaded_loads, load, save
from archetype_ecs.table import ENTITY_COLUMN
from archetype_ecs.testing import strategies as ecs_st

pytestmark = pytest.mark.hypothesis

FORMATS = ["ipc", "parquet"]
DEFAULT_EXAMPLES = 50
SLOW_EXAMPLES = 1000


def entity_index(world: World) -> dict[str, Any]:
    """The entity index as plain lists (table ids replaced by component-name sets)."""
    idx = world.entities
    size = idx.size
    names = [frozenset(t.names) for t in world.tables]
    live = [int(e) & 0xFFFF_FFFF for t in world.tables for e in t.entities.tolist()]
    return {
        "size": size,
        "alive": idx.alive_count,
        "generation": idx.generation[:size].tolist(),
        "free": idx.free_list().tolist(),
        "place": {s: (names[int(idx.table[s])], int(idx.row[s])) for s in sorted(live)},
    }


def table_contents(world: World) -> dict[frozenset[str], dict[str, bytes]]:
    """Every non-empty table's columns (bitwise), keyed by its component names."""
    out: dict[frozenset[str], dict[str, bytes]] = {}
    for t in world.tables:
        if t.len:
            key = frozenset(t.names)
            assert key not in out, f"two non-empty tables for {sorted(key)}"
            out[key] = {k: t.column(k).tobytes() for k in t.keys if "#" not in k}
    return out


def entity_rows(world: World) -> dict[int, dict[str, dict[str, np.ndarray]]]:
    """Live entity -> component name -> field -> value (a numpy scalar or vector)."""
    out: dict[int, dict[str, dict[str, np.ndarray]]] = {}
    for t in world.tables:
        for row, e in enumerate(t.entities.tolist()):
            comps: dict[str, dict[str, np.ndarray]] = {}
            for cid in t.components:
                s = t.schemas[cid]
                comps[s.name] = {
                    f.name: t.column(f"{s.name}.{f.name}")[row] for f in s.fields
                }
            out[e] = comps
    return out


def same_bits(a: Any, b: Any) -> bool:
    return bool(np.asarray(a).tobytes() == np.asarray(b).tobytes())


def entity_fields(classes: list[type]) -> dict[str, list[str]]:
    return {
        schema_of(c).name: [f.name for f in schema_of(c).fields if f.type.is_entity]
        for c in classes
    }


def roundtrip(
    world: World, target: World, classes: list[type], file_format: str
) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        save(world, folder, file_format=file_format)
        return load(folder, target, components=classes)


def check_exact(source: World, result: Any) -> None:
    loaded = result.world
    check_world(loaded)
    assert result.exact
    assert result.dangling == 0
    assert np.array_equal(result.old_ids, result.new_ids)
    assert len(loaded) == len(source)
    assert entity_index(loaded) == entity_index(source)
    assert table_contents(loaded) == table_contents(source)
    # Ids restored exactly: every id alive in the source is alive in the copy.
    ids = np.array(sorted(entity_rows(source)), dtype=np.uint64)
    assert loaded.is_alive_batch(ids).all()


def check_remapped(
    source: World,
    before: dict[int, Any],
    result: Any,
    classes: list[type],
) -> None:
    target = result.world
    check_world(target)
    assert not result.exact
    src_rows = entity_rows(source)
    saved = np.array(sorted(src_rows), dtype=np.uint64)
    new_ids = result.remap(saved)
    assert (new_ids != 0).all()
    assert len(np.unique(new_ids)) == len(new_ids)
    assert target.is_alive_batch(new_ids).all()
    assert len(target) == len(before) + len(src_rows)
    now = entity_rows(target)
    # The entities already there are untouched (same ids, same values).
    for e, comps in before.items():
        assert now[e].keys() == comps.keys()
        for name, fields in comps.items():
            assert all(same_bits(now[e][name][f], v) for f, v in fields.items())
    refs = entity_fields(classes)
    saved_set = set(saved.tolist())
    dangling = 0
    for old, new in zip(saved.tolist(), new_ids.tolist(), strict=True):
        assert new not in before
        got, want = now[new], src_rows[old]
        assert got.keys() == want.keys()
        for name, fields in want.items():
            for fname, value in fields.items():
                if fname in refs.get(name, []):
                    flat = np.asarray(value).reshape(-1).tolist()
                    dangling += sum(1 for v in flat if v and v not in saved_set)
                    expected = result.remap(flat).reshape(np.shape(value))
                    assert same_bits(got[name][fname], expected), (name, fname)
                else:
                    assert same_bits(got[name][fname], value), (name, fname)
    assert result.dangling == dangling


def _exact(data: st.DataObject, file_format: str) -> None:
    state = data.draw(ecs_st.world_states(max_steps=8), label="source")
    result = roundtrip(state.world, World(), state.classes, file_format)
    check_exact(state.world, result)


def _remapped(data: st.DataObject, file_format: str) -> None:
    state = data.draw(ecs_st.world_states(max_steps=8), label="source")
    target = data.draw(ecs_st.world_states(state.classes), label="target").world
    if len(target) == 0:  # a non-empty target forces remapping
        target.spawn()
    before = entity_rows(target)
    result = roundtrip(state.world, target, state.classes, file_format)
    check_remapped(state.world, before, result, state.classes)


@pytest.mark.parametrize("file_format", FORMATS)
@settings(max_examples=DEFAULT_EXAMPLES)
@given(data=st.data())
def test_load_into_empty_world_restores_ids_index_and_tables(data, file_format):
    _exact(data, file_format)


@pytest.mark.parametrize("file_format", FORMATS)
@settings(max_examples=DEFAULT_EXAMPLES)
@given(data=st.data())
def test_load_into_non_empty_world_remaps_ids_and_entity_refs(data, file_format):
    _remapped(data, file_format)


@settings(max_examples=DEFAULT_EXAMPLES)
@given(data=st.data())
def test_threaded_load_into_empty_world_restores_ids_index_and_tables(data):
    """The path large saves take: hashes, copies and the index check on threads."""
    state = data.draw(ecs_st.world_states(max_steps=8), label="source")
    with _threaded_loads(chunk=data.draw(st.sampled_from([1, 64, 4096]))):
        result = roundtrip(state.world, World(threads=2), state.classes, "ipc")
    check_exact(state.world, result)


@settings(max_examples=DEFAULT_EXAMPLES // 2)
@given(data=st.data())
def test_threaded_load_into_non_empty_world_remaps(data):
    with _threaded_loads():
        _remapped(data, "ipc")


@pytest.mark.slow
@pytest.mark.parametrize("file_format", FORMATS)
@settings(max_examples=SLOW_EXAMPLES)
@given(data=st.data())
def test_load_into_empty_world_restores_ids_index_and_tables_many(data, file_format):
    _exact(data, file_format)


@pytest.mark.slow
@pytest.mark.parametrize("file_format", FORMATS)
@settings(max_examples=SLOW_EXAMPLES)
@given(data=st.data())
def test_load_into_non_empty_world_remaps_ids_and_entity_refs_many(data, file_format):
    _remapped(data, file_format)


def _resave(world: World, classes: list[type], file_format: str) -> World:
    with tempfile.TemporaryDirectory() as folder:
        save(world, folder, file_format=file_format)
        return load(folder, World(), components=classes).world


@pytest.mark.parametrize("file_format", FORMATS)
@settings(max_examples=DEFAULT_EXAMPLES // 2)
@given(data=st.data())
def test_saving_a_loaded_world_gives_the_same_world_again(data, file_format):
    state = data.draw(ecs_st.world_states(), label="source")
    once = _resave(state.world, state.classes, file_format)
    twice = _resave(once, state.classes, file_format)
    assert entity_index(twice) == entity_index(state.world)
    assert table_contents(twice) == table_contents(state.world)


@settings(max_examples=DEFAULT_EXAMPLES // 2)
@given(data=st.data())
def test_loaded_world_keeps_spawning_like_the_original(data):
    """The free list is restored: the next spawns recycle the same slots."""
    state = data.draw(ecs_st.world_states(), label="source")
    loaded = _resave(state.world, state.classes, "ipc")
    n = data.draw(st.integers(0, 8), label="n")
    spawn: Callable[[World], Any] = lambda w: w.spawn_batch({}, n=n)  # noqa: E731 - short
    assert spawn(loaded).tolist() == spawn(state.world).tolist()
    assert entity_index(loaded) == entity_index(state.world)


def test_empty_world_round_trips():
    result = roundtrip(World(), World(), [], "ipc")
    assert result.exact
    assert len(result.world) == 0
    assert result.world.entities.size == 0


def test_entity_column_is_saved_first():
    """The saved tables are the world's Arrow batches: ``entity`` then the fields."""
    from archetype_ecs import component, f32

    @component
    class Pos:
        x: f32 = 0.0

    world = World()
    world.spawn_batch({Pos: {"x": [1.0, 2.0]}})
    with tempfile.TemporaryDirectory() as folder:
        snap = save(world, folder)
        manifest = json.loads((snap / "manifest.json").read_text())
        (entry,) = [t for t in manifest["tables"] if t["components"] == ["Pos"]]
        with ipc.open_file(str(snap / entry["file"])) as f:
            assert f.schema.names == [ENTITY_COLUMN, "Pos.x"]
