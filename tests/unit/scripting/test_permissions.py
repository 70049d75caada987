"""Every kind of permission refusal, in both languages, names script, op and permission."""

from __future__ import annotations

import pytest

from archetype_ecs import World
from scripting import PermissionDenied, ScriptEngine, ScriptError, parse_header

LUA_CASES = [
    ("ecs.set_batch(b.entity, 'SVel', {dx = 1})", "set_batch(SVel)", "writes: SVel"),
    ("ecs.set(b.entity[1], 'SVel', {dx = 1})", "set_batch(SVel)", "writes: SVel"),
    ("ecs.insert(b.entity, 'SHp', {v = 1})", "insert(SHp)", "writes: SHp"),
    ("ecs.remove(b.entity, 'SVel')", "remove(SVel)", "writes: SVel"),
    ("ecs.despawn(b.entity)", "despawn", "despawn: yes"),
    ("ecs.spawn({SPos = {x = 1}})", "spawn", "spawn: yes"),
    ("ecs.resource('Time')", "resource(Time)", "resources: Time"),
]

PY_CASES = [
    (
        "ecs.set_batch(b['entity'], 'SVel', {'dx': 1})",
        "set_batch(SVel)",
        "writes: SVel",
    ),
    ("ecs.insert(b['entity'], 'SHp', {'v': 1})", "insert(SHp)", "writes: SHp"),
    ("ecs.remove(b['entity'], 'SVel')", "remove(SVel)", "writes: SVel"),
    ("ecs.despawn(b['entity'])", "despawn", "despawn: yes"),
    ("ecs.spawn({'SPos': {'x': 1}})", "spawn", "spawn: yes"),
    ("ecs.resource('Time')", "resource(Time)", "resources: Time"),
]


@pytest.mark.parametrize(("code", "op", "need"), LUA_CASES)
def test_lua_refusal(
    world: World, engine: ScriptEngine, code: str, op: str, need: str
) -> None:
    src = f"--! reads: SPos\nfunction run(b)\n  {code}\nend\n"
    world.add_system(engine.system(engine.load(src, name="p.lua")))
    world.step()
    st = engine.scripts["p.lua"].stats
    assert st.refusals == 1
    assert f"script p.lua:3: permission denied: {op} needs '{need}'" in st.last_error


@pytest.mark.parametrize(("code", "op", "need"), PY_CASES)
def test_python_refusal(
    world: World, engine: ScriptEngine, code: str, op: str, need: str
) -> None:
    src = f"#! reads: SPos\ndef run(b, ecs):\n    {code}\n"
    world.add_system(engine.system(engine.load(src, name="p.py")))
    world.step()
    st = engine.scripts["p.py"].stats
    assert st.refusals == 1
    assert f"permission denied: {op} needs '{need}'" in st.last_error


def test_refusal_cannot_be_swallowed_by_pcall(
    world: World, engine: ScriptEngine
) -> None:
    src = "--! reads: SPos\nfunction run(b)\n  pcall(ecs.despawn, b.entity)\nend\n"
    world.add_system(engine.system(engine.load(src, name="p.lua")))
    world.step()
    assert engine.scripts["p.lua"].stats.failures == 1


def test_repeated_refusals_disable_the_script(
    world: World, engine: ScriptEngine
) -> None:
    src = "--! reads: SPos\nfunction run(b) ecs.despawn(b.entity) end\n"
    world.add_system(engine.system(engine.load(src, name="p.lua")))
    for _ in range(10):
        world.step()
    st = engine.scripts["p.lua"].stats
    assert st.disabled
    assert st.refusals == engine.max_violations


def test_query_outside_the_header_is_refused(engine: ScriptEngine) -> None:
    sc = engine.load("--! reads: SPos\n", name="q.lua")
    with pytest.raises(PermissionDenied, match="query\\(SVel\\)"):
        engine.system(sc, query=["SVel"])


def test_header_parsing() -> None:
    p = parse_header(
        "--! reads: A, B\n--! writes: C\n--! spawn: yes\n--! resources: Time\n", "s"
    )
    assert (p.reads, p.writes, p.spawn, p.despawn, p.resources) == (
        ("A", "B"),
        ("C",),
        True,
        False,
        ("Time",),
    )
    assert parse_header("#! despawn: no\n", "s").despawn is False


def test_bad_header_is_an_error_with_line() -> None:
    with pytest.raises(ScriptError, match="s:2: unknown header key 'color'"):
        parse_header("--! reads: A\n--! color: red\n", "s")
    with pytest.raises(ScriptError, match="yes or no"):
        parse_header("--! spawn: maybe\n", "s")
