"""Change detection: per-row added / changed ticks, what stamps them (direct calls,
commands, kernel and Python systems), and ``added=`` / ``changed=`` filters in
systems, checked against a plain-Python reference of every write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archetype_ecs import (
    CommandBuffer,
    World,
    component,
    every,
    f32,
    i32,
    i64,
    njit,
    resource_equals,
    system,
)
from archetype_ecs.errors import QueryFilterError
from archetype_ecs.table import added_key, changed_key

# ---------------------------------------------------------------- fixtures


@component
class Pos:
    x: f32 = 0.0


@component
class Vel:
    dx: f32 = 0.0


@component
class Flag:
    on: i32 = 0


@component
class Seen:
    ch: i64 = 0
    ad: i64 = 0


@njit
def k_mask(x, on):
    hit = np.zeros(x.shape[0], dtype=np.bool_)
    for i in range(x.shape[0]):
        if on[i] != 0:
            x[i] += 1.0
            hit[i] = True
    return hit


@njit
def k_all(x, dx):
    for i in range(x.shape[0]):
        x[i] += dx[i]


@njit
def k_filt(rows, x, dx):
    for i in rows:
        x[i] += 1.0


@njit
def k_filt_mask(rows, x, dx):
    hit = np.zeros(rows.shape[0], dtype=np.bool_)
    for k in range(rows.shape[0]):
        i = rows[k]
        if dx[i] > 1.0:
            x[i] += 1.0
            hit[k] = True
    return hit


@njit
def k_read(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i]
    return s


@njit
def k_watch(rows, x, ch, ad, frame, which):
    for i in rows:
        if which == 0:
            ch[i] = frame
        else:
            ad[i] = frame


def _since(world: World, comp: type, since: int, *, added: bool = False) -> list[int]:
    """Ids whose ``comp`` changed (or was added) after tick ``since``, sorted."""
    q = world.query(comp, **{("added" if added else "changed"): [comp]})
    return sorted(int(e) for ents, _, _ in q.iter_since(since) for e in ents)


def _fresh(world: World) -> int:
    """Move past the ticks of the setup; returns the tick before the next stamp."""
    world.change_tick += 1
    return world.change_tick - 1


def _ticks(world: World, e: int, comp: type) -> tuple[int, int]:
    """(added, changed) ticks of one entity's component."""
    slot = int(e) & 0xFFFF_FFFF
    t = world.tables[int(world.entities.table[slot])]
    row = int(world.entities.row[slot])
    name = comp.__ecs_schema__.name
    return int(t.column(added_key(name))[row]), int(t.column(changed_key(name))[row])


# --------------------------------------------------------------- stamping


def test_tracking_stamps_existing_rows_at_tick_one_and_new_rows_now() -> None:
    w = World(threads=1)
    ids = w.spawn_batch({Pos: None}, n=3)
    w.change_tick = 7
    w.track_changes(Pos)
    # existing rows count from tick 1, so only systems that never ran see them
    assert [_ticks(w, e, Pos) for e in ids] == [(1, 1)] * 3
    later = w.spawn_batch({Pos: None, Vel: None}, n=2)  # a new table is tracked too
    assert [_ticks(w, e, Pos) for e in later] == [(7, 7)] * 2


def test_set_batch_and_set_stamp_exactly_the_rows_written() -> None:
    w = World(threads=1)
    w.track_changes(Pos)
    ids = w.spawn_batch({Pos: None}, n=6)
    more = w.spawn_batch({Pos: None, Vel: None}, n=3)
    w.change_tick = 10
    w.set_batch(np.array([ids[4], more[1], ids[1]]), Pos, {"x": [1.0, 2.0, 3.0]})
    w.change_tick = 11
    w.set(ids[0], Pos(5.0))
    assert _since(w, Pos, 9) == sorted(
        int(e) for e in (ids[4], more[1], ids[1], ids[0])
    )
    assert _since(w, Pos, 10) == [int(ids[0])]
    assert _since(w, Pos, 9, added=True) == []
    assert _ticks(w, ids[4], Pos) == (1, 10)


