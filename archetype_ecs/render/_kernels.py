"""Rasterization of render lists into an RGBA frame buffer: the Numba kernel and its
plain-Python reference twin.

Both take the render-list columns as float32 / uint8 arrays already in drawing order
and paint shapes one after another (later rows on top), testing each pixel centre in
world coordinates with float64 math, so the kernel and the reference agree pixel for
pixel. Edges are hard (no anti-aliasing); alpha composites "over" the buffer. Rows
with a non-finite position or radius, a radius <= 0 or an unknown kind are skipped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from archetype_ecs._jit import njit

__all__ = [
    "CIRCLE",
    "SQUARE",
    "TRIANGLE",
    "draw_order_kernel",
    "draw_order_reference",
    "rasterize_kernel",
    "rasterize_reference",
]

Array = np.ndarray[Any, Any]

CIRCLE = 0
SQUARE = 1
TRIANGLE = 2


@njit
def _inside(kind: int, lx: float, ly: float, r: float) -> bool:  # pragma: no cover
    """Is the local point (shape frame: centre at 0, rotation undone) inside?"""
    if kind == 0:
        return lx * lx + ly * ly <= r * r
    if kind == 1:
        return abs(lx) <= r and abs(ly) <= r
    # Equilateral triangle, circumradius r, apex up: base at y = -r/2, sides meet at
    # (0, r); inside when above the base and below both slanted edges.
    if ly < -0.5 * r:
        return False
    s = 0.8660254037844386  # sin(60 degrees)
    return 0.5 * ly + s * lx <= 0.5 * r and 0.5 * ly - s * lx <= 0.5 * r


@njit
def _blend(frame: Any, py: int, px: int, r: int, g: int, b: int, a: int) -> None:
    if a == 255:
        frame[py, px, 0] = r
        frame[py, px, 1] = g
        frame[py, px, 2] = b
        frame[py, px, 3] = 255
        return
    if a == 0:
        return
    da = np.int64(frame[py, px, 3])
    # Non-premultiplied "over": out_a = a + da (1 - a); colors weighted by coverage.
    wd = da * (255 - a)  # destination weight, scaled by 255
    out_a = a * 255 + wd  # scaled by 255
    if out_a == 0:
        return
    half = out_a // 2
    frame[py, px, 0] = (r * a * 255 + np.int64(frame[py, px, 0]) * wd + half) // out_a
    frame[py, px, 1] = (g * a * 255 + np.int64(frame[py, px, 1]) * wd + half) // out_a
    frame[py, px, 2] = (b * a * 255 + np.int64(frame[py, px, 2]) * wd + half) // out_a
    frame[py, px, 3] = (out_a + 127) // 255


@njit
def rasterize_kernel(
    frame: Array,
    kind: Array,
    x: Array,
    y: Array,
    radius: Array,
    rotation: Array,
    red: Array,
    green: Array,
    blue: Array,
    alpha: Array,
    packed: Array,
    view: Array,
) -> int:  # pragma: no cover - compiled; rasterize_reference is the twin
    """Paint every shape into ``frame`` (H, W, 4 uint8) in row order.

    ``packed`` holds each row's RGBA bytes as one uint32 in memory order (what
    ``frame.view(uint32)`` holds for that color), so opaque pixels are one store.
    ``view`` is ``(xmin, ymin, xmax, ymax)`` as float64. Returns the number of
    pixels written (for statistics).
    """
    h = frame.shape[0]
    w = frame.shape[1]
    xmin = view[0]
    ymax = view[3]
    pw = (view[2] - view[0]) / w  # world units per pixel, x
    ph = (view[3] - view[1]) / h  # world units per pixel, y
    ipw = 1.0 / pw  # the box only needs to be conservative: no division per shape
    iph = 1.0 / ph
    written = 0
    frame32 = frame.view(np.uint32).reshape((h, w))  # C-contiguous: checked by callers
    for k in range(kind.shape[0]):
        kd = int(kind[k])
        if kd > 2:
            continue
        cx = np.float64(x[k])
        cy = np.float64(y[k])
        r = np.float64(radius[k])
        if not (
            r > 0.0 and math.isfinite(r) and math.isfinite(cx) and math.isfinite(cy)
        ):
            continue  # nothing to draw (and no inf - inf below)
        # Inflated a little so rounding in the box never drops an edge pixel.
        reach = r * (1.4142150 if kd == 1 else 1.000001)
        # Pixel columns / rows whose centre may lie within reach, clipped in float
        # space first (NaN or huge coordinates never reach an int conversion).
        # (+-1e-7 px of slack on top, against rounding.)
        fi0 = np.floor((cx - reach - xmin) * ipw - 0.5000001)
        fi1 = np.ceil((cx + reach - xmin) * ipw - 0.4999999)
        fj0 = np.floor((ymax - (cy + reach)) * iph - 0.5000001)
        fj1 = np.ceil((ymax - (cy - reach)) * iph - 0.4999999)
        if not (fi1 >= 0.0 and fi0 <= w - 1.0 and fj1 >= 0.0 and fj0 <= h - 1.0):
            continue
        i0 = int(max(fi0, 0.0))
        i1 = int(min(fi1, w - 1.0))
        j0 = int(max(fj0, 0.0))
        j1 = int(min(fj1, h - 1.0))
        c = 1.0
        s = 0.0
        if kd != 0:  # a disc looks the same at every rotation
            rot = np.float64(rotation[k])
            c = math.cos(rot)
            s = math.sin(rot)
        cr = int(red[k])
        cg = int(green[k])
        cb = int(blue[k])
        ca = int(alpha[k])
        color = packed[k]
        for j in range(j0, j1 + 1):
            dy = (ymax - (j + 0.5) * ph) - cy
            for i in range(i0, i1 + 1):
                dx = (xmin + (i + 0.5) * pw) - cx
                lx = c * dx + s * dy  # rotate by -rotation into the shape's frame
                ly = c * dy - s * dx
                if _inside(kd, lx, ly, r):
                    if ca == 255:
                        frame32[j, i] = color
                    else:
                        _blend(frame, j, i, cr, cg, cb, ca)
                    written += 1
    return written


def _inside_py(kind: int, lx: float, ly: float, r: float) -> bool:
    if kind == CIRCLE:
        return lx * lx + ly * ly <= r * r
    if kind == SQUARE:
        return abs(lx) <= r and abs(ly) <= r
    if ly < -0.5 * r:
        return False
    s = 0.8660254037844386
    return 0.5 * ly + s * lx <= 0.5 * r and 0.5 * ly - s * lx <= 0.5 * r


def _blend_py(px: list[int], rgba: tuple[int, ...]) -> list[int]:
    r, g, b, a = rgba
    if a == 255:
        return [r, g, b, 255]
    if a == 0:
        return px
    wd = px[3] * (255 - a)
    out_a = a * 255 + wd
    if out_a == 0:
        return px
    half = out_a // 2
    return [
        (r * a * 255 + px[0] * wd + half) // out_a,
        (g * a * 255 + px[1] * wd + half) // out_a,
        (b * a * 255 + px[2] * wd + half) // out_a,
        (out_a + 127) // 255,
    ]


def rasterize_reference(
    frame: Array,
    columns: dict[str, Array],
    view: tuple[float, float, float, float],
) -> None:
    """Plain-Python twin of :func:`rasterize_kernel`: every shape tests every pixel.

    Slow (O(shapes x pixels)); for tests on small frames only.
    """
    h, w = frame.shape[:2]
    xmin, ymin, xmax, ymax = (float(v) for v in view)
    pw = (xmax - xmin) / w
    ph = (ymax - ymin) / h
    for k in range(len(columns["kind"])):
        kd = int(columns["kind"][k])
        r = float(np.float32(columns["radius"][k]))
        cx = float(np.float32(columns["x"][k]))
        cy = float(np.float32(columns["y"][k]))
        if kd > TRIANGLE or not r > 0.0 or not all(map(math.isfinite, (r, cx, cy))):
            continue
        rot = float(np.float32(columns["rotation"][k]))
        c, s = (1.0, 0.0) if kd == CIRCLE else (math.cos(rot), math.sin(rot))
        rgba = tuple(int(columns[n][k]) for n in ("r", "g", "b", "a"))
        for j in range(h):
            dy = (ymax - (j + 0.5) * ph) - cy
            for i in range(w):
                dx = (xmin + (i + 0.5) * pw) - cx
                if _inside_py(kd, c * dx + s * dy, c * dy - s * dx, r):
                    frame[j, i] = _blend_py(frame[j, i].tolist(), rgba)


@njit
def draw_order_kernel(
    layer: Array, slot: Array, lo: int, span: int
) -> Array:  # pragma: no cover - compiled; draw_order_reference is the twin
    """Row order sorted by ``(layer, slot)``: a scatter by slot, then a stable
    counting sort by layer. ``slot`` values are distinct and >= 0; layers lie in
    ``[lo, lo + span)``. O(rows + max slot + span)."""
    n = layer.shape[0]
    top = 0
    for i in range(n):
        top = max(top, slot[i] + 1)
    by_slot = np.full(top, -1, np.int64)
    for i in range(n):
        by_slot[slot[i]] = i
    counts = np.zeros(span + 1, np.int64)
    for i in range(n):
        counts[layer[i] - lo + 1] += 1
    for b in range(span):
        counts[b + 1] += counts[b]
    order = np.empty(n, np.int64)
    for s in range(top):
        i = by_slot[s]
        if i >= 0:
            b = layer[i] - lo
            order[counts[b]] = i
            counts[b] += 1
    return order


def draw_order_reference(layer: Array, slot: Array) -> Array:
    """Plain NumPy twin of :func:`draw_order_kernel`."""
    return np.lexsort((slot, layer))
