"""The extract phase: render components plus positions -> a render list (Arrow table).

:func:`extract` reads the live tables column by column (one slice per archetype, no
per-entity Python), drops what cannot be seen, and sorts the rows into drawing order:
by ``Layer``, then by entity slot, so the same world always gives the same list.
Call it between frames (a frame-end hook is the usual sync point; ``GifRecorder.attach``
does that), never from inside a running system.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from archetype_ecs.component import schema_of
from archetype_ecs.errors import EcsError
from archetype_ecs.render._kernels import draw_order_kernel
from archetype_ecs.render.components import Color, Layer, Shape, Size, shape_kind
from archetype_ecs.transform import GlobalTransform2D

if TYPE_CHECKING:
    from archetype_ecs.query import QueryState
    from archetype_ecs.world import World

__all__ = [
    "DEFAULT_COLOR",
    "RENDER_SCHEMA",
    "RenderError",
    "extract",
]

Array = np.ndarray[Any, Any]
Bounds = tuple[float, float, float, float]
RGBA = tuple[int, int, int, int]

DEFAULT_COLOR: RGBA = (31, 119, 180, 255)

RENDER_SCHEMA = pa.schema(
    [
        ("entity", pa.uint64()),
        ("layer", pa.int32()),
        ("kind", pa.uint8()),
        ("x", pa.float32()),
        ("y", pa.float32()),
        ("radius", pa.float32()),
        ("rotation", pa.float32()),
        ("r", pa.uint8()),
        ("g", pa.uint8()),
        ("b", pa.uint8()),
        ("a", pa.uint8()),
    ]
)
_DTYPES = {f.name: np.dtype(f.type.to_pandas_dtype()) for f in RENDER_SCHEMA}
# Bounding-circle factor: a square's corner is sqrt(2) half-sides from its centre.
_REACH = math.sqrt(2.0) * (1 + 1e-6)


class RenderError(EcsError, ValueError):
    """Bad render input: a position component without x / y, bad bounds, sizes or
    colors, a render list with missing columns, a GIF with no frames."""


def check_bounds(bounds: object, where: str) -> Bounds:
    """``bounds`` as four floats ``(xmin, ymin, xmax, ymax)`` with xmin < xmax and
    ymin < ymax, or a :class:`RenderError` saying what is wrong."""
    try:
        b = tuple(float(v) for v in bounds)  # type: ignore[attr-defined] # checked
    except (TypeError, ValueError):
        b = ()
    if len(b) != 4 or not all(math.isfinite(v) for v in b):
        raise RenderError(
            f"{where}: bounds must be four finite numbers (xmin, ymin, xmax, ymax), "
            f"got {bounds!r}"
        )
    if not (b[0] < b[2] and b[1] < b[3]):
        raise RenderError(
            f"{where}: bounds {b} are empty; need xmin < xmax and ymin < ymax"
        )
    return (b[0], b[1], b[2], b[3])


def check_color(color: object, where: str) -> RGBA:
    """An RGB or RGBA sequence of 0-255 integers as an RGBA tuple."""
    vals = tuple(color) if isinstance(color, Sequence) else ()
    ok = len(vals) in (3, 4) and all(
        isinstance(v, int | np.integer) and 0 <= int(v) <= 255 for v in vals
    )
    if not ok:
        raise RenderError(
            f"{where}: a color is 3 or 4 integers 0-255 (r, g, b[, a]), got {color!r}"
        )
    rgba = [int(v) for v in vals] + [255] * (4 - len(vals))
    return (rgba[0], rgba[1], rgba[2], rgba[3])


def check_positive(value: object, where: str) -> float:
    """``value`` as a finite float > 0, or a :class:`RenderError`."""
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    if not ok or not (math.isfinite(float(value)) and float(value) > 0):  # type: ignore[arg-type] # checked
        raise RenderError(f"{where} must be a finite number > 0, got {value!r}")
    return float(value)  # type: ignore[arg-type] # checked above


def check_options(position: type | None, shape: str | int | None) -> int:
    """Check extract's ``position`` and ``shape`` options; the default kind code."""
    if position is not None:
        _check_position(position)
    if shape is None:
        return 0
    try:
        return int(shape_kind(shape))
    except ValueError as exc:
        raise RenderError(f"extract(shape=...): {exc}") from None


def _check_position(position: type) -> None:
    s = schema_of(position, "extract(position=...)")
    fields = {f.name: f for f in s.fields}
    for name in ("x", "y"):
        f = fields.get(name)
        if f is None or f.type.shape or f.type.is_entity or f.type.dtype.kind != "f":
            raise RenderError(
                f"extract: position component {s.name} needs float fields 'x' and "
                f"'y' (it has {sorted(fields)}); pass a component like "
                "Position(x: f32, y: f32), or give entities GlobalTransform2D"
            )


class _Parts:
    """Column pieces gathered archetype by archetype, concatenated once."""

    def __init__(self) -> None:
        self.cols: dict[str, list[Array]] = {name: [] for name in _DTYPES}

    def add(self, n: int, **cols: Array | float | int) -> None:
        for name, dtype in _DTYPES.items():
            v = cols[name]
            arr = np.asarray(v, dtype=dtype)
            self.cols[name].append(np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr)

    def concat(self) -> dict[str, Array]:
        return {
            k: np.concatenate(v) if v else np.empty(0, _DTYPES[k])
            for k, v in self.cols.items()
        }


@dataclass(frozen=True)
class _Defaults:
    """Values for entities lacking Shape / Size / Color."""

    kind: int
    size: float
    color: RGBA


