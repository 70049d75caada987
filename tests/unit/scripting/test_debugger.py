"""Script debugger: breakpoints, conditions, stepping, stack, variables, eval, sessions.

Every behavior is checked in Lua and in Python on the same program (``LINES`` maps
the roles of lines in each source). The sandbox tests check that a Lua script can
neither see nor remove the debugger's hook.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from archetype_ecs import World
from scripting import LuaLimits, ScriptEngine, ScriptTimeout
from scripting.debugger import Debugger, DebuggerError, Frame
from tests.unit.scripting._components import SPos

LUA = """--! reads: SPos
local function make(k)
  local function helper(a)
    local b = a * 2
    return b + k
  end
  return helper
end
helper = make(10)
function run(batch)
  local total = 0
  for i = 1, 3 do
    total = total + helper(i)
  end
  state.total = total
end
"""

PY = """#! reads: SPos
def make(k):
    def helper(a):
        b = a * 2
        return b + k
    return helper


helper = make(10)
def run(batch, ecs):
    total = 0
    for i in range(1, 4):
        total = total + helper(i)
    state["total"] = total
"""

LINES = {
    "lua": {"body": 4, "ret": 5, "defined": 3, "first": 11, "for": 12, "call": 13},
    "py": {"body": 4, "ret": 5, "defined": 3, "first": 11, "for": 12, "call": 13},
}
SOURCES = {"lua": (LUA, "prog.lua"), "py": (PY, "prog.py")}
BATCH = {"entity": np.zeros(2, np.uint64)}


def _engine(limits: LuaLimits | None = None) -> ScriptEngine:
    return ScriptEngine(
        World(), components=[SPos], limits=limits or LuaLimits(instructions=2_000_000)
    )


def _loaded(lang: str) -> tuple[ScriptEngine, str]:
    eng = _engine()
    src, name = SOURCES[lang]
    eng.load(src, name=name)
    return eng, name


class Recorder:
    """An on_stop callback that records what it saw and plays back actions."""

    def __init__(self, actions: list[str] | None = None, probe: Any = None) -> None:
        self.actions = list(actions or [])
        self.seen: list[dict[str, Any]] = []
        self.probe = probe

    def __call__(self, f: Frame) -> str:
        rec = {
            "reason": f.reason,
            "line": f.line,
            "function": f.function,
            "locals": f.locals(),
            "upvalues": f.upvalues(),
            "stack": [(s.function, s.file, s.line) for s in f.stack],
            "note": f.note,
        }
        if self.probe is not None:
            rec["probe"] = self.probe(f)
        self.seen.append(rec)
        return self.actions.pop(0) if self.actions else "continue"


langs = pytest.mark.parametrize("lang", ["lua", "py"])


@langs
def test_breakpoint_hits_the_line_with_its_locals_upvalues_and_stack(lang: str) -> None:
    eng, name = _loaded(lang)
    rec = Recorder()
    dbg = Debugger(eng, on_stop=rec)
    bp = dbg.set_breakpoint(name, LINES[lang]["body"])
    assert eng.call(name, BATCH) is not None
    assert [s["line"] for s in rec.seen] == [LINES[lang]["body"]] * 3
    assert [s["locals"] for s in rec.seen] == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert all(s["upvalues"] == {"k": 10} for s in rec.seen)
    assert all(s["function"] == "helper" for s in rec.seen)
    call = LINES[lang]["call"]
    assert rec.seen[0]["stack"] == [
        ("helper", name, LINES[lang]["body"]),
        ("run", name, call),
    ]
    assert bp.hits == 3
    assert [(h.line, h.reason) for h in dbg.history] == [(4, "breakpoint")] * 3


@langs
def test_locals_at_a_later_line_include_the_new_local(lang: str) -> None:
    eng, name = _loaded(lang)
    rec = Recorder()
    Debugger(eng, on_stop=rec).set_breakpoint(name, LINES[lang]["ret"])
    eng.call(name, BATCH)
    assert rec.seen[1]["locals"] == {"a": 2, "b": 4}


@langs
def test_conditional_breakpoint_stops_only_when_true(lang: str) -> None:
    eng, name = _loaded(lang)
    rec = Recorder()
    dbg = Debugger(eng, on_stop=rec)
    dbg.set_breakpoint(name, LINES[lang]["body"], "a == 2")
    dbg.set_breakpoint(name, LINES[lang]["call"], "total > 20")
    eng.call(name, BATCH)
    assert [
        (s["line"], s["locals"].get("a"), s["locals"].get("total")) for s in rec.seen
    ] == [
        (LINES[lang]["body"], 2, None),
        (LINES[lang]["call"], None, 26),
    ]


@langs
def test_a_failing_condition_stops_and_says_why(lang: str) -> None:
    eng, name = _loaded(lang)
    rec = Recorder()
    cond = "nosuch.field > 1"
    Debugger(eng, on_stop=rec).set_breakpoint(name, LINES[lang]["body"], cond)
    eng.call(name, BATCH)
    assert len(rec.seen) == 3
    assert "condition" in rec.seen[0]["note"]
    assert eng.scripts[name].stats.failures == 0


@langs
def test_step_into_over_out_and_continue(lang: str) -> None:
    eng, name = _loaded(lang)
    ln = LINES[lang]
    rec = Recorder(["into", "over", "out", "over", "continue"])
    dbg = Debugger(eng, on_stop=rec)
    dbg.set_breakpoint(name, ln["call"])
    eng.call(name, BATCH)
    got = [(s["reason"], s["line"], s["function"]) for s in rec.seen]
    assert got == [
        ("breakpoint", ln["call"], "run"),
        ("step", ln["body"], "helper"),
        ("step", ln["ret"], "helper"),
        ("step", ln["for"], "run"),
        ("breakpoint", ln["call"], "run"),
        ("breakpoint", ln["call"], "run"),
    ]
    assert [s["locals"]["i"] for s in rec.seen if s["reason"] == "breakpoint"] == [
        1,
        2,
        3,
    ]
    # stepping never leaks into the next call: a new call starts from a clean slate
    rec.seen.clear()
    dbg.clear()
    eng.call(name, BATCH)
    assert rec.seen == []


@langs
def test_stepping_off_the_end_of_a_call_does_not_leak_into_the_next(lang: str) -> None:
    eng, name = _loaded(lang)
    rec = Recorder(["over"] * 10)
    dbg = Debugger(eng, on_stop=rec)
    last = {"lua": 15, "py": 14}[lang]
    dbg.set_breakpoint(name, last)
    eng.call(name, BATCH)
    first = [(s["reason"], s["line"]) for s in rec.seen]
    # Lua also reports the function's closing `end`; Python returns after the line
    assert first == [("breakpoint", last)] + ([("step", 16)] if lang == "lua" else [])
    rec.seen.clear()
    eng.call(name, BATCH)
    assert [(s["reason"], s["line"]) for s in rec.seen] == first


@langs
def test_eval_in_frames_state_and_globals(lang: str) -> None:
    eng, name = _loaded(lang)

    def probe(f: Frame) -> Any:
        out = {"sum": f.eval("a + k"), "caller_total": f.eval("total", level=1)}
        with pytest.raises(DebuggerError, match="no frame level 5"):
            f.eval("a", level=5)
        with pytest.raises(DebuggerError, match="eval in"):
            f.eval("nosuch.field")
        out["globals"] = sorted(k for k in f.globals() if k in ("helper", "run"))
        return out

    rec = Recorder(probe=probe)
    dbg = Debugger(eng, on_stop=rec)
    dbg.set_breakpoint(name, LINES[lang]["body"], "a == 3")
    eng.call(name, BATCH)
    (only,) = rec.seen
    assert only["probe"] == {
        "sum": 13,
        "caller_total": 26,
        "globals": ["helper", "run"],
    }

    frames: list[Frame] = []
    dbg.on_stop = frames.append
    eng.call(name, BATCH)
    with pytest.raises(DebuggerError, match="no longer stopped"):
        frames[0].locals()


@langs
def test_frame_state_is_the_script_state(lang: str) -> None:
    eng, name = _loaded(lang)
    eng.call(name, BATCH)
    states: list[Any] = []
    dbg = Debugger(eng, on_stop=lambda f: states.append(f.state()))
    dbg.set_breakpoint(name, LINES[lang]["first"])
    eng.call(name, BATCH)
    assert states == [{"total": 42}]


def test_lua_eval_assigns_locals_and_the_script_sees_it() -> None:
    eng, name = _loaded("lua")
    dbg = Debugger(
        eng, on_stop=lambda f: f.eval("a = 100") if f.locals()["a"] == 1 else None
    )
    dbg.set_breakpoint(name, LINES["lua"]["body"])
    seen: list[Any] = []
    eng.call(name, BATCH)
    dbg.clear()
    dbg.on_stop = lambda f: seen.append(f.state())
    dbg.set_breakpoint(name, LINES["lua"]["first"])
    eng.call(name, BATCH)
    assert seen == [{"total": 210 + 14 + 16}]


def test_lua_eval_is_bounded_and_side_effects_do_not_count_as_violations() -> None:
    eng, name = _loaded("lua")
    msgs: list[str] = []

    def probe(f: Frame) -> None:
        for expr in ("(function() while true do end end)()", "debug", "io.open"):
            try:
                f.eval(expr)
            except DebuggerError as exc:
                msgs.append(str(exc))

    dbg = Debugger(eng, on_stop=probe)
    dbg.set_breakpoint(name, LINES["lua"]["first"])
    assert eng.call(name, BATCH) is not None
    assert "stopped after 1000000 instructions" in msgs[0]
    assert len(msgs) == 2  # `debug` is simply nil in the frame; io.open indexes nil
    st = eng.scripts[name].stats
    assert (st.failures, st.violations) == (0, 0)


@langs
def test_paused_session_is_driven_by_the_host(lang: str) -> None:
    eng, name = _loaded(lang)
    world = eng.world
    world.add_system(eng.system(name))
    dbg = Debugger(eng)
    ln = LINES[lang]
    dbg.set_breakpoint(name, ln["call"])
    with dbg.start(world.step) as session:
        f = session.wait(timeout=10)
        assert f is not None
        assert (f.line, f.reason) == (ln["call"], "breakpoint")
        assert f.locals()["total"] == 0
        assert f.eval("helper(5)") == 20
        f = session.step(timeout=10)
        assert f is not None
        assert (f.function, f.line) == ("helper", ln["body"])
        assert [s.function for s in f.stack] == ["helper", "run"]
        f = session.finish(timeout=10)
        assert f is not None
        assert (f.function, f.line) == ("run", ln["for"])
        dbg.clear()
        assert session.cont(timeout=10) is None
    assert session.done
    assert eng.scripts[name].stats.failures == 0
    from archetype_ecs import Time

    assert world.resource(Time).frame == 1
    with pytest.raises(DebuggerError, match="finished"):
        session.cont()


def test_session_reraises_the_target_error_and_abort_runs_to_the_end() -> None:
    eng, name = _loaded("py")
    dbg = Debugger(eng)

    def boom() -> None:
        raise ValueError("target failed")

    s = dbg.start(boom)
    with pytest.raises(ValueError, match="target failed"):
        s.wait(timeout=10)
    dbg.set_breakpoint(name, LINES["py"]["body"])
    s = dbg.start(lambda: eng.call(name, BATCH))
    assert s.wait(timeout=10) is not None
    s.abort()
    assert s.done
    assert s.result is not None


def test_on_stop_errors_are_kept_and_the_script_continues() -> None:
    eng, name = _loaded("lua")

    def bad(f: Frame) -> str:
        raise RuntimeError("callback bug")

    dbg = Debugger(eng, on_stop=bad)
    dbg.set_breakpoint(name, LINES["lua"]["body"])
    assert eng.call(name, BATCH) is not None
    assert len(dbg.errors) == 3
    assert "callback bug" in str(dbg.errors[0])
    dbg.on_stop = lambda f: "sideways"
    eng.call(name, BATCH)
    assert "unknown debugger action 'sideways'" in str(dbg.errors[-1])


@langs
def test_bad_requests_raise_clear_errors(lang: str) -> None:
    eng, name = _loaded(lang)
    dbg = Debugger(eng)
    with pytest.raises(DebuggerError, match="no script named 'nope'"):
        dbg.set_breakpoint("nope", 1)
    with pytest.raises(DebuggerError, match="outside"):
        dbg.set_breakpoint(name, 999)
    with pytest.raises(DebuggerError, match="does not compile"):
        dbg.set_breakpoint(name, 4, "a ==")
    with pytest.raises(DebuggerError, match="no breakpoint"):
        dbg.clear_breakpoint(42)
    assert dbg.breakpoints == []


def test_python_line_without_code_is_refused() -> None:
    eng, name = _loaded("py")
    with pytest.raises(DebuggerError, match="has no code; lines with code nearby"):
        Debugger(eng).set_breakpoint(name, 7)


def test_python_trace_only_while_breakpoints_exist_and_only_for_that_script() -> None:
    eng, name = _loaded("py")
    eng.load(PY, name="other.py")
    dbg = Debugger(eng, on_stop=Recorder())
    before = sys.gettrace()
    bp = dbg.set_breakpoint(name, 4)
    assert len(eng.scripts[name].runtime.hooks) == 1  # type: ignore[union-attr]
    assert eng.scripts["other.py"].runtime.hooks == []  # type: ignore[union-attr]
    eng.call(name, BATCH)
    assert sys.gettrace() is before
    dbg.clear_breakpoint(bp)
    assert eng.scripts[name].runtime.hooks == []  # type: ignore[union-attr]


def test_replacing_a_breakpoint_on_the_same_line() -> None:
    eng, name = _loaded("lua")
    rec = Recorder()
    dbg = Debugger(eng, on_stop=rec)
    dbg.set_breakpoint(name, 4, "a == 1")
    dbg.set_breakpoint(name, 4, "a == 3")
    assert len(dbg.breakpoints) == 1
    eng.call(name, BATCH)
    assert [s["locals"]["a"] for s in rec.seen] == [3]


# ------------------------------------------------------------ sandbox and hook


FINGERPRINT = """
function run(b)
  local keys = {}
  for k, v in pairs(_G) do keys[#keys + 1] = k .. ":" .. type(v) end
  table.sort(keys)
  print(table.concat(keys, ","))
  print(tostring(getmetatable(_G)), tostring(getmetatable("")))
  print(coroutine.isyieldable())
  local x = 0
  for i = 1, 10 do x = x + i end
  print(x)
end
"""


def test_script_globals_look_the_same_with_the_debugger_attached() -> None:
    eng = _engine()
    sc = eng.load(FINGERPRINT, name="fp.lua")
    eng.call("fp.lua", BATCH)
    plain = list(sc.logs)
    sc.logs.clear()
    dbg = Debugger(eng, on_stop=Recorder())
    dbg.set_breakpoint("fp.lua", 10)
    eng.call("fp.lua", BATCH)
    assert dbg.history
    assert dbg.history[0].line == 10
    assert sc.logs == plain
    assert "debug" not in plain[0]


ATTACKS = [
    "debug.sethook()",
    "local d = _G.debug; d.sethook()",
    "local d = rawget(_G, 'debug'); d.sethook()",
    "local s = getmetatable('').__index; s.debug.sethook()",
    "setmetatable(_G, nil)",
    "coroutine.close(coroutine.running())",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_script_cannot_reach_or_remove_the_hook(attack: str) -> None:
    src = f"function run(b)\n  state.n = (state.n or 0) + 1\n  {attack}\nend\n"
    eng = _engine()
    eng.load(src, name="evil.lua")
    rec = Recorder()
    dbg = Debugger(eng, on_stop=rec)
    dbg.set_breakpoint("evil.lua", 2)
    assert eng.call("evil.lua", BATCH) is None  # the attack fails the call
    assert eng.scripts["evil.lua"].stats.failures == 1
    assert eng.call("evil.lua", BATCH) is None
    assert [s["line"] for s in rec.seen] == [2, 2]  # the hook survived


def test_pcall_cannot_swallow_a_violation_aimed_at_the_hook() -> None:
    src = (
        "function run(b)\n"
        "  local ok = pcall(function() return debug end)\n"
        "  state.after = true\n"
        "end\n"
    )
    eng = _engine()
    eng.load(src, name="p.lua")
    rec = Recorder()
    Debugger(eng, on_stop=rec).set_breakpoint("p.lua", 3)
    assert eng.call("p.lua", BATCH) is None
    assert rec.seen == []  # never got past the violation
    assert eng.scripts["p.lua"].stats.violations == 1


def test_breakpoints_fire_inside_script_coroutines() -> None:
    src = (
        "function run(b)\n"
        "  local co = coroutine.wrap(function(x)\n"
        "    local y = x + 1\n"
        "    coroutine.yield(y)\n"
        "    return y * 2\n"
        "  end)\n"
        "  state.a = co(1)\n"
        "  state.b = co()\n"
        "end\n"
    )
    eng = _engine()
    eng.load(src, name="co.lua")
    rec = Recorder(["over"])
    dbg = Debugger(eng, on_stop=rec)
    dbg.set_breakpoint("co.lua", 4)
    assert eng.call("co.lua", BATCH) is not None
    assert [(s["line"], s["locals"]) for s in rec.seen[:2]] == [
        (4, {"x": 1, "y": 2}),
        (5, {"x": 1, "y": 2}),
    ]


LOOPS = [
    "while true do end",
    "while true do local x = 1 end",
    "repeat until false",
    "local k = 0 while true do k = k + 1 end",
    "for i = 1, math.huge do end",
    "local function f() return 1 end while true do f() end",
]


@pytest.mark.parametrize("loop", LOOPS)
def test_the_instruction_budget_stops_every_loop_while_debugging(loop: str) -> None:
    # Lua drops count events that fall inside a hook: the devtools hook must make
    # up for it, or a one-line loop would run forever once a breakpoint is set.
    src = f"function run(b)\n  {loop}\nend\nfunction other(b)\n  state.x = 1\nend\n"
    eng = _engine(LuaLimits(instructions=200_000))
    eng.load(src, name="b.lua")
    rec = Recorder()
    Debugger(eng, on_stop=rec).set_breakpoint("b.lua", 5)
    rt: Any = eng.scripts["b.lua"].runtime
    with pytest.raises(ScriptTimeout):
        rt.call("run", 0, "", b"")
    rt.call("other", 0, "", b"")
    assert [s["line"] for s in rec.seen] == [5]


def test_clearing_the_last_breakpoint_restores_the_plain_budget_hook() -> None:
    from scripting._lua_devtools import LuaDevtools

    eng, name = _loaded("lua")
    dbg = Debugger(eng, on_stop=Recorder())
    api = LuaDevtools.of(eng.scripts[name].runtime).api  # type: ignore[arg-type]
    assert api.hook_state() == (True, b"", 1000, False)
    bp = dbg.set_breakpoint(name, 4)
    assert api.hook_state() == (False, b"l", 1000, True)
    dbg.clear_breakpoint(bp)
    assert api.hook_state() == (True, b"", 1000, False)
    eng.call(name, BATCH)
    assert len(dbg.history) == 0


def test_breakpoints_after_a_failed_api_call_inside_pcall_still_hit() -> None:
    # the ecs.* API runs with line events off; an error inside it must turn them on
    src = (
        "--! writes: SPos\n"
        "function run(b)\n"
        "  local ok = pcall(ecs.set, 'not an entity', 'SPos', {x = 1})\n"
        "  state.ok = ok\n"
        "  ecs.set_batch(b.entity, 'SPos', {x = 2})\n"
        "  state.done = true\n"
        "end\n"
    )
    eng = _engine()
    eng.load(src, name="api.lua")
    rec = Recorder()
    dbg = Debugger(eng, on_stop=rec)
    dbg.set_breakpoint("api.lua", 4)
    dbg.set_breakpoint("api.lua", 6)
    recorded = eng.call("api.lua", BATCH)
    assert recorded is not None
    assert len(recorded) == 1
    assert [s["line"] for s in rec.seen] == [4, 6]
    assert rec.seen[1]["locals"]["b"]["n"] == 2


def test_one_debugger_per_engine() -> None:
    eng, _ = _loaded("lua")
    dbg = Debugger(eng)
    with pytest.raises(DebuggerError, match="already has a debugger"):
        Debugger(eng)
    dbg.close()
    Debugger(eng).close()


def test_breakpoints_and_names_follow_a_hot_reload(tmp_path: Any) -> None:
    # the reloader runs the new version in a fresh Lua environment: the debugger
    # must see the new globals (names, eval) and keep its line breakpoints
    import time as _time

    from scripting.reload import HotReloader

    world = World(threads=1)
    eng = ScriptEngine(world, components=[SPos])
    reloader = HotReloader(world, eng)
    path = tmp_path / "r.lua"
    path.write_text("function run(b)\n  local v = 1\n  state.v = v\nend\n")
    reloader.watch_script(path)
    seen: list[tuple[str, Any, Any]] = []
    dbg = Debugger(
        eng,
        on_stop=lambda f: seen.append((f.function, f.locals()["v"], f.eval("extra"))),
    )
    dbg.set_breakpoint("r.lua", 3)
    eng.call("r.lua", BATCH)
    path.write_text(
        "extra = 7\nfunction run(b)\n  local w = 0\n  local v = 2\n  state.v = v\nend\n"
    )
    end = _time.monotonic() + 20
    while not reloader.history:
        assert _time.monotonic() < end, "no reload"
        world.step()
        _time.sleep(0.005)
    dbg.clear()
    dbg.set_breakpoint("r.lua", 5)
    eng.call("r.lua", BATCH)
    reloader.close()
    assert seen[0] == ("run", 1, None)
    assert seen[-1] == ("run", 2, 7)
