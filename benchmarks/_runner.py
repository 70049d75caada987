"""A small asv-shaped benchmark runner.

A scenario is a class (one per module in ``benchmarks/``) with:

* ``params``: the list of N values it runs at;
* ``setup(n)``: untimed, once per N (a fresh instance is made for every N);
* ``time_<variant>(n)``: the timed call, one per variant;
* optional ``setup_<variant>(n)``: untimed, once per (N, variant), so that a
  variant's costly state (an esper world, an arrow-ecs world) is only built
  when that variant runs;
* optional ``setup_repeat_<variant>(n)`` (or a generic ``setup_repeat(n)``):
  untimed, before *every* timed call -- for scenarios that consume their state
  (despawn, spawn into a fresh world).  A variant with such a hook is timed one
  call per sample;
* optional ``teardown(n)``.

Raising ``NotImplementedError`` (or :class:`SkipVariant`) from any setup or
time method skips that (N, variant) with the message as the reason -- the asv
convention.  ``variant_max_n`` caps a variant's N (esper is pure Python and is
only run up to 10^5).

Every variant is warmed up before it is timed (so Numba compilation is never
timed), then sampled: each sample runs the call ``number`` times (``number`` is
calibrated so a sample lasts at least ``min_sample_time``; it is 1 when there
is a per-repeat setup), with the garbage collector off, and samples are
collected until both ``min_repeats`` and the time budget are reached (or
``max_repeats``).  The median per-call time and its inter-quartile range are
reported, and ratios are taken against the scenario's ``baseline`` variant
measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK_MAX_N = 10**5


class SkipVariant(NotImplementedError):
    """Raised by a scenario to skip one (N, variant); the message is the reason."""


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A performance goal for one variant; ``applies`` limits it to some N."""

    min_n: int = 0
    max_n: int | None = None

    def applies(self, n: int) -> bool:
        return n >= self.min_n and (self.max_n is None or n <= self.max_n)

    def label(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def evaluate(
        self, median: float, medians: dict[str, float], units: int
    ) -> tuple[float, bool] | None:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True)
class RatioTarget(Target):
    """``time(variant) / time(baseline) <= max_ratio``."""

    baseline: str = ""
    max_ratio: float = 1.0

    def label(self) -> str:
        return f"<={self.max_ratio:g}x {self.baseline}"

    def evaluate(
        self, median: float, medians: dict[str, float], units: int
    ) -> tuple[float, bool] | None:
        base = medians.get(self.baseline)
        if base is None or base <= 0:
            return None
        ratio = median / base
        return ratio, ratio <= self.max_ratio


@dataclass(frozen=True)
class SpeedupTarget(Target):
    """``time(other) / time(variant) >= min_speedup``."""

    other: str = ""
    min_speedup: float = 1.0

    def label(self) -> str:
        return f">={self.min_speedup:g}x faster than {self.other}"

    def evaluate(
        self, median: float, medians: dict[str, float], units: int
    ) -> tuple[float, bool] | None:
        other = medians.get(self.other)
        if other is None or median <= 0:
            return None
        speedup = other / median
        return speedup, speedup >= self.min_speedup


@dataclass(frozen=True)
class PerUnitTarget(Target):
    """``time(variant) / units <= max_seconds`` (e.g. per archetype)."""

    max_seconds: float = 0.0
    unit: str = "unit"

    def label(self) -> str:
        return f"<={fmt_time(self.max_seconds)}/{self.unit}"

    def evaluate(
        self, median: float, medians: dict[str, float], units: int
    ) -> tuple[float, bool] | None:
        per = median / units
        return per, per <= self.max_seconds


# ------------------------------------------------------------------------- scenario


class Scenario:
    """Base class with defaults; scenarios need only the asv-shaped members."""

    name: ClassVar[str] = ""
    params: ClassVar[Sequence[int]] = ()
    baseline: ClassVar[str | None] = None
    targets: ClassVar[dict[str, list[Target]]] = {}
    variant_max_n: ClassVar[dict[str, int]] = {}
    unit: ClassVar[str] = "entity"
    notes: ClassVar[str] = ""

    def units(self, n: int) -> int:
        """How many ``unit`` one timed call processes (for the per-unit column)."""
        return n

    def setup(self, n: int) -> None:
        """Untimed, once per N."""


