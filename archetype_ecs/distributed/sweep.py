"""Parameter sweeps and ensembles: one Ray task per (parameters, seed).

Each task loads the model (by file path or module name), builds its world with
``build(seed=..., threads=..., **params)``, steps it ``frames`` times and returns the
chosen results as Arrow tables: ``summary`` (one row of the model's ``summary(world)``
figures), ``state`` (the final rows of chosen components, ``world.to_arrow``) and
``series`` (a recorder's time series). Every table carries the run id, the parameters
and the seed as columns. The driver writes one Parquet file per run and kind
(``out/<kind>/<run>.parquet``, atomically: temp file + rename) and then a marker
``out/runs/<run>.json``; a run with a marker is finished, so a resumed sweep skips it.
A run that raises is reported (parameters, seed, traceback) in ``out/failed/`` and in
the result, and the other runs complete.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq
import ray

from archetype_ecs._progress import Progress
from archetype_ecs.distributed._model import load_model, model_spec
from archetype_ecs.distributed._ray import ray_session
from archetype_ecs.distributed.errors import SweepError
from archetype_ecs.runner import Model, parse_params, resolve_params, run_model

__all__ = [
    "COLLECT_KINDS",
    "RunFailure",
    "SweepResult",
    "add_sweep_parser",
    "expand_params",
    "run_sweep_command",
    "sweep",
]

#: What a sweep can collect per run.
COLLECT_KINDS = ("summary", "state", "series")
ParamValue = int | float | str | bool
_META = ("run", "seed", "frames")


@dataclass(frozen=True)
class RunFailure:
    """A run that raised: its id, parameters, seed, error line and full traceback."""

    run: str
    params: dict[str, ParamValue]
    seed: int
    error: str
    traceback: str

    def __str__(self) -> str:
        return f"run {self.run} params={self.params} seed={self.seed}: {self.error}"


@dataclass
class SweepResult:
    """What a sweep did, and readers for the dataset it wrote.

    Attributes
    ----------
    out
        The dataset folder.
    total
        Runs in the sweep (parameter sets x seeds).
    ran
        Runs executed by this call (finished or failed).
    skipped
        Runs found finished in ``out`` and not run again (resume).
    failures
        Runs that raised, with parameters, seed and traceback.
    seconds
        Wall time of the call.
    """

    out: Path
    total: int
    ran: int
    skipped: int
    failures: list[RunFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no run failed."""
        return not self.failures

    def table(self, kind: str = "summary") -> pa.Table:
        """All runs' ``kind`` tables (``summary``, ``state`` or ``series``) as one table.

        Runs whose summaries have different keys are unified (missing values are null).
        Rows are ordered by run id (then by the rows' own order).
        """
        return read_dataset(self.out, kind)

    def summary(self) -> pa.Table:
        """One row per finished run: run id, parameters, seed, frames and figures."""
        return self.table("summary")


def read_dataset(out: str | Path, kind: str = "summary") -> pa.Table:
    """Read ``out/<kind>/*.parquet`` of a sweep as one table (see :meth:`SweepResult.table`)."""
    if kind not in COLLECT_KINDS:
        raise SweepError(f"unknown result kind {kind!r}; use one of {COLLECT_KINDS}")
    folder = Path(out) / kind
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return pa.table({})
    tables = [pq.read_table(f) for f in files]
    return pa.concat_tables(tables, promote_options="permissive")


# ------------------------------------------------------------------ run planning


