"""parallel_systems: two independent heavy kernel systems, serial vs on two threads.

Two archetypes of N entities each: ``Wave(phase, amp: f32)`` and
``Heat(temp, rate: f32)``.  Two kernel systems, each over its own component (so
their accesses do not conflict and the schedule puts them in one parallel batch):

* ``waves``: ``phase += 0.01; amp = sin(phase) * cos(0.5 * phase) + exp(-|amp|)``
* ``heat``: ``temp = sqrt(|temp| + 1) * tanh(rate) + log1p(|temp|) * 0.5``

A few transcendental operations per element, ~5 x 2 x 10^6 = 10^7 per system at
N = 2 x 10^6: compute-bound, so two cores can really run them at once.

Variants
* ``serial`` (baseline): ``world.step()`` with ``World(threads=1)``.
* ``parallel``: ``world.step()`` with ``World(threads=2)``.
* ``hand_serial``: the two kernels called by hand on plain numpy arrays.
* ``hand_threads``: the same two calls on two threads (one on a one-worker
  pool, one on the calling thread) -- the speedup this machine gives right now,
  with no ECS in the way.

Target: ``parallel`` >= 1.6x faster than ``serial`` at N = 2 x 10^6 (2 cores).

The machine is shared: the runner interleaves the variants round-robin, so a
burst of load hits them alike; read the ``hand_threads`` / ``hand_serial``
ratio as what the machine allowed during the run.

No ``from __future__ import annotations``: the component fields must be real
annotations, not strings naming a function-local module.
"""

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
from numba import njit

from benchmarks._runner import Scenario, SkipVariant, SpeedupTarget, Target


@njit(cache=True, nogil=True)
def waves_kernel(phase, amp):  # type: ignore[no-untyped-def]
    for i in range(phase.shape[0]):
        p = phase[i] + np.float32(0.01)
        phase[i] = p
        amp[i] = math.sin(p) * math.cos(np.float32(0.5) * p) + math.exp(-abs(amp[i]))


@njit(cache=True, nogil=True)
def heat_kernel(temp, rate):  # type: ignore[no-untyped-def]
    for i in range(temp.shape[0]):
        t = abs(temp[i])
        temp[i] = math.sqrt(t + np.float32(1.0)) * math.tanh(rate[i]) + math.log1p(
            t
        ) * np.float32(0.5)


@functools.cache
def _load() -> SimpleNamespace:
    import archetype_ecs as ae

    @ae.component
    class Wave:
        phase: ae.f32 = 0.0
        amp: ae.f32 = 0.0

    @ae.component
    class Heat:
        temp: ae.f32 = 0.0
        rate: ae.f32 = 0.0

    return SimpleNamespace(ae=ae, Wave=Wave, Heat=Heat)


def _ecs() -> SimpleNamespace:
    try:
        return _load()
    except Exception as exc:
        msg = f"archetype_ecs unavailable ({type(exc).__name__}: {exc})"
        raise SkipVariant(msg) from exc


