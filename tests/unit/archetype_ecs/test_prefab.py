"""Prefabs and scenes: templates validate when declared; spawn_prefab makes n copies of
a tree in one spawn_batch per node group, with per-copy overrides, directly or through
a command buffer; instantiate_scene copies a live subtree with its references remapped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from archetype_ecs import (
    CommandBuffer,
    ComponentNotRegisteredError,
    EntityNotAliveError,
    EntityRef,
    SchemaError,
    World,
    component,
    f32,
    i32,
)
from archetype_ecs.hierarchy import ChildOf, hierarchy, set_parent
from archetype_ecs.prefab import (
    Prefab,
    PrefabNotFoundError,
    Prefabs,
    instantiate_scene,
    prefabs,
    spawn_prefab,
)
from archetype_ecs.transform import GlobalTransform2D, Transform2D


@component
class Hp:
    value: f32 = 10.0
    armor: i32 = 0


@component
class Boss:
    pass


@component
class Aim:
    target: EntityRef = 0


@component
class Pair:
    refs: EntityRef[2] = (0, 0)


def goblin() -> Prefab:
    return Prefab(
        "goblin",
        {Hp: {"value": 5.0}, Transform2D: Transform2D(x=1.0), GlobalTransform2D: None},
        children=[
            Prefab("club", {Hp: Hp(1.0, 2)}),
            Prefab("hat", {Hp: None}, children=[Prefab("feather", {Boss: None})]),
        ],
    )


class SpawnCounter:
    """Wraps ``target.spawn_batch`` to count the calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, target: Any) -> None:
        self.calls = 0
        real = target.spawn_batch

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(target, "spawn_batch", counting)


# --------------------------------------------------------------- declaration


def test_prefab_values_are_validated_when_declared() -> None:
    with pytest.raises(SchemaError, match="Hp"):
        Prefab("bad", {Hp: 3.0})
    with pytest.raises(SchemaError, match="no field"):
        Prefab("bad", {Hp: {"nope": 1}})
    with pytest.raises(ComponentNotRegisteredError, match="E0002"):
        Prefab("bad", {int: None})
    with pytest.raises(SchemaError, match="repeat"):
        Prefab("bad", children=[Prefab("x"), Prefab("x")])
    with pytest.raises(SchemaError, match="sets the parent"):
        Prefab("bad", children=[Prefab("x", {ChildOf: None})])
    with pytest.raises(SchemaError, match="Prefab objects"):
        Prefab("bad", children=["x"])  # type: ignore[list-item]


def test_class_value_means_defaults() -> None:
    w = World()
    (e,) = spawn_prefab(w, Prefab("p", {Hp: Hp, Boss: Boss}))
    assert w.component(e, Hp) == Hp()
    assert w.has(e, Boss)


def test_registry_is_a_world_resource() -> None:
    w = World()
    reg = prefabs(w)
    assert w.resource(Prefabs) is reg
    g = reg.register(goblin())
    assert "goblin" in reg
    assert reg.names() == ["goblin"]
    with pytest.raises(ValueError, match="already registered"):
        reg.register(goblin())
    assert reg.register(goblin(), replace=True) is not g
    with pytest.raises(PrefabNotFoundError, match="registered: goblin"):
        spawn_prefab(w, "orc")


# --------------------------------------------------------------- spawn_prefab


def test_spawn_prefab_builds_n_trees() -> None:
    w = World()
    prefabs(w).register(goblin())
    roots = spawn_prefab(w, "goblin", n=4)
    assert len(roots) == 4
    assert len(w) == 16
    h = hierarchy(w)
    offsets, kids = h.children_of(roots)
    assert np.diff(offsets).tolist() == [2, 2, 2, 2]
    assert h.parent_of(kids).tolist() == np.repeat(roots, 2).tolist()
    assert w.get_batch(roots, Hp)["value"].tolist() == [5.0] * 4
    assert w.get_batch(kids, Hp)["armor"].tolist() == [2, 0] * 4
    assert h.depth_of(h.descendants_of(roots)).max() == 2
    boss = w.query(Boss).entities()
    assert len(boss) == 4
    assert h.depth_of(boss).tolist() == [2] * 4