def test_commands_stamp_exactly_the_rows_they_touch() -> None:
    w = World(threads=1)
    w.track_changes(Pos)
    ids = w.spawn_batch({Pos: None}, n=5)
    lack = w.spawn_batch({Vel: None}, n=2)
    w.change_tick = 20
    cmd = CommandBuffer()
    cmd.set_batch(ids[[3, 0, 3]], Pos, {"x": [1.0, 2.0, 3.0]})
    cmd.insert(lack[1], Pos(1.0))  # added
    cmd.insert(ids[2], Pos(2.0))  # present: changed only
    cmd.spawn(Pos())
    report = w.apply(cmd)
    new = int(report.spawned[0])
    assert _since(w, Pos, 19) == sorted(
        [int(ids[3]), int(ids[0]), int(lack[1]), int(ids[2]), new]
    )
    assert _since(w, Pos, 19, added=True) == sorted([int(lack[1]), new])


def test_moving_rows_between_tables_keeps_ticks() -> None:
    w = World(threads=1)
    w.track_changes(Pos)
    ids = w.spawn_batch({Pos: None}, n=5)
    w.change_tick = 4
    w.set_batch(ids[4:], Pos, {"x": [1.0]})
    w.change_tick = 9
    w.insert_batch(ids[:2], Vel)  # rows 0, 1 move; row 4 is swapped into a hole
    w.remove_batch(ids[1:2], Vel)  # and back
    w.despawn(ids[2])
    assert [_ticks(w, e, Pos) for e in ids[[0, 1, 3, 4]]] == [
        (1, 1),
        (1, 1),
        (1, 1),
        (1, 4),
    ]
    assert _since(w, Pos, 1) == [int(ids[4])]


def test_remove_then_insert_counts_as_added_again() -> None:
    w = World(threads=1)
    w.track_changes(Pos)
    (e,) = w.spawn_batch({Pos: None, Vel: None}, n=1)
    w.change_tick = 5
    w.remove(e, Pos)
    w.change_tick = 6
    w.insert(e, Pos(3.0))
    assert _ticks(w, e, Pos) == (6, 6)


def test_writes_through_plain_query_views_stamp_nothing() -> None:
    w = World(threads=1)
    w.track_changes(Pos)
    w.spawn_batch({Pos: None}, n=3)
    w.change_tick = 5
    for _, pos in w.query(Pos):
        pos.x[:] = 1.0
    assert _since(w, Pos, 1) == []


def test_filtered_query_needs_a_reference_tick() -> None:
    w = World(threads=1)
    w.spawn_batch({Pos: None}, n=2)
    q = w.query(Pos, changed=[Pos])
    with pytest.raises(QueryFilterError, match="reference tick"):
        list(q)
    with pytest.raises(QueryFilterError, match="since"):
        q.for_each(k_read)


# --------------------------------------------------------- system stamping


def _kernel_world() -> tuple[World, np.ndarray, np.ndarray]:
    w = World(threads=1)
    w.track_changes(Pos, Vel)
    a = w.spawn_batch({Pos: None, Flag: {"on": [1, 0, 0, 1]}})
    b = w.spawn_batch({Pos: None, Vel: {"dx": [1.0, 1.0, 1.0]}, Flag: None})
    return w, a, b


def test_kernel_writing_stamps_every_row_handed_to_it() -> None:
    w, _a, b = _kernel_world()
    w.add_system(system(k_all, query=[Pos, Vel], writes=[Pos]))
    since = _fresh(w)
    w.step()
    tick = w.schedule.system("k_all").last_run
    assert _since(w, Pos, since) == sorted(b.tolist())
    assert {_ticks(w, e, Pos)[1] for e in b} == {tick}


def test_kernel_bool_result_stamps_only_flagged_rows() -> None:
    w, a, _b = _kernel_world()
    w.add_system(system(k_mask, query=[Pos, Flag], writes=[Pos]))
    since = _fresh(w)
    w.step()
    assert _since(w, Pos, since) == sorted([int(a[0]), int(a[3])])
    (row,) = [r for r in w.stats().to_pylist() if r["name"] == "k_mask"]
    assert row["rows_last"] == 7  # rows handed, not rows stamped


def test_reading_kernel_stamps_nothing() -> None:
    w, _a, _b = _kernel_world()
    w.add_system(system(k_read, query=[Pos]))
    since = _fresh(w)
    w.step()
    assert _since(w, Pos, since) == []