def _gather(
    parts: _Parts, q: QueryState, d: _Defaults, *, has_shape: bool, transform: bool
) -> None:
    for ents, *views in q:
        n = len(ents)
        it = iter(views)
        sh = next(it) if has_shape else None
        pos = next(it)
        sz, col, lay = next(it), next(it), next(it)
        radius: Array | float = d.size if sz is None else sz.radius
        if transform:
            radius = radius * pos.scale
        rgba = d.color if col is None else (col.r, col.g, col.b, col.a)
        parts.add(
            n,
            entity=ents,
            layer=0 if lay is None else lay.value,
            kind=d.kind if sh is None else sh.kind,
            x=pos.x,
            y=pos.y,
            radius=radius,
            rotation=pos.rotation if transform else 0.0,
            r=rgba[0],
            g=rgba[1],
            b=rgba[2],
            a=rgba[3],
        )


def _visible(c: dict[str, Array], bounds: Bounds | None) -> Array:
    x = c["x"].astype(np.float64)
    y = c["y"].astype(np.float64)
    r = c["radius"].astype(np.float64)
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(r) & (r > 0)
    keep &= (c["a"] > 0) & (c["kind"] <= 2)
    if bounds is not None:
        x, y, r = (np.where(keep, v, 0.0) for v in (x, y, r))  # no inf - inf
        reach = r * _REACH
        xmin, ymin, xmax, ymax = bounds
        keep &= (x + reach >= xmin) & (x - reach <= xmax)
        keep &= (y + reach >= ymin) & (y - reach <= ymax)
    return keep


# Counting sort by layer when layers span at most this many values (else argsort).
_MAX_LAYER_SPAN = 1 << 16


def _draw_order(layer: Array, entity: Array) -> Array:
    """Positions sorted by (layer, entity slot): slots of live entities are distinct."""
    slot = (entity & np.uint64(0xFFFF_FFFF)).astype(np.int64)
    if not len(layer):
        return np.empty(0, np.int64)
    lo, hi = int(layer.min()), int(layer.max())
    if hi - lo < _MAX_LAYER_SPAN:
        out: Array = draw_order_kernel(layer.astype(np.int64), slot, lo, hi - lo + 1)
        return out
    key = ((layer.astype(np.int64) + 2**31).astype(np.uint64) << np.uint64(32)) | (
        slot.astype(np.uint64)
    )
    return np.argsort(key, kind="stable")


def extract(
    world: World,
    *,
    bounds: Sequence[float] | None = None,
    position: type | None = None,
    shape: str | int | None = None,
    size: float = 1.0,
    color: Sequence[int] = DEFAULT_COLOR,
) -> pa.Table:
    """The render list of ``world``: one row per visible entity, in drawing order.

    Parameters
    ----------
    world
        The world to read (between frames).
    bounds
        ``(xmin, ymin, xmax, ymax)`` in world units: drop shapes entirely outside
        (their bounding circle does not touch the box). ``None`` keeps everything.
    position
        A component with float fields ``x`` and ``y`` giving the position of
        entities that have no ``GlobalTransform2D`` (those with one use it).
    shape
        Also draw entities that have a position but no ``Shape``, as this kind
        (``"circle"``, ``"square"``, ``"triangle"``) -- for models without render
        components.
    size, color
        Radius and RGBA of entities without ``Size`` / ``Color``.

    Returns
    -------
    pyarrow.Table
        Columns of :data:`RENDER_SCHEMA`: ``entity``, ``layer``, ``kind``, ``x``,
        ``y``, ``radius`` (world units, ``GlobalTransform2D.scale`` applied),
        ``rotation`` (radians), ``r``, ``g``, ``b``, ``a``. Sorted by layer, then
        entity slot (stable and deterministic).

    Raises
    ------
    RenderError
        Bad ``bounds``, ``color`` or ``size``, or a ``position`` component without
        float ``x`` / ``y`` fields. Nothing is read or changed then.

    Notes
    -----
    O(entities) column copies, one slice per archetype; rows with a non-finite
    position or radius, a radius <= 0, alpha 0 or an unknown kind are dropped.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> from archetype_ecs.render import Color, Layer, Shape, Size
    >>> from archetype_ecs.transform import GlobalTransform2D
    >>> w = World()
    >>> a = w.spawn(Shape(0), Size(2.0), GlobalTransform2D(x=1.0), Layer(1))
    >>> b = w.spawn(Shape(1), Color(255, 0, 0), GlobalTransform2D(y=5.0, scale=3.0))
    >>> rl = extract(w)
    >>> rl.column("radius").to_pylist(), rl.column("layer").to_pylist()
    ([3.0, 2.0], [0, 1])
    """
    b = None if bounds is None else check_bounds(bounds, "extract")
    rgba = check_color(color, "extract(color=...)")
    size = check_positive(size, "extract(size=...)")
    kind = check_options(position, shape)
    opt = [Size, Color, Layer]
    common = _Defaults(kind, float(size), rgba)
    parts = _Parts()
    gt = GlobalTransform2D
    q = world.query(Shape, gt, optional=opt)
    _gather(parts, q, common, has_shape=True, transform=True)
    if position is not None:
        q = world.query(Shape, position, without=[gt], optional=opt)
        _gather(parts, q, common, has_shape=True, transform=False)
    if shape is not None:
        q = world.query(gt, without=[Shape], optional=opt)
        _gather(parts, q, common, has_shape=False, transform=True)
        if position is not None:
            q = world.query(position, without=[Shape, gt], optional=opt)
            _gather(parts, q, common, has_shape=False, transform=False)
    cols = parts.concat()
    keep = np.flatnonzero(_visible(cols, b))
    order = keep[_draw_order(cols["layer"][keep], cols["entity"][keep])]
    return pa.Table.from_arrays(
        [pa.array(cols[f.name][order]) for f in RENDER_SCHEMA], schema=RENDER_SCHEMA
    )
