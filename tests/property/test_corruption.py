"""Damaged saves: every load raises SerializationError and leaves the world untouched.

Each case copies a good save, damages it (a byte flip, a truncation, appended bytes, a
deleted file or a JSON edit of the manifest / ``CURRENT``) and loads it into a
non-empty world, in-process, under a per-case time bound. The loads must raise
:class:`SerializationError` (never another exception, never hang) and leave the world
exactly as it was: tables, entity index, resources and tick.

One tolerance: ``manifest.json`` and ``CURRENT`` are plain text, so a flipped byte in
their whitespace (or a harmless one, e.g. ``CURRENT``'s final newline becoming a space)
may leave a save that still means the same thing. Such a load is accepted only if it
gives exactly the world the undamaged save gives. Data files are hashed: any change to
them must raise.

Cases are drawn from a seeded ``random.Random``, so a failure names a reproducible
case. The default run has >= 200 cases per file format; the ``slow`` variant >= 2,000.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import random
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archetype_ecs import EntityRef, World, bool_, component, f32, f64, i64
from archetype_ecs._sanitize import check_world
from archetype_ecs.errors import SerializationError
from archetype_ecs.serialization import _hash, _threaded_loads, load, save

FORMATS = ["ipc", "parquet"]
CASE_SECONDS = 10.0
DEFAULT_RANDOM_CASES = 200
SLOW_RANDOM_CASES = 2000


@component
class Pos:
    xy: f32[2] = (0.0, 0.0)


@component
class Mass:
    kg: f64 = 1.0


@component
class Flags:
    on: bool_ = False
    bits: bool_[3] = (False, False, False)


@component
class Link:
    to: EntityRef = 0


@component
class Count:
    n: i64 = 0


@component
class Frozen:
    pass


CLASSES = [Pos, Mass, Flags, Link, Count, Frozen]


@dataclasses.dataclass
class Score:
    points: int = 0
    label: str = ""


def source_world() -> World:
    """A few archetypes, refs between entities, despawned slots, a user resource."""
    rng = np.random.default_rng(7)
    world = World(seed=11)
    a = world.spawn_batch(
        {Pos: {"xy": rng.random((40, 2))}, Mass: {"kg": rng.random(40)}, Link: None}
    )
    b = world.spawn_batch(
        {Flags: {"on": rng.random(30) < 0.5}, Count: {"n": np.arange(30)}, Frozen: None}
    )
    c = world.spawn_batch({Pos: None, Link: {"to": rng.choice(a, 20)}})
    world.set_batch(a, Link, {"to": rng.choice(np.concatenate([b, c]), 40)})
    world.despawn_batch(np.concatenate([a[::7], b[::5]]))
    world.insert_resource(Score(12, "high"))
    world.change_tick = 9
    return world


def target_world() -> World:
    """The non-empty world each damaged save is loaded into."""
    world = World(seed=3)
    ids = world.spawn_batch({Pos: {"xy": np.ones((5, 2))}, Link: None})
    world.set_batch(ids, Link, {"to": ids[::-1]})
    world.spawn_batch({Count: {"n": [1, 2, 3]}, Frozen: None})
    world.despawn(ids[2])
    world.track_changes(Count)
    return world


def world_state(world: World) -> dict[str, Any]:
    """Everything a load could change, comparable with ``==`` (bitwise for columns)."""
    idx = world.entities
    size = idx.size
    return {
        "len": len(world),
        "size": size,
        "alive": idx.alive_count,
        "generation": idx.generation[:size].tobytes(),
        "table": idx.table[:size].tobytes(),
        "row": idx.row[:size].tobytes(),
        "free": idx.free_list().tobytes(),
        "tables": [
            (t.id, t.names, t.len, {k: t.column(k).tobytes() for k in t.keys})
            for t in world.tables
        ],
        "components": len(world.components),
        "resources": copy.deepcopy(world._resources),
        "change_tick": world.change_tick,
    }


class CaseTimeout(BaseException):
    """A load ran past the per-case bound (a BaseException, so no handler eats it)."""


@contextlib.contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"load did not return within {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclasses.dataclass
class Pristine:
    file_format: str
    root: Path
    snap: Path
    loaded: dict[str, Any]  # the target after loading the undamaged save
    loaded_empty: dict[str, Any]  # an empty world after the same (an exact load)


@pytest.fixture(scope="module", params=FORMATS)
def pristine(request: pytest.FixtureRequest) -> Iterator[Pristine]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "save"
        snap = save(source_world(), root, file_format=request.param)
        target = target_world()
        load(root, target, components=CLASSES, resources=[Score])
        empty = World(threads=2)
        load(root, empty, components=CLASSES, resources=[Score])
        yield Pristine(
            request.param, root, snap, world_state(target), world_state(empty)
        )


# ----------------------------------------------------------------------- damage


# (root, snapshot folder) -> description of the damage. Random damage to the two text
# files may leave a save that means the same thing: its description starts with "~".
Damage = Callable[[Path, Path], str]
TEXT_FILES = ("CURRENT", "manifest.json")


def _mark(path: Path, text: str) -> str:
    return ("~" if path.name in TEXT_FILES else "") + text


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def flip(rng: random.Random) -> Damage:
    def apply(root: Path, snap: Path) -> str:
        path = rng.choice(files_of(root))
        data = bytearray(path.read_bytes())
        at, mask = rng.randrange(len(data)), rng.randrange(1, 256)
        data[at] ^= mask
        path.write_bytes(bytes(data))
        return _mark(path, f"flip {path.relative_to(root)}[{at}] ^= {mask:#04x}")

    return apply


def truncate(rng: random.Random) -> Damage:
    def apply(root: Path, snap: Path) -> str:
        path = rng.choice(files_of(root))
        data = path.read_bytes()
        keep = rng.randrange(len(data))
        path.write_bytes(data[:keep])
        rel = path.relative_to(root)
        return _mark(path, f"truncate {rel} to {keep} of {len(data)} bytes")

    return apply


def extend(rng: random.Random) -> Damage:
    def apply(root: Path, snap: Path) -> str:
        path = rng.choice(files_of(root))
        extra = rng.randbytes(rng.randrange(1, 64))
        with path.open("ab") as f:
            f.write(extra)
        return _mark(path, f"append {extra!r} to {path.relative_to(root)}")

    return apply


def delete(rng: random.Random) -> Damage:
    def apply(root: Path, snap: Path) -> str:
        path = rng.choice(files_of(root))
        path.unlink()
        return f"delete {path.relative_to(root)}"

    return apply


def random_damage(rng: random.Random) -> Damage:
    kind = rng.choices([flip, truncate, extend, delete], weights=[6, 2, 1, 1])[0]
    return kind(rng)


def _edit(change: Callable[[dict[str, Any]], object]) -> Damage:
    def apply(root: Path, snap: Path) -> str:
        path = snap / "manifest.json"
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))
        return "manifest edited"

    return apply


def _at(manifest: dict[str, Any], keys: tuple[Any, ...]) -> Any:
    node = manifest
    for k in keys:
        node = node[k]
    return node


def _set(*keys: Any, value: Any) -> Damage:
    return _edit(lambda m: _at(m, keys[:-1]).__setitem__(keys[-1], value))


def _drop(*keys: Any) -> Damage:
    return _edit(lambda m: _at(m, keys[:-1]).__delitem__(keys[-1]))


def _resource(suffix: str, **values: Any) -> Damage:
    def change(manifest: dict[str, Any]) -> None:
        rec = next(r for r in manifest["resources"] if r["type"].endswith(suffix))
        rec["value"].update(values)

    return _edit(change)


def _write(name: str, text: str | bytes) -> Damage:
    def apply(root: Path, snap: Path) -> str:
        path = root / name if name == "CURRENT" else snap / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return f"{name} overwritten"

    return apply


def _current_names(name: str) -> Damage:
    """CURRENT names ``name`` with the right manifest hash (when it has one)."""

    def apply(root: Path, snap: Path) -> str:
        manifest = snap / "manifest.json"
        (root / "CURRENT").write_text(f"{name} {_hash(manifest)}\n")
        return f"CURRENT names {name!r}"

    return apply


def _remove(name: str) -> Damage:
    def apply(root: Path, snap: Path) -> str:
        at_root = name == "CURRENT" or name.startswith("snap-")
        path = root / name if at_root else snap / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        return f"{name} removed"

    return apply


def _incomplete_snapshot(root: Path, snap: Path) -> str:
    """A newer snapshot folder without its files (a save killed half-way)."""
    other = root / "snap-000099"
    other.mkdir()
    (other / "manifest.json").write_text("{}")
    (root / "CURRENT").write_text(f"snap-000099 {_hash(other / 'manifest.json')}\n")
    return "CURRENT names an incomplete snapshot"


def _empty_folder(root: Path, snap: Path) -> str:
    for path in root.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return "save folder emptied"


def _swap_table_files(root: Path, snap: Path) -> str:
    a, b = sorted(snap.glob("table-*"))[:2]
    tmp = a.with_suffix(".swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    return "two table files swapped"


def repin(root: Path) -> None:
    """Point CURRENT at the manifest as it is now (someone edited both)."""
    current = root / "CURRENT"
    name = current.read_text().split()[0]
    manifest = root / name / "manifest.json"
    current.write_text(f"{name} {_hash(manifest)}\n")


def _rehash(change: Callable[[Path], None], which: str) -> Damage:
    """Rewrite a data file and its hash in the manifest (and CURRENT's pin)."""

    def apply(root: Path, snap: Path) -> str:
        manifest = json.loads((snap / "manifest.json").read_text())
        entries = [(t, "file", "hash") for t in manifest["tables"]]
        entries += [
            (manifest["index"], "file", "hash"),
            (manifest["index"], "free_file", "free_hash"),
        ]
        entry, fkey, hkey = next(e for e in entries if e[0][e[1]] == which)
        change(snap / entry[fkey])
        entry[hkey] = _hash(snap / entry[fkey])
        (snap / "manifest.json").write_text(json.dumps(manifest))
        repin(root)
        return f"{which} rewritten, with matching hashes"

    return apply


def _arrow_file(path: Path, table: Any) -> None:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as w:
        w.write_table(table)


def _column(path: Path, name: str) -> list[int]:
    import pyarrow.ipc as ipc

    with ipc.open_file(str(path)) as f:
        values: list[int] = f.read_all().column(name).to_pylist()
    return values


def _rewrite(
    column: str, change: Callable[[list[int]], list[int]], *, as_name: str = ""
) -> Callable[[Path], None]:
    import pyarrow as pa

    kind = pa.uint32() if column == "generation" else pa.int64()

    def apply(path: Path) -> None:
        values = change(_column(path, column))
        _arrow_file(path, pa.table({as_name or column: pa.array(values, kind)}))

    return apply


def _xor_byte(at: int, mask: int) -> Callable[[Path], None]:
    def change(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[at % len(data)] ^= mask
        path.write_bytes(bytes(data))

    return change


def _halve(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# Edits of the manifest (or CURRENT) that must be refused even when CURRENT is
# re-pinned to the edited manifest: they contradict the data files or the format.
STRUCTURAL_EDITS: dict[str, Damage] = {
    "wrong table hash": _set("tables", 0, "hash", value="0" * 32),
    "wrong index hash": _set("index", "hash", value="f" * 32),
    "free-list hash null": _set("index", "free_hash", value=None),
    "wrong rows": _set("tables", 1, "rows", value=3),
    "rows as a string": _set("tables", 1, "rows", value="3"),
    "missing table entry": _edit(lambda m: m["tables"].pop(0)),
    "missing table entry, entity count adjusted": _edit(
        lambda m: m.update(entities=m["entities"] - m["tables"].pop(0)["rows"])
    ),
    "duplicated table entry": _edit(lambda m: m["tables"].append(m["tables"][0])),
    "table entry not an object": _set("tables", 0, value=[1, 2]),
    "tables not a list": _set("tables", value={"a": 1}),
    "no tables key": _drop("tables"),
    "table file outside the folder": _set("tables", 0, "file", value="../CURRENT"),
    "table file absolute": _set("tables", 0, "file", value="/etc/passwd"),
    "table file hidden": _set("tables", 0, "file", value=".tmp"),
    "table lists an unknown component": _set("tables", 0, "components", value=["Zz"]),
    "table lists fewer components": _edit(lambda m: m["tables"][0]["components"].pop()),
    "format_version 2": _set("format_version", value=2),
    "format_version string": _set("format_version", value="1"),
    "no format_version": _drop("format_version"),
    "other format": _set("format", value="something-else"),
    "file_format swapped": _edit(
        lambda m: m.update(
            file_format={"ipc": "parquet", "parquet": "ipc"}[m["file_format"]]
        )
    ),
    "unknown file_format": _set("file_format", value="csv"),
    "components not a mapping": _set("components", value=[]),
    "component description not an object": _set("components", "Pos", value=[]),
    "component fields not a list": _set("components", "Pos", "fields", value="xy"),
    "component field not an object": _set("components", "Pos", "fields", value=[1]),
    "component field renamed": _set(
        "components", "Mass", "fields", 0, "name", value="grams"
    ),
    "unknown component described": _edit(
        lambda m: m["components"].update(Zz={"version": 1, "fields": []})
    ),
    "index not an object": _set("index", value=[1]),
    "index size too large": _set("index", "size", value=10**6),
    "index file missing": _set("index", "file", value="nope.arrow"),
    "entity count wrong": _set("entities", value=1),
    "entity count negative": _set("entities", value=-1),
    "change_tick not a number": _set("change_tick", value="soon"),
    "change_tick null": _set("change_tick", value=None),
    "resources not a list": _set("resources", value="Score"),
    "resource entry not an object": _set("resources", value=[1]),
    "resource value not an object": _set("resources", 0, "value", value=3),
    "skipped_resources not a list": _set("skipped_resources", value=5),
    "Time.frame not a number": _resource(".Time", frame="x"),
    "Rng seed negative": _resource(".Rng", seed=-1),
    "Rng seed not a number": _resource(".Rng", seed="x"),
    "Score with an unknown field": _resource(".Score", bonus=1),
    "manifest not JSON": _write("manifest.json", "{not json"),
    "manifest not UTF-8": _write("manifest.json", b"\xff\xfe{}"),
    "manifest empty": _write("manifest.json", ""),
    "manifest a JSON list": _write("manifest.json", "[]"),
    "manifest null": _write("manifest.json", "null"),
    "table files swapped": _swap_table_files,
    "table file deleted": _remove("table-00000"),  # the suffix is added per format
    "index file deleted": _remove("index.arrow"),
    "free-list file deleted": _remove("free.arrow"),
}

# Edits that a re-pinned CURRENT makes a different but valid save (a load may work).
VALUE_EDITS: dict[str, Damage] = {
    "Rng seed changed": _resource(".Rng", seed=12345),
    "Time.frame changed": _resource(".Time", frame=77),
    "change_tick changed": _set("change_tick", value=3),
}

# Damage of CURRENT itself and of whole folders.
POINTER_DAMAGE: dict[str, Damage] = {
    "manifest deleted": _remove("manifest.json"),
    "CURRENT deleted": _remove("CURRENT"),
    "CURRENT empty": _write("CURRENT", ""),
    "CURRENT without the manifest hash": _write("CURRENT", "snap-000001\n"),
    "CURRENT with a wrong manifest hash": _write("CURRENT", "snap-000001 " + "0" * 32),
    "CURRENT with three words": _current_names("snap-000001 x"),
    "CURRENT names a missing snapshot": _current_names("snap-000042"),
    "CURRENT names the parent": _current_names(".."),
    "CURRENT names a path": _current_names("snap-000001/../snap-000001"),
    "CURRENT names itself": _current_names("CURRENT"),
    "CURRENT binary": _write("CURRENT", b"\x00\xff\x80"),
    "CURRENT names an incomplete snapshot": _incomplete_snapshot,
    "snapshot folder deleted": _remove("snap-000001"),
    "save folder emptied": _empty_folder,
}

# Index files rewritten with matching hashes: the cross-checks must refuse them.
INDEX_REWRITES: dict[str, Damage] = {
    "generations bumped": _rehash(
        _rewrite("generation", lambda g: [v + 1 for v in g]), "index.arrow"
    ),
    "a generation 0": _rehash(
        _rewrite("generation", lambda g: [0, *g[1:]]), "index.arrow"
    ),
    "index one slot short": _rehash(
        _rewrite("generation", lambda g: g[:-1]), "index.arrow"
    ),
    "index column renamed": _rehash(
        _rewrite("generation", lambda g: g, as_name="gen"), "index.arrow"
    ),
    "free list names a live slot": _rehash(
        _rewrite("free", lambda f: [*f, 1]), "free.arrow"
    ),
    "free list out of range": _rehash(
        _rewrite("free", lambda f: [*f, 10**6]), "free.arrow"
    ),
    "free list negative": _rehash(_rewrite("free", lambda f: [*f, -1]), "free.arrow"),
    "free list repeats a slot": _rehash(
        _rewrite("free", lambda f: [*f, f[0]]), "free.arrow"
    ),
    "free list lost a slot": _rehash(_rewrite("free", lambda f: f[1:]), "free.arrow"),
    "free list column renamed": _rehash(
        _rewrite("free", lambda f: f, as_name="slots"), "free.arrow"
    ),
    "index truncated": _rehash(_halve, "index.arrow"),
}


def with_suffix(edits: dict[str, Damage], file_format: str) -> dict[str, Damage]:
    suffix = {"ipc": ".arrow", "parquet": ".parquet"}[file_format]
    out = dict(edits)
    if "table file deleted" in out:
        out["table file deleted"] = _remove("table-00000" + suffix)
    return out


def table_rewrites(file_format: str) -> dict[str, Damage]:
    """Bytes of each table file changed, hashes updated: only the readers can tell."""
    suffix = {"ipc": ".arrow", "parquet": ".parquet"}[file_format]
    out: dict[str, Damage] = {}
    for i in range(3):
        name = f"table-{i:05d}{suffix}"
        for at in (0, 4, 8, 40, 64, 100, 200, -40, -12, -8, -3, -1):
            for mask in (0x01, 0x80, 0xFF):
                out[f"{name}[{at}] ^= {mask:#x}"] = _rehash(_xor_byte(at, mask), name)
        out[f"{name} halved"] = _rehash(_halve, name)
        out[f"{name} emptied"] = _rehash(lambda p: p.write_bytes(b""), name)
    return out


# ----------------------------------------------------------------------- checking


def run_case(
    pristine: Pristine,
    damage: Damage,
    *,
    repinned: bool = False,
    may_load: bool = False,
    empty: bool = False,
) -> str:
    """Damage a copy of the save and load it: '' if all is well, else the problem.

    ``repinned``: also point CURRENT at the damaged manifest. ``may_load``: the damage
    leaves a self-consistent save, so a load may succeed; it must still never raise
    anything but SerializationError, hang or break the world's invariants.
    ``empty``: load into an empty two-thread world, exactly, on the threaded path
    large saves take.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "save"
        shutil.copytree(pristine.root, root)
        what = damage(root, root / pristine.snap.name)
        if repinned:
            repin(root)
        target = World(threads=2) if empty else target_world()
        before = world_state(target)
        mode = _threaded_loads() if empty else contextlib.nullcontext()
        try:
            with time_bound(CASE_SECONDS), mode:
                load(root, target, components=CLASSES, resources=[Score])
        except SerializationError:
            if world_state(target) != before:
                return f"{what}: raised SerializationError but changed the world"
            return ""
        except CaseTimeout as exc:
            return f"{what}: {exc}"
        except Exception as exc:  # the finding: any other exception type
            return f"{what}: {type(exc).__name__}: {exc}"
        check_world(target)
        if may_load:
            return ""
        if not what.startswith("~"):
            return f"{what}: loaded without error"
        if world_state(target) != (pristine.loaded_empty if empty else pristine.loaded):
            return f"{what}: loaded a different world without error"
        return ""


def run_cases(pristine: Pristine, cases: dict[str, Damage], **options: bool) -> str:
    failures = [
        f"{k}: {p}" for k, d in cases.items() if (p := run_case(pristine, d, **options))
    ]
    return report(failures, len(cases)) if failures else ""


def random_cases(
    pristine: Pristine, seed: int, count: int, *, empty: bool = False
) -> list[str]:
    failures = []
    for case in range(count):
        rng = random.Random(seed * 1_000_003 + case)
        problem = run_case(pristine, random_damage(rng), empty=empty)
        if problem:
            failures.append(f"case {case} (seed {seed}): {problem}")
    return failures


def report(failures: list[str], total: int) -> str:
    shown = "\n  ".join(failures[:25])
    return f"{len(failures)} of {total} damaged saves were not refused:\n  {shown}"


# -------------------------------------------------------------------------- tests


def test_random_damage_raises_serialization_error_and_leaves_world_untouched(
    pristine: Pristine,
):
    failures = random_cases(pristine, 1, DEFAULT_RANDOM_CASES)
    assert not failures, report(failures, DEFAULT_RANDOM_CASES)


def test_random_damage_to_an_exact_threaded_load_raises_and_leaves_world_untouched(
    pristine: Pristine,
):
    """Into an empty world the load is exact and builds tables and index on threads."""
    failures = random_cases(pristine, 3, DEFAULT_RANDOM_CASES // 2, empty=True)
    assert not failures, report(failures, DEFAULT_RANDOM_CASES // 2)


def test_index_rewrites_refused_by_an_exact_threaded_load(pristine: Pristine):
    problems = run_cases(pristine, INDEX_REWRITES, empty=True)
    assert not problems, problems


@pytest.mark.slow
def test_random_damage_raises_serialization_error_many(pristine: Pristine):
    failures = random_cases(pristine, 2, SLOW_RANDOM_CASES)
    assert not failures, report(failures, SLOW_RANDOM_CASES)


def test_manifest_edits_raise_and_leave_world_untouched(pristine: Pristine):
    """CURRENT pins the manifest's hash, so any edit of it is refused."""
    edits = {**with_suffix(STRUCTURAL_EDITS, pristine.file_format), **VALUE_EDITS}
    problems = run_cases(pristine, edits)
    assert not problems, problems


def test_manifest_edits_with_repinned_current_raise_and_leave_world_untouched(
    pristine: Pristine,
):
    """Edits that contradict the data or the format are refused on their own merits."""
    edits = with_suffix(STRUCTURAL_EDITS, pristine.file_format)
    problems = run_cases(pristine, edits, repinned=True)
    assert not problems, problems


def test_consistent_value_edits_with_repinned_current_never_raise_anything_else(
    pristine: Pristine,
):
    problems = run_cases(pristine, VALUE_EDITS, repinned=True, may_load=True)
    assert not problems, problems


def test_damaged_current_or_missing_files_raise_and_leave_world_untouched(
    pristine: Pristine,
):
    problems = run_cases(pristine, POINTER_DAMAGE)
    assert not problems, problems


def test_index_rewritten_with_matching_hashes_is_refused(pristine: Pristine):
    """The cross-checks (generations, free list, live count) catch rewritten indexes."""
    problems = run_cases(pristine, INDEX_REWRITES)
    assert not problems, problems


def test_tables_rewritten_with_matching_hashes_never_raise_anything_else(
    pristine: Pristine,
):
    """Damage the hashes cannot see: the Arrow / Parquet readers and checks must cope.

    A changed value inside a column can load (nothing can tell), but the load must
    never raise anything but SerializationError, crash, hang or break invariants.
    """
    problems = run_cases(pristine, table_rewrites(pristine.file_format), may_load=True)
    assert not problems, problems
