"""monitor: what the frame budget and the live progress figures cost per frame.

The bounce model (``archetype_ecs.demos.bounce``) with N agents, one thread; each timed
call is one ``world.step()`` in steady state (frame 1, the kernel compile, is a
warm-up).

Variants
* ``step`` (baseline): the frame alone.
* ``step_budget``: with a ``FrameBudget`` attached whose budget is never exceeded:
  the profiler's frame listener and one comparison per frame.
* ``step_over_budget``: every frame over budget (``ms=1e-6``), warnings rate-limited
  to one an hour: counting and suppressing slow frames (the first frame over budget
  also reads the span buffer to name the slowest systems).
* ``step_live_figures``: the frame plus :func:`live_figures` (frame time, entities,
  slowest system), which the ``arrow-ecs`` progress bar computes at most ten times a
  second: an upper bound of the bar's cost.

Run alone with ``python -m benchmarks.monitor [--quick]``.

No ``from __future__ import annotations``: kept like the other scenario files.
"""

import sys
import warnings
from typing import Any, ClassVar

from benchmarks._runner import (
    Config,
    RatioTarget,
    Scenario,
    Target,
    format_table,
    run_scenario,
)

_TARGETS: dict[str, list[Target]] = {
    "step_budget": [RatioTarget(min_n=10**4, baseline="step", max_ratio=1.05)],
    "step_over_budget": [RatioTarget(min_n=10**4, baseline="step", max_ratio=1.05)],
}


class Monitor(Scenario):
    params = (10**4, 10**5)
    baseline = "step"
    targets: ClassVar[dict[str, list[Target]]] = _TARGETS
    unit = "agent"
    notes = "bounce model, threads=1, steady state (after the compile frame)"

    def _world(self, n: int) -> Any:
        from archetype_ecs.demos import bounce

        world = bounce.build(seed=0, threads=1, agents=n)
        world.step()  # compile (or load) the kernels outside the timing
        return world

    def setup_step(self, n: int) -> None:
        self.w_step = self._world(n)

    def time_step(self, n: int) -> None:
        self.w_step.step()

    def setup_step_budget(self, n: int) -> None:
        from archetype_ecs.monitor import FrameBudget

        self.w_budget = self._world(n)
        self.budget = FrameBudget(ms=1e9, warmup=0).attach(self.w_budget)

    def time_step_budget(self, n: int) -> None:
        self.w_budget.step()

    def setup_step_over_budget(self, n: int) -> None:
        from archetype_ecs.monitor import FrameBudget

        self.w_over = self._world(n)
        self.over = FrameBudget(ms=1e-6, warmup=0, interval=3600).attach(self.w_over)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")  # the one warning an hour is not the point

    def time_step_over_budget(self, n: int) -> None:
        self.w_over.step()

    def setup_step_live_figures(self, n: int) -> None:
        from archetype_ecs.monitor import live_figures

        self.w_live = self._world(n)
        self.live_figures = live_figures

    def time_step_live_figures(self, n: int) -> None:
        self.w_live.step()
        self.live_figures(self.w_live)

    def teardown(self, n: int) -> None:
        for name in ("w_step", "w_budget", "w_over", "w_live"):
            w = getattr(self, name, None)
            if w is not None:
                w.close()
        if getattr(self, "_warnings", None) is not None:
            self._warnings.__exit__(None, None, None)
            self._warnings = None


def main(argv: list[str]) -> None:
    """Run this scenario alone and print the table (``--quick``: short budgets)."""
    cfg = Config.make(quick="--quick" in argv, max_n=None)
    results = run_scenario("monitor", Monitor, cfg, lambda s: None)
    for line in format_table(results):
        print(line)
    by = {(r.n, r.variant): r.median for r in results if r.median}
    for n in sorted({r.n for r in results}):
        base = by.get((n, "step"))
        for v in ("step_budget", "step_over_budget", "step_live_figures"):
            t = by.get((n, v))
            if t and base:
                print(
                    f"N={n:>7,} {v:<18} {t * 1e3:7.3f} ms/frame   step "
                    f"{base * 1e3:7.3f} ms   +{(t - base) * 1e6:6.1f} us   "
                    f"ratio {t / base:.3f}x"
                )


if __name__ == "__main__":
    main(sys.argv[1:])
