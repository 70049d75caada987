"""Numba kernels of physics: integration, world bounds, narrow phase and response.

Each kernel has a plain ``_reference`` twin (NumPy or a Python loop written from the
definition) that the tests compare it with. Collision kernels work on contact lists
sorted by pair ``(i, j)``; the response is simultaneous (every contact reads the
state before the response) and the per-body sums run in that sorted order, so the
result depends on neither the grid nor threads.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from archetype_ecs._jit import njit
from archetype_ecs.physics._grid_kernels import min_image

__all__ = [
    "BOUNCE",
    "CLAMP",
    "HAS_ACCELERATION",
    "HAS_FORCE",
    "HAS_MASS",
    "WRAP",
    "bounds_kernel",
    "bounds_reference",
    "contacts_kernel",
    "contacts_reference",
    "integrate_kernel",
    "integrate_reference",
    "inverse_mass",
    "respond_kernel",
    "respond_reference",
]

Array = np.ndarray[Any, Any]

HAS_ACCELERATION = 1
HAS_FORCE = 2
HAS_MASS = 4

WRAP = 0
BOUNCE = 1
CLAMP = 2

CIRCLE = 0
BOX = 1


@njit
def integrate_kernel(
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    ax: Array,
    ay: Array,
    fx: Array,
    fy: Array,
    mass: Array,
    flags: int,
    gx: float,
    gy: float,
    dt: float,
) -> None:
    """Semi-implicit Euler step in place: ``v += a * dt`` then ``x += v * dt``.

    ``a = F / m + g + A``; ``flags`` says which of ``A`` (``ax``, ``ay``), ``F``
    (``fx``, ``fy``) and ``m`` are present (arrays of absent ones are not read).
    A body with ``m <= 0`` or infinite ``m`` is kinematic: its velocity is kept.
    """
    has_a = (flags & HAS_ACCELERATION) != 0
    has_f = (flags & HAS_FORCE) != 0
    has_m = (flags & HAS_MASS) != 0
    for i in range(x.shape[0]):
        m = mass[i] if has_m else 1.0
        if m > 0.0 and m < np.inf:
            a_x = gx
            a_y = gy
            if has_f:
                a_x += fx[i] / m
                a_y += fy[i] / m
            if has_a:
                a_x += ax[i]
                a_y += ay[i]
            vx[i] += a_x * dt
            vy[i] += a_y * dt
        x[i] += vx[i] * dt
        y[i] += vy[i] * dt


def integrate_reference(
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    ax: Array | None,
    ay: Array | None,
    fx: Array | None,
    fy: Array | None,
    mass: Array | None,
    gx: float,
    gy: float,
    dt: float,
) -> None:
    """Plain loop twin of :func:`integrate_kernel` (``None`` = component absent)."""
    for i in range(x.shape[0]):  # reference implementation: a loop is fine here
        m = 1.0 if mass is None else float(mass[i])
        if 0.0 < m < math.inf:
            a_x, a_y = gx, gy
            if fx is not None and fy is not None:
                a_x += fx[i] / m
                a_y += fy[i] / m
            if ax is not None and ay is not None:
                a_x += ax[i]
                a_y += ay[i]
            vx[i] += a_x * dt
            vy[i] += a_y * dt
        x[i] += vx[i] * dt
        y[i] += vy[i] * dt


@njit
def _bound_axis(
    p: Array,
    v: Array,
    i: int,
    lo: float,
    hi: float,
    mode: int,
    e: float,
    has_v: bool,  # noqa: FBT001 # kernel
) -> None:
    width = hi - lo
    if mode == WRAP:
        q = p[i]
        if q < lo or q >= hi:
            q = q - width * np.floor((q - lo) / width)
            if q >= hi or q < lo:  # rounding at the seam
                q = lo
            p[i] = q
    elif mode == BOUNCE:
        q = p[i]
        if q < lo:
            q = lo + (lo - q)
            if has_v and v[i] < 0.0:
                v[i] = -v[i] * e
        elif q > hi:
            q = hi - (q - hi)
            if has_v and v[i] > 0.0:
                v[i] = -v[i] * e
        # a body that flew past both walls in one step stops at the wall it hit
        p[i] = min(max(q, lo), hi)
    else:
        q = p[i]
        if q < lo:
            p[i] = lo
            if has_v and v[i] < 0.0:
                v[i] = 0.0
        elif q > hi:
            p[i] = hi
            if has_v and v[i] > 0.0:
                v[i] = 0.0


@njit
def bounds_kernel(
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    has_v: bool,  # noqa: FBT001 # kernels take positional arguments only
    xmin: float,
    ymin: float,
    xmax: float,
    ymax: float,
    mode: int,
    restitution: float,
) -> None:
    """Keep positions inside ``[xmin, xmax] x [ymin, ymax]``, in place.

    ``WRAP`` maps into ``[min, max)`` (periodic); ``BOUNCE`` reflects the position
    off the wall and flips the velocity component toward it, times
    ``restitution``; ``CLAMP`` stops at the wall and zeroes the velocity component
    toward it. Velocities are touched only when ``has_v``.
    """
    for i in range(x.shape[0]):
        _bound_axis(x, vx, i, xmin, xmax, mode, restitution, has_v)
        _bound_axis(y, vy, i, ymin, ymax, mode, restitution, has_v)


def bounds_reference(
    x: Array,
    y: Array,
    vx: Array | None,
    vy: Array | None,
    bounds: tuple[float, float, float, float],
    mode: int,
    restitution: float,
) -> None:
    """NumPy twin of :func:`bounds_kernel` (``vx = vy = None``: no velocities)."""
    for p, v, lo, hi in ((x, vx, bounds[0], bounds[2]), (y, vy, bounds[1], bounds[3])):
        if mode == WRAP:
            out = (p < lo) | (p >= hi)
            q = p[out] - (hi - lo) * np.floor((p[out] - lo) / (hi - lo))
            q[(q >= hi) | (q < lo)] = lo
            p[out] = q
        elif mode == BOUNCE:
            low, high = p < lo, p > hi
            p[low] = lo + (lo - p[low])
            p[high] = hi - (p[high] - hi)
            np.clip(p, lo, hi, out=p)
            if v is not None:
                flip = (low & (v < 0)) | (high & (v > 0))
                v[flip] = -v[flip] * restitution
        else:
            low, high = p < lo, p > hi
            p[low] = lo
            p[high] = hi
            if v is not None:
                v[(low & (v < 0)) | (high & (v > 0))] = 0.0


@njit
def inverse_mass(mass: Array, has_velocity: Array, out: Array) -> None:
    """``1 / mass`` for dynamic bodies; 0 for kinematic ones (``mass <= 0``, infinite
    mass, or no velocity to change)."""
    for i in range(mass.shape[0]):
        m = mass[i]
        out[i] = 1.0 / m if has_velocity[i] and m > 0.0 and m < np.inf else 0.0


@njit
def _circle_box(
    dx: float, dy: float, r: float, hx: float, hy: float
) -> tuple[bool, float, float, float]:
    """Contact of a circle with a box whose center is at ``(dx, dy)`` from the
    circle's: ``(hit, normal x, normal y, depth)``, normal from circle to box."""
    rx = -dx  # circle center relative to the box center
    ry = -dy
    if abs(rx) <= hx and abs(ry) <= hy:
        # center inside the box: leave through the nearest face
        fx = hx - abs(rx)
        fy = hy - abs(ry)
        # (a zero-size circle on a zero-size box's center does not overlap it)
        if fx <= fy:
            s = 1.0 if rx >= 0.0 else -1.0
            return fx + r > 0.0, -s, 0.0, fx + r
        s = 1.0 if ry >= 0.0 else -1.0
        return fy + r > 0.0, 0.0, -s, fy + r
    cx = min(max(rx, -hx), hx)
    cy = min(max(ry, -hy), hy)
    ex = rx - cx
    ey = ry - cy
    d2 = ex * ex + ey * ey
    if d2 >= r * r:
        return False, 0.0, 0.0, 0.0
    if d2 == 0.0:  # outside by less than the square root of the smallest float
        hit, nx, ny, depth = _face_normal(ex, ey, r)
        return bool(hit), float(nx), float(ny), float(depth)
    d = math.sqrt(d2)
    return True, -ex / d, -ey / d, r - d


