"""Observers: on_add / on_remove / on_set fire once per affected entity with the right
values, batched per bulk operation, in the documented order; commands they record
apply in the same sync point; cascades are bounded; structural calls are refused."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from archetype_ecs import (
    CommandBuffer,
    EntityRef,
    StructuralChangeError,
    World,
    component,
    f32,
    i32,
    on_add,
    on_remove,
    on_set,
    system,
)
from archetype_ecs.errors import ObserverCascadeError
from archetype_ecs.observers import ObserverKind, Trigger

# ---------------------------------------------------------------- fixtures


@component
class Hp:
    v: f32 = 0.0
    m: i32 = 0


@component
class Tag:
    pass


@component
class Other:
    pass


@component
class Link:
    target: EntityRef = 0


class Recorder:
    """Observer callback that records each call with the world's values at that time."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.calls: list[dict[str, Any]] = []

    def __call__(self, t: Trigger) -> None:
        w = t.world
        ids = t.entities.copy()
        readable = all(w.is_alive(e) and w.has(e, t.component) for e in ids)
        current = None
        if readable and t.component is Hp:
            current = {k: v.tolist() for k, v in w.get_batch(ids, Hp).items()}
        self.calls.append(
            {
                "label": self.label,
                "kind": t.kind,
                "component": t.component,
                "entities": ids.tolist(),
                "values": None
                if t.values is None
                else {k: v.tolist() for k, v in t.values.items()},
                "current": current,
                "readable": readable,
            }
        )


def _watch(w: World, *kinds: ObserverKind, comps: tuple[type, ...] = (Hp,)) -> Recorder:
    rec = Recorder()
    for comp in comps:
        for kind in kinds:
            w.observe(kind, comp, rec)
    return rec


def _entities_once(call: dict[str, Any]) -> list[int]:
    ents = call["entities"]
    assert len(ents) == len(set(ents)), f"an entity appears twice: {ents}"
    return ents


# ---------------------------------------------------------------- on_add


def test_on_add_fires_once_per_spawn_batch_with_values_readable() -> None:
    w = World(threads=1)
    rec = _watch(w, on_add)
    ids = w.spawn_batch({Hp: {"v": [1.0, 2.0, 3.0], "m": [4, 5, 6]}})
    (call,) = rec.calls
    assert call["kind"] is on_add
    assert call["component"] is Hp
    assert _entities_once(call) == ids.tolist()
    assert call["values"] is None
    assert call["current"] == {"v": [1.0, 2.0, 3.0], "m": [4, 5, 6]}


def test_insert_fires_on_add_for_new_and_on_set_for_present_components() -> None:
    w = World(threads=1)
    have = w.spawn_batch({Hp: {"v": [1.0, 2.0]}, Tag: None})
    lack = w.spawn_batch({Tag: None}, n=3)
    rec = _watch(w, on_add, on_set)
    ids = np.concatenate([lack[:1], have, lack[1:]])
    w.insert_batch(ids, Hp, {"v": [10.0, 20.0, 30.0, 40.0, 50.0], "m": [1, 2, 3, 4, 5]})
    by_kind = {c["kind"]: c for c in rec.calls}
    assert len(rec.calls) == 2
    added, setc = by_kind[on_add], by_kind[on_set]
    assert sorted(_entities_once(added)) == sorted(lack.tolist())
    assert _entities_once(setc) == have.tolist()
    assert setc["values"] == {"v": [20.0, 30.0], "m": [2, 3]}
    assert setc["current"] == setc["values"]
    expect = {int(lack[0]): 10.0, int(lack[1]): 40.0, int(lack[2]): 50.0}
    assert dict(zip(added["entities"], added["current"]["v"], strict=True)) == expect


def test_insert_with_repeated_ids_fires_once_per_entity_with_last_values() -> None:
    w = World(threads=1)
    ids = w.spawn_batch({Tag: None}, n=2)
    rec = _watch(w, on_add)
    w.insert_batch(ids[[0, 1, 0]], Hp, {"v": [1.0, 2.0, 3.0]})
    (call,) = rec.calls
    assert sorted(_entities_once(call)) == sorted(ids.tolist())
    assert dict(zip(call["entities"], call["current"]["v"], strict=True)) == {
        int(ids[0]): 3.0,
        int(ids[1]): 2.0,
    }


# ---------------------------------------------------------------- on_set


def test_set_batch_fires_on_set_with_exactly_the_written_fields() -> None:
    w = World(threads=1)
    a = w.spawn_batch({Hp: {"v": [1.0, 2.0], "m": [7, 8]}})
    b = w.spawn_batch({Hp: {"v": [3.0]}, Tag: None})
    rec = _watch(w, on_set)
    ids = np.concatenate([b, a])
    w.set_batch(ids, Hp, {"v": [30.0, 10.0, 20.0]})
    (call,) = rec.calls
    assert _entities_once(call) == ids.tolist()
    assert call["values"] == {"v": [30.0, 10.0, 20.0]}  # m was not written
    assert call["current"] == {"v": [30.0, 10.0, 20.0], "m": [0, 7, 8]}


