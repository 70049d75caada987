"""Hierarchy: ChildOf shares one archetype; the children index answers parent, children,
ancestors, depth, descendants and order lookups in bulk and stays valid through
changes; set_parent refuses cycles and dead entities leaving the world unchanged;
despawn cascades or orphans; dangling references are found."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import (
    CommandBuffer,
    EntityNotAliveError,
    EntityRef,
    SchemaError,
    World,
    component,
    f32,
)
from archetype_ecs._hierarchy_kernels import descendants_kernel, levels_kernel
from archetype_ecs.hierarchy import (
    ChildOf,
    Hierarchy,
    HierarchyCycleError,
    dangling,
    hierarchy,
    hierarchy_order,
    set_parent,
)

# ---------------------------------------------------------------- fixtures


@component
class Name:
    v: f32 = 0.0


@component
class Marked:
    pass


@component
class Links:
    first: EntityRef = 0
    many: EntityRef[2] = (0, 0)


def tree(world: World) -> dict[str, Any]:
    """root -> (a, b); a -> (a1, a2); a1 -> a11. Plus an unrelated entity."""
    root, a, b, a1, a2, a11, loner = world.spawn_batch({Name: None}, n=7)
    set_parent(world, [a, b], root)
    set_parent(world, [a1, a2], a)
    set_parent(world, [a11], a1)
    return {
        "root": root,
        "a": a,
        "b": b,
        "a1": a1,
        "a2": a2,
        "a11": a11,
        "loner": loner,
    }


def chain(world: World, length: int) -> np.ndarray[Any, Any]:
    ids = world.spawn_batch({Name: {"v": np.arange(length + 1)}})
    set_parent(world, ids[1:], ids[:-1])
    return ids


# ------------------------------------------------------------------ storage


def test_children_of_different_parents_share_one_archetype() -> None:
    w = World()
    parents = w.spawn_batch({Name: None}, n=3)
    kids = w.spawn_batch({Name: None}, n=30)
    set_parent(w, kids, np.repeat(parents, 10))
    tables = [t for t in w.archetypes_info() if "ChildOf" in t.components]
    assert len(tables) == 1
    assert tables[0].rows == 30


def test_hierarchy_is_one_cached_resource() -> None:
    w = World()
    h = hierarchy(w)
    assert hierarchy(w) is h
    assert w.resource(Hierarchy) is h
    assert hierarchy(w, on_despawn="orphan").on_despawn == "orphan"


def test_unknown_despawn_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="cascade"):
        hierarchy(World(), on_despawn="explode")  # type: ignore[arg-type]


# ------------------------------------------------------------------ lookups


def test_parent_of_is_aligned_with_the_input() -> None:
    w = World()
    t = tree(w)
    got = hierarchy(w).parent_of([t["a1"], t["root"], t["b"], t["loner"]])
    assert got.tolist() == [t["a"], 0, t["root"], 0]
    assert got.dtype == np.uint64


def test_children_of_returns_csr_in_input_order() -> None:
    w = World()
    t = tree(w)
    offsets, kids = hierarchy(w).children_of([t["a"], t["loner"], t["root"]])
    assert offsets.tolist() == [0, 2, 2, 4]
    assert kids.tolist() == [t["a1"], t["a2"], t["a"], t["b"]]
    assert hierarchy(w).children(t["a11"]).tolist() == []


def test_ancestors_of_lists_parent_first() -> None:
    w = World()
    t = tree(w)
    h = hierarchy(w)
    assert h.ancestors_of(t["a11"]).tolist() == [t["a1"], t["a"], t["root"]]
    assert h.ancestors_of(t["root"]).tolist() == []


def test_depth_of_counts_ancestors() -> None:
    w = World()
    t = tree(w)
    ids = [t[k] for k in ("root", "a", "b", "a1", "a2", "a11", "loner")]
    assert hierarchy(w).depth_of(ids).tolist() == [0, 1, 1, 2, 2, 3, 0]


def test_descendants_of_is_breadth_first_and_excludes_the_given_ids() -> None:
    w = World()
    t = tree(w)
    h = hierarchy(w)
    got = h.descendants_of([t["root"]]).tolist()
    assert got == [t["a"], t["b"], t["a1"], t["a2"], t["a11"]]
    both = h.descendants_of([t["a"], t["a1"]]).tolist()
    assert sorted(both) == sorted([t["a2"], t["a11"]])
    assert h.descendants_of([t["loner"]]).tolist() == []


def test_hierarchy_order_puts_parents_before_children() -> None:
    w = World()
    t = tree(w)
    order = hierarchy_order(w).tolist()
    assert order == [t["root"], t["a"], t["b"], t["a1"], t["a2"], t["a11"]]
    ids, offsets = hierarchy(w).levels()
    assert ids.tolist() == order
    assert offsets.tolist() == [0, 1, 3, 5, 6]
    assert hierarchy(w).roots().tolist() == [t["root"]]


def test_hierarchy_order_is_stable_under_unrelated_moves() -> None:
    w = World()
    t = tree(w)
    before = hierarchy_order(w).tolist()
    w.insert(t["a2"], Marked)  # a2 moves table; the order is by slot, not by row
    w.insert(t["a"], Marked)
    hierarchy(w).invalidate()
    assert hierarchy_order(w).tolist() == before


def test_deep_hierarchy_of_depth_20() -> None:
    w = World()
    ids = chain(w, 20)
    h = hierarchy(w)
    assert h.depth_of(ids).tolist() == list(range(21))
    assert h.ancestors_of(ids[-1]).tolist() == ids[-2::-1].tolist()
    assert h.descendants_of(ids[:1]).tolist() == ids[1:].tolist()
    assert hierarchy_order(w).tolist() == ids.tolist()
    w.despawn(ids[0])
    assert len(w) == 0


def test_lookups_refuse_dead_ids(raises_coded: Callable[..., Any]) -> None:
    w = World()
    t = tree(w)
    w.despawn(t["b"])
    with raises_coded(EntityNotAliveError, "E0001", "depth_of", "1 of 2"):
        hierarchy(w).depth_of([t["a"], t["b"]])
    with raises_coded(EntityNotAliveError, "E0001", "children_of"):
        hierarchy(w).children_of([0])


def test_lookups_see_entities_spawned_after_the_index_was_built() -> None:
    w = World()
    t = tree(w)
    h = hierarchy(w)
    h.order()
    new = w.spawn_batch({Name: None}, n=2000)  # no ChildOf: the index only grows
    assert h.depth_of(new).max() == 0
    assert h.children_of(new)[1].size == 0
    set_parent(w, new[:3], t["b"])
    assert h.children(t["b"]).tolist() == new[:3].tolist()
    assert h.depth_of(new[:3]).tolist() == [2, 2, 2]


# ------------------------------------------------------------- invalidation


def test_index_is_rebuilt_once_per_change() -> None:
    w = World()
    t = tree(w)
    h = hierarchy(w)
    h.order()
    built = h.rebuilds
    h.depth_of([t["a"]])
    h.children_of([t["root"]])
    assert h.rebuilds == built
    w.spawn(Name())  # unrelated changes keep the index
    w.despawn(t["loner"])
    h.order()
    assert h.rebuilds == built


@pytest.mark.parametrize("how", ["set", "set_batch", "insert", "remove", "commands"])
def test_direct_childof_writes_invalidate_the_index(how: str) -> None:
    w = World()
    t = tree(w)
    h = hierarchy(w)
    assert h.parent_of([t["a2"]]).tolist() == [t["a"]]
    if how == "set":
        w.set(t["a2"], ChildOf(parent=t["b"]))
    elif how == "set_batch":
        w.set_batch([t["a2"]], ChildOf, {"parent": [t["b"]]})
    elif how == "insert":
        w.insert(t["a2"], ChildOf(parent=t["b"]))
    elif how == "remove":
        w.remove(t["a2"], ChildOf)
    else:
        cmd = CommandBuffer()
        cmd.set(t["a2"], ChildOf(parent=t["b"]))
        w.apply(cmd)
    want = 0 if how == "remove" else t["b"]
    assert h.parent_of([t["a2"]]).tolist() == [want]
    assert (t["a2"] in h.children(t["b"]).tolist()) == (how != "remove")


def test_invalidate_after_raw_view_writes() -> None:
    w = World()
    t = tree(w)
    h = hierarchy(w)
    h.order()
    for ents, link in w.query(ChildOf):
        link.parent[ents == t["a2"]] = t["b"]
    h.invalidate()
    assert h.parent_of([t["a2"]]).tolist() == [t["b"]]


def test_index_follows_snapshot_restore() -> None:
    from archetype_ecs.snapshot import restore, snapshot

    w = World()
    t = tree(w)
    h = hierarchy(w)
    snap = snapshot(w)
    set_parent(w, [t["a1"]], t["b"])
    w.despawn(t["a2"])
    assert h.children(t["a"]).tolist() == []
    restore(w, snap)
    assert hierarchy(w) is h
    assert h.children(t["a"]).tolist() == [t["a1"], t["a2"]]
    assert h.depth_of([t["a11"]]).tolist() == [3]
    w.despawn(t["root"])  # the despawn policy still applies after the restore
    assert len(w) == 1


def test_index_follows_a_load_into_a_live_world(tmp_path: Any) -> None:
    from archetype_ecs.serialization import load, save

    src = World()
    t = tree(src)
    save(src, tmp_path / "save")
    w = World()
    mine = chain(w, 2)
    h = hierarchy(w)
    assert len(h.order()) == 3
    result = load(tmp_path / "save", w)
    new = dict(zip(result.old_ids.tolist(), result.new_ids.tolist(), strict=True))
    assert len(h.order()) == 3 + 6
    assert h.parent_of([new[t["a11"]]]).tolist() == [new[t["a1"]]]
    assert h.children(mine[0]).tolist() == [mine[1]]


# --------------------------------------------------------------- set_parent


def test_set_parent_reparents_a_subtree() -> None:
    w = World()
    t = tree(w)
    set_parent(w, [t["a1"]], t["b"])
    h = hierarchy(w)
    assert h.children(t["b"]).tolist() == [t["a1"]]
    assert h.depth_of([t["a11"]]).tolist() == [3]
    assert h.ancestors_of(t["a11"]).tolist() == [t["a1"], t["b"], t["root"]]


def test_set_parent_with_zero_detaches() -> None:
    w = World()
    t = tree(w)
    set_parent(w, [t["a"], t["b"]], [0, t["a2"]])
    assert not w.has(t["a"], ChildOf)
    h = hierarchy(w)
    assert h.parent_of([t["b"]]).tolist() == [t["a2"]]
    assert h.roots().tolist() == [t["a"]]  # root has no children left


def test_set_parent_last_assignment_of_a_repeated_child_wins() -> None:
    w = World()
    t = tree(w)
    set_parent(w, [t["b"], t["b"]], [t["a"], 0])
    assert not w.has(t["b"], ChildOf)
    set_parent(w, [t["b"], t["b"]], [0, t["a2"]])
    assert w.component(t["b"], ChildOf).parent == t["a2"]


def test_set_parent_needs_one_parent_per_child(
    raises_coded: Callable[..., Any],
) -> None:
    w = World()
    t = tree(w)
    with raises_coded(SchemaError, "E0009", "2 parents for 3 children"):
        set_parent(w, [t["a"], t["b"], t["a1"]], [t["root"], t["root"]])


def test_self_parent_is_refused(world_state: Callable[[World], Any]) -> None:
    w = World()
    t = tree(w)
    before = world_state(w)
    with pytest.raises(HierarchyCycleError, match="cannot be its own parent"):
        set_parent(w, [t["b"]], t["b"])
    assert world_state(w) == before


def test_cycle_is_refused_with_the_world_unchanged(
    world_state: Callable[[World], Any],
) -> None:
    w = World()
    t = tree(w)
    before = world_state(w)
    with pytest.raises(HierarchyCycleError) as info:
        set_parent(w, [t["b"], t["a"]], [t["loner"], t["a11"]])
    msg = str(info.value)
    label = {k: f"{v & 0xFFFFFFFF}v{v >> 32}" for k, v in t.items()}
    assert f"making {label['a11']} the parent of {label['a']}" in msg
    path = f"{label['a']} -> {label['a11']} -> {label['a1']} -> {label['a']}"
    assert path in msg
    assert "Nothing was changed" in msg
    assert world_state(w) == before


def test_cycle_made_by_two_changes_together_is_refused(
    world_state: Callable[[World], Any],
) -> None:
    w = World()
    a, b = w.spawn_batch({Name: None}, n=2)
    hierarchy(w)
    before = world_state(w)
    with pytest.raises(HierarchyCycleError, match="cycle"):
        set_parent(w, [a, b], [b, a])
    assert world_state(w) == before


def test_dead_child_or_parent_is_refused(
    raises_coded: Callable[..., Any], world_state: Callable[[World], Any]
) -> None:
    w = World()
    t = tree(w)
    w.despawn(t["loner"])
    before = world_state(w)
    with raises_coded(EntityNotAliveError, "E0001", "parents are not alive"):
        set_parent(w, [t["b"]], t["loner"])
    with raises_coded(EntityNotAliveError, "E0001", "children are not alive"):
        set_parent(w, [t["loner"]], t["b"])
    assert world_state(w) == before


def test_set_parent_through_commands_with_pending_ids() -> None:
    w = World()
    t = tree(w)
    cmd = CommandBuffer()
    kid = cmd.spawn(Name(1.0))
    grandkid = cmd.spawn(Name(2.0))
    set_parent(cmd, [kid], t["b"], world=w)
    set_parent(cmd, [grandkid], kid)
    set_parent(cmd, [t["a2"]], 0)
    report = w.apply(cmd)
    k, g = report.resolve(cmd, [kid, grandkid]).tolist()
    h = hierarchy(w)
    assert h.ancestors_of(g).tolist() == [k, t["b"], t["root"]]
    assert not w.has(t["a2"], ChildOf)


def test_set_parent_through_commands_checks_against_the_world() -> None:
    w = World()
    t = tree(w)
    cmd = CommandBuffer()
    with pytest.raises(HierarchyCycleError):
        set_parent(cmd, [t["root"]], t["a11"], world=w)
    assert len(cmd) == 0


# ------------------------------------------------------------------ despawn


def test_despawn_cascades_to_all_descendants_by_default() -> None:
    w = World()
    t = tree(w)
    w.despawn(t["a"])
    alive = {k for k, v in t.items() if w.is_alive(v)}
    assert alive == {"root", "b", "loner"}
    assert hierarchy(w).children(t["root"]).tolist() == [t["b"]]


def test_cascade_with_parent_and_child_despawned_together() -> None:
    w = World()
    t = tree(w)
    w.despawn_batch([t["a1"], t["root"], t["a11"]])
    assert len(w) == 1
    assert w.is_alive(t["loner"])


def test_cascade_through_a_command_buffer() -> None:
    w = World()
    t = tree(w)
    cmd = CommandBuffer()
    cmd.despawn(t["a1"])
    cmd.insert(t["a11"], Marked)  # the despawn won: the child is gone too
    report = w.apply(cmd)
    assert not w.is_alive(t["a11"])
    assert report.dead.tolist() == [t["a11"]]


def test_orphan_policy_detaches_children_only() -> None:
    w = World()
    t = tree(w)
    hierarchy(w, on_despawn="orphan")
    w.despawn(t["a"])
    assert all(w.is_alive(t[k]) for k in ("a1", "a2", "a11"))
    assert not w.has(t["a1"], ChildOf)
    assert not w.has(t["a2"], ChildOf)
    assert w.component(t["a11"], ChildOf).parent == t["a1"]
    h = hierarchy(w)
    assert h.roots().tolist() == [t["root"], t["a1"]]
    assert dangling(w, ChildOf, "parent").size == 0


def test_orphan_policy_with_parent_and_child_despawned_together() -> None:
    w = World()
    t = tree(w)
    hierarchy(w).on_despawn = "orphan"
    w.despawn_batch([t["a"], t["a1"]])
    assert w.is_alive(t["a11"])
    assert not w.has(t["a11"], ChildOf)
    assert w.is_alive(t["a2"])
    assert not w.has(t["a2"], ChildOf)


def test_despawning_a_leaf_keeps_the_rest() -> None:
    w = World()
    t = tree(w)
    w.despawn(t["a11"])
    assert len(w) == 6
    assert hierarchy(w).children(t["a1"]).tolist() == []


# ------------------------------------------------------- cycles in raw data


def test_cycle_written_directly_is_reported_by_lookups() -> None:
    w = World()
    t = tree(w)
    w.set(t["a"], ChildOf(parent=t["a11"]))  # unchecked: plain world.set
    with pytest.raises(HierarchyCycleError, match="has a cycle") as info:
        hierarchy_order(w)
    assert "remove_batch" in str(info.value)
    # the cascade still terminates on the corrupt index
    w.despawn(t["a1"])
    assert not w.is_alive(t["a"])
    assert w.is_alive(t["root"])


# ------------------------------------------------------------------ dangling


def test_dangling_finds_refs_to_dead_entities_but_not_null() -> None:
    w = World()
    a, b = w.spawn_batch({Name: None}, n=2)
    ok, bad, null = w.spawn_batch(
        {Links: {"first": [a, b, 0], "many": [[a, 0], [0, 0], [0, 0]]}}
    )
    vec_bad = w.spawn(Links(first=a, many=(a, b)), Marked())
    w.despawn(b)
    assert dangling(w, Links, "first").tolist() == [bad]
    assert dangling(w, Links, "many").tolist() == [vec_bad]
    assert ok != null


def test_dangling_refuses_non_reference_fields(
    raises_coded: Callable[..., Any],
) -> None:
    w = World()
    with raises_coded(SchemaError, "E0005", "has no field 'nope'"):
        dangling(w, Links, "nope")
    with raises_coded(SchemaError, "E0005", "not EntityRef"):
        dangling(w, Name, "v")


# ------------------------------------------------------------------ kernels


@st.composite
def forests(draw: st.DrawFn) -> np.ndarray[Any, Any]:
    n = draw(st.integers(1, 40))
    parent = np.full(n, -1, dtype=np.int64)
    for i in range(1, n):
        if draw(st.booleans()):
            parent[i] = draw(st.integers(0, i - 1))
    perm = np.array(draw(st.permutations(range(n))), dtype=np.int64)
    out = np.full(n, -1, dtype=np.int64)  # relabel i -> perm[i]: parents may follow
    out[perm] = np.where(parent >= 0, perm[np.maximum(parent, 0)], -1)
    return out


@pytest.mark.hypothesis
@settings(max_examples=60, deadline=None)
@given(forests())
def test_levels_and_descendants_kernels_match_a_python_walk(
    parent: np.ndarray[Any, Any],
) -> None:
    from archetype_ecs._hierarchy_kernels import children_index_kernel

    offsets, children = children_index_kernel(parent)
    order, level_off, depth = levels_kernel(parent, offsets, children)
    n = len(parent)

    def walk_depth(i: int) -> int:
        d = 0
        while parent[i] >= 0:
            i, d = int(parent[i]), d + 1
        return d

    want = np.array([walk_depth(i) for i in range(n)])
    assert depth.tolist() == want.tolist()
    members = {i for i in range(n) if parent[i] >= 0 or (parent == i).any()}
    assert sorted(order.tolist()) == sorted(members)
    assert np.all(np.diff(depth[order]) >= 0)
    for d in range(len(level_off) - 1):
        assert set(depth[order[level_off[d] : level_off[d + 1]]].tolist()) == {d}
    stamp = np.zeros(n, dtype=np.int64)
    below = descendants_kernel(offsets, children, np.array([0]), stamp, 1)
    want_below = {i for i in range(n) if i != 0 and 0 in _chain(parent, i)}
    assert sorted(below.tolist()) == sorted(want_below)


def _chain(parent: np.ndarray[Any, Any], i: int) -> list[int]:
    out = []
    while parent[i] >= 0:
        i = int(parent[i])
        out.append(i)
    return out