def expand_params(
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, ParamValue]]:
    """Parameter sets of a sweep: a grid dict (cartesian product) or a list of dicts.

    In a grid, a list / tuple value is the axis; any other value is a one-value axis.

    Raises
    ------
    SweepError
        When a value is not an int, float, str or bool, or an axis is empty.
    """
    if params is None:
        return [{}]
    given: object = params  # checked at run time: callers may pass anything
    if isinstance(params, Mapping):
        names = list(params)
        axes: list[list[Any]] = []
        for name in names:
            v = params[name]
            axis = list(v) if isinstance(v, list | tuple) else [v]
            if not axis:
                raise SweepError(f"parameter {name!r} has no values to sweep over")
            axes.append(axis)
        sets = [
            dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)
        ]
    elif isinstance(given, list | tuple):
        for i, p in enumerate(given):
            if not isinstance(p, Mapping):
                raise SweepError(
                    f"params[{i}] is {type(p).__name__}, not a dict of values"
                )
        sets = [dict(p) for p in given]
    else:
        raise SweepError(
            f"params must be a dict (grid) or a list of dicts, not {type(params).__name__}"
        )
    for p in sets:
        for name, v in p.items():
            if not isinstance(name, str):
                raise SweepError(f"parameter names must be str, got {name!r}")
            if not isinstance(v, int | float | str | bool):
                raise SweepError(
                    f"parameter {name}={v!r} is a {type(v).__name__}; sweep values must "
                    "be int, float, str or bool (they become Parquet columns)"
                )
    return sets


def _check_params(model: Model, sets: Iterable[Mapping[str, Any]]) -> None:
    """Every parameter set resolves against the model's ``PARAMS`` (names, types)."""
    for p in sets:
        for name in META_CLASH.intersection(p):
            raise SweepError(
                f"parameter name {name!r} is reserved for the sweep's columns"
            )
        resolve_params(model.params, p, model=model.name)


META_CLASH = frozenset(_META)


def _seeds(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, bool):
        raise SweepError("seeds must be a count (int) or a list of ints, not a bool")
    if isinstance(seeds, int):
        if seeds < 1:
            raise SweepError(f"seeds={seeds}: give at least one seed (a count >= 1)")
        return list(range(seeds))
    out = list(seeds)
    if not out or not all(type(s) is int for s in out):
        raise SweepError(f"seeds must be a non-empty list of ints, got {seeds!r}")
    if len(set(out)) != len(out):
        raise SweepError(f"seeds repeat: {out}")
    return out


def _run_id(params: Mapping[str, Any], seed: int, options: Mapping[str, Any]) -> str:
    key = json.dumps(
        {"params": dict(params), "seed": seed, **options}, sort_keys=True, default=str
    )
    return hashlib.sha1(key.encode()).hexdigest()[:16]


# --------------------------------------------------------------- one run (remote)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif value is None or isinstance(value, int | float | str | bool):
        out[prefix] = value
    elif (
        hasattr(value, "item")
        and callable(value.item)
        and getattr(value, "ndim", 1) == 0
    ):
        out[prefix] = value.item()  # numpy scalars
    else:
        out[prefix] = json.dumps(value, default=str)


def _with_meta(
    table: pa.Table, run: str, params: Mapping[str, Any], seed: int, frames: int
) -> pa.Table:
    n = table.num_rows
    cols: dict[str, pa.Array] = {"run": pa.array([run] * n, pa.string())}
    for name, v in params.items():
        cols[name] = pa.array([v] * n)
    cols["seed"] = pa.array([seed] * n, pa.int64())
    cols["frames"] = pa.array([frames] * n, pa.int64())
    for name in table.column_names:
        key = name if name not in cols else f"summary.{name}"
        cols[key] = table.column(name).combine_chunks()
    return pa.table(cols)


def _component_classes(model: Model, names: Sequence[str]) -> list[type]:
    classes = []
    for name in names:
        cls = getattr(model.module, name, None)
        if not isinstance(cls, type):
            raise SweepError(
                f"model {model.name!r} defines no component {name!r} to collect; "
                "name a component class of the model module"
            )
        classes.append(cls)
    return classes


