"""Fit the sharded-world cost model of ``docs/scaling.md`` to measured rows.

Reads the JSON rows written by ``python -m benchmarks.distributed_sharding --json
PATH`` (one or more files), fits the model's constants by least squares, prints a
predicted-vs-measured table (Markdown) and predictions for larger clusters::

    python -m benchmarks.distributed_scaling_fit ROWS.json [MORE.json ...]
        [--bandwidth 1.25e9] [--latency 1e-4] [--per-shard MS] [--per-stage MS]

The model (per frame, S shards in a gx x gy grid over a square of side L, N agents,
density rho = N / L^2, halo width h, row size b bytes, regions w = L/gx by v = L/gy):

* ghosts per shard     G = rho * (2 h v [gx>1] + 2 h w [gy>1] + 4 h^2 [gx>1, gy>1])
* migrants per shard   M = rho * u * P, shared perimeter P = 2 (v [gx>1] + w [gy>1]),
  u = mean distance moved across a border per frame (fitted)
* compute (CPU)        T_c = f + c (N/S + G)
* halo (in-actor CPU)  T_h = e_h + a_h N/S + g_h G
* migration (CPU)      T_m = e_m + a_m N/S + g_m M
* orchestration        o(S) = o_0 + o_1 S per exchange stage (driver calls, barrier)
* transfer             b G / bandwidth + latency (cluster only; in-process copies here)

(the formulas are for a periodic square, where every shard is interior; on a bounded
square the edge shards receive fewer ghosts, so the slowest shard is an interior one).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np


def geometry(row: dict[str, Any]) -> dict[str, float]:
    """Density, ghosts and migrant perimeter of one shard for a measured row."""
    gx, gy = (int(v) for v in str(row["grid"]).split("x"))
    n, size, h = float(row["agents"]), float(row["size"]), float(row["halo"])
    rho = n / size**2
    w, v = size / gx, size / gy
    xs, ys = float(gx > 1), float(gy > 1)
    ghosts = rho * (2 * h * v * xs + 2 * h * w * ys + 4 * h * h * xs * ys)
    perimeter = 2 * (v * xs + w * ys)
    return {
        "gx": gx,
        "gy": gy,
        "S": gx * gy,
        "n": n / (gx * gy),
        "rho": rho,
        "G": ghosts,
        "P": perimeter,
    }


def _lstsq(x: list[list[float]], y: list[float]) -> np.ndarray[Any, Any]:
    """Non-negative least squares (every constant of the model is a cost >= 0)."""
    from scipy.optimize import nnls

    a, b = np.asarray(x, float), np.asarray(y, float)
    scale = np.maximum(np.abs(a).max(axis=0), 1e-300)  # columns of very different size
    coef, _ = nnls(a / scale, b)
    return coef / scale  # type: ignore[no-any-return]


def fit(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The model's constants (ms, bytes, units) from the rows."""
    geo = [geometry(r) for r in rows]
    sharded = [(r, g) for r, g in zip(rows, geo, strict=True) if g["S"] > 1]
    f, c = _lstsq(
        [[1.0, g["n"] + g["G"]] for g in geo], [r["compute_cpu_ms"] for r in rows]
    )
    e_h, a_h, g_h = _lstsq(
        [[1.0, g["n"], g["G"]] for _, g in sharded],
        [r["halo_cpu_ms"] for r, _ in sharded],
    )
    moved = [
        (r["migrants"] / g["S"]) / (g["rho"] * g["P"])
        for r, g in sharded
        if r["migrants"]
    ]
    u = statistics.median(moved) if moved else 0.0
    e_m, a_m, g_m = _lstsq(
        [[1.0, g["n"], g["rho"] * u * g["P"]] for _, g in sharded],
        [r["migration_cpu_ms"] for r, _ in sharded],
    )
    o_0, o_1 = _lstsq(
        [[1.0, g["S"]] for _, g in sharded for _ in (0, 1)],
        [
            v
            for r, _ in sharded
            for v in (
                max(r["halo_ms"] - r["halo_cpu_ms"], 0.0),
                max(r["migration_ms"] - r["migration_cpu_ms"], 0.0),
            )
        ],
    )
    row_bytes = [r["halo_bytes"] / r["ghosts"] for r, _ in sharded if r["ghosts"]]
    b = statistics.median(row_bytes) if row_bytes else 0.0
    return {
        "f": f, "c": c, "e_h": e_h, "a_h": a_h, "g_h": g_h, "u": u,
        "e_m": e_m, "a_m": a_m, "g_m": g_m, "o_0": o_0, "o_1": o_1, "b": b,
    }  # fmt: skip


