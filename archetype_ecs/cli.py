"""The ``arrow-ecs`` command line: ``arrow-ecs demo [NAME] [options]``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from archetype_ecs.demos import DEFAULT_DEMO, DEMOS

__all__ = ["main"]


def _format_summary(summary: dict[str, Any]) -> str:
    lines = [f"== {summary['demo']}: summary =="]
    for key, value in summary.items():
        if key == "demo":
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k} {v:.3f}" for k, v in value.items())
            lines.append(f"  {key:<20} {inner}")
        elif isinstance(value, float):
            lines.append(f"  {key:<20} {value:,.3f}")
        else:
            lines.append(
                f"  {key:<20} {value:,}"
                if isinstance(value, int)
                else f"  {key:<20} {value}"
            )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arrow-ecs", description="arrow-ecs tools")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="run a demo simulation with progress and a summary"
    )
    demo_sub = demo.add_subparsers(dest="name")
    demo.set_defaults(name=None)
    for name, path in DEMOS.items():
        module = importlib.import_module(path)
        p = demo_sub.add_parser(name, help=(module.__doc__ or name).splitlines()[0])
        module.add_arguments(p)
        p.add_argument("--json", action="store_true", help="print the summary as JSON")
    # `arrow-ecs demo --agents 10` runs the default demo
    importlib.import_module(DEMOS[DEFAULT_DEMO]).add_arguments(demo)
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``arrow-ecs`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        name = args.name or DEFAULT_DEMO
        module = importlib.import_module(DEMOS[name])
        summary = module.run(args)
        print(json.dumps(summary, indent=2) if args.json else _format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