def variants_of(cls: type) -> list[str]:
    """Variant names in definition order (``time_foo`` -> ``foo``)."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for attr in vars(klass):
            if attr.startswith("time_") and attr[5:] not in names:
                names.append(attr[5:])
    return names


# -------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Config:
    quick: bool
    max_n: int | None
    min_repeats: int
    max_repeats: int
    budget: float  # seconds of sampling per (N, variant), after min_repeats
    min_sample_time: float  # a sample lasts at least this long (number calibrated)
    max_number: int = 100_000

    @classmethod
    def make(cls, *, quick: bool, max_n: int | None) -> Config:
        if quick:
            cap = QUICK_MAX_N if max_n is None else min(max_n, QUICK_MAX_N)
            return cls(True, cap, 5, 9, 0.25, 0.005)
        return cls(False, max_n, 9, 61, 2.0, 0.02)


# ---------------------------------------------------------------------- measurement


@dataclass
class Result:
    scenario: str
    n: int
    variant: str
    status: str  # "ok" | "skipped" | "error"
    reason: str = ""
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    iqr: float | None = None
    number: int = 0
    repeats: int = 0
    samples: list[float] = field(default_factory=list)
    minor_faults: float | None = None  # median minor page faults per call
    units: int = 0
    unit: str = "entity"
    ratio: float | None = None
    baseline: str | None = None
    targets: list[dict[str, Any]] = field(default_factory=list)


def _minflt() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _sample(
    fn: Callable[[int], object],
    pre: Callable[[int], object] | None,
    n: int,
    number: int,
    faults: list[float] | None = None,
) -> float:
    """One sample: seconds per call, averaged over ``number`` calls, GC off.

    ``faults`` (if given) gets the minor page faults per call of this sample: on
    a VM they can dominate anything that touches freshly mapped memory.
    """
    gc.collect()  # before the hook, so the hook leaves caches as a real caller would
    if pre is not None:
        pre(n)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        f0 = _minflt()
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn(n)
        t1 = time.perf_counter_ns()
        f1 = _minflt()
    finally:
        if was_enabled:
            gc.enable()
    if faults is not None:
        faults.append((f1 - f0) / number)
    return (t1 - t0) / 1e9 / number


def calibrate(
    fn: Callable[[int], object],
    pre: Callable[[int], object] | None,
    n: int,
    cfg: Config,
) -> int:
    """Warm up and return ``number``, the calls per sample.

    The first call compiles / fills caches and is thrown away; the second is the
    estimate (cheap calls get a few more).  With a per-repeat hook it is 1.
    """
    est = min(_sample(fn, pre, n, 1), _sample(fn, pre, n, 1))
    if pre is not None:
        return 1
    if est < 1e-3:
        est = min(est, _sample(fn, pre, n, max(1, int(1e-3 / max(est, 1e-9)))))
    return max(1, min(cfg.max_number, math.ceil(cfg.min_sample_time / max(est, 1e-9))))


def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, statistics.median(samples), q3


def _hook(obj: object, *names: str) -> Callable[[int], object] | None:
    for name in names:
        hook = getattr(obj, name, None)
        if hook is not None:
            return hook  # type: ignore[no-any-return]
    return None


@dataclass
class _Run:
    """Sampling state of one (N, variant) while the variants are interleaved."""

    res: Result
    fn: Callable[[int], object]
    pre: Callable[[int], object] | None
    number: int
    faults: list[float] = field(default_factory=list)
    spent: float = 0.0  # wall seconds of sampling so far (hooks included)

    def done(self, cfg: Config) -> bool:
        k = len(self.res.samples)
        return k >= cfg.max_repeats or (
            k >= cfg.min_repeats and self.spent >= cfg.budget
        )


def _fail(res: Result, exc: BaseException, log: Callable[[str], None]) -> None:
    if isinstance(exc, NotImplementedError):
        res.status, res.reason = "skipped", str(exc) or "not implemented"
    else:
        res.status, res.reason = "error", f"{type(exc).__name__}: {exc}"
        log(traceback.format_exc())


def _prepare(
    inst: object, res: Result, n: int, cfg: Config, log: Callable[[str], None]
) -> _Run | None:
    """Run the variant's setup hook, warm it up and calibrate; None if it failed."""
    try:
        setup_v = _hook(inst, f"setup_{res.variant}")
        if setup_v is not None:
            setup_v(n)
        pre = _hook(inst, f"setup_repeat_{res.variant}", "setup_repeat")
        fn = getattr(inst, f"time_{res.variant}")
        number = calibrate(fn, pre, n, cfg)
    except Exception as exc:
        _fail(res, exc, log)
        return None
    return _Run(res, fn, pre, number)


def _sample_round_robin(
    runs: list[_Run], n: int, cfg: Config, log: Callable[[str], None]
) -> None:
    """One sample of each unfinished variant per round, until each is done.

    Interleaving makes a burst of load on the shared machine hit every variant of
    the comparison instead of whichever happened to be running.
    """
    active = list(runs)
    while active:
        for run in list(active):
            t0 = time.perf_counter()
            try:
                run.res.samples.append(
                    _sample(run.fn, run.pre, n, run.number, run.faults)
                )
            except Exception as exc:
                _fail(run.res, exc, log)
                active.remove(run)
                continue
            run.spent += time.perf_counter() - t0
            if run.done(cfg):
                active.remove(run)
    for run in runs:
        res = run.res
        if res.status != "ok" or not res.samples:
            continue
        q1, med, q3 = quartiles(res.samples)
        res.median, res.q1, res.q3, res.iqr = med, q1, q3, q3 - q1
        res.number, res.repeats = run.number, len(res.samples)
        res.minor_faults = statistics.median(run.faults)