def test_overrides_are_columns_per_copy() -> None:
    w = World()
    roots = spawn_prefab(
        w,
        goblin(),
        n=3,
        overrides={
            Hp: {"armor": [7, 8, 9]},
            Transform2D: {"y": np.array([1.0, 2.0, 3.0])},
            Aim: {"target": [0, 0, 0]},  # not in the prefab: added
            "hat": {Hp: Hp(0.5, 1)},
            "hat/feather": {Hp: {"value": [1.0, 2.0, 3.0]}},
        },
    )
    hp = w.get_batch(roots, Hp)
    assert hp["armor"].tolist() == [7, 8, 9]
    assert hp["value"].tolist() == [5.0] * 3  # the prefab's value, not the default
    assert w.get_batch(roots, Transform2D)["x"].tolist() == [1.0] * 3
    assert w.get_batch(roots, Transform2D)["y"].tolist() == [1.0, 2.0, 3.0]
    assert all(w.has(e, Aim) for e in roots)
    feathers = w.query(Boss).entities()
    assert sorted(w.get_batch(feathers, Hp)["value"].tolist()) == [1.0, 2.0, 3.0]


def test_root_childof_override_attaches_copies() -> None:
    w = World()
    camp = w.spawn(Boss())
    roots = spawn_prefab(w, goblin(), n=2, overrides={ChildOf: {"parent": camp}})
    h = hierarchy(w)
    assert h.children(camp).tolist() == roots.tolist()
    w.despawn(camp)
    assert len(w) == 0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({Hp: {"armor": [1, 2]}}, "expected 3"),
        ({"nope": {Hp: None}}, "name no child"),
        ({"club": Hp(1.0)}, "must map component classes"),
        ({"club": {ChildOf: {"parent": 0}}}, "ChildOf of a child"),
        ({Hp: {"armor": [1.5, 2.5, 3.5]}}, "E0003"),
    ],
)
def test_bad_overrides_leave_the_world_unchanged(
    overrides: dict[object, object],
    match: str,
    world_state: Callable[[World], Any],
) -> None:
    w = World()
    prefabs(w).register(goblin())
    spawn_prefab(w, "goblin", n=1)
    before = world_state(w)
    with pytest.raises(SchemaError, match=match):
        spawn_prefab(w, "goblin", n=3, overrides=overrides)
    assert world_state(w) == before


