"""Sandbox escape suite: each attempt is blocked, the host is unaffected, and it is reported.

Cases run in subprocesses (a few per process, each in a fresh Lua sandbox) with a
timeout, so a hang or a crash of the host interpreter fails the test instead of the run.
After each case the runner checks the host: no file was created, the working directory
and environment are unchanged, the same sandbox still answers a probe, and a fresh
sandbox sees a clean string library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOOP = "while true do end"

V, T, M, E, OK = (
    "SandboxViolation",
    "ScriptTimeout",
    "ScriptMemoryError",
    "ScriptError",
    None,
)

# id -> (body of run(b), expected error class name(s); None = runs, harmlessly)
CASES: dict[str, tuple[str, tuple[str | None, ...]]] = {
    # the python bridge and host-object walking
    "python_eval": ("python.eval('1')", (V,)),
    "python_builtins": ("local b = python.builtins", (V,)),
    "G_python": ("local p = _G.python", (V,)),
    "rawget_G_python": ("local p = rawget(_G, 'python'); p.eval('1')", (E,)),
    "set_overflow_handler": ("python.set_overflow_handler(nil)", (V,)),
    "walk_api_function": ("local x = ecs.spawn.__self", (E,)),
    "api_metatable": ("local mt = getmetatable(ecs); mt.__index = nil", (E,)),
    "env_metatable": ("setmetatable(_G, nil)", (E,)),
    # os, io, package, require, dofile, loadfile
    "os_execute": ("os.execute('touch ' .. MARK)", (V,)),
    "os_getenv": ("local h = os.getenv('HOME')", (V,)),
    "os_remove": ("os.remove(MARK)", (V,)),
    "os_exit": ("os.exit(1)", (V,)),
    "io_open": ("io.open(MARK, 'w'):write('x')", (V,)),
    "io_popen": ("io.popen('touch ' .. MARK)", (V,)),
    "package_loadlib": ("package.loadlib('libc.so.6', 'system')", (V,)),
    "require": ("require('os')", (V,)),
    "dofile": ("dofile(MARK)", (V,)),
    "loadfile": ("loadfile(MARK)", (V,)),
    # load, binary chunks, string.dump
    "load_text": ("load('return 1')()", (V,)),
    "load_binary": ("load('\\27Lua\\84\\0')", (V,)),
    "loadstring": ("loadstring('return 1')", (V,)),
    "string_dump": ("string.dump(run)", (V,)),
    "string_dump_method": ("local d = ('').dump", (V,)),
    # debug
    "debug_getregistry": ("debug.getregistry()", (V,)),
    "debug_getupvalue": ("debug.getupvalue(ecs.spawn, 1)", (V,)),
    "debug_setupvalue": ("debug.setupvalue(ecs.spawn, 1, nil)", (V,)),
    "debug_upvaluejoin": ("debug.upvaluejoin(run, 1, run, 1)", (V,)),
    "debug_sethook_removal": ("debug.sethook(); " + LOOP, (V,)),
    "debug_getinfo": ("debug.getinfo(2)", (V,)),
    "debug_getlocal": ("debug.getlocal(2, 1)", (V,)),
    # shared string metatable, read-only proxies, rawset / rawget
    "string_metatable_poison": ("getmetatable('').__index = {upper = 1}", (E,)),
    "string_setmetatable": ("setmetatable('', {})", (E,)),
    "string_table_poison": ("string.upper = function() return 'pwned' end", (V,)),
    "rawset_api": ("rawset(ecs, 'spawn', print)", (V,)),
    "rawset_os": ("rawset(os, 'execute', print)", (V,)),
    "rawget_api": ("rawget(ecs, 'spawn')", (V,)),
    "setmetatable_api": ("setmetatable(ecs, {})", (V,)),
    "assign_api": ("ecs.spawn = nil", (V,)),
    # instruction budget: plain, coroutines, pcall / xpcall / resume swallowing
    "loop_plain": (LOOP, (T,)),
    "loop_coroutine_wrap": ("coroutine.wrap(function() " + LOOP + " end)()", (T,)),
    "loop_coroutine_resume": (
        "coroutine.resume(coroutine.create(function() " + LOOP + " end))",
        (T,),
    ),
    "loop_nested_coroutines": (
        "coroutine.wrap(function() coroutine.wrap(function() "
        + LOOP
        + " end)() end)()",
        (T,),
    ),
    "loop_in_pcall": ("pcall(function() " + LOOP + " end)", (T,)),
    "pcall_swallow_retry": (
        "while true do pcall(function() " + LOOP + " end) end",
        (T,),
    ),
    "xpcall_swallow": (
        "xpcall(function() " + LOOP + " end, function() " + LOOP + " end)",
        (T,),
    ),
    "resume_swallow_retry": (
        "while true do coroutine.resume(coroutine.create(function() "
        + LOOP
        + " end)) end",
        (T,),
    ),
    "tail_call_loop": ("local function f() return f() end f()", (T,)),
    "loop_in_tostring_metamethod": (
        "tostring(setmetatable({}, {__tostring = function() " + LOOP + " end}))",
        (T,),
    ),
    "loop_in_sort_comparator": (
        "table.sort({3, 2, 1}, function() " + LOOP + " end)",
        (T, E),
    ),
    "loop_in_gsub_callback": (
        "string.gsub('aaa', 'a', function() " + LOOP + " end)",
        (T,),
    ),
    # recursion and memory bombs
    "deep_recursion": (
        "local function f(n) return 1 + f(n + 1) end f(1)",
        (E, M),
    ),
    "string_rep_bomb": ("local s = string.rep('x', 1e9)", (M,)),
    "string_rep_method_bomb": ("local s = ('x'):rep(1e9)", (M,)),
    "table_concat_bomb": (
        "local t = {} local s = ('x'):rep(1000) for i = 1, 2000 do t[i] = s end "
        "local r = table.concat(t)",
        (M,),
    ),
    "concat_doubling_bomb": ("local s = 'x' while true do s = s .. s end", (M,)),
    "table_growth_bomb": (
        "local t = {} while true do t[#t + 1] = {1, 2, 3, 4} end",
        (M, T),
    ),
    "memory_bomb_in_pcall": (
        "pcall(function() local s = 'x' while true do s = s .. s end end)",
        (M,),
    ),
    "table_move_bomb": ("table.move({}, 1, 1e9, 1)", (M,)),
    "unpack_bomb": ("table.unpack({}, 1, 1e8)", (E,)),
    # pathological patterns
    "pattern_find": ("string.find(('a'):rep(5000), '.-.-.-b')", (M,)),
    "pattern_match": ("string.match(('a'):rep(3000), '(a*)*(a*)*b')", (M,)),
    "pattern_gmatch": ("for x in ('a'):rep(5000):gmatch('.-.-.-b') do end", (M,)),
    "pattern_gsub": ("string.gsub(('a'):rep(5000), '.-.-.-b', '')", (M,)),
    "pattern_too_long": ("string.find('a', ('a?'):rep(200))", (M,)),
    # garbage collector and finalizers
    "collectgarbage_stop": ("collectgarbage('stop')", (V,)),
    "collectgarbage_generational": ("collectgarbage('generational')", (V,)),
    "gc_finalizer": (
        "setmetatable({}, {__gc = function() " + LOOP + " end})",
        (V,),
    ),
    "gc_added_after_setmetatable": (
        "local mt = {} setmetatable({}, mt) mt.__gc = function() "
        + LOOP
        + " end collectgarbage()",
        (OK,),
    ),
    # metamethods on values the host touches
    "error_object_tostring": (
        "error(setmetatable({}, {__tostring = function() " + LOOP + " end}))",
        (E,),
    ),
    "error_object_index": (
        "error(setmetatable({}, {__index = function() "
        + LOOP
        + " end, __eq = function() "
        + LOOP
        + " end}))",
        (E,),
    ),
    "returned_metamethods": (
        "return setmetatable({}, {__len = function() "
        + LOOP
        + " end, __index = function() "
        + LOOP
        + " end})",
        (E,),
    ),
    "yield_across_boundary": ("coroutine.yield(1)", (E,)),
}

RUNNER = r"""
import json, os, sys
from scripting.lua import LuaLimits, LuaSandbox
from scripting.errors import ScriptError
mark = os.environ["MARK"]
cwd, env = os.getcwd(), dict(os.environ)
PROBE = "function probe(b) assert(('ab'):upper() == 'AB'); assert(#string.rep('a', 3) == 3) end"
for cid, body in json.loads(sys.stdin.read()):
    box = LuaSandbox(cid, LuaLimits(instructions=2_000_000, max_memory=32 << 20))
    src = "local MARK = %r\nfunction run(b)\n%s\nend\n" % (mark, body)
    res = {"id": cid, "error": None, "msg": ""}
    try:
        box.load(src)
        box.call("run", 1, "", b"", statuses=1 if cid == "returned_metamethods" else 0)
    except ScriptError as exc:
        res["error"], res["msg"] = type(exc).__name__, str(exc)
    res["violations"] = box.violations
    box.load(PROBE)
    box.call("probe", 0, "", b"")
    fresh = LuaSandbox("fresh")
    fresh.load(PROBE)
    fresh.call("probe", 0, "", b"")
    res["host_ok"] = (
        not os.path.exists(mark) and os.getcwd() == cwd and dict(os.environ) == env
    )
    print(json.dumps(res), flush=True)
"""

GROUPS = 6


def _run_group(
    items: list[tuple[str, str]], mark: Path
) -> dict[str, dict[str, object]]:
    env = {**os.environ, "MARK": str(mark), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    out = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        out[rec["id"]] = rec
    if len(out) != len(items):
        missing = [cid for cid, _ in items if cid not in out]
        pytest.fail(
            f"runner died at {missing[:1]}: rc={proc.returncode} {proc.stderr[-2000:]}"
        )
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    mark = tmp_path_factory.mktemp("escape") / "pwned"
    items = [(cid, body) for cid, (body, _) in CASES.items()]
    out: dict[str, dict[str, object]] = {}
    for g in range(GROUPS):
        out.update(_run_group(items[g::GROUPS], mark))
    return out


def test_suite_has_at_least_40_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("cid", list(CASES))
def test_escape_is_blocked_and_reported(
    results: dict[str, dict[str, object]], cid: str
) -> None:
    rec = results[cid]
    expected = CASES[cid][1]
    assert rec["error"] in expected, rec
    assert rec["host_ok"], rec
    if rec["error"] == "SandboxViolation":
        assert isinstance(rec["violations"], int)
        assert rec["violations"] >= 1
        assert "sandbox violation" in str(rec["msg"])
