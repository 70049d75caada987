"""reload: hot-reload latency, from a file write to the new version running in a world.

One timed call is one edit: write a new version of a watched file (a real file, a real
watchdog observer, the default debounce), then keep stepping the world at 60 frames
per second until a frame has run the new version (its output is in a component). N is
the number of entities the world steps.

Variants
* ``lua``: a Lua script system (new constant in ``run``).
* ``python``: the same as a trusted Python script.
* ``tree_cached``: a behavior-tree JSON file switched between two versions whose tick
  kernels the leaf registry already holds (an undo, a toggled branch): parse, check,
  warm, swap, remap the agents' state.
* ``tree_compile``: a tree edit with a leaf parameter never seen before: the same plus
  a Numba compile of the new tick (generated code cannot use Numba's disk cache).
* ``systems``: a module of Numba systems with a new constant (re-import, compile for
  the running signature, swap in the schedule).

Target: <= 300 ms per edit for ``lua``, ``python`` and ``tree_cached`` (median).
``python -m benchmarks.reload`` prints the median and 90th percentile over 20 edits
per variant.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._runner import PerUnitTarget, Scenario

FRAME = 1 / 60  # seconds per frame of the stepping world
TIMEOUT = 60.0

LUA = """--! writes: BVal
function run(b)
  ecs.set_batch(b.entity, "BVal", {v = VERSION})
end
"""

PY = """#! writes: BVal
def run(b, ecs):
    ecs.set_batch(b["entity"], "BVal", {"v": VERSION})
"""

SYSTEMS = """
from archetype_ecs import njit, system
from benchmarks.reload import BVal


@system(query=[BVal], writes=[BVal])
@njit
def set_version(v):
    for i in range(v.shape[0]):
        v[i] = VERSION