def test_filtered_kernel_stamps_only_the_rows_it_was_handed() -> None:
    w, _a, b = _kernel_world()
    w.add_system(system(k_filt, query=[Pos, Vel], changed=[Vel], writes=[Pos]))
    w.step()  # first run: every row passes
    w.set_batch(b[1:2], Vel, {"dx": [5.0]})
    since = w.change_tick - 1
    w.step()
    assert _since(w, Pos, since) == [int(b[1])]
    assert w.get_batch(b, Pos)["x"].tolist() == [1.0, 2.0, 1.0]


def test_filtered_kernel_bool_result_flags_the_rows_it_was_handed() -> None:
    w, _a, b = _kernel_world()
    w.add_system(system(k_filt_mask, query=[Pos, Vel], changed=[Vel], writes=[Pos]))
    w.step()  # first run: every row handed, none has dx > 1
    w.set_batch(b, Vel, {"dx": [5.0, 0.5, 7.0]})
    w.set_batch(b[:1], Vel, {"dx": [0.25]})
    since = _fresh(w)
    w.step()  # all three handed; only b[2] has dx > 1
    assert _since(w, Pos, since) == [int(b[2])]
    assert w.get_batch(b, Pos)["x"].tolist() == [0.0, 0.0, 1.0]


def test_python_writer_stamps_every_row_its_loops_covered() -> None:
    w, _a, b = _kernel_world()

    def nudge(ctx):
        for _, pos, _ in ctx.query(Pos, Vel):
            pos.x[:1] += 1.0  # writes one row, all rows of the table count

    w.add_system(system(nudge, reads=[Vel], writes=[Pos]))
    since = _fresh(w)
    w.step()
    assert _since(w, Pos, since) == sorted(b.tolist())


def test_python_writer_leaving_its_loop_early_still_stamps() -> None:
    w, _a, b = _kernel_world()

    def first_only(ctx):
        for _, pos, _ in ctx.query(Pos, Vel):
            pos.x[0] = 5.0
            break

    w.add_system(system(first_only, reads=[Vel], writes=[Pos]))
    since = _fresh(w)
    w.step()
    assert w.get_batch(b, Pos)["x"].tolist() == [5.0, 0.0, 0.0]
    assert _since(w, Pos, since) == sorted(b.tolist())


# ----------------------------------------------------------- system filters


def test_changed_filter_kernel_sees_rows_changed_since_its_last_run() -> None:
    w, _a, _b = _kernel_world()
    w.spawn_batch({Pos: None, Seen: None}, n=2)
    seen_ids = w.query(Pos, Seen).entities()
    w.add_system(
        system(
            k_watch,
            query=[Pos, Seen],
            changed=[Pos],
            writes=[Seen],
            args=lambda ctx: (ctx.time.frame, 0),
        )
    )

    def seen_at(frame: int) -> list[int]:
        ch = w.get_batch(seen_ids, Seen)["ch"]
        return [int(e) for e, f in zip(seen_ids, ch, strict=True) if f == frame]

    w.step()
    assert seen_at(1) == seen_ids.tolist()  # first run: everything
    w.step()
    assert seen_at(2) == []  # nothing written since
    w.set_batch(seen_ids[1:], Pos, {"x": [3.0]})
    w.step()
    assert seen_at(3) == [int(seen_ids[1])]
    w.step()
    assert seen_at(4) == []


def test_system_does_not_see_its_own_writes() -> None:
    w, a, b = _kernel_world()
    got: list[tuple[int, list[int]]] = []

    def self_writer(ctx):
        for ents, rows, pos in ctx.query(Pos, changed=[Pos]):
            got.append((ctx.time.frame, ents.tolist()))
            pos.x[rows] += 1.0

    w.add_system(system(self_writer, writes=[Pos]))
    w.run(3)
    # only the first run sees rows (one item per archetype); later runs see nothing
    assert {frame for frame, _ in got} == {1}
    assert sorted(e for _, ents in got for e in ents) == sorted(
        [*a.tolist(), *b.tolist()]
    )