def execute_run(
    spec: str,
    run: str,
    params: dict[str, ParamValue],
    seed: int,
    frames: int,
    threads: int | None,
    collect: tuple[str, ...],
    components: tuple[str, ...],
    every: int,
) -> dict[str, Any]:
    """Build, step and collect one run; never raises (failures are returned).

    Returns
    -------
    dict
        ``{"ok": True, "tables": {kind: pyarrow.Table}, "seconds": float}`` or
        ``{"ok": False, "error": str, "traceback": str}``.
    """
    t0 = time.perf_counter()
    try:
        model = load_model(spec)
        classes = _component_classes(model, components)
        captured: dict[str, Any] = {}
        original = model.module.build

        def build(**kwargs: Any) -> Any:
            world = original(**kwargs)
            captured["world"] = world
            if "series" in collect and classes:
                captured["recorder"] = world.record(*classes, every=every)
            return world

        proxy = ModuleType(model.module.__name__, model.module.__doc__)
        proxy.__dict__.update(model.module.__dict__)
        proxy.build = build  # type: ignore[attr-defined]
        figures = run_model(
            dataclasses.replace(model, module=proxy),
            frames=frames,
            seed=seed,
            threads=threads,
            params=params,
            progress=False,
        )
        tables: dict[str, pa.Table] = {}
        if "summary" in collect:
            flat: dict[str, Any] = {}
            for key in (
                "model",
                "source",
                "params",
                "outputs",
                "frames",
                "seed",
                "threads",
            ):
                figures.pop(key, None)
            _flatten("", figures, flat)
            tables["summary"] = pa.Table.from_pylist([flat])
        if "state" in collect:
            tables["state"] = captured["world"].to_arrow(*classes)
        if "recorder" in captured:
            tables["series"] = captured["recorder"].to_arrow()
        seconds = time.perf_counter() - t0
        for kind, t in tables.items():
            tables[kind] = _with_meta(t, run, params, seed, frames)
        return {"ok": True, "tables": tables, "seconds": seconds}
    except BaseException as exc:  # reported with its traceback, never sinks the sweep
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }


# ---------------------------------------------------------------- dataset writes


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_parquet(path: Path, table: pa.Table) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        with Path(tmp).open("rb+") as f:
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prepare_out(out: Path, spec: str) -> None:
    meta = out / "sweep.json"
    if meta.exists():
        try:
            previous = json.loads(meta.read_text())
        except (OSError, ValueError) as exc:
            raise SweepError(
                f"{meta} is unreadable ({exc}); choose another out folder"
            ) from exc
        if previous.get("model") != spec:
            raise SweepError(
                f"{out} holds a sweep of model {previous.get('model')!r}, not {spec!r}; "
                "choose another out folder"
            )
    elif out.exists() and any(out.iterdir()):
        raise SweepError(
            f"{out} is not empty and holds no sweep (no sweep.json); choose an empty "
            "or new folder"
        )
    for kind in (*COLLECT_KINDS, "runs", "failed"):
        (out / kind).mkdir(parents=True, exist_ok=True)
    if not meta.exists():
        _atomic_write_bytes(meta, json.dumps({"model": spec}, indent=1).encode())


# -------------------------------------------------------------------- the sweep


