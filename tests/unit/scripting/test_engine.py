"""ScriptEngine: loading, systems, state, compile cache, failure isolation, stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archetype_ecs import SystemContext, World, event, f32, system
from scripting import ScriptEngine, ScriptError
from tests.unit.scripting._components import SHp, SPos, SVel

MOVE = """--! reads: SVel
--! writes: SPos
--! resources: Time
function run(b)
  local dt = ecs.resource("Time").dt
  local x = {}
  for i = 1, b.n do x[i] = b.SPos.x[i] + b.SVel.dx[i] * dt end
  ecs.set_batch(b.entity, "SPos", {x = x})
end
"""

MOVE_PY = """#! reads: SVel
#! writes: SPos
#! resources: Time
def run(b, ecs):
    dt = ecs.resource("Time")["dt"]
    ecs.set_batch(b["entity"], "SPos", {"x": b["SPos.x"] + b["SVel.dx"] * dt})
"""


def xs(world: World) -> list[float]:
    return world.query(SPos).to_arrow().column("SPos.x").to_pylist()


@pytest.mark.parametrize(("src", "name"), [(MOVE, "move.lua"), (MOVE_PY, "move.py")])
def test_script_system_moves_entities(
    world: World, engine: ScriptEngine, src: str, name: str
) -> None:
    world.add_system(engine.system(engine.load(src, name=name)))
    world.step()
    assert xs(world) == pytest.approx(np.arange(4.0) + 1 / 60)
    rep = engine.report()[0]
    assert rep["calls"] == 1
    assert rep["failures"] == 0


def test_language_from_file_extension(
    tmp_path: Path, world: World, engine: ScriptEngine
) -> None:
    p = tmp_path / "mover.lua"
    p.write_text(MOVE)
    sc = engine.load(p)
    assert (sc.name, sc.language) == ("mover.lua", "lua")
    sc2 = engine.load(str(p), name="again")
    assert sc2.language == "lua"


def test_unknown_language_is_refused(engine: ScriptEngine) -> None:
    with pytest.raises(ScriptError, match="unknown script language"):
        engine.load("x = 1", name="thing")


def test_unknown_header_component_is_refused(engine: ScriptEngine) -> None:
    with pytest.raises(ScriptError, match="unknown component 'Nope'"):
        engine.load("--! reads: Nope\n", name="a.lua")


def test_state_persists_across_frames_and_reloads(
    world: World, engine: ScriptEngine
) -> None:
    src = """--! writes: SHp
--! reads: SPos
function run(b)
  state.n = (state.n or 0) + 1
  ecs.insert(b.entity, "SHp", {v = state.n})
end
"""
    world.add_system(engine.system(engine.load(src, name="count.lua"), query=["SPos"]))
    world.step()
    world.step()
    engine.load(src + "\n-- edited\n", name="count.lua")
    world.step()
    assert set(world.query(SHp).to_arrow().column("SHp.v").to_pylist()) == {3}


def test_unchanged_script_is_not_recompiled(engine: ScriptEngine) -> None:
    sc = engine.load(MOVE, name="m.lua")
    engine.load(MOVE, name="m.lua")
    assert sc.runtime.compiles == 1
    engine.load(MOVE + "\n", name="m.lua")
    assert sc.runtime.compiles == 2


def test_python_code_objects_are_cached_by_content(engine: ScriptEngine) -> None:
    a = engine.load(MOVE_PY, name="a.py")
    b = engine.load(MOVE_PY, name="b.py")
    assert a.runtime.compiles + b.runtime.compiles == 1


def test_failing_script_is_skipped_and_others_go_on(
    world: World, engine: ScriptEngine
) -> None:
    bad = "--! reads: SPos\nfunction run(b)\n  error('boom')\nend\n"
    world.add_system(engine.system(engine.load(bad, name="bad.lua")))
    world.add_system(engine.system(engine.load(MOVE, name="good.lua")))
    world.step()
    assert xs(world) == pytest.approx(np.arange(4.0) + 1 / 60)
    st = engine.scripts["bad.lua"].stats
    assert st.failures == 1
    assert "bad.lua:3: boom" in st.last_error


def test_repeatedly_failing_script_is_disabled(
    world: World, engine: ScriptEngine
) -> None:
    bad = "--! reads: SPos\nfunction run(b) error('boom') end\n"
    world.add_system(engine.system(engine.load(bad, name="bad.lua")))
    for _ in range(5):
        world.step()
    st = engine.scripts["bad.lua"].stats
    assert st.disabled
    assert st.calls == engine.max_failures
    engine.enable("bad.lua")
    assert not st.disabled


def test_failed_call_records_no_commands(world: World, engine: ScriptEngine) -> None:
    src = """--! reads: SVel