def test_python_system_change_filter_works_on_first_use() -> None:
    w = World(threads=1)  # Pos is not tracked before the system first runs
    ids = w.spawn_batch({Pos: None}, n=3)
    got: list[tuple[list[int], list[int]]] = []

    def watch(ctx):
        for ents, rows, pos in ctx.query(Pos, changed=[Pos]):
            got.append((ents.tolist(), rows.tolist()))
            assert not pos.x.flags.writeable

    w.add_system(system(watch, reads=[Pos]))
    w.step()
    w.step()
    w.set_batch(ids[2:], Pos, {"x": [1.0]})
    w.step()
    assert got == [(ids.tolist(), [0, 1, 2]), ([int(ids[2])], [2])]


def test_added_filter_sees_only_new_rows() -> None:
    w = World(threads=1)
    w.track_changes(Pos)
    first = w.spawn_batch({Pos: None}, n=2)
    got: list[list[int]] = []
    w.add_system(
        system(
            lambda ctx: got.append(
                sorted(
                    int(e) for ents, _, _ in ctx.query(Pos, added=[Pos]) for e in ents
                )
            ),
            name="newcomers",
            reads=[Pos],
        )
    )
    w.step()
    w.set_batch(first, Pos, {"x": [1.0, 2.0]})  # changed, not added
    w.step()
    late = w.spawn_batch({Pos: None, Vel: None}, n=1)
    moved = w.spawn_batch({Vel: None}, n=1)
    w.insert(moved[0], Pos())
    w.insert(first[0], Pos(9.0))  # overwrite: not added
    w.step()
    assert got == [sorted(first.tolist()), [], sorted([int(late[0]), int(moved[0])])]


def test_filter_component_outside_the_query_is_implied_required() -> None:
    w = World(threads=1)
    w.track_changes(Vel)
    w.spawn_batch({Pos: None}, n=2)
    both = w.spawn_batch({Pos: None, Vel: None}, n=2)
    got: list[list[int]] = []

    def body(ctx):
        got.append(
            sorted(int(e) for ents, _, _ in ctx.query(Pos, changed=[Vel]) for e in ents)
        )

    w.add_system(system(body, name="filter_only", reads=[Pos, Vel]))
    w.step()
    w.set_batch(both[1:], Vel, {"dx": [1.0]})
    w.step()
    assert got == [sorted(both.tolist()), [int(both[1])]]


def test_added_and_changed_filters_combine_with_and() -> None:
    w = World(threads=1)
    w.track_changes(Pos, Vel)
    old = w.spawn_batch({Pos: None, Vel: None}, n=2)
    got: list[list[int]] = []

    def both(ctx):
        got.append(
            sorted(
                int(e)
                for ents, _, _, _ in ctx.query(Pos, Vel, added=[Pos], changed=[Vel])
                for e in ents
            )
        )

    w.add_system(system(both, reads=[Pos, Vel]))
    w.step()
    new = w.spawn_batch({Pos: None, Vel: None}, n=2)
    w.set_batch(old, Vel, {"dx": [1.0, 1.0]})  # changed Vel but Pos not added
    w.step()
    assert got == [sorted(old.tolist()), sorted(new.tolist())]


def test_skipped_system_sees_changes_since_its_last_real_run() -> None:
    w = World(threads=1)
    w.track_changes(Pos)
    ids = w.spawn_batch({Pos: None}, n=4)
    got: list[tuple[int, list[int]]] = []
    w.add_system(
        system(
            lambda ctx: got.append(
                (
                    ctx.time.frame,
                    sorted(
                        int(e)
                        for ents, _, _ in ctx.query(Pos, changed=[Pos])
                        for e in ents
                    ),
                )
            ),
            name="every2",
            reads=[Pos],
            run_if=every(2),
        )
    )
    for f in range(1, 5):
        w.set_batch(ids[f - 1 : f], Pos, {"x": [float(f)]})
        w.step()
    assert got == [(2, sorted(ids.tolist())), (4, sorted(ids[2:4].tolist()))]


# -------------------------------------------------------- reference model


@dataclass
class Switches:
    kall: bool = False
    pyw: bool = False


@dataclass
class Plan:
    set_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    set_x: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    ins_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    spawn_n: int = 0


