"""boids: one frame of the boids gallery model, and the spatial grid's share of it.

The model at its defaults (about 15 neighbors per boid, periodic square world,
simultaneous update), warmed up 5 frames.

Variants
* ``frame`` (baseline): ``world.step()`` -- grid rebuild, steering kernel,
  integration and wrap-around, plus the schedule.
* ``grid_build``: ``build_grid`` over the same positions with the model's cell
  size and periodic bounds (what ``physics_grid`` does each frame); its ratio to
  ``frame`` is the grid's share of a frame.
* ``steer``: the steering kernel alone (neighbor scans through the grid + sums).

Run ``python -m benchmarks.boids`` to print the median frame time at 10^5 boids
and each system's share from the profiler.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from benchmarks._runner import Scenario, SkipVariant

WARMUP = 5


class Boids(Scenario):
    params = (10**4, 10**5)
    baseline = "frame"
    unit = "boid"
    notes = "grid_build / frame = the grid's share of a frame (see module docstring)"

    def setup(self, n: int) -> None:
        try:
            from archetype_ecs.demos import boids
            from archetype_ecs.physics import SpatialGrid, WorldBounds
            from archetype_ecs.physics.grid import build_grid
        except ImportError as exc:  # pragma: no cover - partial installs
            raise SkipVariant(f"boids unavailable: {exc}") from exc
        self.boids = boids
        self.build_grid = build_grid
        self.world = boids.build(agents=n, seed=0)
        self.world.run(WARMUP)
        self.bounds = self.world.resource(WorldBounds)
        self.cell = self.world.resource(SpatialGrid).cell_size

    def time_frame(self, n: int) -> None:
        self.world.step()

    def _positions(self) -> tuple[Any, Any]:
        from archetype_ecs.physics import Position2D

        (_, pos), *_ = list(self.world.query(Position2D))
        return pos.x, pos.y

    def time_grid_build(self, n: int) -> None:
        x, y = self._positions()
        self.build_grid(x, y, self.cell, bounds=self.bounds.rect, periodic=True)

    def setup_steer(self, n: int) -> None:
        from archetype_ecs.physics import SpatialGrid

        sg = self.world.resource(SpatialGrid)
        self.grid = sg.grid
        self.vx = np.random.default_rng(1).normal(size=n)
        self.vy = np.random.default_rng(2).normal(size=n)
        self.out = (np.empty(n), np.empty(n))
        self.params_array = self.boids._params_array(self.boids.Flock())

    def time_steer(self, n: int) -> None:
        g = self.grid
        self.boids.steer_simultaneous_kernel(
            g.x, g.y, self.vx, self.vy, *g.arrays(), self.params_array, *self.out
        )


def main(n: int = 10**5, frames: int = 20) -> int:
    """Print the median frame time and each system's share at ``n`` boids."""
    sc = Boids()
    sc.setup(n)
    sc.world.profiler.clear()
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        sc.world.step()
        times.append(time.perf_counter() - t0)
    frame = float(np.median(times))
    rows = [r for r in sc.world.stats().to_pylist() if r["kind"] == "system"]
    print(f"boids N={n:,}: median frame {frame * 1e3:.1f} ms over {frames} frames")
    for r in rows:
        share = r["mean_ms"] / 1e3 / frame
        print(
            f"  {r['name']:<20} mean {r['mean_ms']:8.2f} ms  ({share:6.1%} of a frame)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