@njit
def _face_normal(ex: float, ey: float, r: float) -> tuple[bool, float, float, float]:
    """Normal (circle -> box) when the circle's center is on the box surface."""
    nx = -1.0 if ex > 0.0 else (1.0 if ex < 0.0 else 0.0)
    ny = -1.0 if ey > 0.0 else (1.0 if ey < 0.0 else 0.0)
    if nx != 0.0 and ny != 0.0:
        nx *= math.sqrt(0.5)
        ny *= math.sqrt(0.5)
    return True, nx, ny, r


@njit
def _contact(
    dx: float,
    dy: float,
    si: int,
    ri: float,
    hxi: float,
    hyi: float,
    sj: int,
    rj: float,
    hxj: float,
    hyj: float,
) -> tuple[bool, float, float, float]:
    """Narrow phase of one pair, ``(dx, dy)`` = center j - center i: ``(hit, nx, ny,
    depth)`` with the normal pointing from i to j and ``depth > 0`` on a hit."""
    if si == CIRCLE and sj == CIRCLE:
        rs = ri + rj
        d2 = dx * dx + dy * dy
        if d2 >= rs * rs:
            return False, 0.0, 0.0, 0.0
        d = math.sqrt(d2)
        if d > 0.0:
            return True, dx / d, dy / d, rs - d
        return True, 1.0, 0.0, rs
    if si == BOX and sj == BOX:
        ox = hxi + hxj - abs(dx)
        oy = hyi + hyj - abs(dy)
        if ox <= 0.0 or oy <= 0.0:
            return False, 0.0, 0.0, 0.0
        if ox <= oy:
            return True, (1.0 if dx >= 0.0 else -1.0), 0.0, ox
        return True, 0.0, (1.0 if dy >= 0.0 else -1.0), oy
    if si == CIRCLE:
        hit, nx, ny, depth = _circle_box(dx, dy, ri, hxj, hyj)
        return bool(hit), float(nx), float(ny), float(depth)
    hit, nx, ny, depth = _circle_box(-dx, -dy, rj, hxi, hyi)
    return bool(hit), -float(nx), -float(ny), float(depth)


