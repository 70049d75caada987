"""save / load: layout on disk, exact and remapped loads, query saves, migrations,
resources and the errors a user sees."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archetype_ecs import (
    EntityRef,
    Rng,
    StructuralChangeError,
    Time,
    World,
    bool_,
    component,
    f32,
    f64,
    i8,
    i32,
)
from archetype_ecs._sanitize import check_world
from archetype_ecs.errors import SerializationError
from archetype_ecs.observers import ObserverKind
from archetype_ecs.serialization import (
    FORMAT,
    FORMAT_VERSION,
    LoadResult,
    Migration,
    _threaded_loads,
    load,
    save,
)


@component
class Pos:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Vel:
    v: f32[3] = (0.0, 0.0, 0.0)


@component
class Alive:
    on: bool_ = True


@component
class Link:
    to: EntityRef = 0


@component
class Frozen:
    pass


ALL = [Pos, Vel, Alive, Link, Frozen]


@dataclasses.dataclass
class Score:
    points: int = 0
    names: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Handle:
    buffer: object = None  # not JSON: skipped


class Opaque:
    """Not a dataclass: skipped."""


def small_world() -> tuple[World, np.ndarray]:
    world = World(seed=5)
    a = world.spawn_batch({Pos: {"x": [1.0, 2.0, 3.0]}, Vel: None})
    b = world.spawn_batch(
        {Pos: None, Link: {"to": a}, Alive: {"on": [True, False, True]}}
    )
    world.spawn(Frozen)
    world.despawn(a[1])
    return world, np.concatenate([a, b])


def rows(world: World, cls: type, ids: np.ndarray) -> dict[str, list]:
    return {k: v.tolist() for k, v in world.get_batch(ids, cls).items()}


def current(root: Path) -> list[str]:
    return (root / "CURRENT").read_text().split()


def rewrite_manifest(root: Path, change) -> None:
    """Edit the manifest of the current snapshot and re-pin CURRENT to it."""
    from archetype_ecs.serialization import _hash

    name = current(root)[0]
    path = root / name / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    (root / "CURRENT").write_text(f"{name} {_hash(path)}\n")


# ----------------------------------------------------------------------- layout


def test_save_writes_a_snapshot_folder_named_by_current(tmp_path):
    world, _ = small_world()
    snap = save(world, tmp_path / "game")
    assert snap == tmp_path / "game" / "snap-000001"
    assert current(tmp_path / "game")[0] == "snap-000001"
    manifest = json.loads((snap / "manifest.json").read_text())
    tables = sorted(p.name for p in snap.glob("table-*"))
    assert tables == sorted(t["file"] for t in manifest["tables"])
    assert all(re.fullmatch(r"table-\d{5}\.arrow", name) for name in tables)
    others = sorted(p.name for p in snap.iterdir() if p.name not in tables)
    assert others == ["free.arrow", "index.arrow", "manifest.json"]
    assert not [p for p in (tmp_path / "game").iterdir() if p.name.startswith(".")]


def test_manifest_describes_format_tables_components_and_resources(tmp_path):
    world, _ = small_world()
    world.change_tick = 7
    snap = save(world, tmp_path, file_format="parquet")
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["format"] == FORMAT
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["file_format"] == "parquet"
    assert manifest["entities"] == len(world) == 6
    assert manifest["change_tick"] == 7
    assert sorted(manifest["components"]) == ["Alive", "Frozen", "Link", "Pos", "Vel"]
    vel = manifest["components"]["Vel"]["fields"]
    assert vel == [{"name": "v", "type": "f32", "shape": [3], "default": [0, 0, 0]}]
    assert sum(t["rows"] for t in manifest["tables"]) == 6
    assert all(
        t["hash"].startswith("xxh3_128:") and len(t["hash"]) == 9 + 32
        for t in manifest["tables"]
    )
    assert all(t["file"].endswith(".parquet") for t in manifest["tables"])
    types = [r["type"] for r in manifest["resources"]]
    assert types == ["archetype_ecs.resources.Time", "archetype_ecs.random.Rng"]


def test_later_saves_replace_current_and_prune_older_snapshots(tmp_path):
    world, ids = small_world()
    save(world, tmp_path)
    world.set_batch(ids[:1], Pos, {"x": [9.0]})
    snap = save(world, tmp_path)
    assert snap.name == "snap-000002"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "snap-000002"]
    loaded = load(tmp_path, World(), components=ALL).world
    assert rows(loaded, Pos, ids[:1])["x"] == [9.0]


def test_keep_holds_that_many_complete_snapshots(tmp_path):
    world, _ = small_world()
    for _ in range(4):
        save(world, tmp_path, keep=2)
    snaps = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert snaps == ["snap-000003", "snap-000004"]
    assert current(tmp_path)[0] == "snap-000004"


def test_world_save_method_is_serialization_save(tmp_path):
    world, ids = small_world()
    snap = world.save(tmp_path, file_format="parquet")
    assert (snap / "table-00000.parquet").is_file()
    assert load(tmp_path, components=ALL).world.is_alive(int(ids[0]))


def test_unknown_file_format_is_refused_before_writing(tmp_path):
    with pytest.raises(SerializationError, match=r"'csv'.*'ipc' or 'parquet'"):
        save(World(), tmp_path / "x", file_format="csv")
    assert not (tmp_path / "x").exists()


def test_failed_save_keeps_the_previous_save_and_leaves_no_temporary_folder(
    tmp_path, monkeypatch
):
    import archetype_ecs.serialization as ser

    world, ids = small_world()
    save(world, tmp_path)
    world.set_batch(ids[:1], Pos, {"x": [42.0]})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ser, "_write_table", disk_full)
    with pytest.raises(OSError, match="No space"):
        save(world, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "snap-000001"]
    assert rows(load(tmp_path, components=ALL).world, Pos, ids[:1])["x"] == [1.0]


def test_leftovers_of_a_killed_save_are_cleaned_by_the_next_save(tmp_path):
    world, _ = small_world()
    save(world, tmp_path)
    (tmp_path / ".tmp-killed").mkdir()
    (tmp_path / ".tmp-killed" / "table-00000.arrow").write_bytes(b"half")
    (tmp_path / "snap-000002").mkdir()  # renamed, but CURRENT never replaced
    assert len(load(tmp_path, components=ALL).world) == len(world)  # snap-000001
    snap = save(world, tmp_path)
    assert snap.name == "snap-000003"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "snap-000003"]


# ------------------------------------------------------------------ exact loads


@pytest.mark.parametrize("file_format", ["ipc", "parquet"])
def test_load_into_empty_world_restores_ids_values_and_free_list(tmp_path, file_format):
    world, ids = small_world()
    save(world, tmp_path, file_format=file_format)
    result = load(tmp_path, World(), components=ALL)
    loaded = result.world
    assert result.exact
    assert result.dangling == 0
    assert sorted(result.old_ids.tolist()) == sorted(result.new_ids.tolist())
    assert loaded.is_alive_batch(ids).tolist() == world.is_alive_batch(ids).tolist()
    live = ids[world.is_alive_batch(ids)]
    assert rows(loaded, Pos, live) == rows(world, Pos, live)
    assert rows(loaded, Link, ids[3:]) == rows(world, Link, ids[3:])
    assert rows(loaded, Alive, ids[3:]) == {"on": [True, False, True]}
    assert loaded.entities.free_list().tolist() == world.entities.free_list().tolist()
    assert loaded.spawn(Frozen) == world.spawn(Frozen)  # the freed slot, same gen


def test_load_without_world_makes_a_new_one(tmp_path):
    world, _ids = small_world()
    save(world, tmp_path)
    result = load(tmp_path, components=ALL)
    assert isinstance(result, LoadResult)
    assert result.world is not world
    assert len(result.world) == len(world)


def test_components_already_known_by_the_world_need_not_be_passed(tmp_path):
    world, _ = small_world()
    save(world, tmp_path)
    target = World()
    for cls in ALL:
        target.component_id(cls)
    assert len(load(tmp_path, target).world) == len(world)


def test_unknown_component_is_named_and_nothing_changes(tmp_path, world_state):
    world, _ = small_world()
    save(world, tmp_path)
    target = World()
    before = world_state(target)
    with pytest.raises(SerializationError, match=r"component 'Alive'.*components="):
        load(tmp_path, target, components=[Pos, Vel, Link, Frozen])
    assert world_state(target) == before


def test_empty_world_with_a_history_still_loads_exactly(tmp_path):
    world, ids = small_world()
    save(world, tmp_path)
    target = World()
    target.despawn_batch(target.spawn_batch({Pos: None}, n=50))
    result = load(tmp_path, target, components=ALL)
    assert result.exact
    assert target.entities.size == world.entities.size
    assert target.is_alive_batch(ids).tolist() == world.is_alive_batch(ids).tolist()


# --------------------------------------------------------------- remapped loads


def test_load_into_non_empty_world_remaps_ids_and_entity_refs(tmp_path):
    world, ids = small_world()
    save(world, tmp_path)
    target = World()
    mine = target.spawn_batch({Pos: {"x": [-1.0, -2.0]}})
    result = load(tmp_path, target, components=ALL)
    assert not result.exact
    assert rows(target, Pos, mine) == {"x": [-1.0, -2.0], "y": [0.0, 0.0]}
    new = result.remap(ids[3:])
    assert target.is_alive_batch(new).all()
    assert not np.isin(new, mine).any()
    # Link.to pointed at a[0], a[1] (despawned before saving: dangling), a[2].
    expected = result.remap(ids[:3]).tolist()
    assert expected[1] == 0
    assert rows(target, Link, new)["to"] == expected
    assert result.dangling == 1
    assert len(target) == 2 + len(world)


def test_remap_maps_unknown_ids_to_the_null_entity(tmp_path):
    world, ids = small_world()
    save(world, tmp_path)
    target = World()
    target.spawn(Frozen)
    result = load(tmp_path, target, components=ALL)
    assert result.remap([0, int(ids[1]), 123456]).tolist() == [0, 0, 0]


def test_load_fires_no_on_set_observers(tmp_path):
    world, _ = small_world()
    save(world, tmp_path)
    target = World()
    target.spawn(Frozen)
    seen = []
    for cls in (Pos, Link):
        target.observe(ObserverKind.SET, cls, lambda t: seen.append(t.component))
    load(tmp_path, target, components=ALL)
    assert seen == []


def test_load_while_iterating_is_refused_and_changes_nothing(
    tmp_path, world_state, raises_coded
):
    world, _ = small_world()
    save(world, tmp_path)
    target = World()
    target.spawn_batch({Pos: None}, n=3)
    before = world_state(target)
    for _ in target.query(Pos):
        with raises_coded(StructuralChangeError, "E0007", "load is a structural"):
            load(tmp_path, target, components=ALL)
    assert world_state(target) == before


# ------------------------------------------------------------------ query saves


def test_query_save_holds_matching_entities_and_queried_components(tmp_path):
    world = World()
    a = world.spawn_batch({Pos: {"x": [1.0, 2.0]}, Vel: None, Alive: None})
    b = world.spawn_batch({Pos: {"x": [3.0]}, Link: {"to": a[:1]}})
    world.spawn_batch({Vel: None, Link: {"to": b}})  # no Pos: not saved
    snap = save(world, tmp_path, query=world.query(Pos, optional=[Link]))
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["partial"]
    assert manifest["index"] is None
    assert sorted(manifest["components"]) == ["Link", "Pos"]
    result = load(tmp_path, World(), components=[Pos, Link])
    loaded = result.world
    assert not result.exact  # a query save holds no entity index
    assert len(loaded) == 3
    new_a, new_b = result.remap(a), result.remap(b)
    assert rows(loaded, Pos, np.concatenate([new_a, new_b]))["x"] == [1.0, 2.0, 3.0]
    assert not loaded.has(int(new_a[0]), Vel)  # not queried
    assert not loaded.has(int(new_a[0]), Link)  # optional, absent
    assert rows(loaded, Link, new_b)["to"] == [int(new_a[0])]
    assert result.dangling == 0


def test_query_save_refs_to_unsaved_entities_become_null(tmp_path):
    world = World()
    outside = world.spawn(Vel())
    inside = world.spawn(Pos(), Link(outside))
    save(world, tmp_path, query=world.query(Pos, Link))
    result = load(tmp_path, World(), components=[Pos, Link])
    assert rows(result.world, Link, result.remap([inside]))["to"] == [0]
    assert result.dangling == 1


# ------------------------------------------------------------- schema evolution


def _component(name: str, **fields: tuple[object, object]) -> type:
    namespace: dict[str, object] = {
        "__annotations__": {k: t for k, (t, _) in fields.items()},
        "__qualname__": name,
        "__module__": __name__,
    }
    namespace.update({k: d for k, (_, d) in fields.items()})
    return component(type(name, (), namespace))


def _saved(tmp_path: Path, cls: type, values: dict) -> np.ndarray:
    world = World()
    ids = world.spawn_batch({cls: values})
    save(world, tmp_path)
    return ids


def test_field_added_since_the_save_takes_its_default(tmp_path):
    old = _component("Hp", value=(f32, 0.0))
    ids = _saved(tmp_path, old, {"value": [5.0, 6.0]})
    new = _component("Hp", value=(f32, 0.0), armor=(i32, 3))
    loaded = load(tmp_path, World(), components=[new]).world
    assert rows(loaded, new, ids) == {"value": [5.0, 6.0], "armor": [3, 3]}


def test_field_removed_since_the_save_is_dropped(tmp_path):
    old = _component("Hp", value=(f32, 0.0), armor=(i32, 3))
    ids = _saved(tmp_path, old, {"value": [5.0], "armor": [9]})
    new = _component("Hp", value=(f32, 0.0))
    loaded = load(tmp_path, World(), components=[new]).world
    assert rows(loaded, new, ids) == {"value": [5.0]}
    assert loaded.tables[int(loaded.entities.table[0])].keys == ("entity", "Hp.value")


def test_renamed_component_loads_through_a_migration(tmp_path):
    old = _component("Health", value=(f32, 0.0))
    ids = _saved(tmp_path, old, {"value": [5.0]})
    new = _component("Hp", value=(f32, 0.0))
    with pytest.raises(SerializationError, match="'Health'"):
        load(tmp_path, World(), components=[new])
    migration = Migration("Health", rename="Hp")
    loaded = load(tmp_path, World(), components=[new], migrations=[migration]).world
    assert rows(loaded, new, ids) == {"value": [5.0]}


def test_migration_fn_converts_values(tmp_path):
    old = _component("Hp", value=(f64, 0.0))
    ids = _saved(tmp_path, old, {"value": [1.6, 2.4]})
    new = _component("Hp", value=(i32, 0), doubled=(i32, 0))

    def to_int(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        value = np.rint(cols["value"]).astype(np.int32)
        return {"value": value, "doubled": 2 * value}

    migration = Migration("Hp", fn=to_int)
    loaded = load(tmp_path, World(), components=[new], migrations=[migration]).world
    assert rows(loaded, new, ids) == {"value": [2, 2], "doubled": [4, 4]}


def test_rename_and_fn_combine(tmp_path):
    old = _component("Heat", celsius=(f32, 0.0))
    ids = _saved(tmp_path, old, {"celsius": [100.0]})
    new = _component("Temperature", kelvin=(f32, 0.0))
    migration = Migration(
        "Heat", rename="Temperature", fn=lambda c: {"kelvin": c["celsius"] + 273.0}
    )
    loaded = load(tmp_path, World(), components=[new], migrations=[migration]).world
    assert rows(loaded, new, ids) == {"kelvin": [373.0]}


@pytest.mark.parametrize(
    ("saved", "values", "current"),
    [
        ((f64, 0.0), [1.5], (i32, 0)),  # lossy float -> int
        ((i32, 0), [1000], (i8, 0)),  # overflow
        ((f32[3], (0.0, 0.0, 0.0)), [[1, 2, 3]], (f32, 0.0)),  # vector -> scalar
        ((f32, 0.0), [1.0], (f32[2], (0.0, 0.0))),  # scalar -> vector
    ],
    ids=["f64->i32", "i32->i8 overflow", "vector->scalar", "scalar->vector"],
)
def test_mismatched_field_type_without_migration_names_file_and_field(
    tmp_path, world_state, saved, values, current
):
    old = _component("Hp", value=saved)
    _saved(tmp_path, old, {"value": np.asarray(values)})
    new = _component("Hp", value=current)
    target = World()
    target.spawn_batch({new: None}, n=2)
    before = world_state(target)
    with pytest.raises(SerializationError) as info:
        load(tmp_path, target, components=[new])
    message = str(info.value)
    assert "table-00000.arrow" in message
    assert "Hp.value" in message
    assert "Migration(fn=...)" in message
    assert world_state(target) == before


# -------------------------------------------------------------------- resources


def test_time_and_rng_round_trip(tmp_path):
    world = World(seed=1234, dt=0.5)
    world.run(3)
    save(world, tmp_path)
    loaded = load(tmp_path, World(seed=1)).world
    assert loaded.resource(Rng) == Rng(1234)
    clock = loaded.resource(Time)
    assert (clock.frame, clock.dt, clock.elapsed) == (3, 0.5, 1.5)


def test_user_dataclass_resource_round_trips_when_passed(tmp_path):
    world = World()
    world.insert_resource(Score(7, ["ada", "bob"]))
    save(world, tmp_path)
    result = load(tmp_path, World(), resources=[Score])
    assert result.world.resource(Score) == Score(7, ["ada", "bob"])
    assert result.skipped_resources == []


def test_user_resource_not_passed_is_listed_as_skipped(tmp_path):
    world = World()
    world.insert_resource(Score(7))
    save(world, tmp_path)
    result = load(tmp_path, World())
    assert not result.world.has_resource(Score)
    assert result.skipped_resources == [f"{__name__}.Score"]


def test_resource_the_target_already_holds_is_replaced(tmp_path):
    world = World()
    world.insert_resource(Score(7))
    save(world, tmp_path)
    target = World()
    target.insert_resource(Score(1))
    assert load(tmp_path, target).world.resource(Score) == Score(7)


def test_non_serializable_resources_are_listed_as_skipped(tmp_path):
    world = World()
    world.insert_resource(Handle(buffer=object()))
    world.insert_resource(Opaque())
    snap = save(world, tmp_path)
    manifest = json.loads((snap / "manifest.json").read_text())
    expected = [f"{__name__}.Handle", f"{__name__}.Opaque"]
    assert manifest["skipped_resources"] == expected
    result = load(tmp_path, World(), resources=[Handle, Opaque])
    assert result.skipped_resources == expected
    assert not result.world.has_resource(Handle)


def test_change_tick_never_goes_back(tmp_path):
    world = World()
    world.change_tick = 20
    save(world, tmp_path)
    target = World()
    target.change_tick = 50
    assert load(tmp_path, target).world.change_tick == 50
    assert load(tmp_path, World()).world.change_tick == 20


# ----------------------------------------------------------------------- errors


def test_missing_save_directory(tmp_path):
    with pytest.raises(SerializationError, match="not a save directory"):
        load(tmp_path / "nowhere")


def test_directory_without_current(tmp_path):
    with pytest.raises(SerializationError, match="CURRENT: missing or unreadable"):
        load(tmp_path)


def test_corrupt_table_file_is_named(tmp_path, world_state):
    world, _ = small_world()
    snap = save(world, tmp_path)
    table = snap / "table-00001.arrow"
    data = bytearray(table.read_bytes())
    data[100] ^= 0xFF
    table.write_bytes(bytes(data))
    target, _ = small_world()
    before = world_state(target)
    with pytest.raises(SerializationError, match=r"table-00001\.arrow: content does"):
        load(tmp_path, target, components=ALL)
    assert world_state(target) == before


def test_edited_manifest_is_refused(tmp_path):
    world, _ = small_world()
    snap = save(world, tmp_path)
    path = snap / "manifest.json"
    path.write_text(path.read_text().replace('"change_tick": 1', '"change_tick": 2'))
    with pytest.raises(
        SerializationError, match=r"manifest\.json: missing, or its hash"
    ):
        load(tmp_path)


def test_newer_format_version_asks_to_upgrade(tmp_path):
    save(World(), tmp_path)
    rewrite_manifest(tmp_path, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(
        SerializationError, match=r"format version 2.*upgrade arrow-ecs"
    ):
        load(tmp_path)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("resources", "oops"),
        ("resources", [1]),
        ("skipped_resources", 5),
        ("change_tick", "soon"),
        ("change_tick", None),
        ("components", {"Pos": []}),
        ("components", {"Pos": {"fields": "xy"}}),
        ("components", {"Pos": {"fields": [1]}}),
    ],
)
def test_malformed_manifest_values_raise_serialization_error(
    tmp_path, world_state, key, value
):
    world, _ = small_world()
    save(world, tmp_path)
    rewrite_manifest(tmp_path, lambda m: m.update({key: value}))
    target, _ = small_world()
    before = world_state(target)
    with pytest.raises(SerializationError, match=r"manifest\.json"):
        load(tmp_path, target, components=ALL)
    assert world_state(target) == before


def test_serialization_error_is_a_value_error():
    assert issubclass(SerializationError, ValueError)


def test_saves_checksummed_with_sha256_still_load(tmp_path):
    """Saves from before the switch to XXH3 carry SHA-256 digests; they still load."""
    import hashlib

    world, ids = small_world()
    snap = save(world, tmp_path)
    manifest = json.loads((snap / "manifest.json").read_text())
    for entry in manifest["tables"]:
        entry["hash"] = hashlib.sha256((snap / entry["file"]).read_bytes()).hexdigest()
    for fkey, hkey in (("file", "hash"), ("free_file", "free_hash")):
        data = (snap / manifest["index"][fkey]).read_bytes()
        manifest["index"][hkey] = hashlib.sha256(data).hexdigest()
    (snap / "manifest.json").write_text(json.dumps(manifest))
    digest = hashlib.sha256((snap / "manifest.json").read_bytes()).hexdigest()
    (tmp_path / "CURRENT").write_text(f"{snap.name} {digest}\n")
    loaded = load(tmp_path, components=ALL).world
    assert rows(loaded, Pos, ids[:1]) == rows(world, Pos, ids[:1])
    # ... and a flipped byte is still caught by the SHA-256 check
    table = snap / manifest["tables"][0]["file"]
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF
    table.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="does not match its hash"):
        load(tmp_path, components=ALL)


def test_resources_holding_live_objects_are_skipped_not_fatal(tmp_path):
    """A dataclass resource with a live object (an engine, a view) is listed as not
    saved; asdict's deep copy is never attempted on it."""

    class Live:
        def __deepcopy__(self, memo):
            raise AttributeError("cannot copy a live object")

    @dataclasses.dataclass
    class Holder:
        n: int
        live: object

    @dataclasses.dataclass
    class Plain:
        n: int
        tags: list
        nested: dict

    world, _ = small_world()
    world.insert_resource(Holder(1, Live()))
    world.insert_resource(Plain(2, ["a", 1.5], {"k": [1, 2]}))
    snap = save(world, tmp_path)
    manifest = json.loads((snap / "manifest.json").read_text())
    assert any(s.endswith("Holder") for s in manifest["skipped_resources"])
    saved = {r["type"].rsplit(".", 1)[-1]: r["value"] for r in manifest["resources"]}
    assert saved["Plain"] == {"n": 2, "tags": ["a", 1.5], "nested": {"k": [1, 2]}}