def run_scenario(
    module_name: str, cls: type, cfg: Config, log: Callable[[str], None]
) -> list[Result]:
    name = getattr(cls, "name", "") or module_name
    params = [n for n in cls.params if cfg.max_n is None or n <= cfg.max_n]
    if not params:
        log(f"[{name}] no N <= {cfg.max_n}; skipped")
        return []
    results: list[Result] = []
    caps: dict[str, int] = getattr(cls, "variant_max_n", {})
    for n in params:
        inst = cls()
        units = inst.units(n) if hasattr(inst, "units") else n
        unit = getattr(cls, "unit", "entity")
        n_results = [
            Result(name, n, v, "ok", units=units, unit=unit) for v in variants_of(cls)
        ]
        log(f"[{name}] N={n:,}: {', '.join(r.variant for r in n_results)}")
        try:
            inst.setup(n)
        except NotImplementedError as exc:
            for res in n_results:
                res.status, res.reason = "skipped", str(exc)
            results.extend(n_results)
            continue
        runs = []
        for res in n_results:
            cap = caps.get(res.variant)
            if cap is not None and n > cap:
                res.status, res.reason = "skipped", f"only run for N <= {cap:.0e}"
                continue
            run = _prepare(inst, res, n, cfg, log)
            if run is not None:
                runs.append(run)
        _sample_round_robin(runs, n, cfg, log)
        teardown = _hook(inst, "teardown")
        if teardown is not None:
            teardown(n)
        _annotate(cls, n_results)
        for line in format_table(n_results, header=False):
            log(line)
        results.extend(n_results)
        del inst, runs
        gc.collect()
    return results


def _annotate(cls: type, results: list[Result]) -> None:
    """Fill ratio-vs-baseline and target verdicts (same N, same run)."""
    medians = {r.variant: r.median for r in results if r.median is not None}
    baseline = getattr(cls, "baseline", None)
    targets: dict[str, list[Target]] = getattr(cls, "targets", {})
    for r in results:
        if r.median is None:
            continue
        if baseline is not None and baseline in medians:
            r.baseline = baseline
            r.ratio = r.median / medians[baseline]
        for tgt in targets.get(r.variant, []):
            if not tgt.applies(r.n):
                continue
            verdict = tgt.evaluate(r.median, medians, r.units)  # type: ignore[arg-type]
            entry: dict[str, Any] = {"target": tgt.label(), "kind": type(tgt).__name__}
            entry.update(asdict(tgt))
            if verdict is None:
                entry.update(value=None, verdict="n/a")
            else:
                entry.update(value=verdict[0], verdict="PASS" if verdict[1] else "MISS")
            r.targets.append(entry)


# ------------------------------------------------------------------------ formatting


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _fmt_target(entry: dict[str, Any]) -> str:
    value = entry["value"]
    if value is None:
        return f"{entry['target']}: n/a"
    per_unit = entry["kind"] == "PerUnitTarget"
    shown = fmt_time(value) if per_unit else f"{value:.3g}x"
    return f"{entry['target']}: {entry['verdict']} ({shown})"


UNIT_ABBREV = {"entity": "ent", "archetype": "arch"}

COLUMNS = (
    "scenario",
    "N",
    "variant",
    "median",
    "IQR",
    "per unit",
    "faults",
    "ratio",
    "target",
)


def result_row(r: Result) -> list[str]:
    if r.median is None:
        return [r.scenario, f"{r.n:,}", r.variant, r.status, "", "", "", "", r.reason]
    per = r.median / r.units if r.units else None
    unit = UNIT_ABBREV.get(r.unit, r.unit)
    ratio = f"{r.ratio:.3g}x {r.baseline}" if r.ratio is not None else ""
    return [
        r.scenario,
        f"{r.n:,}",
        r.variant,
        fmt_time(r.median),
        fmt_time(r.iqr),
        f"{fmt_time(per)}/{unit}",
        "" if r.minor_faults is None else f"{r.minor_faults:.0f}",
        ratio,
        "; ".join(_fmt_target(t) for t in r.targets),
    ]


def format_table(
    results: Sequence[Result], *, header: bool = True, markdown: bool = False
) -> list[str]:
    rows = [result_row(r) for r in results]
    if markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += [
            "| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows
        ]
        return lines
    widths = [
        max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(COLUMNS)
    ]
    widths[-1] = 0  # last column unpadded
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = []
    if header:
        lines.append(fmt.format(*COLUMNS).rstrip())
        lines.append("  ".join("-" * w for w in widths[:-1]) + "  ------")
    lines += [fmt.format(*row).rstrip() for row in rows]
    return lines