@njit
def contacts_kernel(
    pi: Array,
    pj: Array,
    x: Array,
    y: Array,
    shape: Array,
    radius: Array,
    hx: Array,
    hy: Array,
    px: float,
    py: float,
    nx: Array,
    ny: Array,
    depth: Array,
) -> Array:
    """Narrow phase over candidate pairs: fills ``nx, ny, depth`` per pair and
    returns the bool mask of pairs that really overlap (``depth > 0``).

    Offsets between centers are taken through ``min_image`` with periods
    ``px`` / ``py`` (0: not periodic).
    """
    m = pi.shape[0]
    hit = np.zeros(m, dtype=np.bool_)
    for k in range(m):
        i = pi[k]
        j = pj[k]
        dx = min_image(x[j] - x[i], px)
        dy = min_image(y[j] - y[i], py)
        h, a, b, d = _contact(
            dx,
            dy,
            shape[i],
            radius[i],
            hx[i],
            hy[i],
            shape[j],
            radius[j],
            hx[j],
            hy[j],
        )
        hit[k] = h
        nx[k] = a
        ny[k] = b
        depth[k] = d
    return hit


@njit
def respond_kernel(
    ci: Array,
    cj: Array,
    nx: Array,
    ny: Array,
    depth: Array,
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    inv_mass: Array,
    restitution: float,
    percent: float,
    slop: float,
) -> None:
    """Apply the contacts' response to positions and velocities, in place.

    For each contact (normal ``n`` from body i to body j, ``depth`` > 0), with
    inverse masses ``wi``, ``wj`` (``w = wi + wj``; nothing happens if ``w == 0``):

    * positions separate along ``n`` by ``c = percent * max(depth - slop, 0) / w``:
      ``x_i -= wi * c * n``, ``x_j += wj * c * n``;
    * if the bodies approach (``v_rel = (v_j - v_i) . n < 0``), an impulse
      ``J = -(1 + restitution) * v_rel / w`` changes ``v_i -= wi * J * n``,
      ``v_j += wj * J * n``.

    All contacts read the state before the response (a simultaneous update) and
    the changes are summed per body in contact order (sorted by pair), then added.
    """
    n = x.shape[0]
    dx = np.zeros(n)
    dy = np.zeros(n)
    dvx = np.zeros(n)
    dvy = np.zeros(n)
    for k in range(ci.shape[0]):
        i = ci[k]
        j = cj[k]
        wi = inv_mass[i]
        wj = inv_mass[j]
        w = wi + wj
        if w == 0.0:
            continue
        c = percent * max(depth[k] - slop, 0.0) / w
        dx[i] -= wi * c * nx[k]
        dy[i] -= wi * c * ny[k]
        dx[j] += wj * c * nx[k]
        dy[j] += wj * c * ny[k]
        vrel = (vx[j] - vx[i]) * nx[k] + (vy[j] - vy[i]) * ny[k]
        if vrel < 0.0:
            imp = -(1.0 + restitution) * vrel / w
            dvx[i] -= wi * imp * nx[k]
            dvy[i] -= wi * imp * ny[k]
            dvx[j] += wj * imp * nx[k]
            dvy[j] += wj * imp * ny[k]
    for i in range(n):
        x[i] += dx[i]
        y[i] += dy[i]
        vx[i] += dvx[i]
        vy[i] += dvy[i]


def _image(d: float, period: float) -> float:
    return d - period * math.floor(d / period + 0.5) if period > 0.0 else d


