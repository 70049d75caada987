"""render: extract + draw N shapes into a 512x512 RGBA frame, per frame.

N entities carry ``Shape`` (circles, squares, triangles in equal parts), ``Size``
(radius 1-4 world units, i.e. 0.5-2 pixels), ``Color`` (opaque), ``Layer`` (0-2) and
``GlobalTransform2D`` (uniform in a 1000 x 1000 world, random rotation); the view is
the whole world.

Variants
* ``pillow_imagedraw`` (baseline): the same shapes drawn one by one with Pillow's
  ``ImageDraw`` (``ellipse``, ``polygon`` for rotated squares and triangles) in
  layer order, from pixel coordinates precomputed outside the timing -- a plain
  Python loop, the slow path a user would write without the kernel.
* ``ecs_extract``: ``extract(world, bounds=...)`` only (render list as an Arrow
  table, sorted by layer).
* ``ecs_draw``: ``Renderer.draw(render_list)`` only (one rasterization kernel call
  plus the background fill).
* ``ecs_frame``: ``Renderer.render(world)``: extract + draw, the per-frame cost.
* ``gif_capture``: ``GifRecorder.add(frame)``: the palette conversion a GIF frame
  costs on top of drawing.

Run alone with ``python -m benchmarks.render [--quick]`` (prints ms per frame and
the ratios to Pillow).

No ``from __future__ import annotations``: kept like the other scenario files.
"""

import math
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from benchmarks._runner import (
    Config,
    RatioTarget,
    Scenario,
    SkipVariant,
    Target,
    format_table,
    run_scenario,
)

SIZE = 512
WORLD = 1000.0


def _load() -> SimpleNamespace:
    try:
        import archetype_ecs as ae
        from archetype_ecs import render as rd
        from archetype_ecs import transform as tf
    except Exception as exc:
        msg = f"archetype_ecs.render unavailable ({type(exc).__name__}: {exc})"
        raise SkipVariant(msg) from exc
    return SimpleNamespace(ae=ae, rd=rd, tf=tf)


_TARGETS: dict[str, list[Target]] = {
    "ecs_frame": [RatioTarget(min_n=10**4, baseline="pillow_imagedraw", max_ratio=0.5)],
}