# ------------------------------------------------- threaded loads (large saves)


def _serial_or_threaded(threaded: bool):
    import contextlib

    return _threaded_loads(chunk=8) if threaded else contextlib.nullcontext()


@pytest.mark.parametrize("threaded", [False, True])
def test_two_saved_archetypes_merged_by_a_migration_load_into_one_table(
    tmp_path, threaded
):
    """A rename can map two saved tables onto one archetype: the second is appended
    after the first, and the entity index points at the rows they landed on."""
    old = _component("Old", value=(f32, 0.0))
    new = _component("New", value=(f32, 0.0))
    world = World()
    a = world.spawn_batch({old: {"value": [1.0, 2.0]}, Pos: None})
    b = world.spawn_batch({new: {"value": [3.0, 4.0, 5.0]}, Pos: None})
    world.despawn(a[0])
    save(world, tmp_path)
    with _serial_or_threaded(threaded):
        result = load(
            tmp_path,
            World(threads=2),
            components=[new, Pos],
            migrations=[Migration("Old", rename="New")],
        )
    loaded = result.world
    check_world(loaded)
    assert result.exact
    ids = np.concatenate([a[1:], b])
    assert loaded.is_alive_batch(ids).all()
    assert not loaded.is_alive(int(a[0]))
    assert rows(loaded, new, ids) == {"value": [2.0, 3.0, 4.0, 5.0]}
    (table,) = [t for t in loaded.tables if t.len]
    assert table.len == 4


