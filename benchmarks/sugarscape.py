"""sugarscape: one Sugarscape step (G-infinity + M) at N agents (info, no target).

The grid keeps E&A's density (400 agents on 50 x 50, 16%): ``side = ceil(sqrt(6.25
N))``. Setup runs ``WARMUP`` steps first, so the starving agents of the first frames
are gone and the population is near the landscape's carrying capacity; after that a
step's cost changes slowly.

Variants (one timed call = one model step)
* ``arrow_ecs``: ``world.step()`` of ``archetype_ecs.demos.sugarscape`` (growback,
  the serial move/eat/die kernel, despawns through the command buffer).
* ``python_reference`` (baseline): the plain-Python twin the tests compare against
  (``forage_reference``: dicts and lists, the same rules and draws), run on the same
  state; up to N = 1e4.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from benchmarks._runner import Scenario

SEED = 7
WARMUP = 30


def side_for(n: int) -> int:
    """Grid side that keeps E&A's agent density (16%)."""
    return math.ceil(math.sqrt(6.25 * n))


class SugarscapeStep(Scenario):
    """One Sugarscape step."""

    name = "sugarscape"
    params = (10**3, 10**4, 10**5)
    baseline = "python_reference"
    unit = "agent"
    variant_max_n: ClassVar[dict[str, int]] = {"python_reference": 10**4}
    notes = "info: no target; population after a warm-up near carrying capacity"

    def setup_arrow_ecs(self, n: int) -> None:
        from archetype_ecs.demos import sugarscape

        side = side_for(n)
        self.world = sugarscape.build(
            seed=SEED, threads=1, agents=n, width=side, height=side
        )
        self.world.run(WARMUP)

    def time_arrow_ecs(self, n: int) -> None:
        self.world.step()

    def setup_python_reference(self, n: int) -> None:
        from archetype_ecs.demos import sugarscape
        from archetype_ecs.random import stream_id

        side = side_for(n)
        world = sugarscape.build(seed=SEED, agents=n, width=side, height=side)
        world.run(WARMUP)
        land = world.resource(sugarscape.Landscape)
        self.capacity = land.capacity.tolist()
        self.level = land.level.tolist()
        self.agents: dict[int, list[int]] = {}
        for ents, loc, sug, tr in world.query(
            sugarscape.Location, sugarscape.Sugar, sugarscape.Traits
        ):
            for i, e in enumerate(ents.tolist()):
                self.agents[e] = [
                    int(loc.x[i]),
                    int(loc.y[i]),
                    int(sug.amount[i]),
                    int(tr.metabolism[i]),
                    int(tr.vision[i]),
                ]
        self.stream = stream_id(sugarscape.STREAM)
        self.tick = WARMUP
        world.close()

    def time_python_reference(self, n: int) -> None:
        from archetype_ecs.demos._abm_kernels import forage_reference

        self.tick += 1
        forage_reference(
            self.agents,
            self.level,
            self.capacity,
            torus=False,
            seed=SEED,
            stream=self.stream,
            tick=self.tick,
        )

    def teardown(self, n: int) -> None:
        """Close the world."""
        world: Any = getattr(self, "world", None)
        if world is not None:
            world.close()