--! writes: SPos
function run(b)
  ecs.set_batch(b.entity, "SPos", {x = 99})
  error("after recording")
end
"""
    world.add_system(engine.system(engine.load(src, name="half.lua")))
    world.step()
    assert 99.0 not in xs(world)


def test_timeout_counts_as_limit_hit(world: World, engine: ScriptEngine) -> None:
    src = "--! reads: SPos\nfunction run(b) while true do end end\n"
    world.add_system(engine.system(engine.load(src, name="spin.lua")))
    world.step()
    st = engine.scripts["spin.lua"].stats
    assert st.limit_hits == 1
    assert "instruction budget" in st.last_error


def test_profiler_gets_script_spans(world: World, engine: ScriptEngine) -> None:
    world.profiler.enabled = True
    world.add_system(engine.system(engine.load(MOVE, name="m.lua")))
    world.step()
    kinds = world.profiler.stats_table().column("kind").to_pylist()
    assert "script" in kinds


def test_logs_are_kept(world: World, engine: ScriptEngine) -> None:
    src = "--! reads: SPos\nfunction run(b) print('n', b.n); ecs.log('hi') end\n"
    world.add_system(engine.system(engine.load(src, name="log.lua")))
    world.step()
    assert engine.scripts["log.lua"].logs == ["n\t4", "hi"]


def test_spawn_despawn_remove_insert(world: World, engine: ScriptEngine) -> None:
    src = """--! reads: SPos
--! writes: SVel, SFrozen, SPos
--! spawn: yes
--! despawn: yes
function run(b)
  ecs.spawn({SPos = {x = 50, y = 1}, SFrozen = true})
  ecs.despawn(b.entity[1])
  ecs.remove({b.entity[2]}, "SVel")
  ecs.insert(b.entity[3], "SFrozen")
  ecs.set(b.entity[4], "SPos", {y = 5})
end
"""
    world.add_system(engine.system(engine.load(src, name="all.lua"), query=["SPos"]))
    world.step()
    assert engine.scripts["all.lua"].stats.failures == 0
    t = world.query(SPos).to_arrow().to_pydict()
    assert sorted(t["SPos.x"]) == [1.0, 2.0, 3.0, 50.0]
    assert 5.0 in t["SPos.y"]
    assert world.query(SVel).count() == 2


def test_batched_call_returns_statuses(engine: ScriptEngine) -> None:
    engine.load(
        "function tick(b) local r = {} for i = 1, b.n do r[i] = i % 2 end return r end",
        name="leaf.lua",
    )
    engine.call(
        "leaf.lua", {"row": np.arange(4, dtype=np.int64)}, entry="tick", statuses=4
    )
    assert engine.last_statuses is not None
    assert engine.last_statuses.tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("n", [0, 3])
def test_batch_columns_of_odd_names_and_any_dtype_reach_lua_as_given(
    engine: ScriptEngine, n: int
) -> None:
    # the batch maker is generated Lua code: names that are not identifiers (quotes,
    # brackets, a newline, a Lua keyword) must arrive as plain keys, never as code
    odd = 'we"ird]]\n--end'
    src = """
