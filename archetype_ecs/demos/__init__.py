"""Runnable demo models behind ``arrow-ecs demo NAME``.

Each demo module exposes ``add_arguments(parser)`` and ``run(args) -> dict`` (the
summary figures). ``DEMOS`` maps names to module paths; the first is the default.
"""

from __future__ import annotations

__all__ = ["DEFAULT_DEMO", "DEMOS"]

DEMOS: dict[str, str] = {
    "bounce": "archetype_ecs.demos.bounce",
}
DEFAULT_DEMO = "bounce"