def sweep(
    model: str | Path | ModuleType | Model,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    *,
    seeds: int | Sequence[int] = 1,
    frames: int | None = None,
    collect: Sequence[str] = ("summary",),
    components: Sequence[str | type] | None = None,
    every: int = 1,
    out: str | Path,
    address: str | None = None,
    resume: bool = True,
    threads: int | None = 1,
    progress: bool | TextIO = True,
) -> SweepResult:
    """Run one world per (parameter set, seed) as Ray tasks; write results to Parquet.

    Parameters
    ----------
    model
        A model file path, an importable module name, or the module (the model
        protocol: ``build(*, seed, threads, **params)``, optional ``PARAMS``,
        ``FRAMES``, ``summary``, ``RECORD``).
    params
        A grid ``{"name": [v1, v2], ...}`` (cartesian product; a scalar is a fixed
        value) or a list of parameter dicts. Values are int, float, str or bool.
    seeds
        A count ``N`` (seeds ``0..N-1``) or a list of seeds.
    frames
        Frames per run (default: the model's ``FRAMES``).
    collect
        Any of ``"summary"`` (the model's ``summary(world)`` figures, nested dicts
        flattened with dots), ``"state"`` (final rows of ``components``) and
        ``"series"`` (``components`` recorded every ``every`` frames).
    components
        Component classes or their names in the model module, for ``state`` and
        ``series`` (default: the model's ``RECORD``).
    every
        Recording period of ``series``, in frames.
    out
        The dataset folder (``out/<kind>/<run>.parquet``, ``out/runs/``,
        ``out/failed/``). It must be new, empty, or hold a sweep of the same model.
    address
        Ray cluster address; ``None`` starts a local Ray instance for the call (or
        uses the one this process already joined).
    resume
        Skip runs that already have their marker in ``out/runs`` (default). False
        runs every run again and replaces its files.
    threads
        Worker threads per world (default 1: one Ray CPU per run).
    progress
        Show a progress bar across runs on stderr (or on the given stream).

    Returns
    -------
    SweepResult
        Counts, failures and readers of the dataset.

    Raises
    ------
    SweepError
        Bad model, parameters, seeds, collect kinds or out folder, all checked
        before any run starts (nothing is written then).
    """
    t0 = time.perf_counter()
    loaded = load_model(model)
    spec = model_spec(loaded)
    frames = loaded.frames if frames is None else frames
    if type(frames) is not int or frames < 1:
        raise SweepError(f"frames={frames!r}: give a positive number of frames per run")
    kinds = tuple(collect)
    bad = [k for k in kinds if k not in COLLECT_KINDS]
    if bad or not kinds:
        raise SweepError(f"collect={list(kinds)}: choose from {list(COLLECT_KINDS)}")
    if type(every) is not int or every < 1:
        raise SweepError(
            f"every={every!r}: give a recording period of at least 1 frame"
        )
    if components is None:
        components = loaded.record or []
    names = tuple(c if isinstance(c, str) else c.__name__ for c in components)
    if ("state" in kinds or "series" in kinds) and not names:
        raise SweepError(
            "collect 'state' / 'series' needs components= (or a RECORD list in the model)"
        )
    _component_classes(loaded, names)
    sets = expand_params(params)
    _check_params(loaded, sets)
    seed_list = _seeds(seeds)
    out = Path(out)
    options = {
        "frames": frames,
        "collect": sorted(kinds),
        "components": names,
        "every": every,
    }
    runs = [(_run_id(p, s, options), p, s) for p in sets for s in seed_list]
    if len({r[0] for r in runs}) != len(runs):
        raise SweepError(
            "two runs have the same parameters and seed; remove duplicates"
        )
    _prepare_out(out, spec)
    todo = [
        r for r in runs if not (resume and (out / "runs" / f"{r[0]}.json").exists())
    ]
    result = SweepResult(out=out, total=len(runs), ran=0, skipped=len(runs) - len(todo))
    if not todo:
        result.seconds = time.perf_counter() - t0
        return result
    stream = progress if not isinstance(progress, bool) else sys.stderr
    bar = Progress(len(todo), label="runs", stream=stream) if progress else None
    with ray_session(address):
        task = ray.remote(num_cpus=threads or 1, max_retries=0)(execute_run)
        pending = {
            task.remote(spec, run, p, s, frames, threads, kinds, names, every): (
                run,
                p,
                s,
            )
            for run, p, s in todo
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                run, p, s = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # the worker died: reported like a failure
                    outcome = {
                        "ok": False,
                        "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                        "traceback": str(exc),
                    }
                _record(out, run, p, s, frames, outcome, result)
                result.ran += 1
                if bar is not None:
                    last = (
                        f"failed: {len(result.failures)}" if result.failures else "ok"
                    )
                    bar.update(result.ran, last)
    result.seconds = time.perf_counter() - t0
    return result


def _record(
    out: Path,
    run: str,
    params: dict[str, ParamValue],
    seed: int,
    frames: int,
    outcome: dict[str, Any],
    result: SweepResult,
) -> None:
    failed = out / "failed" / f"{run}.json"
    if not outcome["ok"]:
        failure = RunFailure(run, params, seed, outcome["error"], outcome["traceback"])
        result.failures.append(failure)
        _atomic_write_bytes(
            failed,
            json.dumps(
                {
                    "run": run,
                    "params": params,
                    "seed": seed,
                    "frames": frames,
                    "error": failure.error,
                    "traceback": failure.traceback,
                },
                indent=1,
            ).encode(),
        )
        return
    for kind, table in outcome["tables"].items():
        _atomic_write_parquet(out / kind / f"{run}.parquet", table)
    marker = {
        "run": run,
        "params": params,
        "seed": seed,
        "frames": frames,
        "seconds": outcome["seconds"],
        "kinds": sorted(outcome["tables"]),
    }
    _atomic_write_bytes(
        out / "runs" / f"{run}.json", json.dumps(marker, indent=1).encode()
    )
    failed.unlink(missing_ok=True)


# -------------------------------------------------------------------------- CLI


def parse_param_options(
    options: Sequence[str], model: Model
) -> dict[str, list[ParamValue]]:
    """``["agents=100,200", "radius=2.5"]`` -> a grid, typed like the model's ``PARAMS``.

    Raises
    ------
    SweepError
        When an option is not ``name=v1,v2,...``.
    archetype_ecs.runner.ParamError
        When a name is unknown or a value does not parse as the parameter's type.
    """
    grid: dict[str, list[ParamValue]] = {}
    for opt in options:
        name, sep, values = opt.partition("=")
        name = name.strip()
        if not sep or not name or not values:
            raise SweepError(f"--param {opt!r}: write name=value1,value2,...")
        grid[name] = [
            parse_params([f"{name}={v.strip()}"], model.params, model=model.name)[name]
            for v in values.split(",")
        ]
    return grid


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sweep`` to an ``argparse`` sub-parser set (used by ``arrow-ecs``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sweep",
        help="run a model over a parameter grid and seeds on Ray; write Parquet",
        description="Run one world per (parameter set, seed) as Ray tasks and write "
        "the results to a Parquet dataset (resumable).",
    )
    p.add_argument("model", help="model file (model.py) or importable module name")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a swept parameter and its values (repeat for a grid)",
    )
    p.add_argument(
        "--seeds", type=int, default=1, help="seeds 0..N-1 per parameter set"
    )
    p.add_argument(
        "--frames", type=int, default=None, help="frames per run (default: FRAMES)"
    )
    p.add_argument("--out", required=True, help="dataset folder")
    p.add_argument(
        "--address", default=None, help="Ray cluster address (default: local)"
    )
    p.add_argument(
        "--collect",
        default="summary",
        help="comma list of summary,state,series (default summary)",
    )
    p.add_argument(
        "--components",
        default=None,
        help="comma list of component names for state/series (default RECORD)",
    )
    p.add_argument("--every", type=int, default=1, help="series recording period")
    p.add_argument("--threads", type=int, default=1, help="threads per world")
    p.add_argument("--no-resume", action="store_true", help="rerun finished runs too")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--traceback", action="store_true", help="on error, print the traceback"
    )
    p.set_defaults(func=run_sweep_command)
    return p


def run_sweep_command(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    """Run ``arrow-ecs sweep``; print a report; exit code 1 when a run failed."""
    err = stream if stream is not None else sys.stderr
    grid = parse_param_options(args.param, load_model(args.model))
    comps = args.components.split(",") if args.components else None
    result = sweep(
        args.model,
        grid or None,
        seeds=args.seeds,
        frames=args.frames,
        collect=[k.strip() for k in args.collect.split(",") if k.strip()],
        components=comps,
        every=args.every,
        out=args.out,
        address=args.address,
        resume=not args.no_resume,
        threads=args.threads,
        progress=False if getattr(args, "quiet", False) else err,
    )
    print(
        f"sweep: {result.total} runs, {result.ran} ran, {result.skipped} skipped "
        f"(finished earlier), {len(result.failures)} failed, {result.seconds:.1f}s; "
        f"dataset in {result.out}",
        file=err,
    )
    for failure in result.failures:
        print(f"FAILED {failure}\n{failure.traceback}", file=err)
    return 1 if result.failures else 0