class Reference:
    """Every write in order: the sequence number of the last add / change per entity.

    A filter of a system that last ran at sequence ``s`` passes the rows written after
    ``s``; the system's own run takes a fresh sequence number.
    """

    def __init__(self) -> None:
        self.seq = 0
        self.comps: dict[int, set[type]] = {}
        self.added: dict[type, dict[int, int]] = {Pos: {}, Vel: {}}
        self.changed: dict[type, dict[int, int]] = {Pos: {}, Vel: {}}
        self.flag: dict[int, int] = {}
        self.last: dict[str, int] = {}

    def tick(self) -> int:
        self.seq += 1
        return self.seq

    def has(self, e: int, *cs: type) -> bool:
        return all(c in self.comps[e] for c in cs)

    def spawn(self, ids: list[int], cs: set[type]) -> None:
        s = self.tick()
        for e in ids:
            self.comps[e] = set(cs)
            self.flag[e] = 0
            for c in cs & {Pos, Vel}:
                self.added[c][e] = self.changed[c][e] = s

    def write(self, ids: list[int], c: type) -> None:
        s = self.tick()
        for e in ids:
            self.changed[c][e] = s

    def insert(self, ids: list[int], c: type) -> None:
        s = self.tick()
        for e in ids:
            if c not in self.comps[e]:
                self.comps[e].add(c)
                self.added[c][e] = s
            self.changed[c][e] = s

    def remove(self, ids: list[int], c: type) -> None:
        self.tick()
        for e in ids:
            self.comps[e].discard(c)
            self.added[c].pop(e, None)
            self.changed[c].pop(e, None)

    def despawn(self, ids: list[int]) -> None:
        self.tick()
        for e in ids:
            del self.comps[e]
            del self.flag[e]
            for c in (Pos, Vel):
                self.added[c].pop(e, None)
                self.changed[c].pop(e, None)

    def rename(
        self, expected: dict[str, list[int]], new: list[int]
    ) -> dict[str, list[int]]:
        """Swap placeholder ids (negative) for the real ids of spawned entities.

        All placeholders of a frame are alike (same components, same ticks), so any
        one-to-one mapping gives the same sets.
        """
        mapping = dict(zip(sorted(e for e in self.comps if e < 0), new, strict=True))
        for table in (
            self.comps,
            self.flag,
            *self.added.values(),
            *self.changed.values(),
        ):
            for p, real in mapping.items():
                if p in table:
                    table[real] = table.pop(p)
        return {k: sorted(mapping.get(e, e) for e in v) for k, v in expected.items()}

    def run(
        self,
        name: str,
        need: tuple[type, ...],
        added: tuple[type, ...] = (),
        changed: tuple[type, ...] = (),
    ) -> list[int]:
        """A filtered system run: the ids it is handed; takes a sequence number."""
        last = self.last.get(name, -1)
        out = sorted(
            e
            for e in self.comps
            if self.has(e, *need)
            and all(self.added[c][e] > last for c in added)
            and all(self.changed[c][e] > last for c in changed)
        )
        self.last[name] = self.tick()
        return out


def _draw_ids(data: st.DataObject, pool: list[int], label: str) -> list[int]:
    if not pool:
        return []
    return data.draw(st.lists(st.sampled_from(pool), max_size=6), label=label)


ARCHETYPES = {"PV": {Pos, Vel}, "P": {Pos}, "V": {Vel}}


def _direct_op(w: World, ref: Reference, data: st.DataObject) -> None:
    alive = sorted(ref.comps)
    with_pos = [e for e in alive if ref.has(e, Pos)]
    with_vel = [e for e in alive if ref.has(e, Vel)]
    op = data.draw(
        st.sampled_from(
            [
                "spawn",
                "set_pos",
                "set_vel",
                "ins_pos",
                "ins_vel",
                "rm_pos",
                "rm_vel",
                "despawn",
            ]
        ),
        label="op",
    )
    if op == "spawn":
        kind = data.draw(st.sampled_from(sorted(ARCHETYPES)), label="archetype")
        n = data.draw(st.integers(1, 4), label="n")
        cs = ARCHETYPES[kind]
        ids = w.spawn_batch({**dict.fromkeys(cs), Flag: None, Seen: None}, n=n)
        ref.spawn([int(e) for e in ids], cs | {Flag, Seen})
    elif op in ("set_pos", "set_vel"):
        comp, pool = (Pos, with_pos) if op == "set_pos" else (Vel, with_vel)
        ids = _draw_ids(data, pool, op)
        if ids:
            field_name = "x" if comp is Pos else "dx"
            w.set_batch(np.array(ids, np.uint64), comp, {field_name: np.ones(len(ids))})
            ref.write(sorted(set(ids)), comp)
    elif op in ("ins_pos", "ins_vel"):
        comp = Pos if op == "ins_pos" else Vel
        ids = _draw_ids(data, alive, op)
        if ids:
            w.insert_batch(np.array(ids, np.uint64), comp)
            ref.insert(sorted(set(ids)), comp)
    elif op in ("rm_pos", "rm_vel"):
        comp = Pos if op == "rm_pos" else Vel
        ids = _draw_ids(data, alive, op)
        if ids:
            w.remove_batch(np.array(ids, np.uint64), comp)
            ref.remove(sorted(set(ids)), comp)
    else:
        ids = _draw_ids(data, alive, op)
        if ids:
            w.despawn_batch(np.array(ids, np.uint64))
            ref.despawn(sorted(set(ids)))


