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
* ``mesa``: the same rules written for Mesa 3.3 (an ``Agent`` per ant,
  ``agents.shuffle_do("step")``, a ``SingleGrid`` for occupancy, the sugar levels in
  lists), started from the same state; Mesa's own random stream, so its run drifts
  from ours statistically, not in kind. Up to N = 1e5.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from benchmarks._runner import Scenario, SkipVariant

SEED = 7
WARMUP = 30


def side_for(n: int) -> int:
    """Grid side that keeps E&A's agent density (16%)."""
    return math.ceil(math.sqrt(6.25 * n))


def _mesa_model(
    start: dict[int, list[int]], capacity: list[list[int]], seed: int
) -> Any:
    """Rules G-infinity and M in Mesa 3.3, from the given agents and capacities."""
    import mesa
    from mesa.space import SingleGrid

    height, width = len(capacity), len(capacity[0])
    directions = ((1, 0), (-1, 0), (0, 1), (0, -1))

    class Ant(mesa.Agent):  # type: ignore[misc] # untyped base
        def __init__(
            self, model: Any, sugar: int, metabolism: int, vision: int
        ) -> None:
            super().__init__(model)
            self.sugar, self.metabolism, self.vision = sugar, metabolism, vision

        def step(self) -> None:
            m = self.model
            x0, y0 = self.pos
            best, best_d, cells = m.level[y0][x0], 0, [self.pos]
            for d in range(1, self.vision + 1):
                for dx, dy in directions:
                    cx, cy = x0 + dx * d, y0 + dy * d
                    if not (0 <= cx < width and 0 <= cy < height):
                        continue
                    if not m.grid.is_cell_empty((cx, cy)):
                        continue
                    s = m.level[cy][cx]
                    if s > best:
                        best, best_d, cells = s, d, [(cx, cy)]
                    elif s == best and d == best_d:
                        cells.append((cx, cy))
            target = self.random.choice(cells)
            if target != self.pos:
                m.grid.move_agent(self, target)
            x, y = target
            self.sugar += m.level[y][x] - self.metabolism
            m.level[y][x] = 0
            if self.sugar <= 0:
                m.grid.remove_agent(self)
                self.remove()

    class Sugarscape(mesa.Model):  # type: ignore[misc] # untyped base
        def __init__(self) -> None:
            super().__init__(seed=seed)
            self.level = [row[:] for row in capacity]
            self.grid = SingleGrid(width, height, torus=False)
            for x, y, sugar, metabolism, vision in start.values():
                self.grid.place_agent(Ant(self, sugar, metabolism, vision), (x, y))

        def step(self) -> None:
            for row, cap in zip(self.level, capacity, strict=True):
                row[:] = cap
            self.agents.shuffle_do("step")

    return Sugarscape()


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

    def _warm_state(self, n: int) -> None:
        """The state after the warm-up, as plain lists (shared by the peers)."""
        if hasattr(self, "start"):
            return
        from archetype_ecs.demos import sugarscape

        side = side_for(n)
        world = sugarscape.build(seed=SEED, agents=n, width=side, height=side)
        world.run(WARMUP)
        land = world.resource(sugarscape.Landscape)
        self.capacity = land.capacity.tolist()
        self.level0 = land.level.tolist()
        self.start: dict[int, list[int]] = {}
        for ents, loc, sug, tr in world.query(
            sugarscape.Location, sugarscape.Sugar, sugarscape.Traits
        ):
            for i, e in enumerate(ents.tolist()):
                self.start[e] = [
                    int(loc.x[i]),
                    int(loc.y[i]),
                    int(sug.amount[i]),
                    int(tr.metabolism[i]),
                    int(tr.vision[i]),
                ]
        world.close()

    def setup_python_reference(self, n: int) -> None:
        from archetype_ecs.demos import sugarscape
        from archetype_ecs.random import stream_id

        self._warm_state(n)
        self.level = [row[:] for row in self.level0]
        self.agents = {e: list(a) for e, a in self.start.items()}
        self.stream = stream_id(sugarscape.STREAM)
        self.tick = WARMUP

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

    def setup_mesa(self, n: int) -> None:
        try:
            import mesa  # noqa: F401 # only to skip cleanly without it
        except ImportError as exc:
            raise SkipVariant(f"mesa not installed ({exc})") from exc
        self._warm_state(n)
        self.mesa = _mesa_model(self.start, self.capacity, SEED)

    def time_mesa(self, n: int) -> None:
        self.mesa.step()

    def teardown(self, n: int) -> None:
        """Close the world."""
        world: Any = getattr(self, "world", None)
        if world is not None:
            world.close()
