"""transform_propagation: global transforms of N entities in a hierarchy of depth 8.

The forest has 8 levels of N/8 entities each; every entity below the first level has
a parent drawn at random from the level above. Each entity carries a local and a
global transform; one timed call recomputes every global transform from the locals.

Variants
* ``raw_numba`` (baseline): one ``@njit(cache=True)`` loop over plain float32 arrays
  already laid out parents-first, with a parent-index array (the same 2D math as
  the ECS kernels: float64 math, float32 storage) -- the floor.
* ``ecs_2d``: ``propagate_2d(world)`` (``Transform2D`` -> ``GlobalTransform2D``
  through ``ChildOf``), with the propagation plan cached (built in setup).
* ``ecs_2d_step``: ``world.step()`` of a world whose only system is
  ``propagate_transforms_2d`` (adds the frame and schedule overhead).
* ``raw_numba_3d`` and ``ecs_3d``: the same for 3D (quaternion rotation,
  per-axis scale); the target column gives ``ecs_3d`` / ``raw_numba_3d``.

Run alone with ``python -m benchmarks.transform_propagation`` (prints the ratios).

No ``from __future__ import annotations``: kept like the other scenario files.
"""

import sys
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
from numba import njit

from benchmarks._runner import (
    Config,
    RatioTarget,
    Scenario,
    SkipVariant,
    Target,
    format_table,
    run_scenario,
)

DEPTH = 8


@njit(cache=True)
def raw_2d(parent, lx, ly, lr, ls, gx, gy, gr, gs):  # type: ignore[no-untyped-def]
    for i in range(parent.shape[0]):
        p = parent[i]
        x = np.float64(lx[i])
        y = np.float64(ly[i])
        rot = np.float64(lr[i])
        sc = np.float64(ls[i])
        if p >= 0:
            px = np.float64(gx[p])
            py = np.float64(gy[p])
            pr = np.float64(gr[p])
            ps = np.float64(gs[p])
            c = np.cos(pr)
            s = np.sin(pr)
            x, y = px + ps * (c * x - s * y), py + ps * (s * x + c * y)
            rot = pr + rot
            sc = ps * sc
        gx[i] = x
        gy[i] = y
        gr[i] = rot
        gs[i] = sc


@njit(cache=True)
def raw_3d(parent, lp, lq, ls, gp, gq, gs):  # type: ignore[no-untyped-def]
    for i in range(parent.shape[0]):
        p = parent[i]
        vx = np.float64(lp[i, 0])
        vy = np.float64(lp[i, 1])
        vz = np.float64(lp[i, 2])
        qx = np.float64(lq[i, 0])
        qy = np.float64(lq[i, 1])
        qz = np.float64(lq[i, 2])
        qw = np.float64(lq[i, 3])
        sx = np.float64(ls[i, 0])
        sy = np.float64(ls[i, 1])
        sz = np.float64(ls[i, 2])
        if p >= 0:
            ax = np.float64(gq[p, 0])
            ay = np.float64(gq[p, 1])
            az = np.float64(gq[p, 2])
            aw = np.float64(gq[p, 3])
            psx = np.float64(gs[p, 0])
            psy = np.float64(gs[p, 1])
            psz = np.float64(gs[p, 2])
            vx, vy, vz = vx * psx, vy * psy, vz * psz
            tx = 2.0 * (ay * vz - az * vy)
            ty = 2.0 * (az * vx - ax * vz)
            tz = 2.0 * (ax * vy - ay * vx)
            vx, vy, vz = (
                vx + aw * tx + (ay * tz - az * ty) + np.float64(gp[p, 0]),
                vy + aw * ty + (az * tx - ax * tz) + np.float64(gp[p, 1]),
                vz + aw * tz + (ax * ty - ay * tx) + np.float64(gp[p, 2]),
            )
            qx, qy, qz, qw = (
                aw * qx + ax * qw + ay * qz - az * qy,
                aw * qy - ax * qz + ay * qw + az * qx,
                aw * qz + ax * qy - ay * qx + az * qw,
                aw * qw - ax * qx - ay * qy - az * qz,
            )
            sx, sy, sz = psx * sx, psy * sy, psz * sz
        gp[i, 0] = vx
        gp[i, 1] = vy
        gp[i, 2] = vz
        gq[i, 0] = qx
        gq[i, 1] = qy
        gq[i, 2] = qz
        gq[i, 3] = qw
        gs[i, 0] = sx
        gs[i, 1] = sy
        gs[i, 2] = sz


def _forest(n: int, rng: np.random.Generator) -> np.ndarray:
    """Parent index per entity (-1 for the first level), levels laid out in order."""
    per = n // DEPTH
    parent = np.full(per * DEPTH, -1, dtype=np.int64)
    for level in range(1, DEPTH):
        lo = level * per
        parent[lo : lo + per] = (level - 1) * per + rng.integers(0, per, per)
    return parent


def _load() -> SimpleNamespace:
    try:
        import archetype_ecs as ae
        from archetype_ecs import hierarchy as hi
        from archetype_ecs import transform as tf
    except Exception as exc:
        msg = f"archetype_ecs unavailable ({type(exc).__name__}: {exc})"
        raise SkipVariant(msg) from exc
    return SimpleNamespace(ae=ae, hi=hi, tf=tf)