def _build_world(
    pre_track: bool,
) -> tuple[World, dict[str, list[tuple[int, list[int]]]]]:
    w = World(threads=1)
    if pre_track:
        w.track_changes(Pos, Vel)
    w.insert_resource(Switches())
    w.insert_resource(Plan())
    log: dict[str, list[tuple[int, list[int]]]] = {}

    def watcher(name: str, *need: type, **filters: list[type]):
        def body(ctx):
            ids = [
                int(e) for ents, *_ in ctx.query(Pos, *need, **filters) for e in ents
            ]
            log.setdefault(name, []).append((ctx.time.frame, sorted(ids)))

        return body

    def py_writer(ctx):
        for _, pos, _ in ctx.query(Pos, Vel):
            pos.x += 0.5

    def commander(ctx):
        plan = ctx.resource(Plan)
        if len(plan.set_ids):
            ctx.commands.set_batch(plan.set_ids, Pos, {"x": plan.set_x})
        if len(plan.ins_ids):
            ctx.commands.insert_batch(plan.ins_ids, Pos)
        if plan.spawn_n:
            ctx.commands.spawn_batch(
                {Pos: None, Flag: None, Seen: None}, n=plan.spawn_n
            )

    w.add_system(
        system(
            watcher("w0", changed=[Pos]),
            name="w0",
            reads=[Pos],
            phase="pre_update",
            run_if=every(2),
        ),
        system(watcher("w1", changed=[Pos]), name="w1", reads=[Pos]),
        system(k_mask, query=[Pos, Flag], writes=[Pos], after=["w1"]),
        system(
            k_all,
            query=[Pos, Vel],
            writes=[Pos],
            after=["k_mask"],
            run_if=resource_equals(Switches, "kall", True),
        ),
        system(k_filt, query=[Pos, Vel], changed=[Vel], writes=[Pos], after=["k_all"]),
        system(
            py_writer,
            reads=[Vel],
            writes=[Pos],
            after=["k_filt"],
            run_if=resource_equals(Switches, "pyw", True),
        ),
        system(watcher("w2", added=[Pos]), name="w2", reads=[Pos], after=["py_writer"]),
        system(commander, resources=[Plan], commands=True, after=["w2"]),
        system(
            k_watch,
            name="wk_changed",
            query=[Pos, Seen],
            changed=[Pos],
            writes=[Seen],
            args=lambda ctx: (ctx.time.frame, 0),
            after=["commander"],
        ),
        system(
            watcher("w3", changed=[Pos]), name="w3", reads=[Pos], phase="post_update"
        ),
        system(
            watcher("w4", Vel, added=[Pos], changed=[Vel]),
            name="w4",
            reads=[Pos, Vel],
            phase="post_update",
            run_if=every(3),
        ),
        system(
            k_watch,
            name="wk_added",
            query=[Pos, Seen],
            added=[Pos],
            writes=[Seen],
            args=lambda ctx: (ctx.time.frame, 1),
            phase="post_update",
        ),
    )
    return w, log


