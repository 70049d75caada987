"""script_profiler: what the script profiler costs a script call.

Variants (a Lua and a Python script over N agents; the Lua one calls a small
function per agent, the worst case for call counting):

* ``lua``: no profiler (baseline); ``lua_profiled``: :class:`~scripting.profiler.
  ScriptProfiler` on (call hook + line sampling every 1,000 instructions) with
  trace spans; ``lua_sampled_100``: sampling every 100 instructions.
* ``py`` / ``py_profiled``: the Python script, function-level (``sys.setprofile``
  scoped to script code); compare with ``py``.

``python -m benchmarks.script_profiler`` prints interleaved-pair median ratios and IQRs.
"""

from types import SimpleNamespace
from typing import Any

import numpy as np

from benchmarks._runner import Scenario
from benchmarks.debugger import paired_report

LUA = """--! reads: PPos
--! writes: PPos
local function bump(v) return v + 1 end
function run(b)
  local x, src = {}, b.PPos.x
  for i = 1, b.n do x[i] = bump(src[i]) end
  ecs.set_batch(b.entity, "PPos", {x = x})
end
"""

PY = """#! reads: PPos
#! writes: PPos
import numpy as np

def bump(v):
    return v + 1

def run(b, ecs):
    x = b["PPos.x"]
    out = np.empty_like(x)
    for k in range(0, len(x), 256):
        out[k:k + 256] = bump(x[k:k + 256])
    ecs.set_batch(b["entity"], "PPos", {"x": out})
"""


def _build(n: int, variant: str) -> Any:
    from archetype_ecs import World, component, f32
    from scripting import ScriptEngine
    from scripting.profiler import ScriptProfiler

    @component
    class PPos:
        x: f32 = 0.0

    w = World()
    ents = w.spawn_batch({PPos: {"x": np.arange(n, dtype=np.float32)}})
    eng = ScriptEngine(w, components=[PPos])
    eng.load(LUA, name="p.lua")
    eng.load(PY, name="p.py")
    prof = None
    if variant == "profiled":
        prof = ScriptProfiler(eng).start()
    elif variant == "sampled_100":
        prof = ScriptProfiler(eng, sample_every=100).start()
    batch = {
        "entity": np.asarray(ents, np.uint64),
        "PPos.x": np.arange(n, dtype=np.float32),
    }
    return SimpleNamespace(eng=eng, batch=batch, prof=prof)


class ScriptProfilerScenario(Scenario):
    name = "script_profiler"
    params = (1_000, 100_000)
    unit = "agent"
    baseline = "lua"
    notes = "py_profiled compares with py; the runner's ratio column is against lua"

    def setup(self, n: int) -> None:
        self.b: dict[str, Any] = {}

    def _get(self, n: int, variant: str) -> Any:
        if variant not in self.b:
            self.b[variant] = _build(n, variant)
        return self.b[variant]

    def _call(self, n: int, variant: str, script: str) -> None:
        b = self._get(n, variant)
        assert b.eng.call(script, b.batch) is not None

    def time_lua(self, n: int) -> None:
        self._call(n, "plain", "p.lua")

    def time_lua_profiled(self, n: int) -> None:
        self._call(n, "profiled", "p.lua")

    def time_lua_sampled_100(self, n: int) -> None:
        self._call(n, "sampled_100", "p.lua")

    def time_py(self, n: int) -> None:
        self._call(n, "plain", "p.py")

    def time_py_profiled(self, n: int) -> None:
        self._call(n, "profiled", "p.py")


def main() -> None:
    """Interleaved pairs: median ratio and IQR, without vs with the profiler."""
    s = ScriptProfilerScenario()
    for n in (1_000, 100_000):
        s.setup(n)
        paired_report(
            s,
            [
                ("lua: profiled (sample every 1000)", "lua", "lua_profiled"),
                ("lua: profiled (sample every 100)", "lua", "lua_sampled_100"),
                ("py: profiled (function level)", "py", "py_profiled"),
            ],
            n,
            pairs=101 if n <= 1_000 else 21,
        )


if __name__ == "__main__":
    main()