class ParallelSystems(Scenario):
    params = (10**5, 2 * 10**6)
    baseline = "serial"
    targets: ClassVar[dict[str, list[Target]]] = {
        "parallel": [SpeedupTarget(min_n=2 * 10**6, other="serial", min_speedup=1.6)],
    }
    notes = "N entities per system (2N in all); two independent kernel systems"

    def units(self, n: int) -> int:
        return 2 * n

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(13)
        self.init = {
            "phase": rng.random(n, dtype=np.float32) * np.float32(6.28),
            "amp": rng.random(n, dtype=np.float32),
            "temp": rng.random(n, dtype=np.float32) * np.float32(10.0),
            "rate": rng.random(n, dtype=np.float32) - np.float32(0.5),
        }

    # -- arrow-ecs ------------------------------------------------------------------
    def _world(self, n: int, threads: int) -> Any:
        e = _ecs()
        i = self.init
        world = e.ae.World(threads=threads)
        world.spawn_batch(
            {e.Wave: {"phase": i["phase"].copy(), "amp": i["amp"].copy()}}
        )
        world.spawn_batch(
            {e.Heat: {"temp": i["temp"].copy(), "rate": i["rate"].copy()}}
        )
        system = e.ae.system
        world.add_system(
            system(waves_kernel, name="waves", query=[e.Wave], writes=[e.Wave]),
            system(heat_kernel, name="heat", query=[e.Heat], writes=[e.Heat]),
        )
        batches = world.schedule.plan()["update"].batches
        if len(batches) != 1 or len(batches[0]) != 2:
            raise RuntimeError(f"expected one parallel batch of two: {batches}")
        for _ in range(2):
            world.step()  # compile
        return world

    def setup_serial(self, n: int) -> None:
        self.w1 = self._world(n, threads=1)

    def time_serial(self, n: int) -> None:
        self.w1.step()

    def setup_parallel(self, n: int) -> None:
        self.w2 = self._world(n, threads=2)

    def time_parallel(self, n: int) -> None:
        self.w2.step()

    # -- by hand --------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.init.items()}

    def setup_hand_serial(self, n: int) -> None:
        self.hs = self._arrays()
        self.time_hand_serial(n)

    def time_hand_serial(self, n: int) -> None:
        a = self.hs
        waves_kernel(a["phase"], a["amp"])
        heat_kernel(a["temp"], a["rate"])

    def setup_hand_threads(self, n: int) -> None:
        self.ht = self._arrays()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="bench")
        self.time_hand_threads(n)

    def time_hand_threads(self, n: int) -> None:
        a = self.ht
        fut = self.pool.submit(heat_kernel, a["temp"], a["rate"])
        waves_kernel(a["phase"], a["amp"])
        fut.result()

    def teardown(self, n: int) -> None:
        for name in ("w1", "w2"):
            world = getattr(self, name, None)
            if world is not None:
                world.close()
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.shutdown(wait=True)


# ------------------------------------------------------------------- diagnostics


def diagnose(n: int = 2 * 10**6, rounds: int = 9) -> None:
    """Print wall time, process CPU time and the overlap of the two systems' spans.

    ``python -m benchmarks.parallel_systems [N] [ROUNDS]``.  CPU / wall is the
    number of cores the process really got: ~1 for a serial variant and ~2 for
    a parallel one on an idle 2-core machine.  When the serial variants already
    get well under one core, the machine is saturated by other work and no
    speedup can show, whatever the schedule does.  The span overlap (from the
    world's profiler) shows whether the two systems ran at the same time.
    """
    import resource
    import statistics
    import time

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    s = ParallelSystems()
    s.setup(n)
    fns = {}
    for v in ("serial", "parallel", "hand_serial", "hand_threads"):
        getattr(s, f"setup_{v}")(n)
        fns[v] = getattr(s, f"time_{v}")
    s.w2.profiler.clear()
    wall: dict[str, list[float]] = {v: [] for v in fns}
    used: dict[str, list[float]] = {v: [] for v in fns}
    for _ in range(rounds):  # interleaved, as the runner does
        for v, fn in fns.items():
            c0, t0 = cpu(), time.perf_counter()
            fn(n)
            t1, c1 = time.perf_counter(), cpu()
            wall[v].append(t1 - t0)
            used[v].append((c1 - c0) / (t1 - t0))
    base = statistics.median(wall["serial"])
    print(f"N = {n:,} entities per system, {rounds} interleaved rounds")
    for v in fns:
        w = statistics.median(wall[v])
        print(
            f"  {v:<13} {w * 1e3:8.1f} ms  speedup vs serial {base / w:5.2f}x  "
            f"cores used (CPU/wall) {statistics.median(used[v]):4.2f}"
        )
    spans: dict[str, list[Any]] = {}
    for sp in s.w2.profiler.spans():
        if sp.kind == "system":
            spans.setdefault(sp.name, []).append(sp)
    overlap = [
        (min(a.end_ns, b.end_ns) - max(a.start_ns, b.start_ns))
        / max(a.end_ns - a.start_ns, b.end_ns - b.start_ns)
        for a, b in zip(spans["waves"], spans["heat"], strict=True)
    ]
    threads = {sp.thread for group in spans.values() for sp in group}
    print(
        f"  parallel world: waves / heat on {len(threads)} threads, spans overlap "
        f"{statistics.median(overlap):.0%} of the longer one (median)"
    )
    s.teardown(n)


if __name__ == "__main__":
    import sys

    diagnose(*(int(float(a)) for a in sys.argv[1:3]))