function tick(b)
  local odd, r = "we\\"ird]]\\n--end", {}
  for i = 1, b.n do
    r[i] = b.row[i] + b[odd][i] * 10 + b.Pos["end"][i] * 100 + b.Pos.y[i]
    assert(math.type(b.row[i]) == "integer" and math.type(b.Pos.y[i]) == "float")
  end
  assert(#b.row == b.n and #b[odd] == b.n and #b.Pos["end"] == b.n and b.Pos.y)
  return r
end
"""
    engine.load(src, name="odd.lua")
    ints = np.arange(n, dtype=np.int64)
    batch = {
        "row": ints,
        odd: ints.astype(np.int32),
        "Pos.end": ints.astype(np.uint8),
        "Pos.y": ints.astype(np.float32) * 2,
    }
    engine.call("odd.lua", batch, entry="tick", statuses=n)
    sc = engine.scripts["odd.lua"]
    assert sc.stats.failures == 0, sc.stats.last_error
    got = engine.last_statuses
    assert (got.tolist() if n else got) == ([113 * k for k in range(n)] if n else None)


@pytest.mark.parametrize("n", [0, 2])
def test_a_batch_of_hundreds_of_columns_reaches_lua(
    engine: ScriptEngine, n: int
) -> None:
    # (a function holds at most 200 Lua locals: the batch maker must not need one
    # per column)
    engine.load(
        "function tick(b)\n"
        "  local r = {}\n"
        "  for i = 1, b.n do r[i] = b.C0.f[i] + b.C299.f[i] + #b.C150.f end\n"
        "  assert(b.C299.f and #b.C299.f == b.n)\n"
        "  return r\n"
        "end\n",
        name="wide.lua",
    )
    batch = {"row": np.arange(n, dtype=np.int64)}
    batch |= {f"C{i}.f": np.full(n, float(i)) for i in range(300)}
    engine.call("wide.lua", batch, entry="tick", statuses=n)
    sc = engine.scripts["wide.lua"]
    assert sc.stats.failures == 0, sc.stats.last_error
    if n:
        assert engine.last_statuses is not None
        assert engine.last_statuses.tolist() == [299 + n] * n


@pytest.mark.parametrize("bad", ["a,b", "x=j", "", "n", "Pos"])
def test_batch_column_names_lua_cannot_hold_fail_the_call_clearly(
    engine: ScriptEngine, bad: str
) -> None:
    engine.load("function run(b) end", name="names.lua")
    batch = {
        "entity": np.arange(2, dtype=np.uint64),
        "Pos.x": np.zeros(2),
        bad: np.zeros(2),
    }
    assert engine.call("names.lua", batch) is None  # reported and skipped, not raised
    st = engine.scripts["names.lua"].stats
    assert st.failures == 1
    assert f"batch column {bad!r} cannot be passed to Lua" in st.last_error
    assert engine.call("names.lua", {"entity": np.arange(2, dtype=np.uint64)}) == []


def test_query_of_undeclared_component_is_refused(engine: ScriptEngine) -> None:
    sc = engine.load("--! reads: SPos\n", name="q.lua")
    with pytest.raises(ScriptError, match="reads: SVel"):
        engine.system(sc, query=[SVel])


def test_empty_query_still_gets_every_column(engine: ScriptEngine) -> None:
    w = engine.world
    src = "--! reads: SHp\nfunction run(b) assert(b.n == 0 and #b.SHp.v == 0) end\n"
    w.add_system(engine.system(engine.load(src, name="empty.lua")))
    w.step()
    assert engine.scripts["empty.lua"].stats.failures == 0


@event
class SHit:
    amount: f32 = 0.0


@pytest.mark.parametrize(
    ("src", "name"),
    [
        (
            "--! reads: SPos\n--! events: SHit\nfunction run(b)\n"
            "  ecs.emit('SHit', {amount = {1, 2}})\n  ecs.emit('SHit')\nend\n",
            "emit.lua",
        ),
        (
            "#! reads: SPos\n#! events: SHit\ndef run(b, ecs):\n"
            "    ecs.emit('SHit', {'amount': [1.0, 2.0]})\n    ecs.emit('SHit')\n",
            "emit.py",
        ),
    ],
)
def test_scripts_emit_declared_events(src: str, name: str) -> None:
    w = World()
    w.spawn(SPos())
    eng = ScriptEngine(w, components=[SPos], events=[SHit])
    got: list[list[float]] = []

    @system(events=[SHit], after=[name])
    def reader(ctx: SystemContext) -> None:
        got.append(ctx.read(SHit)["amount"].tolist())

    w.add_system(eng.system(eng.load(src, name=name)), reader)
    w.step()
    assert eng.scripts[name].stats.failures == 0, eng.scripts[name].stats.last_error
    assert got == [[1.0, 2.0, 0.0]]


def test_undeclared_event_is_refused() -> None:
    w = World()
    w.spawn(SPos())
    eng = ScriptEngine(w, components=[SPos], events=[SHit])
    src = "--! reads: SPos\nfunction run(b) ecs.emit('SHit') end\n"
    w.add_system(eng.system(eng.load(src, name="e.lua")))
    w.step()
    assert "emit(SHit) needs 'events: SHit'" in eng.scripts["e.lua"].stats.last_error


def test_lua_state_is_readable_from_the_host_as_a_copy(
    world: World, engine: ScriptEngine
) -> None:
    src = """--! reads: SPos
local hidden = setmetatable({}, {__index = function() error("no metamethod runs") end})
function run(b)
  state.frames = (state.frames or 0) + 1
  state.xs = b.SPos.x
  state.deep = {a = {b = {c = {d = {e = 1}}}}}
  state.fn = run
  state.trap = hidden
end
"""
    sc = engine.load(src, name="st.lua")
    world.add_system(engine.system(sc))
    world.run(2)
    assert sc.stats.failures == 0, sc.stats.last_error
    state = sc.state
    assert state["frames"] == 2
    assert state["xs"] == [0.0, 1.0, 2.0, 3.0]
    assert state["deep"]["a"]["b"] == {"c": "<table>"}  # 4 levels deep
    assert state["fn"].startswith("<function")
    assert state["trap"] == {}  # read raw: its __index never runs
    state["frames"] = 99  # a copy
    world.step()
    assert sc.state["frames"] == 3


def test_counters_and_logs_stay_exact_across_failing_and_clean_calls(
    world: World,
) -> None:
    # a clean call returns only its result and command count from Lua; a call that
    # logged, failed or moved a counter returns them all, and a memory error takes
    # the counters on its own path: none of this may lose or double count anything
    from scripting import LuaLimits

    eng = ScriptEngine(
        world,
        components=[SPos],
        limits=LuaLimits(instructions=2_000_000, max_memory=16 << 20),
        max_violations=100,
        max_failures=100,
    )
    src = """--! reads: SPos
function run(b)
  local mode = b.row[1]
  if mode == 1 then print("clean", b.n) end
  if mode == 2 then return debug end             -- a violation
  if mode == 3 then ecs.despawn(b.row) end       -- refused: no despawn permission
  if mode == 4 then local t = {} for i = 1, 1e8 do t[i] = i end end  -- memory
end
"""
    eng.load(src, name="c.lua")
    sc = eng.scripts["c.lua"]
    expect = {"violations": 0, "refusals": 0, "failures": 0}
    for mode in (0, 2, 0, 1, 3, 0, 4, 0, 2, 1, 0):
        eng.call("c.lua", {"row": np.array([mode], np.int64)})
        if mode == 2:
            expect["violations"] += 1
        if mode == 3:
            expect["refusals"] += 1
        if mode in (2, 3, 4):
            expect["failures"] += 1
        got = {k: getattr(sc.stats, k) for k in expect}
        assert got == expect, (mode, sc.stats.last_error)
        if mode == 4:
            assert "not enough memory" in sc.stats.last_error
    assert sc.logs == ["clean\t1", "clean\t1"]