class Render(Scenario):
    params = (10**4, 10**5)
    baseline = "pillow_imagedraw"
    targets: ClassVar[dict[str, list[Target]]] = _TARGETS
    unit = "shape"
    notes = "512x512 RGBA frame, shapes of 0.5-2 px radius, 3 layers, 3 kinds"

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(9)
        self.kind = (np.arange(n) % 3).astype(np.uint8)
        self.radius = rng.uniform(1.0, 4.0, n).astype(np.float32)
        self.rgb = rng.integers(0, 256, (n, 3)).astype(np.uint8)
        self.layer = rng.integers(0, 3, n).astype(np.int32)
        self.x = rng.uniform(0, WORLD, n).astype(np.float32)
        self.y = rng.uniform(0, WORLD, n).astype(np.float32)
        self.rot = rng.uniform(0, 2 * math.pi, n).astype(np.float32)

    # -- Pillow baseline -------------------------------------------------------------
    def setup_pillow_imagedraw(self, n: int) -> None:
        from PIL import Image, ImageDraw  # noqa: TID251 # the baseline is Pillow itself

        self.Image, self.ImageDraw = Image, ImageDraw
        order = np.argsort(self.layer, kind="stable")
        s = SIZE / WORLD
        px = self.x[order] * s
        py = (WORLD - self.y[order]) * s
        r = self.radius[order] * s
        rot = self.rot[order]
        shapes: list[tuple[int, Any, tuple[int, int, int, int]]] = []
        for i in range(n):  # untimed: pixel coordinates and polygons
            k = int(self.kind[order[i]])
            color = (*(int(c) for c in self.rgb[order[i]]), 255)
            cx, cy, rr = float(px[i]), float(py[i]), float(r[i])
            if k == 0:
                shapes.append((0, (cx - rr, cy - rr, cx + rr, cy + rr), color))
                continue
            if k == 1:
                angles = [rot[i] + math.pi / 4 + j * math.pi / 2 for j in range(4)]
                reach = rr * math.sqrt(2.0)
            else:
                angles = [rot[i] + math.pi / 2 + j * 2 * math.pi / 3 for j in range(3)]
                reach = rr
            pts = [(cx + reach * math.cos(a), cy - reach * math.sin(a)) for a in angles]
            shapes.append((1, pts, color))
        self.shapes = shapes
        self.time_pillow_imagedraw(n)

    def time_pillow_imagedraw(self, n: int) -> None:
        img = self.Image.new("RGBA", (SIZE, SIZE), (255, 255, 255, 255))
        draw = self.ImageDraw.Draw(img)
        for k, geom, color in self.shapes:
            if k == 0:
                draw.ellipse(geom, fill=color)
            else:
                draw.polygon(geom, fill=color)

    # -- arrow-ecs -------------------------------------------------------------------
    def _world(self) -> Any:
        e = _load()
        rd, tf = e.rd, e.tf
        w = e.ae.World(threads=1)
        w.spawn_batch(
            {
                rd.Shape: {"kind": self.kind},
                rd.Size: {"radius": self.radius},
                rd.Color: {
                    "r": self.rgb[:, 0],
                    "g": self.rgb[:, 1],
                    "b": self.rgb[:, 2],
                    "a": np.full(len(self.kind), 255, np.uint8),
                },
                rd.Layer: {"value": self.layer},
                tf.GlobalTransform2D: {"x": self.x, "y": self.y, "rotation": self.rot},
            }
        )
        return w

    def _renderer(self) -> Any:
        e = _load()
        return e.rd.Renderer(SIZE, SIZE, bounds=(0, 0, WORLD, WORLD))

    def setup_ecs_extract(self, n: int) -> None:
        e = _load()
        self.w_extract = self._world()
        self.extract = e.rd.extract
        self.time_ecs_extract(n)

    def time_ecs_extract(self, n: int) -> None:
        self.extract(self.w_extract, bounds=(0, 0, WORLD, WORLD))

    def setup_ecs_draw(self, n: int) -> None:
        e = _load()
        w = self._world()
        self.render_list = e.rd.extract(w, bounds=(0, 0, WORLD, WORLD))
        w.close()
        self.r_draw = self._renderer()
        self.time_ecs_draw(n)  # compiles the kernel outside the timing

    def time_ecs_draw(self, n: int) -> None:
        self.r_draw.draw(self.render_list)

    def setup_ecs_frame(self, n: int) -> None:
        self.w_frame = self._world()
        self.r_frame = self._renderer()
        self.time_ecs_frame(n)

    def time_ecs_frame(self, n: int) -> None:
        self.r_frame.render(self.w_frame)

    def setup_gif_capture(self, n: int) -> None:
        e = _load()
        w = self._world()
        r = self._renderer()
        self.frame = r.render(w)
        w.close()
        self.tmp = tempfile.mkdtemp(prefix="bench-render-")
        self.rec = e.rd.GifRecorder(Path(self.tmp) / "out.gif", r)

    def time_gif_capture(self, n: int) -> None:
        self.rec.add(self.frame)
        if self.rec.frames > 50:  # keep memory flat: frames are kept until close
            self.rec._images.clear()

    def teardown(self, n: int) -> None:
        for name in ("w_extract", "w_frame"):
            w = getattr(self, name, None)
            if w is not None:
                w.close()


def main(argv: list[str]) -> None:
    """Run this scenario alone and print the table (``--quick``: short budgets)."""
    quick = "--quick" in argv
    cfg = Config.make(quick=quick, max_n=None)
    results = run_scenario("render", Render, cfg, lambda s: None)
    for line in format_table(results):
        print(line)
    by = {(r.n, r.variant): r.median for r in results if r.median}
    for n in sorted({r.n for r in results}):
        base = by.get((n, "pillow_imagedraw"))
        for v in ("ecs_extract", "ecs_draw", "ecs_frame", "gif_capture"):
            t = by.get((n, v))
            if t and base:
                print(
                    f"N={n:>7,} {v:<12} {t * 1e3:8.2f} ms/frame   pillow "
                    f"{base * 1e3:8.2f} ms   ratio {t / base:.3f}x"
                )


if __name__ == "__main__":
    main(sys.argv[1:])
