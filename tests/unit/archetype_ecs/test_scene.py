"""Scenes: saving a subtree, instantiating it many times with refs remapped, and the
SceneManager's load / unload / switch applied at sync points; bad files change nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archetype_ecs import (
    CommandBuffer,
    EntityNotAliveError,
    EntityRef,
    SchemaError,
    StructuralChangeError,
    World,
    component,
    f32,
    system,
)
from archetype_ecs.hierarchy import ChildOf, hierarchy, set_parent
from archetype_ecs.scene import (
    Scene,
    SceneError,
    SceneManager,
    save_scene,
    scenes,
)
from archetype_ecs.serialization import save
from archetype_ecs.transform import GlobalTransform2D, Transform2D


@component
class Hp:
    value: f32 = 10.0


@component
class Driver:
    seat: EntityRef = 0


@component
class Link:
    other: EntityRef = 0


def car_world() -> tuple[World, int, int, list[int]]:
    """A car (Hp 50, Driver -> its seat) with a seat and 4 wheels (Transform2D)."""
    w = World(threads=1)
    outside = w.spawn(Hp(1.0))
    car = w.spawn(Hp(50.0), Transform2D(x=1.0), GlobalTransform2D())
    seat = w.spawn(Hp(2.0), Link(other=0))
    wheels = [
        int(e)
        for e in w.spawn_batch({Hp: {"value": np.arange(4.0)}, Transform2D: None}, n=4)
    ]
    set_parent(w, [seat, *wheels], car)
    w.insert(car, Driver(seat=seat))
    w.set(seat, Link(other=wheels[2]))  # a sibling in another archetype
    set_parent(w, [car], outside)  # the car's own parent is not part of the scene
    return w, car, seat, wheels


@pytest.fixture
def scene_dir(tmp_path: Path) -> Path:
    w, car, _, _ = car_world()
    save_scene(w, car, tmp_path / "car")
    return tmp_path / "car"


def check_copy(w: World, root: int) -> None:
    """One copy of the car: structure, values and refs inside the copy."""
    h = hierarchy(w)
    kids = [int(k) for k in h.children(root)]
    assert len(kids) == 5
    assert w.component(root, Hp).value == 50.0
    seat = w.component(root, Driver).seat
    assert seat in kids
    assert w.component(seat, Hp).value == 2.0
    wheel = w.component(seat, Link).other
    assert wheel in kids
    assert w.component(wheel, Hp).value == 2.0
    assert sorted(w.component(k, Hp).value for k in kids) == [0.0, 1.0, 2.0, 2.0, 3.0]


def test_saved_scene_reads_back_with_one_root_and_no_outside_parent(
    scene_dir: Path,
) -> None:
    sc = Scene.open(
        scene_dir, components=[Hp, Driver, Link, Transform2D, GlobalTransform2D]
    )
    assert len(sc) == 6
    assert sc.dropped_refs == 0
    assert {c.__name__ for c in sc.components} == {
        "ChildOf",
        "Driver",
        "GlobalTransform2D",
        "Hp",
        "Link",
        "Transform2D",
    }
    w = World(threads=1)
    (root,) = sc.instantiate(w)
    assert not w.has(root, ChildOf)
    check_copy(w, int(root))
    assert len(w) == 6


def test_instantiate_n_copies_remaps_refs_per_copy(scene_dir: Path) -> None:
    sc = Scene.open(
        scene_dir, components=[Hp, Driver, Link, Transform2D, GlobalTransform2D]
    )
    w = World(threads=1)
    roots = sc.instantiate(w, n=50)
    assert len(roots) == 50
    assert len(w) == 300
    for r in roots[[0, 17, 49]]:
        check_copy(w, int(r))
    seats = w.get_batch(roots, Driver)["seat"]
    assert len(np.unique(seats)) == 50  # each copy its own seat


def test_instantiate_with_per_copy_root_transforms(scene_dir: Path) -> None:
    sc = Scene.open(
        scene_dir, components=[Hp, Driver, Link, Transform2D, GlobalTransform2D]
    )
    w = World(threads=1)
    xs = np.array([10.0, 20.0, 30.0])
    roots = sc.instantiate(w, 3, overrides={Transform2D: {"x": xs, "y": 5.0}, Hp: 7.0})
    t = w.get_batch(roots, Transform2D)
    assert t["x"].tolist() == [10.0, 20.0, 30.0]
    assert t["y"].tolist() == [5.0] * 3
    assert t["scale"].tolist() == [1.0] * 3  # fields not named keep the scene's values
    assert w.get_batch(roots, Hp)["value"].tolist() == [7.0] * 3


def test_overrides_may_add_components_and_bad_ones_change_nothing(
    scene_dir: Path,
) -> None:
    @component
    class Team:
        id: f32 = 0.0

    sc = Scene.open(
        scene_dir, components=[Hp, Driver, Link, Transform2D, GlobalTransform2D]
    )
    w = World(threads=1)
    roots = sc.instantiate(w, 2, overrides={Team: {"id": [1.0, 2.0]}})
    assert w.get_batch(roots, Team)["id"].tolist() == [1.0, 2.0]
    before = len(w)
    with pytest.raises(SchemaError, match="got 2 rows, expected 3"):
        sc.instantiate(w, 3, overrides={Transform2D: {"x": [1.0, 2.0]}})
    with pytest.raises(SchemaError, match="parent="):
        sc.instantiate(w, 1, overrides={ChildOf: {"parent": roots[0]}})
    assert len(w) == before


def test_instantiate_under_a_parent(scene_dir: Path) -> None:
    sc = Scene.open(
        scene_dir, components=[Hp, Driver, Link, Transform2D, GlobalTransform2D]
    )
    w = World(threads=1)
    garage = w.spawn(Hp(0.0))
    roots = sc.instantiate(w, 2, parent=garage)
    assert sorted(hierarchy(w).children(garage).tolist()) == sorted(roots.tolist())
    w.despawn(garage)  # cascade: everything goes
    assert len(w) == 0
    dead = w.spawn()
    w.despawn(dead)
    with pytest.raises(EntityNotAliveError):
        sc.instantiate(w, 1, parent=dead)
    assert len(w) == 0


def test_instantiate_through_commands_applies_at_the_sync_point(
    scene_dir: Path,
) -> None:
    sc = Scene.open(
        scene_dir, components=[Hp, Driver, Link, Transform2D, GlobalTransform2D]
    )
    w = World(threads=1)
    seen: list[int] = []

    @system(commands=True)
    def spawner(ctx):  # type: ignore[no-untyped-def]
        sc.instantiate(ctx.commands, 2)

    @system(phase="post_update", reads=[Hp])
    def count(ctx):  # type: ignore[no-untyped-def]
        seen.append(sum(len(ents) for ents, _ in ctx.query(Hp)))

    w.add_system(spawner, count)
    w.step()
    assert seen == [12]  # applied at the update phase's sync point
    roots = w.query(Driver).entities()
    for r in roots:
        check_copy(w, int(r))
    buf = CommandBuffer()
    pending = sc.instantiate(buf, 1)
    assert len(w) == 12
    report = w.apply(buf)
    check_copy(w, int(report.resolve(buf, pending)[0]))


def test_manager_load_applies_at_frame_end_not_mid_frame(scene_dir: Path) -> None:
    w = World(threads=1)
    w.components.id_of(Hp), w.components.id_of(Driver), w.components.id_of(Link)
    w.components.id_of(Transform2D), w.components.id_of(GlobalTransform2D)
    mgr = scenes(w)
    seen: list[int] = []

    @system(phase="post_update", reads=[Hp])
    def count(ctx):  # type: ignore[no-untyped-def]
        seen.append(sum(len(ents) for ents, _ in ctx.query(Hp)))

    w.add_system(count)
    inst = mgr.load(scene_dir, n=3)
    assert inst.state == "pending"
    assert len(w) == 0
    assert mgr.pending == 1
    w.step()
    assert seen == [0]  # systems of that frame never saw a half-loaded scene
    assert inst.is_loaded
    assert len(inst.roots) == 3
    assert len(w) == 18
    for r in inst.roots:
        check_copy(w, int(r))
    mgr.unload(inst)
    assert len(w) == 18
    w.step()
    assert seen == [0, 18]
    assert len(w) == 0
    assert inst.state == "unloaded"
    assert mgr.loaded == []


def test_manager_requests_from_a_system_apply_after_the_frame(scene_dir: Path) -> None:
    w = World(threads=1)
    for c in (Hp, Driver, Link, Transform2D, GlobalTransform2D):
        w.components.id_of(c)
    scenes(w)
    frames: list[tuple[int, int]] = []

    @system(resources_mut=[SceneManager], reads=[Hp])
    def director(ctx):  # type: ignore[no-untyped-def]
        mgr = ctx.resource_mut(SceneManager)
        frames.append((sum(len(ents) for ents, _ in ctx.query(Hp)), mgr.pending))
        if len(frames) == 1:
            mgr.load(scene_dir, name="level1")
        elif len(frames) == 2:
            mgr.unload("level1")

    w.add_system(director)
    w.step()
    assert len(w) == 6
    w.step()
    assert len(w) == 0
    w.step()
    assert frames == [(0, 0), (6, 0), (0, 0)]


def test_flush_refuses_while_systems_run(scene_dir: Path) -> None:
    w = World(threads=1)
    mgr = scenes(w)
    errors: list[str] = []

    @system(resources_mut=[SceneManager])
    def bad(ctx):  # type: ignore[no-untyped-def]
        try:
            ctx.resource_mut(SceneManager).flush()
        except StructuralChangeError as exc:
            errors.append(str(exc))

    w.add_system(bad)
    w.step()
    assert errors
    assert "end of the frame" in errors[0]
    assert mgr.flush() == 0  # between frames it is fine


def test_switch_unloads_the_current_scene_and_keeps_additive_ones(
    scene_dir: Path, tmp_path: Path
) -> None:
    src = World(threads=1)
    room = src.spawn(Hp(99.0))
    set_parent(src, src.spawn_batch({Hp: None}, n=2), room)
    save_scene(src, room, tmp_path / "room")
    w = World(threads=1)
    for c in (Hp, Driver, Link, Transform2D, GlobalTransform2D):
        w.components.id_of(c)
    mgr = scenes(w)
    ui = mgr.load(tmp_path / "room", name="ui")  # additive
    a = mgr.switch(scene_dir, name="level-a")
    mgr.flush()
    assert mgr.current is a
    assert len(w) == 3 + 6
    b = mgr.switch(tmp_path / "room", n=2, name="level-b")
    assert mgr.current is a  # not applied yet
    w.step()
    assert mgr.current is b
    assert a.state == "unloaded"
    assert ui.is_loaded
    assert len(w) == 3 + 6
    assert not w.is_alive(int(a.roots[0]))
    # two switches before a sync point: only the last one stays
    c1 = mgr.switch(scene_dir, name="c1")
    c2 = mgr.switch(scene_dir, name="c2")
    w.step()
    assert mgr.current is c2
    assert c1.state == "unloaded"
    assert b.state == "unloaded"
    assert sorted(i.name for i in mgr.loaded) == ["c2", "ui"]
    assert len(w) == 3 + 6


def test_unload_removes_the_whole_subtree_under_the_orphan_policy(
    scene_dir: Path,
) -> None:
    w = World(threads=1)
    for c in (Hp, Driver, Link, Transform2D, GlobalTransform2D):
        w.components.id_of(c)
    hierarchy(w, on_despawn="orphan")
    mgr = scenes(w)
    inst = mgr.load(scene_dir, n=2)
    keep = w.spawn(Hp(5.0))
    mgr.flush()
    w.despawn(int(inst.roots[0]))  # the user despawned one root: its children orphaned
    mgr.unload(inst)
    mgr.flush()
    assert len(w) == 1 + 5  # the kept entity and the first copy's orphans
    assert w.is_alive(keep)


def test_missing_and_corrupt_scene_files_leave_the_world_untouched(
    scene_dir: Path, tmp_path: Path
) -> None:
    w = World(threads=1)
    for c in (Hp, Driver, Link, Transform2D, GlobalTransform2D):
        w.components.id_of(c)
    e = w.spawn(Hp(1.0))
    mgr = scenes(w)
    with pytest.raises(SceneError, match=r"cannot load scene .*nowhere"):
        mgr.load(tmp_path / "nowhere")
    snap = next(p for p in scene_dir.iterdir() if p.name.startswith("snap-"))
    victim = next(
        p for p in snap.iterdir() if p.suffix == ".arrow" and "index" not in p.name
    )
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(SceneError, match="cannot load scene"):
        mgr.switch(scene_dir)
    assert mgr.pending == 0
    assert mgr.current is None
    w.step()
    assert len(w) == 1
    assert w.component(e, Hp).value == 1.0


def test_scene_needs_known_components_and_one_root(
    tmp_path: Path, scene_dir: Path
) -> None:
    with pytest.raises(SceneError, match="components="):
        Scene.open(scene_dir)  # Hp, Driver ... unknown to a fresh reader
    w = World(threads=1)
    w.spawn_batch({Hp: None}, n=2)
    save(w, tmp_path / "two")
    with pytest.raises(SceneError, match="has 2 root entities"):
        Scene.open(tmp_path / "two", components=[Hp])
    save(World(threads=1), tmp_path / "empty")
    with pytest.raises(SceneError, match="holds no entities"):
        Scene.open(tmp_path / "empty")


def test_refs_outside_a_hand_made_save_are_nulled(tmp_path: Path) -> None:
    w = World(threads=1)
    gone = w.spawn(Hp(0.0))
    root = w.spawn(Hp(1.0), Driver(seat=gone))
    kid = w.spawn(Hp(2.0), Link(other=root))
    set_parent(w, [kid], root)
    w.despawn(gone)
    save(w, tmp_path / "hand")  # a whole-world save with one root
    sc = Scene.open(tmp_path / "hand", components=[Hp, Driver, Link])
    assert sc.dropped_refs == 1
    target = World(threads=1)
    filler = target.spawn_batch({Hp: None}, n=3)  # ids the stale ref might hit
    (r,) = sc.instantiate(target)
    assert target.component(r, Driver).seat == 0
    (k,) = hierarchy(target).children(r)
    assert target.component(k, Link).other == r
    assert all(target.is_alive(int(f)) for f in filler)


def test_save_scene_refuses_a_dead_root(tmp_path: Path) -> None:
    w = World(threads=1)
    e = w.spawn()
    w.despawn(e)
    with pytest.raises(EntityNotAliveError):
        save_scene(w, e, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_unload_unknown_names_and_snapshots(scene_dir: Path) -> None:
    w = World(threads=1)
    for c in (Hp, Driver, Link, Transform2D, GlobalTransform2D):
        w.components.id_of(c)
    mgr = scenes(w)
    with pytest.raises(SceneError, match="'nope' is not loaded"):
        mgr.unload("nope")
    inst = mgr.load(scene_dir, name="car")
    mgr.flush()
    snap = w.snapshot()
    mgr.unload("car")
    w.step()
    assert len(w) == 0
    w.restore(snap)
    again = w.resource(SceneManager)
    assert [i.name for i in again.loaded] == ["car"]
    assert again.loaded[0] is not inst
    again.unload("car")
    w.step()
    assert len(w) == 0


def test_two_loads_of_one_name_are_two_instances(scene_dir: Path) -> None:
    w = World(threads=1)
    for c in (Hp, Driver, Link, Transform2D, GlobalTransform2D):
        w.components.id_of(c)
    mgr = scenes(w)
    a = mgr.load(scene_dir)
    b = mgr.load(scene_dir)
    mgr.flush()
    assert a.name == b.name
    assert len(mgr.loaded) == 2
    mgr.unload(a)
    mgr.flush()
    assert mgr.loaded == [b]
    assert len(w) == 6
    mgr.switch(scene_dir)
    mgr.unload(scene_dir.name)  # every instance of that name, the queued one too
    mgr.flush()
    assert len(w) == 0
    assert mgr.current is None


def test_manager_load_accepts_components_the_world_lacks(scene_dir: Path) -> None:
    w = World(threads=1)
    mgr = scenes(w)
    with pytest.raises(SceneError, match="components="):
        mgr.load(scene_dir)
    inst = mgr.switch(
        scene_dir, components=[Hp, Driver, Link, Transform2D, GlobalTransform2D]
    )
    w.step()
    check_copy(w, int(inst.roots[0]))


def test_a_query_save_of_a_subtree_is_a_scene(tmp_path: Path) -> None:
    w, car, _, _ = car_world()
    w.remove(w.component(car, ChildOf).parent, Hp)  # the car's parent: not saved
    save(w, tmp_path / "q", query=w.query(Hp, optional=[ChildOf, Driver, Link]))
    sc = Scene.open(tmp_path / "q", components=[Hp, Driver, Link])
    assert len(sc) == 6
    target = World(threads=1)
    (root,) = sc.instantiate(target)
    assert not target.has(root, ChildOf)
    assert len(hierarchy(target).children(root)) == 5
    assert target.component(root, Driver).seat in hierarchy(target).children(root)
