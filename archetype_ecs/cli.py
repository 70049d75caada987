"""The ``arrow-ecs`` command line: ``run`` a model file, ``demo`` a gallery model, ``info``.

``arrow-ecs run MODEL`` loads a model module (see :mod:`archetype_ecs.runner` for the
model protocol), runs it with a progress bar and prints its summary; ``arrow-ecs demo
NAME`` does the same for a gallery model registered in
:data:`archetype_ecs.demos.DEMOS`, with the model's parameters as options;
``arrow-ecs info DIR`` describes a save folder and checks its files.

Exit codes: 0 success, 1 a failing model, run or save (message with file and line, no
traceback unless ``--traceback``), 2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import textwrap
import traceback
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from archetype_ecs._progress import Progress, format_bytes
from archetype_ecs.demos import DEFAULT_DEMO, DEMOS
from archetype_ecs.errors import EcsError, SerializationError
from archetype_ecs.monitor import FrameBudgetWarning
from archetype_ecs.runner import (
    Model,
    ModelError,
    ParamError,
    ParamValue,
    load_model,
    parse_params,
    run_model,
)

__all__ = ["main"]

_FORMATTER = argparse.RawDescriptionHelpFormatter

_MAIN_EPILOG = """\
examples:
  arrow-ecs demo                          run the default gallery model (bounce)
  arrow-ecs demo bounce --agents 10000    a gallery model with one of its parameters
  arrow-ecs run examples/my_model.py --frames 200 --param agents=5000
  arrow-ecs run examples/my_model.py --record run.parquet --trace trace.json
  arrow-ecs info saves/final              describe a save folder and check its files
  arrow-ecs sweep examples/my_model.py --param agents=1000,2000 --seeds 3 --out sweep/
                                          a parameter sweep on Ray (distributed extra)

`arrow-ecs COMMAND --help` explains each command. Docs: docs/cli.md.
"""

_RUN_EPILOG = """\
examples:
  arrow-ecs run examples/my_model.py
  arrow-ecs run examples/my_model.py --frames 500 --seed 7 --param agents=20000
  arrow-ecs run examples/my_model.py --params          list the model's parameters
  arrow-ecs run archetype_ecs.demos.bounce --json      a model given by module name
  arrow-ecs run model.py --record out.parquet --trace trace.json --save final/
  arrow-ecs run model.py --budget 16.7                 warn about frames over 16.7 ms

MODEL is a .py file (or an importable module name) that defines
`build(*, seed, threads, **params) -> World` and optionally PARAMS, FRAMES,
summary(world), status(world), RECORD and RENDER: see docs/cli.md, "The model
protocol". The summary goes to stdout (as JSON with --json), the progress bar and
warnings to stderr.
"""

_DEMO_EPILOG = """\
examples:
  arrow-ecs demo                           the default model ({default})
  arrow-ecs demo NAME --help               a model's parameters and options
  arrow-ecs demo {default} --frames 100 --seed 7 --json

Each gallery model is also a file you can read and copy: examples/NAME.py.
"""

_INFO_EPILOG = """\
examples:
  arrow-ecs info saves/final
  arrow-ecs info saves/final --json        the same as JSON
  arrow-ecs info saves/final --no-verify   skip reading every file

