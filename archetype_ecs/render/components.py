"""Render components: what an entity looks like (``Shape``, ``Size``, ``Color``,
``Layer``).

An entity is drawn when it has a ``Shape`` and a position (``GlobalTransform2D``, or a
position component named to :func:`~archetype_ecs.render.extract`); ``Size``,
``Color`` and ``Layer`` are optional and default to radius 1, the renderer's default
color and layer 0. The stored component names carry a ``Render`` prefix
(``RenderColor`` ...) so they never clash with a model's own ``Color`` or ``Size``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from archetype_ecs.component import component

if TYPE_CHECKING:
    from typing import TypeAlias

    f32: TypeAlias = float
    i32: TypeAlias = int
    u8: TypeAlias = int
else:
    from archetype_ecs.schema import f32, i32, u8

__all__ = ["Color", "Layer", "Shape", "ShapeKind", "Size", "shape_kind"]


class ShapeKind(IntEnum):
    """Codes stored in ``Shape.kind``."""

    CIRCLE = 0
    SQUARE = 1
    TRIANGLE = 2


def shape_kind(kind: ShapeKind | int | str) -> ShapeKind:
    """The :class:`ShapeKind` of a code or a name (``"circle"``, ``"square"``,
    ``"triangle"``).

    Raises
    ------
    ValueError
        When ``kind`` names no shape.

    Examples
    --------
    >>> shape_kind("square"), shape_kind(2)
    (<ShapeKind.SQUARE: 1>, <ShapeKind.TRIANGLE: 2>)
    """
    if isinstance(kind, str):
        try:
            return ShapeKind[kind.upper()]
        except KeyError:
            pass
    else:
        try:
            return ShapeKind(int(kind))
        except ValueError:
            pass
    names = ", ".join(repr(k.name.lower()) for k in ShapeKind)
    raise ValueError(f"unknown shape {kind!r}; use one of {names} (or codes 0-2)")


@component(name="RenderShape")
class Shape:
    """How an entity is drawn: ``kind`` is a :class:`ShapeKind` code.

    Circles are discs; squares are axis-aligned at rotation 0; triangles are
    equilateral with a vertex pointing up (+y) at rotation 0. ``GlobalTransform2D``
    rotation turns squares and triangles counter-clockwise.
    """

    kind: u8 = 0


@component(name="RenderSize")
class Size:
    """Half-extent in world units: circle radius, half the side of a square, the
    distance from a triangle's centre to its vertices. ``GlobalTransform2D.scale``
    multiplies it."""

    radius: f32 = 1.0


@component(name="RenderColor")
class Color:
    """Straight (non-premultiplied) RGBA, 0-255; ``a`` = 255 is opaque."""

    r: u8 = 31
    g: u8 = 119
    b: u8 = 180
    a: u8 = 255


@component(name="RenderLayer")
class Layer:
    """Drawing order: higher layers are drawn over lower ones."""

    value: i32 = 0