def test_threaded_and_serial_exact_loads_give_the_same_world_and_tick_columns(
    tmp_path,
):
    """Components the target tracks get their added / changed ticks on both paths."""
    world, _ = small_world()
    save(world, tmp_path)
    got = []
    for threaded in (False, True):
        target = World(threads=2)
        target.track_changes(Pos, Link)
        target.change_tick = 40
        with _serial_or_threaded(threaded):
            load(tmp_path, target, components=ALL)
        check_world(target)
        got.append(
            {
                frozenset(t.names): {k: t.column(k).tobytes() for k in t.keys}
                for t in target.tables
                if t.len
            }
        )
    assert got[0] == got[1]
    pos_table = next(v for k, v in got[1].items() if k == {"Pos", "Vel"})
    assert any("#" in k for k in pos_table)  # the tick columns are there
    for k, raw in pos_table.items():
        if "#" in k:
            assert set(np.frombuffer(raw, np.uint32).tolist()) == {40}


def test_a_save_large_enough_for_threads_loads_exactly(tmp_path):
    """No forcing: a save over the threshold takes the threaded path on its own."""
    from archetype_ecs import serialization

    n = serialization._PARALLEL // 28 + 1000  # Pos (8 B) + Vel (12 B) + id (8 B)
    world = World()
    rng = np.random.default_rng(3)
    ids = world.spawn_batch(
        {
            Pos: {"x": rng.random(n, np.float32), "y": rng.random(n, np.float32)},
            Vel: {"v": rng.random((n, 3), np.float32)},
        }
    )
    world.despawn_batch(ids[::97])
    save(world, tmp_path)
    target = World(threads=2)
    result = load(tmp_path, target, components=ALL)
    assert result.exact
    check_world(target)
    (src,) = [t for t in world.tables if t.len]
    (dst,) = [t for t in target.tables if t.len]
    for key in src.keys:
        assert dst.column(key).tobytes() == src.column(key).tobytes(), key
    assert target.entities.free_list().tolist() == world.entities.free_list().tolist()
    assert result.old_ids is result.new_ids  # one array: ids are unchanged