def predict(
    k: dict[str, float],
    *,
    agents: float,
    size: float,
    grid: tuple[int, int],
    halo: float,
    bandwidth: float = math.inf,
    latency: float = 0.0,
) -> dict[str, float]:
    """Predicted per-frame figures (ms, bytes, counts) of one configuration."""
    g = geometry(
        {"grid": f"{grid[0]}x{grid[1]}", "agents": agents, "size": size, "halo": halo}
    )
    migrants = g["rho"] * k["u"] * g["P"]
    compute = k["f"] + k["c"] * (g["n"] + g["G"])
    if g["S"] == 1:
        return {"ghosts": 0.0, "migrants": 0.0, "halo_bytes": 0.0, "migration_bytes": 0.0,
                "compute_ms": compute, "halo_ms": 0.0, "migration_ms": 0.0,
                "total_ms": compute}  # fmt: skip
    over = k["o_0"] + k["o_1"] * g["S"]
    wire_h = (
        (k["b"] * g["G"] / bandwidth + latency) * 1e3 if bandwidth < math.inf else 0.0
    )
    wire_m = (
        (k["b"] * migrants / bandwidth + latency) * 1e3 if bandwidth < math.inf else 0.0
    )
    halo = k["e_h"] + k["a_h"] * g["n"] + k["g_h"] * g["G"] + over + wire_h
    mig = k["e_m"] + k["a_m"] * g["n"] + k["g_m"] * migrants + over + wire_m
    return {
        "ghosts": g["G"] * g["S"],
        "migrants": migrants * g["S"],
        "halo_bytes": k["b"] * g["G"] * g["S"],
        "migration_bytes": k["b"] * migrants * g["S"],
        "compute_ms": compute,
        "halo_ms": halo,
        "migration_ms": mig,
        "total_ms": compute + halo + mig,
    }


def _ratio(p: float, m: float) -> str:
    return f"{p / m:.2f}" if m else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distributed_scaling_fit")
    ap.add_argument("rows", nargs="+", type=Path)
    ap.add_argument("--bandwidth", type=float, default=1.25e9, help="bytes/s per link")
    ap.add_argument("--latency", type=float, default=1e-4, help="seconds per message")
    ap.add_argument(
        "--per-shard",
        type=float,
        default=None,
        help="cluster: driver ms per shard per stage (default: fitted o_1)",
    )
    ap.add_argument(
        "--per-stage",
        type=float,
        default=None,
        help="cluster: fixed ms per stage (default: fitted o_0)",
    )
    args = ap.parse_args(argv)
    rows = [r for p in args.rows for r in json.loads(p.read_text())]
    k = fit(rows)
    print("## Fitted constants\n")
    for name, v in k.items():
        print(f"- `{name}` = {v:.4g}")
    print("\n## Predicted vs measured (per frame; CPU / in-actor work for time)\n")
    print("| N | grid | halo | ghosts p / m | halo kB p / m | migrants p / m | "
          "compute CPU ms p / m | halo work+o ms p / m | migration work+o ms p / m | "
          "total ms p (CPU) / m (wall) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        gx, gy = (int(v) for v in str(r["grid"]).split("x"))
        p = predict(
            k, agents=r["agents"], size=r["size"], grid=(gx, gy), halo=r["halo"]
        )
        print(
            f"| {r['agents']:.0e} | {r['grid']} | {r['halo']:g} | "
            f"{p['ghosts']:.0f} / {r['ghosts']:.0f} | "
            f"{p['halo_bytes'] / 1e3:.1f} / {r['halo_bytes'] / 1e3:.1f} | "
            f"{p['migrants']:.0f} / {r['migrants']:.0f} | "
            f"{p['compute_ms']:.2f} / {r['compute_cpu_ms']:.2f} | "
            f"{p['halo_ms']:.2f} / {r['halo_ms']:.2f} | "
            f"{p['migration_ms']:.2f} / {r['migration_ms']:.2f} | "
            f"{p['total_ms']:.1f} / {r['total_ms']:.1f} |"
        )
    print(
        f"\n## Cluster predictions (1 shard per node, {args.bandwidth / 1e9:g} GB/s links, "
        f"{args.latency * 1e6:g} us latency)\n"
    )
    cluster = dict(k)
    if args.per_shard is not None:
        cluster["o_1"] = args.per_shard
    if args.per_stage is not None:
        cluster["o_0"] = args.per_stage
    print(
        f"(orchestration: {cluster['o_0']:.3g} ms + {cluster['o_1']:.3g} ms x S per stage)\n"
    )
    density = statistics.median(r["agents"] / r["size"] ** 2 for r in rows)
    halo = statistics.median(r["halo"] for r in rows if r["halo"])
    print("| N | nodes (grid) | agents/node | ghosts/node | halo MB/frame (all) | "
          "migration kB/frame (all) | compute ms | halo ms | migration ms | frame ms | "
          "speed-up vs 1 node |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (1e7, 1e8):
        size = math.sqrt(n / density)
        one = predict(cluster, agents=n, size=size, grid=(1, 1), halo=halo)["total_ms"]
        for grid in ((1, 1), (2, 2), (4, 4), (8, 8)):
            s = grid[0] * grid[1]
            p = predict(cluster, agents=n, size=size, grid=grid, halo=halo,
                        bandwidth=args.bandwidth, latency=args.latency)  # fmt: skip
            print(
                f"| {n:.0e} | {s} ({grid[0]}x{grid[1]}) | {n / s:.3g} | "
                f"{p['ghosts'] / s:.0f} | {p['halo_bytes'] / 1e6:.2f} | "
                f"{p['migration_bytes'] / 1e3:.1f} | {p['compute_ms']:.1f} | "
                f"{p['halo_ms']:.1f} | {p['migration_ms']:.1f} | {p['total_ms']:.1f} | "
                f"{one / p['total_ms']:.1f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
