"""Script profiler: exact call counts, Lua line samples, Arrow schemas, trace merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World
from scripting import LuaLimits, ScriptEngine, ScriptTimeout
from scripting.profiler import (
    FUNCTIONS_SCHEMA,
    LINES_SCHEMA,
    SCRIPTS_SCHEMA,
    ProfilerError,
    ScriptProfiler,
)
from tests.unit.scripting._components import SPos

# fib(n) makes fib_calls(n) calls; run calls tc 3 times, tc tail-calls step, which
# calls the local function leaf
LUA = """--! reads: SPos
function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
local function leaf(x) return x + 1 end
function step(x) local y = leaf(x) return y end
function tc(x) return step(x) end
function run(b)
  local s = 0
  for i = 1, 3 do s = s + tc(i) end
  state.f = fib(12)
  for i = 1, 20000 do s = s + i end
  state.s = s
end
"""

PY = """#! reads: SPos
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
def leaf(x):
    return x + 1
def step(x):
    y = leaf(x)
    return y
def tc(x):
    return step(x)
def run(b, ecs):
    s = 0
    for i in range(1, 4):
        s = s + tc(i)
    state["f"] = fib(12)
    state["s"] = s
"""


def fib_calls(n: int) -> int:
    return 1 if n < 2 else 1 + fib_calls(n - 1) + fib_calls(n - 2)


BATCH = {"entity": np.zeros(2, np.uint64)}


def _engine() -> ScriptEngine:
    eng = ScriptEngine(
        World(), components=[SPos], limits=LuaLimits(instructions=5_000_000)
    )
    eng.load(LUA, name="p.lua")
    eng.load(PY, name="p.py")
    return eng


def _by_function(table: Any, script: str) -> dict[str, dict[str, Any]]:
    return {r["function"]: r for r in table.to_pylist() if r["script"] == script}


@pytest.mark.parametrize("name", ["p.lua", "p.py"])
def test_call_counts_equal_the_true_counts(name: str) -> None:
    eng = _engine()
    with ScriptProfiler(eng, sample_every=100) as prof:
        for _ in range(2):
            assert eng.call(name, BATCH) is not None
    rows = _by_function(prof.functions(), name)
    assert rows["fib"]["calls"] == 2 * fib_calls(12)
    assert rows["run"]["calls"] == 2
    assert rows["tc"]["calls"] == 6
    assert rows["step"]["calls"] == 6
    assert rows["leaf"]["calls"] == 6
    assert rows["fib"]["line"] == 2
    scripts = {r["script"]: r for r in prof.scripts().to_pylist()}
    assert scripts[name]["calls"] == 2
    assert scripts[name]["total_ms"] > 0
    assert rows["run"]["total_ms"] >= rows["fib"]["total_ms"] > 0
    assert rows["run"]["self_ms"] <= rows["run"]["total_ms"]
    assert rows["fib"]["estimated"] is (name == "p.lua")


def test_lua_line_samples_point_at_the_hot_loop() -> None:
    eng = _engine()
    with ScriptProfiler(eng, sample_every=100) as prof:
        eng.call("p.lua", BATCH)
    lines = prof.lines().to_pylist()
    assert lines[0]["line"] == 13  # the 20,000-iteration loop
    assert abs(sum(r["share"] for r in lines) - 1.0) < 1e-9
    scripts = {r["script"]: r for r in prof.scripts().to_pylist()}
    assert sum(r["samples"] for r in lines) <= scripts["p.lua"]["samples"]
    fns = _by_function(prof.functions(), "p.lua")
    assert fns["run"]["samples"] > fns["fib"]["samples"] > 0


def test_tables_have_the_documented_schemas_even_when_empty() -> None:
    eng = _engine()
    prof = ScriptProfiler(eng)
    assert prof.functions().schema == FUNCTIONS_SCHEMA
    assert prof.scripts().schema == SCRIPTS_SCHEMA
    assert prof.lines().schema == LINES_SCHEMA
    prof.start()
    eng.call("p.lua", BATCH)
    eng.call("p.py", BATCH)
    prof.stop()
    assert prof.functions().schema == FUNCTIONS_SCHEMA
    assert prof.functions().num_rows > 0


def test_stop_removes_the_hooks_and_reset_forgets() -> None:
    eng = _engine()
    prof = ScriptProfiler(eng).start()
    py_rt: Any = eng.scripts["p.py"].runtime
    assert len(py_rt.hooks) == 1
    eng.call("p.lua", BATCH)
    prof.stop()
    assert py_rt.hooks == []
    assert eng.call_hooks == []
    before = prof.functions()
    eng.call("p.lua", BATCH)
    eng.call("p.py", BATCH)
    assert prof.functions().equals(before)
    prof.reset()
    assert prof.functions().num_rows == 0


def test_the_budget_still_holds_under_the_profiler() -> None:
    eng = ScriptEngine(World(), limits=LuaLimits(instructions=100_000))
    eng.load(
        "local function f() return 1 end\nfunction run(b) while true do f() end end\n",
        name="spin.lua",
    )
    rt: Any = eng.scripts["spin.lua"].runtime
    with ScriptProfiler(eng), pytest.raises(ScriptTimeout):
        rt.call("run", 0, "", b"")


def test_function_spans_merge_into_the_world_trace(tmp_path: Path) -> None:
    eng = _engine()
    world = eng.world
    world.add_system(eng.system("p.lua"), eng.system("p.py", after=["p.lua"]))
    with ScriptProfiler(eng, sample_every=100):
        world.run(2)
    doc = json.loads(world.trace(str(tmp_path / "t.json")).read_text())
    events = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    systems = [e for e in events if e["cat"] == "system" and e["name"] == "p.lua"]
    assert len(systems) == 2
    for lang in ("lua", "py"):
        calls = [e for e in events if e["cat"] == "script" and e["name"] == f"p.{lang}"]
        inner = [e for e in events if e["name"].startswith(f"p.{lang}:")]
        assert len(calls) == 2
        assert {e["name"] for e in inner} >= {f"p.{lang}:run", f"p.{lang}:fib"}
        for e in inner:  # inside one of the script's call spans, same track
            assert any(
                c["tid"] == e["tid"]
                and c["ts"] - 1e-3 <= e["ts"]
                and e["ts"] + e["dur"] <= c["ts"] + c["dur"] + 1e-3
                for c in calls
            )
    py_spans = [e for e in events if e["name"].startswith("p.py:")]
    assert 2 * 10 < len(py_spans) <= 2 * (256 + 1)  # capped per call, plus the run


def test_no_trace_option_keeps_the_world_trace_clean() -> None:
    eng = _engine()
    with ScriptProfiler(eng, trace=False):
        eng.call("p.py", BATCH)
        eng.call("p.lua", BATCH)
    names = {s.name for s in eng.world.profiler.spans()}
    assert names == {"p.py", "p.lua"}


def test_bad_options_and_names_are_refused() -> None:
    eng = _engine()
    with pytest.raises(ProfilerError, match="sample_every"):
        ScriptProfiler(eng, sample_every=0)
    with pytest.raises(ProfilerError, match="no script named 'nope'"):
        ScriptProfiler(eng).start(["nope"])
    assert eng.call_hooks == []


def test_profiler_and_debugger_share_the_lua_hook() -> None:
    from scripting.debugger import Debugger

    eng = _engine()
    stops: list[int] = []
    dbg = Debugger(eng, on_stop=lambda f: stops.append(f.line))
    dbg.set_breakpoint("p.lua", 7)  # in step
    with ScriptProfiler(eng) as prof:
        eng.call("p.lua", BATCH)
    assert stops == [7, 7, 7]
    assert _by_function(prof.functions(), "p.lua")["fib"]["calls"] == fib_calls(12)
    eng.call("p.lua", BATCH)  # profiler off, breakpoint still on
    assert stops == [7] * 6


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(0, 11), calls=st.integers(1, 3), lang=st.sampled_from(["lua", "py"])
)
def test_recursive_call_counts_match_the_formula(n: int, calls: int, lang: str) -> None:
    eng = _engine()
    name = f"p.{lang}"
    src = {
        "lua": f"function run(b)\n  state.f = fib({n})\nend\n",
        "py": f"def run(b, ecs):\n    state['f'] = fib({n})\n",
    }[lang]
    eng.load(
        (LUA if lang == "lua" else PY).split("\nfunction run")[0].split("\ndef run")[0]
        + "\n"
        + src,
        name=name,
    )
    with ScriptProfiler(eng) as prof:
        for _ in range(calls):
            assert eng.call(name, BATCH) is not None
    rows = _by_function(prof.functions(), name)
    assert rows["fib"]["calls"] == calls * fib_calls(n)
    assert rows["run"]["calls"] == calls
