"""Profile one scenario variant: ``python -m benchmarks.profile SCENARIO VARIANT N``.

Runs the scenario's setup hooks exactly as the runner does (untimed), warms the
variant up, then runs ``--calls`` timed calls under cProfile (only the timed
method is profiled, not the per-repeat setup) and prints the top functions,
the wall time per call and the minor page faults per call.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import resource
import sys
import time
from collections.abc import Sequence

from benchmarks import SCENARIOS
from benchmarks._runner import load_scenarios


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    p.add_argument("scenario", choices=SCENARIOS)
    p.add_argument("variant")
    p.add_argument("n", type=float)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--sort", default="cumtime", help="pstats sort key")
    p.add_argument("--top", type=int, default=30)
    args = p.parse_args(argv)
    n = int(args.n)

    [(_, cls)] = load_scenarios([args.scenario])
    inst = cls()
    inst.setup(n)
    setup_v = getattr(inst, f"setup_{args.variant}", None)
    if setup_v is not None:
        setup_v(n)
    pre = getattr(inst, f"setup_repeat_{args.variant}", None) or getattr(
        inst, "setup_repeat", None
    )
    fn = getattr(inst, f"time_{args.variant}")
    for _ in range(2):  # warmup
        if pre is not None:
            pre(n)
        fn(n)

    prof = cProfile.Profile()
    wall = 0.0
    faults = 0
    for _ in range(args.calls):
        if pre is not None:
            pre(n)
        gc.collect()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        prof.enable()
        fn(n)
        prof.disable()
        wall += time.perf_counter() - t0
        faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    print(
        f"{args.scenario}.{args.variant} N={n:,}: {wall / args.calls * 1e3:.3f} ms/call "
        f"(profiled), {faults / args.calls:.0f} minor page faults/call"
    )
    pstats.Stats(prof, stream=sys.stdout).sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