def test_set_batch_with_repeated_ids_fires_once_per_entity_last_wins() -> None:
    w = World(threads=1)
    ids = w.spawn_batch({Hp: None}, n=3)
    rec = _watch(w, on_set)
    w.set_batch(ids[[2, 0, 2, 1, 0]], Hp, {"v": [1.0, 2.0, 3.0, 4.0, 5.0]})
    (call,) = rec.calls
    got = dict(zip(_entities_once(call), call["values"]["v"], strict=True))
    assert got == {int(ids[2]): 3.0, int(ids[1]): 4.0, int(ids[0]): 5.0}
    assert dict(zip(call["entities"], call["current"]["v"], strict=True)) == got


def test_set_of_one_entity_reports_every_field() -> None:
    w = World(threads=1)
    e = w.spawn(Hp(1.0, 1))
    rec = _watch(w, on_set)
    w.set(e, Hp(2.0, 3))
    (call,) = rec.calls
    assert call["entities"] == [int(e)]
    assert call["values"] == {"v": [2.0], "m": [3]}


def test_on_set_values_are_copies() -> None:
    w = World(threads=1)
    ids = w.spawn_batch({Hp: None}, n=2)
    kept: list[np.ndarray] = []
    w.observe(on_set, Hp, lambda t: kept.append(t.values["v"]))
    arr = np.array([1.0, 2.0], dtype=np.float32)
    w.set_batch(ids, Hp, {"v": arr})
    arr[:] = 9.0
    w.set_batch(ids, Hp, {"v": [5.0, 6.0]})
    assert kept[0].tolist() == [1.0, 2.0]


# ------------------------------------------------------------- on_remove


def test_on_remove_sees_values_still_readable_on_remove_and_despawn() -> None:
    w = World(threads=1)
    ids = w.spawn_batch({Hp: {"v": [1.0, 2.0, 3.0]}, Tag: None})
    rec = _watch(w, on_remove)
    w.remove_batch(ids[:1], Hp)
    w.despawn_batch(ids[[1, 2, 1]])
    first, second = rec.calls
    assert first["readable"]
    assert first["current"] == {"v": [1.0], "m": [0]}
    assert _entities_once(first) == [int(ids[0])]
    assert second["readable"]
    assert _entities_once(second) == ids[1:].tolist()
    assert second["current"] == {"v": [2.0, 3.0], "m": [0, 0]}
    assert not w.is_alive(ids[1])


def test_despawn_fires_on_remove_for_every_component_of_every_table() -> None:
    w = World(threads=1)
    a = w.spawn_batch({Hp: {"v": [1.0]}, Tag: None})
    b = w.spawn_batch({Tag: None}, n=2)
    c = w.spawn_batch({Hp: {"v": [2.0, 3.0]}})
    rec = _watch(w, on_remove, comps=(Hp, Tag))
    w.despawn_batch(np.concatenate([c, b, a]))
    assert [(x["component"], sorted(_entities_once(x))) for x in rec.calls] == [
        (Hp, sorted([*a.tolist(), *c.tolist()])),
        (Tag, sorted([*a.tolist(), *b.tolist()])),
    ]
    assert all(x["readable"] for x in rec.calls)


def test_remove_of_a_missing_component_does_not_fire() -> None:
    w = World(threads=1)
    ids = w.spawn_batch({Tag: None}, n=2)
    rec = _watch(w, on_remove)
    w.remove_batch(ids, Hp)
    assert rec.calls == []


# -------------------------------------------------------------- batching


def test_one_call_per_bulk_operation() -> None:
    w = World(threads=1)
    rec = _watch(w, on_add, on_set, on_remove)
    obs = w.observers.get(on_add, w.component_id(Hp))[0]
    ids = w.spawn_batch({Hp: None}, n=100)
    w.set_batch(ids, Hp, {"v": np.arange(100)})
    w.remove_batch(ids[:50], Hp)
    w.insert_batch(ids, Hp)  # 50 adds + 50 overwrites
    w.despawn_batch(ids)
    kinds = [c["kind"] for c in rec.calls]
    assert kinds == [on_add, on_set, on_remove, on_add, on_set, on_remove]
    assert [len(c["entities"]) for c in rec.calls] == [100, 100, 50, 50, 50, 100]
    assert (obs.calls, obs.entities_seen) == (2, 150)