def test_one_spawn_batch_per_node_group(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World()
    wide = Prefab(
        "wide",
        {Hp: None},
        children=[Prefab(f"c{i}", {Hp: Hp(float(i))}) for i in range(5)]
        + [Prefab("odd", {Boss: None})],
    )
    counter = SpawnCounter(monkeypatch, w)
    roots = spawn_prefab(w, wide, n=1000)
    assert counter.calls == 3  # the root; five Hp children; the Boss child
    assert len(w) == 7000
    kids = hierarchy(w).children(roots[0])
    assert sorted(w.get_batch(kids[:5], Hp)["value"].tolist()) == [0, 1, 2, 3, 4]


def test_zero_copies_spawn_nothing() -> None:
    w = World()
    assert spawn_prefab(w, goblin(), n=0).tolist() == []
    assert len(w) == 0
    with pytest.raises(ValueError, match=">= 0"):
        spawn_prefab(w, goblin(), n=-1)


def test_spawn_prefab_through_a_command_buffer() -> None:
    w = World()
    prefabs(w).register(goblin())
    hierarchy(w)
    cmd = CommandBuffer()
    with pytest.raises(TypeError, match="registry"):
        spawn_prefab(cmd, "goblin")
    pending = spawn_prefab(
        cmd, "goblin", n=2, overrides={Hp: {"armor": [3, 4]}}, registry=prefabs(w)
    )
    assert len(w) == 0
    report = w.apply(cmd)
    roots = report.resolve(cmd, pending)
    assert len(w) == 8
    assert w.get_batch(roots, Hp)["armor"].tolist() == [3, 4]
    assert hierarchy(w).descendants_of(roots).size == 6
    w.despawn(roots[0])
    assert len(w) == 4


# ---------------------------------------------------------- instantiate_scene


def scene(w: World) -> dict[str, int]:
    """outside <- root -> (arm -> hand), (leg); refs point in and out of the tree."""
    outside = int(w.spawn(Hp(99.0)))
    root, arm, hand, leg = (int(e) for e in w.spawn_batch({Hp: None}, n=4))
    set_parent(w, [root], outside)
    set_parent(w, [arm, leg], root)
    set_parent(w, [hand], arm)
    w.set_batch([root, arm, hand, leg], Hp, {"value": [1.0, 2.0, 3.0, 4.0]})
    w.insert(root, Aim(target=hand))  # forward: hand is copied after root
    w.insert(hand, Aim(target=leg))  # sideways: leg is copied before hand
    w.insert(leg, Aim(target=outside))  # outside the subtree: kept
    w.insert(arm, Pair(refs=(hand, root)))
    return {"outside": outside, "root": root, "arm": arm, "hand": hand, "leg": leg}


def test_instantiate_scene_copies_the_subtree_and_remaps_refs() -> None:
    w = World()
    s = scene(w)
    copies = instantiate_scene(w, s["root"], n=3)
    assert len(w) == 5 + 12
    h = hierarchy(w)
    assert h.parent_of(copies).tolist() == [s["outside"]] * 3
    for root in copies:
        kids = h.children(root).tolist()
        assert len(kids) == 2
        arm, leg = sorted(kids, key=lambda e: not w.has(e, Pair))
        (hand,) = h.children(arm).tolist()
        assert w.get_batch([root, arm, hand, leg], Hp)["value"].tolist() == [1, 2, 3, 4]
        assert w.component(root, Aim).target == hand
        assert w.component(hand, Aim).target == leg
        assert w.component(leg, Aim).target == s["outside"]
        assert w.component(arm, Pair).refs == (hand, root)
    assert w.component(s["root"], Aim).target == s["hand"]  # the original untouched


def test_instantiate_scene_spawns_per_level_and_archetype(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = World()
    s = scene(w)
    counter = SpawnCounter(monkeypatch, w)
    instantiate_scene(w, s["root"], n=500)
    # levels: [root] [arm | leg] [hand]; arm and leg differ (Pair vs Aim)
    assert counter.calls == 4
    assert len(w) == 5 + 2000


def test_instantiate_scene_copies_are_independent() -> None:
    w = World()
    s = scene(w)
    a, b = instantiate_scene(w, s["root"], n=2)
    w.despawn(a)
    assert len(w) == 5 + 4
    assert hierarchy(w).descendants_of([b]).size == 3


def test_instantiate_scene_through_commands() -> None:
    w = World()
    s = scene(w)
    cmd = CommandBuffer()
    pending = instantiate_scene(w, s["root"], n=2, commands=cmd)
    assert len(w) == 5
    report = w.apply(cmd)
    roots = report.resolve(cmd, pending)
    h = hierarchy(w)
    for root in roots:
        (hand,) = h.descendants_of([root])[2:].tolist()
        assert w.component(root, Aim).target == hand
        assert h.depth_of([hand]).tolist() == [3]


def test_instantiate_scene_of_a_dead_root_is_refused(
    raises_coded: Callable[..., Any],
) -> None:
    w = World()
    e = w.spawn(Hp())
    w.despawn(e)
    with raises_coded(EntityNotAliveError, "E0001", "instantiate_scene"):
        instantiate_scene(w, e)


def test_instantiate_scene_of_a_lone_entity() -> None:
    w = World()
    e = w.spawn(Hp(3.0), Boss())
    copies = instantiate_scene(w, e, n=3)
    assert w.get_batch(copies, Hp)["value"].tolist() == [3.0] * 3
    assert all(w.has(c, Boss) for c in copies)
