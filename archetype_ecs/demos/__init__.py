"""Runnable demo models behind ``arrow-ecs demo NAME``.

Each demo is a model module (the protocol of :mod:`archetype_ecs.runner`: ``PARAMS``,
``FRAMES``, ``build``, ``summary``, ``status``); ``arrow-ecs demo NAME`` runs it with its
``PARAMS`` as options. ``DEMOS`` maps names to module paths; ``DEFAULT_DEMO`` runs when
no name is given. A file symlink ``examples/NAME.py`` shows each one in the examples.
"""

from __future__ import annotations

__all__ = ["DEFAULT_DEMO", "DEMOS"]

DEMOS: dict[str, str] = {
    "bounce": "archetype_ecs.demos.bounce",
    "boltzmann": "archetype_ecs.demos.boltzmann",
    "sugarscape": "archetype_ecs.demos.sugarscape",
    "wolf_sheep": "archetype_ecs.demos.wolf_sheep",
    "boids": "archetype_ecs.demos.boids",
}
DEFAULT_DEMO = "bounce"