_TARGETS: dict[str, list[Target]] = {
    "ecs_3d": [RatioTarget(min_n=10**5, baseline="raw_numba_3d", max_ratio=2.0)],
    "ecs_2d": [RatioTarget(min_n=10**5, baseline="raw_numba", max_ratio=2.0)],
}


class TransformPropagation(Scenario):
    params = (10**4, 10**5, 10**6)
    baseline = "raw_numba"
    targets: ClassVar[dict[str, list[Target]]] = _TARGETS
    notes = "depth-8 forest, N/8 entities per level, random parents"

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(8)
        self.parent = _forest(n, rng)
        m = len(self.parent)
        self.m = m
        self.x = rng.normal(size=m).astype(np.float32)
        self.y = rng.normal(size=m).astype(np.float32)
        self.rot = rng.uniform(-0.1, 0.1, m).astype(np.float32)
        self.scale = rng.uniform(0.9, 1.1, m).astype(np.float32)
        self.pos = rng.normal(size=(m, 3)).astype(np.float32)
        q = rng.normal(size=(m, 4))
        self.quat = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
        self.scale3 = rng.uniform(0.9, 1.1, (m, 3)).astype(np.float32)

    def units(self, n: int) -> int:
        return (n // DEPTH) * DEPTH

    # -- raw numba -------------------------------------------------------------------
    def setup_raw_numba(self, n: int) -> None:
        self.g2 = [np.empty(self.m, dtype=np.float32) for _ in range(4)]
        self.time_raw_numba(n)

    def time_raw_numba(self, n: int) -> None:
        raw_2d(self.parent, self.x, self.y, self.rot, self.scale, *self.g2)

    def setup_raw_numba_3d(self, n: int) -> None:
        self.g3 = [
            np.empty((self.m, 3), np.float32),
            np.empty((self.m, 4), np.float32),
            np.empty((self.m, 3), np.float32),
        ]
        self.time_raw_numba_3d(n)

    def time_raw_numba_3d(self, n: int) -> None:
        raw_3d(self.parent, self.pos, self.quat, self.scale3, *self.g3)

    # -- arrow-ecs -------------------------------------------------------------------
    def _world(self, local: type, glob: type, values: dict[str, Any]) -> Any:
        e = _load()
        world = e.ae.World(threads=1)
        e.hi.hierarchy(world)
        ids = np.zeros(self.m, dtype=np.uint64)
        per = self.m // DEPTH
        for level in range(DEPTH):
            sl = slice(level * per, (level + 1) * per)
            comps: dict[type, Any] = {
                local: {k: v[sl] for k, v in values.items()},
                glob: None,
            }
            if level:
                comps[e.hi.ChildOf] = {"parent": ids[self.parent[sl]]}
            ids[sl] = world.spawn_batch(comps)
        return world

    def setup_ecs_2d(self, n: int) -> None:
        e = _load()
        vals = {"x": self.x, "y": self.y, "rotation": self.rot, "scale": self.scale}
        self.w2 = self._world(e.tf.Transform2D, e.tf.GlobalTransform2D, vals)
        self.propagate_2d = e.tf.propagate_2d
        self.time_ecs_2d(n)

    def time_ecs_2d(self, n: int) -> None:
        self.propagate_2d(self.w2)

    def setup_ecs_2d_step(self, n: int) -> None:
        e = _load()
        vals = {"x": self.x, "y": self.y, "rotation": self.rot, "scale": self.scale}
        self.ws = self._world(e.tf.Transform2D, e.tf.GlobalTransform2D, vals)
        self.ws.add_system(e.tf.propagate_transforms_2d)
        self.ws.step()

    def time_ecs_2d_step(self, n: int) -> None:
        self.ws.step()

    def setup_ecs_3d(self, n: int) -> None:
        e = _load()
        vals = {"position": self.pos, "rotation": self.quat, "scale": self.scale3}
        self.w3 = self._world(e.tf.Transform3D, e.tf.GlobalTransform3D, vals)
        self.propagate_3d = e.tf.propagate_3d
        self.time_ecs_3d(n)

    def time_ecs_3d(self, n: int) -> None:
        self.propagate_3d(self.w3)

    def teardown(self, n: int) -> None:
        for name in ("w2", "ws", "w3"):
            w = getattr(self, name, None)
            if w is not None:
                w.close()


def main(argv: list[str]) -> None:
    """Run this scenario alone and print the table (``--quick``: N <= 10^5)."""
    quick = "--quick" in argv
    cfg = Config.make(quick=quick, max_n=None)
    results = run_scenario(
        "transform_propagation", TransformPropagation, cfg, lambda s: None
    )
    for line in format_table(results):
        print(line)
    by = {(r.n, r.variant): r.median for r in results if r.median}
    for n in sorted({r.n for r in results}):
        for ecs, raw in (("ecs_2d", "raw_numba"), ("ecs_3d", "raw_numba_3d")):
            a, b = by.get((n, ecs)), by.get((n, raw))
            if a and b:
                print(
                    f"N={n:>9,} {ecs}: {a * 1e3:8.3f} ms  {raw}: {b * 1e3:8.3f} ms  "
                    f"ratio {a / b:.2f}x"
                )


if __name__ == "__main__":
    main(sys.argv[1:])