def _reference_frame(
    ref: Reference, frame: int, sw: Switches, plan: dict[str, Any]
) -> dict[str, list[int]]:
    """What each filtered system is handed this frame, in plan order; applies writes.

    Entities spawned by the commander's buffer get placeholder ids -1, -2, ...
    (:meth:`Reference.rename` swaps in the real ids after the step).
    """
    seen: dict[str, list[int]] = {}
    if frame % 2 == 0:
        seen["w0"] = ref.run("w0", (Pos,), changed=(Pos,))
    seen["w1"] = ref.run("w1", (Pos,), changed=(Pos,))
    ref.write([e for e in sorted(ref.comps) if ref.has(e, Pos) and ref.flag[e]], Pos)
    pv = sorted(e for e in ref.comps if ref.has(e, Pos, Vel))
    if sw.kall:
        ref.write(pv, Pos)  # k_all: every row handed
    ref.write(ref.run("k_filt", (Pos, Vel), changed=(Vel,)), Pos)
    if sw.pyw:
        ref.write(pv, Pos)  # py_writer: every row of the tables its loop covered
    seen["w2"] = ref.run("w2", (Pos,), added=(Pos,))
    seen["wk_changed"] = ref.run("wk_changed", (Pos, Seen), changed=(Pos,))
    # the sync point of update applies the commander's buffer
    if plan["set_ids"]:
        ref.write(sorted(set(plan["set_ids"])), Pos)
    if plan["ins_ids"]:
        ref.insert(sorted(set(plan["ins_ids"])), Pos)
    if plan["spawn_n"]:
        ref.spawn(list(range(-1, -plan["spawn_n"] - 1, -1)), {Pos, Flag, Seen})
    seen["w3"] = ref.run("w3", (Pos,), changed=(Pos,))
    if frame % 3 == 0:
        seen["w4"] = ref.run("w4", (Pos, Vel), added=(Pos,), changed=(Vel,))
    seen["wk_added"] = ref.run("wk_added", (Pos, Seen), added=(Pos,))
    return seen


def _observed_frame(
    w: World, log: dict[str, list[tuple[int, list[int]]]], frame: int
) -> dict[str, list[int]]:
    seen = {name: ids for name, runs in log.items() for f, ids in runs if f == frame}
    for name, which in (("wk_changed", "ch"), ("wk_added", "ad")):
        ids = [
            int(e)
            for ents, _, s in w.query(Pos, Seen)
            for e, f in zip(ents, getattr(s, which), strict=True)
            if f == frame
        ]
        seen[name] = sorted(ids)
    return seen


@pytest.mark.hypothesis
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_change_filters_match_a_reference_of_every_write(data: st.DataObject) -> None:
    pre_track = data.draw(st.booleans(), label="pre_track")
    w, log = _build_world(pre_track)
    ref = Reference()
    frames = data.draw(st.integers(1, 6), label="frames")
    for frame in range(1, frames + 1):
        for _ in range(data.draw(st.integers(0, 4), label="direct ops")):
            _direct_op(w, ref, data)
        alive = sorted(ref.comps)
        flags = {e: data.draw(st.integers(0, 1)) for e in alive}
        if alive:
            w.set_batch(
                np.array(alive, np.uint64), Flag, {"on": [flags[e] for e in alive]}
            )
        ref.flag.update(flags)
        sw = Switches(kall=data.draw(st.booleans()), pyw=data.draw(st.booleans()))
        w.insert_resource(sw)
        with_pos = [e for e in alive if ref.has(e, Pos)]
        plan = {
            "set_ids": _draw_ids(data, with_pos, "cmd set"),
            "ins_ids": _draw_ids(data, alive, "cmd insert"),
            "spawn_n": data.draw(st.integers(0, 2), label="cmd spawn"),
        }
        w.insert_resource(
            Plan(
                set_ids=np.array(plan["set_ids"], np.uint64),
                set_x=np.full(len(plan["set_ids"]), 2.0, np.float32),
                ins_ids=np.array(plan["ins_ids"], np.uint64),
                spawn_n=plan["spawn_n"],
            )
        )
        expected = _reference_frame(ref, frame, sw, plan)
        w.step()
        new = sorted(
            int(e) for ents, _ in w.query(Flag) for e in ents if int(e) not in ref.comps
        )
        assert len(new) == plan["spawn_n"]
        expected = ref.rename(expected, new)
        observed = _observed_frame(w, log, frame)
        assert observed == expected, f"frame {frame}"