A save folder is what World.save() / `arrow-ecs run --save DIR` writes. The check
reads every file and compares it with the hash in the manifest; a damaged save
exits with status 1.
"""


# ------------------------------------------------------------------- parsers


def _para(text: str) -> str:
    """A help paragraph wrapped at 79 columns (the help formatter keeps it as is)."""
    return textwrap.fill(text, 79)


def _add_run_options(parser: argparse.ArgumentParser, *, frames: int | None) -> None:
    """Options shared by ``run`` and ``demo``."""
    default = "the model's FRAMES" if frames is None else str(frames)
    g = parser.add_argument_group("run options")
    g.add_argument(
        "--frames",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"frames to run (default: {default})",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="random seed; the same seed gives the same results (default 0)",
    )
    g.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="T",
        help="worker threads (default: CPU count); results do not depend on it",
    )
    g.add_argument(
        "--budget",
        type=_positive_float,
        default=None,
        metavar="MS",
        help="frame budget in milliseconds: warn about slower frames, naming the "
        "slowest systems, and count them in the summary",
    )
    out = parser.add_argument_group("outputs")
    out.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="PATH",
        help="record the model's RECORD components (all components without one) "
        "every frame, plus the initial state as frame 0, into a Parquet dataset "
        "folder at PATH (e.g. out.parquet)",
    )
    out.add_argument(
        "--record-every",
        type=_positive_int,
        default=1,
        metavar="K",
        help="record every K-th frame only (default 1)",
    )
    out.add_argument(
        "--trace",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the profiler's Chrome trace (frames 2..N, at most the last 600) "
        "to FILE; open it in https://ui.perfetto.dev",
    )
    out.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="GIF",
        help="write an animated GIF of the run (needs the render extra and render "
        "components on the model's entities)",
    )
    out.add_argument(
        "--render-every",
        type=_positive_int,
        default=1,
        metavar="K",
        help="put every K-th frame into the GIF (default 1)",
    )
    out.add_argument(
        "--save",
        type=Path,
        default=None,
        metavar="DIR",
        help="save the final world to DIR (inspect it with `arrow-ecs info DIR`)",
    )
    shown = parser.add_argument_group("display")
    shown.add_argument(
        "--json", action="store_true", help="print the summary as JSON on stdout"
    )
    shown.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar on stderr"
    )
    shown.add_argument(
        "--traceback",
        action="store_true",
        help="on error, print the full Python traceback too",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _param_type(name: str, default: ParamValue, model: str) -> Any:
    def convert(text: str) -> ParamValue:
        try:
            return parse_params([f"{name}={text}"], {name: default}, model=model)[name]
        except ParamError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = type(default).__name__  # argparse names it in messages
    return convert


def _add_param_options(parser: argparse.ArgumentParser, model: Model) -> None:
    """One ``--name`` option per PARAMS entry (``--flag/--no-flag`` for bools)."""
    if not model.params:
        return
    g = parser.add_argument_group(f"{model.name} parameters")
    for name, default in model.params.items():
        flags = [f"--{name.replace('_', '-')}"]
        if "_" in name:
            flags.append(f"--{name}")
        dest = f"param_{name}"
        if isinstance(default, bool):
            g.add_argument(
                *flags,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"(default: {default})",
            )
        else:
            g.add_argument(
                *flags,
                dest=dest,
                default=None,
                type=_param_type(name, default, model.name),
                metavar=type(default).__name__.upper(),
                help=f"(default: {default!r})",
            )


class _Broken:
    """A registered demo whose module fails to import: shown in help, raised on use."""

    def __init__(self, name: str, error: ModelError) -> None:
        self.name = name
        self.error = error


def _demo_models() -> dict[str, Model | _Broken]:
    models: dict[str, Model | _Broken] = {}
    for name, path in DEMOS.items():
        try:
            models[name] = load_model(path)
        except ModelError as exc:
            models[name] = _Broken(name, exc)
    return models


def _add_demo_parser(sub: Any) -> None:
    models = _demo_models()
    names = ", ".join(models)
    demo = sub.add_parser(
        "demo",
        help="run a gallery model with progress and a summary",
        description=_para(
            f"Run a gallery model (one of: {names}). Without NAME, runs "
            f"{DEFAULT_DEMO}. Each model's parameters are options: see "
            "`arrow-ecs demo NAME --help`."
        ),
        epilog=_DEMO_EPILOG.format(default=DEFAULT_DEMO),
        formatter_class=_FORMATTER,
    )
    demo_sub = demo.add_subparsers(dest="name", metavar="NAME", title="models")
    demo.set_defaults(name=None)
    for name, model in models.items():
        if isinstance(model, _Broken):
            p = demo_sub.add_parser(name, help="(cannot be loaded: see --traceback)")
            p.set_defaults(broken=model)
            _add_run_options(p, frames=None)
            continue
        p = demo_sub.add_parser(
            name,
            help=model.description,
            description=_para(model.description)
            + f"\n\nSource: {model.source} (also examples/{name}.py).",
            formatter_class=_FORMATTER,
        )
        _add_param_options(p, model)
        _add_run_options(p, frames=model.frames)
    # `arrow-ecs demo --agents 10` runs the default demo with that parameter
    default = models.get(DEFAULT_DEMO)
    if isinstance(default, Model):
        _add_param_options(demo, default)
    _add_run_options(demo, frames=None)


def _add_sweep_parser(sub: Any, *, full: bool) -> None:
    """``sweep`` lives in the distributed extra: its options are added (and Ray's
    package imported) only when the command line asks for it."""
    if full:
        try:
            from archetype_ecs.distributed import add_sweep_parser
        except ImportError:
            pass  # reported when the command runs (names the extra to install)
        else:
            add_sweep_parser(sub)
            return
    p = sub.add_parser(
        "sweep", help="run a model over a parameter grid and seeds on Ray (extra)"
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)


def _parser(*, demos: bool, sweep: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arrow-ecs",
        description="arrow-ecs: run simulation models on the archetype ECS, and "
        "inspect their saves.",
        epilog=_MAIN_EPILOG,
        formatter_class=_FORMATTER,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run a model file: progress bar, summary, optional outputs",
        description=_para(
            "Run a model module: build its world, step it with a progress bar "
            "(frame time, entities, slowest system), print its summary."
        ),
        epilog=_RUN_EPILOG,
        formatter_class=_FORMATTER,
    )
    run.add_argument("model", metavar="MODEL", help="model .py file or module name")
    run.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a model parameter (repeatable), e.g. --param agents=5000",
    )
    run.add_argument(
        "--params",
        action="store_true",
        help="list the model's parameters with their defaults, then exit",
    )
    _add_run_options(run, frames=None)
    if demos:
        _add_demo_parser(sub)
    else:
        sub.add_parser("demo", help="run a gallery model with progress and a summary")
    _add_sweep_parser(sub, full=sweep)
    info = sub.add_parser(
        "info",
        help="describe a save folder and check its integrity",
        description=_para(
            "Describe a save: format, tick, entities, archetypes with row counts "
            "and components, component schemas with versions, resources, files and "
            "sizes; then check every file against the manifest's hashes."
        ),
        epilog=_INFO_EPILOG,
        formatter_class=_FORMATTER,
    )
    info.add_argument("dir", type=Path, metavar="DIR", help="the save folder")
    info.add_argument("--json", action="store_true", help="print the info as JSON")
    info.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip the integrity check (reading every file)",
    )
    info.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    info.add_argument(
        "--traceback", action="store_true", help="on error, print the traceback"
    )
    return parser


# ----------------------------------------------------------------- commands


def _run_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "frames": args.frames,
        "seed": args.seed,
        "threads": args.threads,
        "record": args.record,
        "record_every": args.record_every,
        "trace": args.trace,
        "render": args.render,
        "render_every": args.render_every,
        "save": args.save,
        "budget_ms": args.budget,
        "progress": not args.quiet,
    }


def _cmd_run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    if args.params:
        print(_format_params(model))
        return 0
    params = parse_params(args.param, model.params, model=model.name)
    summary = run_model(model, params=params, **_run_kwargs(args))
    _print_summary(summary, as_json=args.json)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    broken = getattr(args, "broken", None)
    if isinstance(broken, _Broken):
        raise broken.error
    name = args.name or DEFAULT_DEMO
    model = dataclasses.replace(load_model(DEMOS[name]), name=name)
    params = {
        k: getattr(args, f"param_{k}")
        for k in model.params
        if getattr(args, f"param_{k}", None) is not None
    }
    summary = run_model(model, params=params, **_run_kwargs(args))
    _print_summary(summary, as_json=args.json)
    return 0


def _format_params(model: Model) -> str:
    lines = [f"{model.name}: {model.description}", f"  frames (FRAMES)  {model.frames}"]
    if not model.params:
        lines.append("  (no parameters)")
    width = max((len(k) for k in model.params), default=0)
    for name, default in model.params.items():
        kind = type(default).__name__
        lines.append(f"  {name:<{width}}  {default!r:>12}  ({kind})")
    return "\n".join(lines)


def _value_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_value_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value) or "-"
    return str(value)


def _budget_text(b: Mapping[str, Any]) -> str:
    text = (
        f"{b['over_budget_frames']:,} of {b['judged_frames']:,} frames over "
        f"{b['budget_ms']:g} ms ({b['over_budget_share']:.0%}), "
        f"{b['budget_warnings']} warning(s)"
    )
    worst = b.get("worst_frame")
    if worst:
        slow = ", ".join(f"{name} {ms:.2f} ms" for name, ms in worst["slowest"])
        text += f"; worst: frame {worst['frame']}, {worst['ms']:.2f} ms ({slow})"
    return text


def _format_summary(summary: Mapping[str, Any]) -> str:
    lines = [f"== {summary['model']}: summary =="]
    for key, value in summary.items():
        if key == "model":
            continue
        text = _budget_text(value) if key == "budget" else _value_text(value)
        lines.append(f"  {key:<20} {text}")
    return "\n".join(lines)


def _print_summary(summary: Mapping[str, Any], *, as_json: bool) -> None:
    print(json.dumps(summary, indent=2) if as_json else _format_summary(summary))


# --------------------------------------------------------------------- info


def _save_info(root: Path, *, verify: bool, progress: bool) -> dict[str, Any]:
    """What ``arrow-ecs info`` reports (raises SerializationError when unreadable)."""
    from archetype_ecs.serialization import _checked_file, _manifest

    folder, m = _manifest(root)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    sizes = {p.name: p.stat().st_size for p in files}
    tables = [
        {
            "file": t["file"],
            "rows": t["rows"],
            "components": t["components"],
            "bytes": sizes.get(t["file"]),
        }
        for t in m["tables"]
    ]
    info: dict[str, Any] = {
        "path": str(root),
        "snapshot": folder.name,
        "format": m["format"],
        "format_version": m["format_version"],
        "file_format": m["file_format"],
        "partial": bool(m.get("partial")),
        "frame": m.get("time", {}).get("frame"),
        "change_tick": m["change_tick"],
        "entities": m["entities"],
        "archetypes": tables,
        "components": {
            name: {
                "version": d.get("version"),
                "fields": [_field_text(f) for f in d["fields"]],
            }
            for name, d in m["components"].items()
        },
        "resources": [r["type"] for r in m["resources"]],
        "skipped_resources": list(m["skipped_resources"]),
        "files": sizes,
        "total_bytes": sum(sizes.values()),
    }
    if verify:
        entries: list[tuple[Mapping[str, Any], str, str]] = [
            (t, "file", "hash") for t in m["tables"]
        ]
        if m.get("index") is not None:
            entries += [
                (m["index"], "file", "hash"),
                (m["index"], "free_file", "free_hash"),
            ]
        total = sum(sizes.get(str(e.get(k)), 0) for e, k, _ in entries)
        bar = (
            Progress(total, "checked", delay=1.0, unit_bytes=True) if progress else None
        )
        problems: list[str] = []
        done = 0
        for entry, key, hkey in entries:
            try:
                _checked_file(folder, entry, key, hkey)
            except SerializationError as exc:
                problems.append(str(exc))
            done += sizes.get(str(entry.get(key)), 0)
            if bar is not None:
                bar.update(done)
        info["integrity"] = {
            "ok": not problems,
            "files": len(entries),
            "problems": problems,
        }
    return info


def _field_text(f: Mapping[str, Any]) -> str:
    shape = f.get("shape") or []
    dims = f"[{','.join(str(s) for s in shape)}]" if shape else ""
    return f"{f['name']}: {f.get('type')}{dims}"


def _format_info(info: Mapping[str, Any]) -> str:
    lines = [
        f"== save {info['path']} ({info['snapshot']}) ==",
        f"  format      {info['format']} v{info['format_version']}, "
        f"{info['file_format']} files{', partial (query rows)' if info['partial'] else ''}",
        f"  frame       {info['frame']}   change tick {info['change_tick']}",
        f"  entities    {info['entities']:,}",
        f"  archetypes  {len(info['archetypes'])}",
    ]
    for t in info["archetypes"]:
        comps = ", ".join(t["components"]) or "(no components)"
        size = format_bytes(t["bytes"]) if t["bytes"] is not None else "missing"
        lines.append(f"    {t['rows']:>12,} rows  {comps}  [{t['file']}, {size}]")
    lines.append(f"  components  {len(info['components'])}")
    for name, d in info["components"].items():
        fields = ", ".join(d["fields"]) or "(tag)"
        lines.append(f"    {name} v{d['version']}: {fields}")
    lines.append(f"  resources   {', '.join(info['resources']) or '-'}")
    if info["skipped_resources"]:
        lines.append(f"    not saved: {', '.join(info['skipped_resources'])}")
    lines.append(
        f"  files       {len(info['files'])}, {format_bytes(info['total_bytes'])}"
    )
    for name, size in info["files"].items():
        lines.append(f"    {name:<20} {format_bytes(size):>12}")
    check = info.get("integrity")
    if check is None:
        lines.append("  integrity   not checked (--no-verify)")
    elif check["ok"]:
        lines.append(f"  integrity   ok ({check['files']} files match their hashes)")
    else:
        lines.append(f"  integrity   FAILED ({len(check['problems'])} problem(s))")
        lines.extend(f"    {p}" for p in check["problems"])
    return "\n".join(lines)


def _cmd_sweep(args: argparse.Namespace) -> int:
    try:
        from archetype_ecs.distributed import run_sweep_command
    except ImportError as exc:
        print(f"arrow-ecs sweep: {exc}", file=sys.stderr)
        return 1
    return run_sweep_command(args)


def _cmd_info(args: argparse.Namespace) -> int:
    info = _save_info(args.dir, verify=args.verify, progress=not args.quiet)
    print(json.dumps(info, indent=2) if args.json else _format_info(info))
    check = info.get("integrity")
    if check is not None and not check["ok"]:
        print(
            f"arrow-ecs: error: {args.dir} is damaged: {len(check['problems'])} "
            "file(s) do not match the manifest; restore it from a backup or save again",
            file=sys.stderr,
        )
        return 1
    return 0


# --------------------------------------------------------------------- main


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"arrow-ecs: warning: {message}", file=sys.stderr)


def _report(exc: BaseException, *, show_traceback: bool, hint: bool = True) -> None:
    if show_traceback:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"arrow-ecs: error: {exc}", file=sys.stderr)
    if hint and not show_traceback:
        print("  (run again with --traceback for the full traceback)", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``arrow-ecs`` console script; returns the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 when the model, the run or the save fails, 2 for bad
        arguments (argparse exits with 2 itself), 130 when interrupted.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(demos="demo" in args_list, sweep="sweep" in args_list)
    args = parser.parse_args(args_list)
    commands = {
        "run": _cmd_run,
        "demo": _cmd_demo,
        "info": _cmd_info,
        "sweep": _cmd_sweep,
    }
    try:
        with warnings.catch_warnings():
            # Frame budget warnings are rate-limited by the budget itself; other
            # warnings show once per place, as one line on stderr.
            warnings.simplefilter("default")
            warnings.simplefilter("always", FrameBudgetWarning)
            warnings.showwarning = _show_warning
            return commands[args.command](args)
    except ParamError as exc:
        _report(exc, show_traceback=args.traceback, hint=False)
        return 2
    except BrokenPipeError:
        # stdout was closed early (`arrow-ecs ... | head`): not worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (EcsError, OSError) as exc:
        _report(exc, show_traceback=args.traceback)
        return 1
    except KeyboardInterrupt:
        print("\narrow-ecs: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