@pytest.mark.parametrize("threaded", [False, True])
def test_a_bad_index_in_an_exact_load_changes_nothing(tmp_path, world_state, threaded):
    """The threaded path builds the index outside the world: a bad one is refused
    before the world takes anything."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from archetype_ecs.serialization import _hash

    world, _ = small_world()
    snap = save(world, tmp_path)
    path = snap / "index.arrow"
    gen = ipc.open_file(str(path)).read_all()
    bad = gen.column("generation").to_numpy().copy()
    bad[0] += 1  # a live id no longer matches its slot's generation
    with ipc.new_file(str(path), gen.schema) as w:
        w.write_table(pa.table({"generation": bad}, schema=gen.schema))
    rewrite_manifest(tmp_path, lambda m: m["index"].update(hash=_hash(path)))
    target = World(threads=2)
    before = world_state(target)
    with (
        _serial_or_threaded(threaded),
        pytest.raises(SerializationError, match="disagree with the saved entity index"),
    ):
        load(tmp_path, target, components=ALL)
    assert world_state(target) == before


@pytest.mark.parametrize("threaded", [False, True])
def test_exact_load_re_places_tables_its_plan_got_wrong(
    tmp_path, monkeypatch, threaded
):
    """The index is built for the tables the load expects to create; if the world
    hands out other ids or rows, the install step re-places those entities."""
    from archetype_ecs import serialization

    world, ids = small_world()
    save(world, tmp_path)
    plan = serialization._planned_places
    monkeypatch.setattr(
        serialization,
        "_planned_places",
        lambda *a: [(tid + 7, start + 3) for tid, start in plan(*a)],
    )
    with _serial_or_threaded(threaded):
        loaded = load(tmp_path, World(threads=2), components=ALL).world
    check_world(loaded)
    live = ids[world.is_alive_batch(ids)]
    assert rows(loaded, Pos, live) == rows(world, Pos, live)
    assert rows(loaded, Link, ids[3:]) == rows(world, Link, ids[3:])


@pytest.mark.hypothesis
@given(st.lists(st.booleans(), max_size=80), st.integers(0, 20), st.integers(0, 20))
def test_bool_columns_unpack_like_arrow(values, start, stop):
    """Saved booleans are unpacked from their bits by NumPy, slices included."""
    import pyarrow as pa

    from archetype_ecs.serialization import _numpy

    arr = pa.array(values, type=pa.bool_())
    part = arr.slice(min(start, len(values)), stop)
    got = _numpy(part)
    assert got.dtype == np.bool_
    assert got.tolist() == part.to_pylist()