def test_coalesced_commands_fire_one_call_per_run() -> None:
    w = World(threads=1)
    ids = w.spawn_batch({Tag: None}, n=6)
    rec = _watch(w, on_add, on_set)
    cmd = CommandBuffer()
    cmd.insert_batch(ids[:2], Hp)
    cmd.insert_batch(ids[2:4], Hp)
    cmd.insert(ids[4], Hp(1.0, 1))
    cmd.insert(ids[5], Hp(2.0, 2))  # four inserts of Hp: one run
    cmd.set(ids[0], Hp(5.0, 5))
    cmd.set(ids[0], Hp(6.0, 6))  # two sets of one entity: one run, last wins
    w.apply(cmd)
    assert [c["kind"] for c in rec.calls] == [on_add, on_set]
    add, setc = rec.calls
    assert _entities_once(add) == ids.tolist()
    assert _entities_once(setc) == [int(ids[0])]
    assert setc["values"] == {"v": [6.0], "m": [6]}


def test_interleaved_commands_fire_in_recording_order() -> None:
    w = World(threads=1)
    ids = w.spawn_batch({Tag: None}, n=2)
    rec = _watch(w, on_add, on_remove, comps=(Hp, Other))
    cmd = CommandBuffer()
    cmd.insert(ids[0], Hp())
    cmd.insert(ids[1], Other())
    cmd.remove(ids[0], Hp)
    cmd.insert(ids[1], Hp())
    w.apply(cmd)
    assert [(c["kind"], c["component"], c["entities"]) for c in rec.calls] == [
        (on_add, Hp, [int(ids[0])]),
        (on_add, Other, [int(ids[1])]),
        (on_remove, Hp, [int(ids[0])]),
        (on_add, Hp, [int(ids[1])]),
    ]


# ----------------------------------------------------------------- order


def test_observers_of_one_key_fire_in_registration_order() -> None:
    w = World(threads=1)
    order: list[str] = []
    for label in ("first", "second", "third"):
        w.observe(on_add, Hp, lambda t, label=label: order.append(label), name=label)
    w.spawn(Hp())
    assert order == ["first", "second", "third"]


def test_components_fire_in_component_id_order_within_one_operation() -> None:
    w = World(threads=1)
    w.component_id(Tag)  # ids: Tag < Other < Hp
    w.component_id(Other)
    order: list[str] = []
    for comp in (Hp, Other, Tag):  # registered in the other order
        w.observe(on_add, comp, lambda t: order.append(t.component.__name__))
        w.observe(on_remove, comp, lambda t: order.append("-" + t.component.__name__))
    e = w.spawn(Hp(), Other(), Tag())
    w.despawn(e)
    assert order == ["Tag", "Other", "Hp", "-Tag", "-Other", "-Hp"]


def test_on_add_from_command_spawn_sees_resolved_entity_refs() -> None:
    w = World(threads=1)
    seen: list[tuple[int, int]] = []

    def check(t: Trigger) -> None:
        tgt = t.world.get_batch(t.entities, Link)["target"]
        seen.extend((int(e), int(x)) for e, x in zip(t.entities, tgt, strict=True))

    w.observe(on_add, Link, check)
    cmd = CommandBuffer()
    p = cmd.spawn(Hp())
    cmd.spawn(Link(target=p))
    report = w.apply(cmd)
    real_p, real_link = report.spawned.tolist()
    assert seen == [(real_link, real_p)]


# ----------------------------------------------- commands from observers


def test_observer_commands_apply_after_a_direct_call() -> None:
    w = World(threads=1)
    w.observe(on_add, Hp, lambda t: t.commands.insert_batch(t.entities, Tag))
    ids = w.spawn_batch({Hp: None}, n=3)
    assert all(w.has(e, Tag) for e in ids)


def test_observer_commands_apply_in_the_same_sync_point() -> None:
    w = World(threads=1)
    w.observe(on_add, Hp, lambda t: t.commands.insert_batch(t.entities, Tag))
    w.observe(
        on_add,
        Tag,
        lambda t: t.commands.set_batch(t.entities, Hp, {"v": [9.0] * len(t.entities)}),
    )
    seen: list[tuple[int, list[float]]] = []

    def spawner(ctx):
        if ctx.time.frame == 1:
            ctx.commands.spawn_batch({Hp: None}, n=2)

    def look(ctx):
        vals = [v for _, hp, _ in ctx.query(Hp, Tag) for v in hp.v.tolist()]
        seen.append((ctx.time.frame, vals))

    w.add_system(
        system(spawner, commands=True),
        system(look, reads=[Hp, Tag], phase="post_update"),
    )
    w.step()
    assert seen == [(1, [9.0, 9.0])]


