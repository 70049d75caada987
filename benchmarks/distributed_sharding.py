"""distributed_sharding: per-frame cost of a sharded world on local Ray actors.

One logical flock of N agents at the model's usual density (the order-independent
boids demo ``archetype_ecs.demos.boids`` on its periodic square, about 15 neighbors per
boid; else the reference ``archetype_ecs.distributed.flock``), split into S shards. One timed call is one frame of
:class:`~archetype_ecs.distributed.ShardedWorld`: halo exchange, compute (every shard
steps), routed commands, migration, with barriers between stages.

Variants
* ``single`` (baseline): the same model in one plain ``World`` (no Ray).
* ``shards_2``: a 2 x 1 grid (two strips); ``shards_4``: a 2 x 2 grid.

N is 2 x 10^5 only, so ``python -m benchmarks --quick`` (N <= 10^5) skips it (Ray
start-up and the shards' builds take a while). The stage split and bytes exchanged
per frame -- what ``docs/scaling.md`` is fitted to -- come from running the module::

    python -m benchmarks.distributed_sharding [--agents 1e5,1e6] [--grids 1x1,2x1,2x2]
        [--halo 1,2,4] [--frames 20] [--json PATH]

which prints one row per (N, grid, halo width) with medians of compute, halo,
migration and total frame time and bytes exchanged.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._runner import RESULTS_DIR, Scenario, SkipVariant

FLOCK_DENSITY = 0.8  # flock: agents per unit area, about 10 neighbors within radius 2
FLOCK_RADIUS = 2.0


def _boids() -> Any:
    try:
        from archetype_ecs.demos import boids
    except ImportError:
        return None
    return boids


def _model() -> str:
    """The boids demo when it is there, else the reference flock."""
    return (
        "archetype_ecs.demos.boids" if _boids() else "archetype_ecs.distributed.flock"
    )


def _params(n: int) -> dict[str, Any]:
    """The model's parameters for ``n`` agents at the model's usual density."""
    boids = _boids()
    if boids is not None:  # the demo's own automatic size, made explicit
        r = float(boids.PARAMS["radius"])
        size = max(math.sqrt(n * math.pi * r * r / boids.NEIGHBORS), 1.0)
        return {"agents": int(n), "size": size}
    size = math.sqrt(n / FLOCK_DENSITY)
    return {
        "agents": int(n),
        "size": size,
        "radius": FLOCK_RADIUS,
        "speed": 1.0,
        "dt": 0.5,
    }


def _sharding(n: int, halo_factor: float = 1.0) -> dict[str, Any]:
    """ShardedWorld keywords: bounds, halo (in interaction radii), position, periodic."""
    size = _params(n)["size"]
    if _boids() is not None:
        r = float(_boids().PARAMS["radius"])
        return {
            "bounds": (0.0, 0.0, size, size),
            "halo": r * halo_factor,
            "position": ("Position2D.x", "Position2D.y"),
            "periodic": True,
        }
    return {"bounds": (0.0, 0.0, size, size), "halo": FLOCK_RADIUS * halo_factor}


class DistributedSharding(Scenario):
    params = (200_000,)
    baseline = "single"
    unit = "agent"
    notes = (
        "boids (periodic square, ~15 neighbors); local Ray, 2 CPUs; one call = one "
        "frame (halo, compute, migration with barriers); shards share the cores"
    )

    def setup(self, n: int) -> None:
        self.n = n
        self.sharded: dict[str, Any] = {}
        self.session: Any = None

    def _ray(self) -> Any:
        try:
            from archetype_ecs.distributed import ShardedWorld, ray_session
        except ImportError as exc:
            raise SkipVariant(f"the distributed extra is missing ({exc})") from exc
        if self.session is None:
            self.session = ray_session()  # a local Ray instance, 2 CPUs
            self.session.__enter__()
        return ShardedWorld

    def setup_single(self, n: int) -> None:
        from archetype_ecs.runner import load_model

        self.world = load_model(_model()).build(seed=1, threads=1, **_params(n))

    def time_single(self, n: int) -> None:
        self.world.step()

    def _setup_sharded(self, n: int, key: str, grid: tuple[int, int]) -> None:
        sharded_world = self._ray()
        self.sharded[key] = sharded_world(
            _model(), shards=grid, params=_params(n), seed=1, **_sharding(n)
        )

    def setup_shards_2(self, n: int) -> None:
        self._setup_sharded(n, "2", (2, 1))

    def time_shards_2(self, n: int) -> None:
        self.sharded["2"].step()

    def setup_shards_4(self, n: int) -> None:
        self._setup_sharded(n, "4", (2, 2))

    def time_shards_4(self, n: int) -> None:
        self.sharded["4"].step()

    def teardown(self, n: int) -> None:
        for sw in self.sharded.values():
            sw.close()
        self.sharded = {}
        if self.session is not None:
            self.session.__exit__(None, None, None)
            self.session = None


# ------------------------------------------------------------- stage breakdown


def measure(
    n: int, grid: tuple[int, int], halo_factor: float, frames: int
) -> dict[str, Any]:
    """Median per-stage frame times (ms) and bytes for one configuration."""
    from archetype_ecs.runner import load_model

    spec = _model()
    params = _params(n)
    if grid == (1, 1):
        world = load_model(spec).build(seed=1, threads=1, **params)
        world.step()  # warm-up: compile / cache load
        times, cpu = [], []
        for _ in range(frames):
            t, c = time.perf_counter(), time.process_time()
            world.step()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        world.close()
        ms = statistics.median(times) * 1e3
        cpu_ms = statistics.median(cpu) * 1e3
        return {
            "agents": n,
            "grid": "1x1",
            "shards": 1,
            "halo": 0.0,
            "total_ms": ms,
            "compute_ms": ms,
            "halo_ms": 0.0,
            "migration_ms": 0.0,
            "routing_ms": 0.0,
            "halo_bytes": 0,
            "migration_bytes": 0,
            "ghosts": 0,
            "migrants": 0,
            "size": params["size"],
            "compute_work_ms": ms,
            "compute_cpu_ms": cpu_ms,
            "halo_work_ms": 0.0,
            "migration_work_ms": 0.0,
            "halo_cpu_ms": 0.0,
            "migration_cpu_ms": 0.0,
        }
    from archetype_ecs.distributed import ShardedWorld

    kw = _sharding(n, halo_factor)
    halo = kw["halo"]
    with ShardedWorld(spec, shards=grid, params=params, seed=1, **kw) as sw:
        sw.step(2)  # warm-up
        stats = sw.step(frames)

    def med(key: str) -> float:
        return float(statistics.median(getattr(s, key) for s in stats))

    return {
        "agents": n,
        "grid": f"{grid[0]}x{grid[1]}",
        "shards": grid[0] * grid[1],
        "halo": halo,
        "total_ms": med("total_s") * 1e3,
        "compute_ms": med("compute_s") * 1e3,
        "halo_ms": med("halo_s") * 1e3,
        "migration_ms": med("migration_s") * 1e3,
        "routing_ms": med("routing_s") * 1e3,
        "halo_bytes": med("halo_bytes"),
        "migration_bytes": med("migration_bytes"),
        "ghosts": med("ghosts"),
        "migrants": med("migrants"),
        "size": params["size"],
        "compute_work_ms": med("compute_work_s") * 1e3,
        "compute_cpu_ms": med("compute_cpu_s") * 1e3,
        "halo_work_ms": med("halo_work_s") * 1e3,
        "migration_work_ms": med("migration_work_s") * 1e3,
        "halo_cpu_ms": med("halo_cpu_s") * 1e3,
        "migration_cpu_ms": med("migration_cpu_s") * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed_sharding")
    p.add_argument("--agents", default="1e5", help="comma list of N (default 1e5)")
    p.add_argument("--grids", default="1x1,2x1,2x2", help="comma list of CxR grids")
    p.add_argument("--halo", default="1", help="comma list of halo widths in radii")
    p.add_argument("--frames", type=int, default=20, help="timed frames per config")
    p.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = p.parse_args(argv)
    from archetype_ecs.distributed import ray_session

    rows = []
    with ray_session():  # a local Ray instance (2 CPUs) for the whole measurement
        for n in (int(float(a)) for a in args.agents.split(",")):
            for g in args.grids.split(","):
                cx, cy = (int(v) for v in g.lower().split("x"))
                for h in (float(v) for v in args.halo.split(",")):
                    if (cx, cy) == (1, 1) and h != float(args.halo.split(",")[0]):
                        continue
                    row = measure(n, (cx, cy), h, args.frames)
                    rows.append(row)
                    print(
                        f"N={n:>8} grid={row['grid']} halo={row['halo']:4.1f} "
                        f"total {row['total_ms']:8.2f} ms | compute {row['compute_ms']:8.2f}"
                        f" | halo {row['halo_ms']:7.2f} | migration {row['migration_ms']:7.2f}"
                        f" | halo {row['halo_bytes'] / 1e3:8.1f} kB ({row['ghosts']:.0f} ghosts)"
                        f" | migration {row['migration_bytes'] / 1e3:7.1f} kB"
                        f" ({row['migrants']:.0f} agents)"
                        f" | CPU compute {row['compute_cpu_ms']:.1f} ms, halo "
                        f"{row['halo_cpu_ms']:.2f}, migration {row['migration_cpu_ms']:.2f}",
                        flush=True,
                    )
    out = args.json or RESULTS_DIR / time.strftime(
        "distributed-%Y%m%dT%H%M%SZ.json", time.gmtime()
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"model {_model()}; rows written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
