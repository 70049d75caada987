"""physics_grid: radius neighbor queries on the spatial grid vs scipy's cKDTree.

N points uniform in a square of side sqrt(N) (density 1), radius 1.5 (about 7
neighbors each). Every variant builds its structure from the raw points and answers
for all N points, so build and query are both timed (a grid is rebuilt every frame).

Variants
* ``ckdtree_pairs`` (baseline): ``cKDTree(points).query_pairs(r, output_type="ndarray")``
  -- every pair within r (scipy's query_pairs is single-threaded).
* ``grid_pairs``: ``build_grid(x, y, r).pairs(r)`` -- every pair ``i < j``, sorted
  by ``(i, j)`` (canonical order; cKDTree's is not sorted).
* ``ckdtree_counts``: ``query_ball_point(points, r, return_length=True,
  workers=-1)`` -- the neighbor count of every point (all cores).
* ``grid_counts``: ``build_grid`` + ``count_batch(r)`` (Numba threads).
* ``ckdtree_lists``: ``query_ball_point(points, r, workers=-1)`` -- a Python list of
  neighbors per point; run up to N = 10^5 (memory).
* ``grid_lists``: ``build_grid`` + ``neighbors_batch(r, sort=False)``: CSR arrays.
* ``numba_brute``: a plain Numba double loop counting pairs within r (O(N^2), the
  "no spatial structure" baseline), up to N = 10^4.

Run ``python -m benchmarks.physics_grid`` for a one-shot table with medians and the
ratios at N = 10^6 (and 10^4 for the brute-force baseline).
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, ClassVar

import numpy as np

from benchmarks._runner import Scenario, SkipVariant, SpeedupTarget, Target

RADIUS = 1.5


def _points(n: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    side = math.sqrt(n)
    return rng.uniform(0.0, side, n), rng.uniform(0.0, side, n)


def _brute_kernel() -> Any:
    from archetype_ecs._jit import njit

    @njit
    def brute_pairs(x: Any, y: Any, r: float) -> int:
        r2 = r * r
        k = 0
        for i in range(x.shape[0]):
            for j in range(i + 1, x.shape[0]):
                dx = x[j] - x[i]
                dy = y[j] - y[i]
                if dx * dx + dy * dy <= r2:
                    k += 1
        return k

    return brute_pairs


class PhysicsGrid(Scenario):
    params = (10**4, 10**5, 10**6)
    baseline = "ckdtree_pairs"
    unit = "point"
    variant_max_n: ClassVar[dict[str, int]] = {
        "ckdtree_lists": 10**5,
        "numba_brute": 10**4,
    }
    targets: ClassVar[dict[str, list[Target]]] = {
        "grid_pairs": [
            SpeedupTarget(min_n=10**5, other="ckdtree_pairs", min_speedup=1.0)
        ],
        "grid_counts": [
            SpeedupTarget(min_n=10**5, other="ckdtree_counts", min_speedup=1.0)
        ],
        "grid_lists": [SpeedupTarget(other="ckdtree_lists", min_speedup=1.0)],
    }
    notes = "build + query for all points, r=1.5 at density 1; see module docstring"

    def setup(self, n: int) -> None:
        try:
            from archetype_ecs.physics.grid import build_grid
        except ImportError as exc:  # pragma: no cover - partial installs
            raise SkipVariant(f"archetype_ecs.physics unavailable: {exc}") from exc
        self.build_grid = build_grid
        self.x, self.y = _points(n)
        self.pts = np.column_stack([self.x, self.y])

    def _tree(self) -> Any:
        try:
            from scipy.spatial import cKDTree
        except ImportError as exc:  # pragma: no cover - scipy is a dev dependency
            raise SkipVariant("scipy not installed") from exc
        return cKDTree(self.pts)

    def time_ckdtree_pairs(self, n: int) -> None:
        self._tree().query_pairs(RADIUS, output_type="ndarray")

    def time_grid_pairs(self, n: int) -> None:
        self.build_grid(self.x, self.y, RADIUS).pairs(RADIUS)

    def time_ckdtree_counts(self, n: int) -> None:
        self._tree().query_ball_point(self.pts, RADIUS, return_length=True, workers=-1)

    def time_grid_counts(self, n: int) -> None:
        self.build_grid(self.x, self.y, RADIUS).count_batch(RADIUS)

    def time_ckdtree_lists(self, n: int) -> None:
        self._tree().query_ball_point(self.pts, RADIUS, workers=-1)

    def time_grid_lists(self, n: int) -> None:
        self.build_grid(self.x, self.y, RADIUS).neighbors_batch(RADIUS, sort=False)

    def setup_numba_brute(self, n: int) -> None:
        self.brute = _brute_kernel()

    def time_numba_brute(self, n: int) -> None:
        self.brute(self.x, self.y, RADIUS)


def _median(fn: Any, repeats: int) -> float:
    fn()  # warm-up: compile / caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _compare(n: int, ours: Any, other: Any, label: str, repeats: int = 5) -> None:
    a = _median(ours, repeats)
    b = _median(other, repeats)
    print(
        f"N={n:>9,} grid {a * 1e3:9.2f} ms vs {label} {b * 1e3:9.2f} ms -> "
        f"ratio {b / a:6.2f} (>1: grid faster)"
    )


def main() -> int:
    """Print medians and ratios (grid vs cKDTree at 10^6, vs brute force at 10^4)."""
    big = PhysicsGrid()
    big.setup(10**6)
    n = 10**6
    _compare(
        n,
        lambda: big.time_grid_pairs(n),
        lambda: big.time_ckdtree_pairs(n),
        "query_pairs",
    )
    _compare(
        n,
        lambda: big.time_grid_counts(n),
        lambda: big.time_ckdtree_counts(n),
        "query_ball_point(return_length)",
    )
    small = PhysicsGrid()
    small.setup(10**4)
    small.setup_numba_brute(10**4)
    m = 10**4
    _compare(
        m,
        lambda: small.time_grid_pairs(m),
        lambda: small.time_numba_brute(m),
        "numba brute-force pairs",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
