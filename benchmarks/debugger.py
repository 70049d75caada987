"""debugger: what the script debugger costs a script call, with and without breakpoints.

Variants (a Lua and a Python script system body over N agents, as in ``script_calls``):

* ``lua`` / ``py``: no debugger anywhere (the baseline is ``lua``; compare ``py_*``
  with ``py``).
* ``lua_attached`` / ``py_attached``: a :class:`~scripting.debugger.Debugger` on the
  engine, no breakpoint set. Target: not measurable above noise.
* ``lua_bp_other`` / ``py_bp_other``: a breakpoint in *another* script. Target: not
  measurable above noise (hooks are per script).
* ``lua_bp_cold`` / ``py_bp_cold``: a breakpoint in a function of the *same* script
  that never runs (Lua: the line hook runs on every line; Python: only the calls
  of script functions are looked at, the hot function is not traced).

``python -m benchmarks.debugger`` measures the no-breakpoint and other-script cases
in interleaved pairs and prints the median ratio and the IQR of the ratios.
"""

import gc
import statistics
import time
from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np

from benchmarks._runner import Scenario

LUA = """--! reads: DPos
--! writes: DPos
function run(b)
  local x, src = {}, b.DPos.x
  for i = 1, b.n do x[i] = src[i] + 1 end
  ecs.set_batch(b.entity, "DPos", {x = x})
end
function never(b)
  return 1
end
"""

PY = """#! reads: DPos
#! writes: DPos
def run(b, ecs):
    ecs.set_batch(b["entity"], "DPos", {"x": b["DPos.x"] + 1})

def never(b, ecs):
    return 1
"""

VARIANTS = ("plain", "attached", "bp_other", "bp_cold")


def _build(n: int, variant: str) -> Any:
    from archetype_ecs import World, component, f32
    from scripting import ScriptEngine
    from scripting.debugger import Debugger

    @component
    class DPos:
        x: f32 = 0.0

    w = World()
    ents = w.spawn_batch({DPos: {"x": np.arange(n, dtype=np.float32)}})
    eng = ScriptEngine(w, components=[DPos])
    eng.load(LUA, name="d.lua")
    eng.load(PY, name="d.py")
    eng.load(LUA, name="other.lua")
    eng.load(PY, name="other.py")
    if variant != "plain":
        dbg = Debugger(eng)
        if variant == "bp_other":
            dbg.set_breakpoint("other.lua", 4)
            dbg.set_breakpoint("other.py", 4)
        elif variant == "bp_cold":
            dbg.set_breakpoint("d.lua", 9)
            dbg.set_breakpoint("d.py", 7)
    batch = {
        "entity": np.asarray(ents, np.uint64),
        "DPos.x": np.arange(n, dtype=np.float32),
    }
    return SimpleNamespace(eng=eng, batch=batch)


class Debugger(Scenario):
    name = "debugger"
    params = (1_000, 100_000)
    unit = "agent"
    baseline = "lua"
    notes = "py_* compare with py; the runner's ratio column is against lua"

    def setup(self, n: int) -> None:
        self.b: dict[str, Any] = {}

    def _get(self, n: int, variant: str) -> Any:
        if variant not in self.b:
            self.b[variant] = _build(n, variant)
        return self.b[variant]

    def _lua(self, n: int, variant: str) -> None:
        b = self._get(n, variant)
        assert b.eng.call("d.lua", b.batch) is not None

    def _py(self, n: int, variant: str) -> None:
        b = self._get(n, variant)
        assert b.eng.call("d.py", b.batch) is not None

    def time_lua(self, n: int) -> None:
        self._lua(n, "plain")

    def time_lua_attached(self, n: int) -> None:
        self._lua(n, "attached")

    def time_lua_bp_other(self, n: int) -> None:
        self._lua(n, "bp_other")

    def time_lua_bp_cold(self, n: int) -> None:
        self._lua(n, "bp_cold")

    def time_py(self, n: int) -> None:
        self._py(n, "plain")

    def time_py_attached(self, n: int) -> None:
        self._py(n, "attached")

    def time_py_bp_other(self, n: int) -> None:
        self._py(n, "bp_other")

    def time_py_bp_cold(self, n: int) -> None:
        self._py(n, "bp_cold")


def paired(
    a: Any, b: Any, pairs: int = 201, number: int = 5
) -> tuple[float, float, float]:
    """Median and quartiles of time(b) / time(a) over interleaved pairs (order alternates)."""
    ratios: list[float] = []
    gc.collect()
    gc.disable()
    try:
        for k in range(pairs):
            _pair(a, b, k, number, ratios)
    finally:
        gc.enable()
    q1, med, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return med, q1, q3


def _pair(a: Any, b: Any, k: int, number: int, ratios: list[float]) -> None:
    times = []
    for fn in (a, b) if k % 2 == 0 else (b, a):
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn()
        times.append(time.perf_counter_ns() - t0)
    ta, tb = (times[0], times[1]) if k % 2 == 0 else (times[1], times[0])
    ratios.append(tb / ta)


def paired_report(
    scenario: Any, cases: list[tuple[str, str, str]], n: int, pairs: int = 201
) -> None:
    for label, base, other in cases:
        fa = getattr(scenario, f"time_{base}")
        fb = getattr(scenario, f"time_{other}")
        fa(n)
        fb(n)  # warm up both
        number = max(1, 100_000 // n)
        med, q1, q3 = paired(partial(fa, n), partial(fb, n), pairs, number)
        print(
            f"N={n:>7,} {label:<34} ratio median {med:.3f}  IQR [{q1:.3f}, {q3:.3f}]"
            f"  ({pairs} interleaved pairs)"
        )


def main() -> None:
    """Interleaved pairs: median ratio and IQR, without vs with the debugger."""
    s = Debugger()
    for n in (1_000, 100_000):
        s.setup(n)
        paired_report(
            s,
            [
                ("lua: attached, no breakpoint", "lua", "lua_attached"),
                ("lua: breakpoint in another script", "lua", "lua_bp_other"),
                ("lua: breakpoint elsewhere, same", "lua", "lua_bp_cold"),
                ("py: attached, no breakpoint", "py", "py_attached"),
                ("py: breakpoint in another script", "py", "py_bp_other"),
                ("py: breakpoint elsewhere, same", "py", "py_bp_cold"),
            ],
            n,
            pairs=201 if n <= 1_000 else 41,
        )


if __name__ == "__main__":
    main()