"""


def _tree(version: int) -> str:
    leaf = {"type": "Action", "name": "bench_set", "params": {"value": version}}
    return json.dumps(
        {
            "format": "arrow-ecs.behavior-tree",
            "version": 1,
            "name": "bench",
            "root": {"type": "Sequence", "memory": True, "children": [leaf]},
        }
    )


def _declare() -> tuple[type, Any]:
    from archetype_ecs import component, i64, njit
    from behaviors.leaves import leaf

    @component
    class BVal:
        v: i64 = 0

    @leaf("bench_set", kind="action", writes=[BVal], params=("value",))
    @njit
    def bench_set(i, v, value):  # type: ignore[no-untyped-def]
        v[i] = value
        return 1

    return BVal, bench_set


BVal, _bench_set = _declare()


class _Edited:
    """A world stepping at 60 fps with one watched file and its next version."""

    def __init__(self, kind: str, n: int) -> None:
        from archetype_ecs import World
        from behaviors.leaves import LeafRegistry
        from behaviors.reload import watch_tree
        from behaviors.tick import add_agents
        from scripting import ScriptEngine
        from scripting.reload import HotReloader

        self.kind = kind
        self.dir = Path(tempfile.mkdtemp(prefix="arrow_ecs_reload_"))
        self.world = w = World(threads=1)
        self.ids = w.spawn_batch({BVal: {"v": np.zeros(n, np.int64)}})
        self.engine = ScriptEngine(w, components=[BVal])
        self.reloader = HotReloader(w, self.engine)
        self.version = 1
        suffix = {"lua": ".lua", "python": ".py", "systems": ".py"}.get(kind, ".json")
        self.path = self.dir / f"bench_{kind}{suffix}"
        self.path.write_text(self.text(1))
        if kind in ("lua", "python"):
            sc = self.reloader.watch_script(self.path)
            w.add_system(self.engine.system(sc))
        elif kind == "systems":
            self.reloader.watch_systems(self.path)
        else:
            LeafRegistry.of(w).register(_bench_set)
            handle = watch_tree(self.reloader, self.path)
            add_agents(w, handle.tree, self.ids)
        w.step()
        assert self.value() == 1
        if kind == "tree_cached":  # both versions compiled before any timing
            self.edit(2)
            self.edit(1)

    def text(self, version: int) -> str:
        if self.kind == "lua":
            return LUA.replace("VERSION", str(version))
        if self.kind == "python":
            return PY.replace("VERSION", str(version))
        if self.kind == "systems":
            return SYSTEMS.replace("VERSION", str(version))
        return _tree(version)

    def value(self) -> int:
        return int(self.world.component(int(self.ids[0]), BVal).v)

    def edit(self, version: int) -> float:
        """Write ``version``; step at 60 fps until a frame ran it; seconds taken."""
        start = time.perf_counter()
        self.path.write_text(self.text(version))
        while self.value() != version:
            frame_start = time.perf_counter()
            if frame_start - start > TIMEOUT:
                raise TimeoutError(f"{self.kind}: version {version} never ran")
            self.world.step()
            left = FRAME - (time.perf_counter() - frame_start)
            if left > 0 and self.value() != version:
                time.sleep(left)
        return time.perf_counter() - start

    def next_edit(self) -> float:
        if self.kind == "tree_cached":
            self.version = 3 - self.version  # 1 <-> 2
        else:
            self.version += 1
        return self.edit(self.version)

    def close(self) -> None:
        self.reloader.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Reload(Scenario):
    name = "reload"
    params = (1_000,)
    unit = "edit"
    notes = "wall time from the write to the first frame that ran the new version"
    targets = {  # noqa: RUF012 # asv-shaped class attribute, read-only
        v: [PerUnitTarget(max_seconds=0.3, unit="edit")]
        for v in ("lua", "python", "tree_cached")
    }

    def units(self, n: int) -> int:
        return 1

    def setup(self, n: int) -> None:
        self.edited: dict[str, _Edited] = {}

    def _setup(self, kind: str, n: int) -> None:
        self.edited[kind] = _Edited(kind, n)

    def setup_lua(self, n: int) -> None:
        self._setup("lua", n)

    def setup_python(self, n: int) -> None:
        self._setup("python", n)

    def setup_tree_cached(self, n: int) -> None:
        self._setup("tree_cached", n)

    def setup_tree_compile(self, n: int) -> None:
        self._setup("tree_compile", n)

    def setup_systems(self, n: int) -> None:
        self._setup("systems", n)

    def time_lua(self, n: int) -> None:
        self.edited["lua"].next_edit()

    def time_python(self, n: int) -> None:
        self.edited["python"].next_edit()

    def time_tree_cached(self, n: int) -> None:
        self.edited["tree_cached"].next_edit()

    def time_tree_compile(self, n: int) -> None:
        self.edited["tree_compile"].next_edit()

    def time_systems(self, n: int) -> None:
        self.edited["systems"].next_edit()

    def teardown(self, n: int) -> None:
        for e in self.edited.values():
            e.close()


def main(edits: int = 20) -> None:
    """Print the median and 90th percentile latency over ``edits`` edits per kind."""
    for kind in ("lua", "python", "tree_cached", "tree_compile", "systems"):
        e = _Edited(kind, 1_000)
        try:
            e.next_edit()  # warm-up (untimed)
            times = sorted(e.next_edit() for _ in range(edits))
        finally:
            e.close()
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        swap = [r.latency_ms for r in e.reloader.history if r.outcome == "reloaded"]
        print(
            f"{kind:13s} median {statistics.median(times) * 1e3:6.1f} ms  "
            f"p90 {p90 * 1e3:6.1f} ms  (last event -> swap median "
            f"{statistics.median(swap):6.1f} ms; {edits} edits, "
            f"debounce {e.reloader.debounce * 1e3:.0f} ms, 60 fps)"
        )


if __name__ == "__main__":
    # Run through the package module: the systems file imports BVal from there,
    # and ``__main__`` would be a second module with a second BVal class.
    from benchmarks import reload as _self

    _self.main()