def _circle_box_ref(
    cx: float, cy: float, r: float, bx: float, by: float, hx: float, hy: float
) -> tuple[float, float, float] | None:
    """Circle at (cx, cy) vs box at (bx, by): ``(nx, ny, depth)`` circle -> box."""
    rx, ry = cx - bx, cy - by
    if abs(rx) <= hx and abs(ry) <= hy:
        fx, fy = hx - abs(rx), hy - abs(ry)
        if min(fx, fy) + r <= 0:
            return None
        if fx <= fy:
            return (-1.0 if rx >= 0 else 1.0), 0.0, fx + r
        return 0.0, (-1.0 if ry >= 0 else 1.0), fy + r
    qx, qy = min(max(rx, -hx), hx), min(max(ry, -hy), hy)
    ex, ey = rx - qx, ry - qy
    d2 = ex * ex + ey * ey
    if d2 >= r * r:
        return None
    if d2 == 0.0:  # on the surface, closer than the float grain
        nx = -float(np.sign(ex))
        ny = -float(np.sign(ey))
        if nx and ny:
            nx, ny = nx * math.sqrt(0.5), ny * math.sqrt(0.5)
        return nx, ny, r
    d = math.sqrt(d2)
    return -ex / d, -ey / d, r - d


def contacts_reference(
    x: Array,
    y: Array,
    shape: Array,
    radius: Array,
    hx: Array,
    hy: Array,
    px: float = 0.0,
    py: float = 0.0,
) -> list[tuple[int, int, float, float, float]]:
    """Brute force over all pairs ``i < j``: ``(i, j, nx, ny, depth)`` of every
    overlapping pair, sorted by ``(i, j)`` (O(n^2), from the definitions)."""
    out = []
    n = len(x)
    for i in range(n):  # reference implementation: loops are fine here
        for j in range(i + 1, n):
            dx = _image(float(x[j] - x[i]), px)
            dy = _image(float(y[j] - y[i]), py)
            si, sj = int(shape[i]), int(shape[j])
            res: tuple[float, float, float] | None
            if si == CIRCLE and sj == CIRCLE:
                rs = float(radius[i] + radius[j])
                d = math.sqrt(dx * dx + dy * dy)  # 0 when the squares underflow
                if dx * dx + dy * dy >= rs * rs:
                    res = None
                elif d > 0:
                    res = (dx / d, dy / d, rs - d)
                else:
                    res = (1.0, 0.0, rs)
            elif si == BOX and sj == BOX:
                ox = float(hx[i] + hx[j]) - abs(dx)
                oy = float(hy[i] + hy[j]) - abs(dy)
                if ox <= 0 or oy <= 0:
                    res = None
                elif ox <= oy:
                    res = (1.0 if dx >= 0 else -1.0, 0.0, ox)
                else:
                    res = (0.0, 1.0 if dy >= 0 else -1.0, oy)
            elif si == CIRCLE:
                res = _circle_box_ref(
                    0.0, 0.0, float(radius[i]), dx, dy, float(hx[j]), float(hy[j])
                )
            else:
                got = _circle_box_ref(
                    0.0, 0.0, float(radius[j]), -dx, -dy, float(hx[i]), float(hy[i])
                )
                res = None if got is None else (-got[0], -got[1], got[2])
            if res is not None:
                out.append((i, j, *res))
    return out


def respond_reference(
    contacts: list[tuple[int, int, float, float, float]],
    x: Array,
    y: Array,
    vx: Array,
    vy: Array,
    inv_mass: Array,
    restitution: float,
    percent: float,
    slop: float,
) -> None:
    """Plain loop twin of :func:`respond_kernel` over ``(i, j, nx, ny, depth)``."""
    n = len(x)
    d = np.zeros((4, n))
    for i, j, nx, ny, depth in contacts:  # reference implementation
        wi, wj = float(inv_mass[i]), float(inv_mass[j])
        w = wi + wj
        if w == 0.0:
            continue
        c = percent * max(depth - slop, 0.0) / w
        d[0, i] -= wi * c * nx
        d[1, i] -= wi * c * ny
        d[0, j] += wj * c * nx
        d[1, j] += wj * c * ny
        vrel = (vx[j] - vx[i]) * nx + (vy[j] - vy[i]) * ny
        if vrel < 0.0:
            imp = -(1.0 + restitution) * vrel / w
            d[2, i] -= wi * imp * nx
            d[3, i] -= wi * imp * ny
            d[2, j] += wj * imp * nx
            d[3, j] += wj * imp * ny
    x += d[0]
    y += d[1]
    vx += d[2]
    vy += d[3]