# ---------------------------------------------------------------------- machine info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total() -> str | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _version(mod: str) -> str | None:
    try:
        m = importlib.import_module(mod)
    except Exception:  # any import failure: report as absent
        return None
    return str(getattr(m, "__version__", getattr(m, "version", "unknown")))


def _arrow_pool() -> str | None:
    try:
        import pyarrow as pa
    except ImportError:
        return None
    return str(pa.default_memory_pool().backend_name)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def machine_info() -> dict[str, Any]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "mem_total": _mem_total(),
        "loadavg_start": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "pyarrow": _version("pyarrow"),
        "esper": _version("esper"),
        "archetype_ecs": _version("archetype_ecs"),
        "allocator_env": {
            k: v
            for k, v in os.environ.items()
            if k.startswith(("MALLOC_", "ARROW_", "NUMBA_", "OMP_", "MKL_"))
        },
        "arrow_memory_pool": _arrow_pool(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"{info['cpu_model']}, {info['cores']} cores, {info['mem_total']}; "
        f"{info['platform']}; Python {info['python']}, numpy {info['numpy']}, "
        f"numba {info['numba']}, pyarrow {info['pyarrow']}, esper {info['esper']}"
    )


# ------------------------------------------------------------------------------ main


def load_scenarios(names: Sequence[str]) -> list[tuple[str, type]]:
    out = []
    for mod_name in names:
        module = importlib.import_module(f"benchmarks.{mod_name}")
        classes = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and obj.__module__ == module.__name__
            and not obj.__name__.startswith("_")
            and variants_of(obj)
        ]
        if len(classes) != 1:
            raise RuntimeError(
                f"benchmarks.{mod_name} must define exactly one scenario class"
            )
        out.append((mod_name, classes[0]))
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from benchmarks import SCENARIOS

    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description="arrow-ecs benchmarks"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"N <= {QUICK_MAX_N:.0e}, few repeats (~2 min)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these scenarios (repeatable or comma-separated): "
        + ", ".join(SCENARIOS),
    )
    p.add_argument(
        "--max-n",
        type=float,
        default=None,
        metavar="N",
        help="skip N above this (e.g. 1e5)",
    )
    p.add_argument(
        "--markdown", action="store_true", help="print the final table as Markdown"
    )
    p.add_argument("--no-save", action="store_true", help="do not write results JSON")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON path (default benchmarks/results/<ts>.json)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import SCENARIOS

    args = parse_args(argv)
    only = [s.strip() for chunk in args.only for s in chunk.split(",") if s.strip()]
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        print(
            f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}",
            file=sys.stderr,
        )
        return 2
    names = only or list(SCENARIOS)
    max_n = int(args.max_n) if args.max_n is not None else None
    cfg = Config.make(quick=args.quick, max_n=max_n)

    info = machine_info()
    print(f"machine: {describe_machine(info)}")
    print(
        f"mode: {'quick' if cfg.quick else 'full'}; max N: {cfg.max_n or 'none'}; "
        f"repeats {cfg.min_repeats}..{cfg.max_repeats}, "
        f"budget {cfg.budget}s per (N, variant)",
        flush=True,
    )

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    results: list[Result] = []
    for mod_name, cls in load_scenarios(names):
        results.extend(run_scenario(mod_name, cls, cfg, log))
    elapsed = time.perf_counter() - started
    info["loadavg_end"] = list(os.getloadavg())

    print()
    for line in format_table(results, markdown=args.markdown):
        print(line)
    verdicts = [t["verdict"] for r in results for t in r.targets]
    print(
        f"\n{len(results)} timings in {elapsed:.0f}s; "
        f"targets: {verdicts.count('PASS')} PASS, {verdicts.count('MISS')} MISS, "
        f"{verdicts.count('n/a')} n/a; "
        f"{sum(r.status == 'skipped' for r in results)} skipped, "
        f"{sum(r.status == 'error' for r in results)} errors"
    )

    if not args.no_save:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = args.out or RESULTS_DIR / f"{stamp}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "timestamp": stamp,
            "argv": list(sys.argv[1:] if argv is None else argv),
            "config": asdict(cfg),
            "elapsed_s": elapsed,
            "machine": info,
            "scenarios": {
                mod: {
                    "baseline": getattr(cls, "baseline", None),
                    "unit": getattr(cls, "unit", "entity"),
                    "notes": getattr(cls, "notes", ""),
                }
                for mod, cls in load_scenarios(names)
            },
            "results": [asdict(r) for r in results],
        }
        out.write_text(json.dumps(payload, indent=1))
        print(f"results written to {out}")
    return 1 if any(r.status == "error" for r in results) else 0