def test_observer_commands_in_a_sync_point_follow_the_system_buffers() -> None:
    w = World(threads=1)
    w.observe(
        on_add,
        Tag,
        lambda t: t.commands.set_batch(t.entities, Hp, {"v": [1.0] * len(t.entities)}),
    )
    e = w.spawn(Hp())

    def first(ctx):
        ctx.commands.insert(e, Tag())

    def second(ctx):
        ctx.commands.set(e, Hp(2.0, 0))

    w.add_system(
        system(first, commands=True),
        system(second, commands=True, after=["first"]),
    )
    w.step()
    # both system buffers apply, then the observer's set, in the same sync point
    assert w.component(e, Hp).v == 1.0


# ----------------------------------------------------------------- cascades


def test_cascade_beyond_the_bound_raises_naming_the_chain() -> None:
    w = World(threads=1)
    w.max_observer_depth = 4

    def to_other(t: Trigger) -> None:
        t.commands.remove_batch(t.entities, Tag)
        t.commands.insert_batch(t.entities, Other)

    def to_tag(t: Trigger) -> None:
        t.commands.remove_batch(t.entities, Other)
        t.commands.insert_batch(t.entities, Tag)

    w.observe(on_add, Tag, to_other)
    w.observe(on_add, Other, to_tag)
    with pytest.raises(ObserverCascadeError) as err:
        w.spawn(Tag())
    msg = str(err.value)
    assert "max_observer_depth=4" in msg
    assert "to_other -> to_tag -> to_other -> to_tag -> to_other" in msg
    # the world is usable afterwards and the pending cascade is gone
    w.observers.by_key.clear()
    w.spawn(Hp())
    assert w.query(Hp).count() == 1


def test_cascade_within_the_bound_completes() -> None:
    w = World(threads=1)
    w.max_observer_depth = 3
    steps: list[int] = []

    def bump(t: Trigger) -> None:
        v = t.values["v"]
        steps.append(int(v[0]))
        keep = v < 3
        if keep.any():
            t.commands.set_batch(t.entities[keep], Hp, {"v": v[keep] + 1})

    w.observe(on_set, Hp, bump)
    e = w.spawn(Hp())
    w.set(e, Hp(1.0, 0))
    assert steps == [1, 2, 3]
    assert w.component(e, Hp).v == 3.0


def test_cascade_from_a_system_sync_point_is_bounded_too() -> None:
    w = World(threads=1)
    w.max_observer_depth = 2
    w.observe(
        on_set,
        Hp,
        lambda t: t.commands.set_batch(t.entities, Hp, {"v": t.values["v"] + 1}),
        name="again",
    )
    e = w.spawn(Hp())
    w.add_system(
        system(lambda ctx: ctx.commands.set(e, Hp(1.0, 0)), name="poke", commands=True)
    )
    with pytest.raises(ObserverCascadeError, match="again -> again"):
        w.step()


# -------------------------------------------------------- structural refusal


@pytest.mark.parametrize(
    "op",
    [
        lambda w, t: w.spawn(Hp()),
        lambda w, t: w.despawn_batch(t.entities),
        lambda w, t: w.insert_batch(t.entities, Tag),
        lambda w, t: w.remove_batch(t.entities, Hp),
        lambda w, t: w.apply(CommandBuffer()),
    ],
    ids=["spawn", "despawn", "insert", "remove", "apply"],
)
def test_structural_calls_inside_an_observer_are_refused(op: Any) -> None:
    w = World(threads=1)
    w.observe(on_add, Hp, lambda t: op(t.world, t))
    with pytest.raises(StructuralChangeError, match=r"\[E0007\].*inside an observer"):
        w.spawn_batch({Hp: None}, n=2)
    assert not w._in_observer
    w.observers.by_key.clear()
    w.spawn(Hp())  # the world still accepts changes


def test_failing_observer_leaves_no_pending_commands() -> None:
    w = World(threads=1)
    w.observe(
        on_add, Hp, lambda t: t.commands.insert_batch(t.entities, Tag), name="tagger"
    )

    def boom(t: Trigger) -> None:
        raise RuntimeError("boom")

    w.observe(on_add, Hp, boom)
    with pytest.raises(RuntimeError, match="boom"):
        w.spawn(Hp())
    assert w.query(Tag).count() == 0
    w.observers.by_key.clear()
    w.spawn(Other())  # an unrelated call must not apply the failed call's commands
    assert w.query(Tag).count() == 0


def test_observer_counters_and_names() -> None:
    w = World(threads=1)

    def named_cb(t: Trigger) -> None:
        pass

    obs = w.observe(on_add, Hp, named_cb)
    anon = w.observe(on_add, Hp, lambda t: None, name="custom")
    w.spawn_batch({Hp: None}, n=4)
    w.spawn(Hp())
    assert (obs.name, anon.name) == ("named_cb", "custom")
    assert (obs.calls, obs.entities_seen) == (2, 5)
    assert Counter(o.name for o in w.observers.all()) == {"named_cb": 1, "custom": 1}
