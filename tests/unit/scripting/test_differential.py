"""Differential: a Lua script system, a Python script system and a Numba kernel system
(and a script leaf vs a NumPy leaf) produce the same world state."""

from __future__ import annotations

import numpy as np
import pytest

from archetype_ecs import World, njit, system
from scripting import LuaLimits, ScriptEngine
from tests.unit.scripting._components import SPos, SVel

N = 257
STEPS = 5

LUA = """--! reads: SVel
--! writes: SPos
--! resources: Time
function run(b)
  local dt = ecs.resource("Time").dt
  local x, y = {}, {}
  local px, py, vx, vy = b.SPos.x, b.SPos.y, b.SVel.dx, b.SVel.dy
  for i = 1, b.n do
    x[i] = px[i] + vx[i] * dt
    y[i] = py[i] + vy[i] * dt
  end
  ecs.set_batch(b.entity, "SPos", {x = x, y = y})
end
"""

PY = """#! reads: SVel
#! writes: SPos
#! resources: Time
def run(b, ecs):
    dt = ecs.resource("Time")["dt"]
    x = b["SPos.x"].astype("f8") + b["SVel.dx"].astype("f8") * dt
    y = b["SPos.y"].astype("f8") + b["SVel.dy"].astype("f8") * dt
    ecs.set_batch(b["entity"], "SPos", {"x": x, "y": y})
"""


@njit
def _move(x, y, dx, dy, dt):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        x[i] = np.float64(x[i]) + np.float64(dx[i]) * dt
        y[i] = np.float64(y[i]) + np.float64(dy[i]) * dt


def make_world() -> World:
    rng = np.random.default_rng(3)
    w = World(seed=0)
    cols = {
        SPos: {"x": rng.normal(size=N), "y": rng.normal(size=N)},
        SVel: {"dx": rng.normal(size=N), "dy": rng.normal(size=N)},
    }
    w.spawn_batch(cols)
    return w


def state(w: World) -> dict[str, list[float]]:
    t = w.query(SPos).to_arrow().sort_by("entity")
    return {c: t.column(c).to_pylist() for c in ("SPos.x", "SPos.y")}


def run_kernel() -> dict[str, list[float]]:
    w = make_world()
    made = system(query=[SPos, SVel], writes=[SPos], args=lambda ctx: (ctx.time.dt,))(
        _move
    )
    w.add_system(made)
    for _ in range(STEPS):
        w.step()
    return state(w)


@pytest.mark.parametrize(("src", "name"), [(LUA, "move.lua"), (PY, "move.py")])
def test_script_system_equals_numba_system(src: str, name: str) -> None:
    w = make_world()
    eng = ScriptEngine(w, components=[SPos, SVel], limits=LuaLimits())
    w.add_system(eng.system(eng.load(src, name=name)))
    for _ in range(STEPS):
        w.step()
    assert eng.scripts[name].stats.failures == 0
    assert state(w) == run_kernel()


def test_script_leaf_equals_numpy_leaf() -> None:
    w = make_world()
    eng = ScriptEngine(w, components=[SPos, SVel])
    eng.load(
        "--! reads: SPos\nfunction tick(b)\n  local r = {}\n"
        "  for i = 1, b.n do r[i] = (b.SPos.x[i] > 0) and 1 or 2 end\n"
        "  return r\nend\n",
        name="near.lua",
    )
    fn = eng.leaf_fn("near.lua", [SPos])
    t = w.query(SPos).to_arrow().sort_by("entity")
    x = np.asarray(t.column("SPos.x"), np.float32)
    y = np.asarray(t.column("SPos.y"), np.float32)
    rows = np.arange(0, N, 3)
    got = fn(rows, x, y)
    assert got.tolist() == np.where(x[rows] > 0, 1, 2).tolist()
