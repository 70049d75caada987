"""script_calls: a script setting one component on each of N agents through the batch API.

Variants
* ``lua``: a Lua script system body (batch in, ``set_batch`` command out, decoded
  into a command buffer), under the default instruction budget.
* ``lua_no_budget``: the same with the budget hook off (``LuaLimits(instructions=0)``):
  the difference is the cost of the budget.
* ``python``: the equivalent trusted Python script.
* ``numba``: the equivalent Numba kernel writing the column in place.

Targets: >= 1e6 commands/s (<= 1 us per agent) for ``lua`` at N = 1e5; a fixed cost per
script call <= 5 us (printed by ``python -m benchmarks.script_calls``).
"""

import time
from typing import Any

import numpy as np

from benchmarks._runner import PerUnitTarget, Scenario

LUA = """--! reads: BPos
--! writes: BPos
function run(b)
  local x, src = {}, b.BPos.x
  for i = 1, b.n do x[i] = src[i] + 1 end
  ecs.set_batch(b.entity, "BPos", {x = x})
end
function empty(b) end
"""

PY = """#! reads: BPos
#! writes: BPos
def run(b, ecs):
    ecs.set_batch(b["entity"], "BPos", {"x": b["BPos.x"] + 1})
"""


def _build(n: int) -> Any:
    from types import SimpleNamespace

    from archetype_ecs import World, component, f32, njit
    from scripting import LuaLimits, ScriptEngine

    @component
    class BPos:
        x: f32 = 0.0

    @njit
    def add_one(x):  # type: ignore[no-untyped-def]
        for i in range(x.shape[0]):
            x[i] += 1.0

    w = World()
    ents = w.spawn_batch({BPos: {"x": np.arange(n, dtype=np.float32)}})
    eng = ScriptEngine(w, components=[BPos])
    free = ScriptEngine(w, components=[BPos], limits=LuaLimits(instructions=0))
    eng.load(LUA, name="set.lua")
    free.load(LUA, name="set.lua")
    eng.load(PY, name="set.py")
    batch = {
        "entity": np.asarray(ents, np.uint64),
        "BPos.x": np.arange(n, dtype=np.float32),
    }
    x = np.arange(n, dtype=np.float32)
    return SimpleNamespace(eng=eng, free=free, batch=batch, x=x, kernel=add_one)


class ScriptCalls(Scenario):
    name = "script_calls"
    params = (1_000, 100_000)
    unit = "agent"
    baseline = "numba"
    targets = {  # noqa: RUF012 # asv-shaped class attribute, read-only
        "lua": [PerUnitTarget(min_n=100_000, max_seconds=1e-6, unit="command")]
    }

    def setup(self, n: int) -> None:
        self.b = _build(n)
        self.b.kernel(self.b.x)  # compile outside the timing

    def time_lua(self, n: int) -> None:
        assert self.b.eng.call("set.lua", self.b.batch) is not None

    def time_lua_no_budget(self, n: int) -> None:
        assert self.b.free.call("set.lua", self.b.batch) is not None

    def time_python(self, n: int) -> None:
        assert self.b.eng.call("set.py", self.b.batch) is not None

    def time_numba(self, n: int) -> None:
        self.b.kernel(self.b.x)


def _best(fn: Any, repeat: int = 7) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    """Print commands/s, the budget's cost, the Python/Numba ratio and the fixed cost."""
    n = 100_000
    s = ScriptCalls()
    s.setup(n)
    t = {
        v: _best(lambda v=v: getattr(s, f"time_{v}")(n))
        for v in ("lua", "lua_no_budget", "python", "numba")
    }
    print(f"lua: {n / t['lua']:.3g} commands/s (target >= 1e6)")
    print(f"instruction budget cost: {t['lua'] / t['lua_no_budget']:.2f}x")
    print(f"python script / numba: {t['python'] / t['numba']:.1f}x")
    empty = {"entity": np.zeros(0, np.uint64), "BPos.x": np.zeros(0, np.float32)}
    for enabled in (True, False):
        s.b.eng.world.profiler.enabled = enabled
        per = _per_call(
            lambda: s.b.eng.call("set.lua", empty, entry="empty"), s.b.eng.world
        )
        label = "with" if enabled else "without"
        print(
            f"fixed cost per Lua call, {label} the profiler: median {per[0]:.1f} us, "
            f"best {per[1]:.1f} us (target <= 5 us)"
        )
    # what a non-empty batch adds: packing each column, building it in Lua
    s.b.eng.world.profiler.enabled = True
    one = {k: v[:1] for k, v in s.b.batch.items()}
    per = _per_call(lambda: s.b.eng.call("set.lua", one, entry="empty"), s.b.eng.world)
    print(
        f"a Lua call on a batch of one agent (2 columns), with the profiler: "
        f"median {per[0]:.1f} us, best {per[1]:.1f} us (for scale)"
    )


def _per_call(
    fn: Any, world: Any, batches: int = 31, calls: int = 200
) -> tuple[float, float]:
    """Median and best microseconds per call over ``batches`` runs of ``calls`` calls.

    The median of short batches resists a busy machine far better than one long mean
    (other processes steal whole time slices, which land in a few batches only). Each
    batch ends with a frame mark, as ``world.step`` makes, and it is timed: the
    profiler then drops the spans older than its last ``trace_frames`` frames, work
    that grows with the spans recorded.
    """
    for _ in range(calls):
        fn()  # warm up: caches, the Lua layout table
    per = []
    for k in range(batches):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        now = time.perf_counter_ns()
        world.profiler.frame_mark(k, now, now)
        per.append((time.perf_counter() - start) / calls * 1e6)
    return float(np.median(per)), min(per)


if __name__ == "__main__":
    main()
