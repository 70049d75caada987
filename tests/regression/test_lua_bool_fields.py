"""Lua scripts write bool fields: the engine turns Lua's 0 / 1 (or true / false) into bools.

Before the fix, ``ecs.set_batch(ents, "Flag", {on = ...})`` from Lua recorded int64
columns and the command buffer refused them (E0003), so no Lua script could write a
bool field (found by the wolf-sheep gallery model's grass rule).
"""

from __future__ import annotations

import numpy as np

from archetype_ecs import World, bool_, component, i32
from scripting import ScriptEngine


@component
class LuaFlag:
    on: bool_ = False
    n: i32 = 0


SRC = """--! writes: LuaFlag
function run(b)
  local on, n = {}, {}
  for i = 1, b.n do
    on[i] = (b.LuaFlag.on[i] == 0) and 1 or 0
    n[i] = b.LuaFlag.n[i] + 1
  end
  ecs.set_batch(b.entity, "LuaFlag", {on = on, n = n})
  ecs.spawn({LuaFlag = {on = true, n = 7}}, 1)
end
"""


def test_lua_writes_and_spawns_bool_fields() -> None:
    world = World(threads=1)
    world.spawn_batch({LuaFlag: {"on": np.array([True, False, True])}})
    engine = ScriptEngine(world, components=[LuaFlag])
    world.add_system(
        engine.system(
            engine.load(
                SRC.replace("--! writes", "--! spawn: yes\n--! writes"), name="flip.lua"
            )
        )
    )
    world.step()
    report = engine.report()[0]
    assert report["failures"] == 0, report["last_error"]
    table = world.query(LuaFlag).to_arrow()
    assert table.column("LuaFlag.on").type == "bool"
    rows = sorted(
        zip(
            table.column("LuaFlag.n").to_pylist(),
            table.column("LuaFlag.on").to_pylist(),
            strict=True,
        )
    )
    assert rows == [(1, False), (1, False), (1, True), (7, True)]
