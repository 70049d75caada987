"""Numba kernels of the bounce demo (each has a NumPy ``_reference`` twin for tests)."""

from __future__ import annotations

from typing import Any

import numpy as np

from archetype_ecs._jit import njit

__all__ = [
    "age_kernel",
    "age_reference",
    "move_kernel",
    "move_reference",
    "speed_mask_kernel",
]

Array = np.ndarray[Any, Any]


@njit
def move_kernel(
    x: Array, y: Array, dx: Array, dy: Array, dt: float, size: float, pull: float
) -> None:
    """Steer toward the box center, move, and bounce off the walls, in place."""
    half = size * 0.5
    for i in range(x.shape[0]):
        # steering: a weak pull toward the center keeps the crowd in the box
        dx[i] += (half - x[i]) * pull * dt
        dy[i] += (half - y[i]) * pull * dt
        x[i] += dx[i] * dt
        y[i] += dy[i] * dt
        if x[i] < 0.0:
            x[i] = -x[i]
            dx[i] = -dx[i]
        elif x[i] > size:
            x[i] = 2.0 * size - x[i]
            dx[i] = -dx[i]
        if y[i] < 0.0:
            y[i] = -y[i]
            dy[i] = -dy[i]
        elif y[i] > size:
            y[i] = 2.0 * size - y[i]
            dy[i] = -dy[i]


def move_reference(
    x: Array, y: Array, dx: Array, dy: Array, dt: float, size: float, pull: float
) -> None:
    """NumPy twin of :func:`move_kernel` (same float32 arithmetic order)."""
    half = np.float32(size * 0.5)
    f = np.float32
    dx += (half - x) * f(pull) * f(dt)
    dy += (half - y) * f(pull) * f(dt)
    x += dx * f(dt)
    y += dy * f(dt)
    for c, v in ((x, dx), (y, dy)):
        lo = c < 0
        c[lo] = -c[lo]
        v[lo] = -v[lo]
        hi = c > size
        c[hi] = f(2.0 * size) - c[hi]
        v[hi] = -v[hi]


@njit
def age_kernel(age: Array, lifetime: Array, expired: Array) -> int:
    """Add one frame of age; flag (and count) agents past their lifetime."""
    n = 0
    for i in range(age.shape[0]):
        age[i] += 1
        dead = age[i] >= lifetime[i]
        expired[i] = dead
        n += dead
    return n


def age_reference(age: Array, lifetime: Array, expired: Array) -> int:
    """NumPy twin of :func:`age_kernel`."""
    age += 1
    expired[:] = age >= lifetime
    return int(expired.sum())


@njit
def speed_mask_kernel(dx: Array, dy: Array, threshold: float, out: Array) -> None:
    """``out[i] = speed_i < threshold`` (the agents that count as resting)."""
    t2 = threshold * threshold
    for i in range(dx.shape[0]):
        out[i] = dx[i] * dx[i] + dy[i] * dy[i] < t2
