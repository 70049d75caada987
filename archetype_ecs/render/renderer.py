"""Headless drawing of render lists: frames as numpy arrays, PNG files, animated GIFs.

:class:`Renderer` maps world units to pixels (``bounds`` -> ``width`` x ``height``, y
up) and rasterizes a render list with one Numba kernel call (shapes in list order,
clipped to the frame). :class:`Frame` is the resulting ``(H, W, 4)`` uint8 array; it
shows itself in notebooks (``_repr_png_``). :class:`GifRecorder` collects frames and
writes one animated GIF with Pillow.
"""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from PIL import Image

from archetype_ecs.render._kernels import rasterize_kernel
from archetype_ecs.render.extract import (
    DEFAULT_COLOR,
    RENDER_SCHEMA,
    RenderError,
    check_bounds,
    check_color,
    check_options,
    check_positive,
    extract,
)

if TYPE_CHECKING:
    from archetype_ecs.world import World

__all__ = ["Frame", "GifDisplay", "GifRecorder", "Renderer", "show_gif"]

Bounds = tuple[float, float, float, float]
_DRAWN = ("kind", "x", "y", "radius", "rotation", "r", "g", "b", "a")
_HINT_KEYS = (
    "width",
    "height",
    "bounds",
    "background",
    "position",
    "shape",
    "size",
    "color",
)


class Frame(np.ndarray[Any, np.dtype[np.uint8]]):
    """An ``(H, W, 4)`` RGBA uint8 image (row 0 at the top) that notebooks display.

    A plain numpy array in every other respect (``np.asarray(frame)`` is free).
    """

    def _repr_png_(self) -> bytes | None:
        if self.ndim != 3 or self.shape[2] not in (3, 4):
            return None  # a slice that is no longer an image
        buf = io.BytesIO()
        self.to_image().save(buf, format="PNG")
        return buf.getvalue()

    def to_image(self) -> Image.Image:
        """The frame as a Pillow image (RGBA, or RGB for 3 channels)."""
        arr = np.ascontiguousarray(np.asarray(self))
        return Image.fromarray(arr, "RGBA" if arr.shape[2] == 4 else "RGB")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the frame as a PNG file (atomically) and return its path."""
        out = Path(path)
        _atomic_write(out, lambda f: self.to_image().save(f, format="PNG"))
        return out


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    if not path.parent.is_dir():
        raise RenderError(
            f"cannot write {path}: the folder {path.parent} does not exist; create it "
            "first"
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp makes the file owner-only; give it the permissions a plain open()
        # would (0666 minus the umask), like any other output file.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_size(value: object, name: str) -> int:
    n = int(value) if _is_int(value) else 0  # type: ignore[call-overload] # an int
    if n < 1:
        raise RenderError(f"Renderer: {name} must be a positive integer, got {value!r}")
    return n


def _columns(render_list: pa.Table) -> dict[str, np.ndarray[Any, Any]]:
    """The drawn columns as contiguous arrays of the kernel's dtypes."""
    if not isinstance(render_list, pa.Table):
        raise RenderError(
            "Renderer.draw: expected the pyarrow.Table returned by extract(world), got "
            f"{type(render_list).__name__}"
        )
    missing = [c for c in _DRAWN if c not in render_list.column_names]
    if missing:
        raise RenderError(
            f"Renderer.draw: the render list lacks columns {missing}; build it with "
            "archetype_ecs.render.extract(world)"
        )
    out = {}
    for name in _DRAWN:
        dtype = RENDER_SCHEMA.field(name).type.to_pandas_dtype()
        col = render_list.column(name)
        if col.null_count:
            raise RenderError(f"Renderer.draw: column {name!r} holds nulls")
        arr = col.to_numpy()
        out[name] = np.ascontiguousarray(arr.astype(dtype, copy=False))
    return out


class Renderer:
    """Draws render lists into RGBA frames of ``width`` x ``height`` pixels.

    Parameters
    ----------
    width, height
        Frame size in pixels.
    bounds
        ``(xmin, ymin, xmax, ymax)``: the world rectangle the frame shows (y up:
        ``ymax`` is the top row). ``None``: fit the first render list drawn (its
        shapes plus a 5% margin, square pixels) and keep that view afterwards.
    background
        RGB or RGBA fill of every new frame.
    position, shape, size, color
        Passed to :func:`~archetype_ecs.render.extract` by :meth:`render`.

    Raises
    ------
    RenderError
        Bad sizes, bounds or colors.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> from archetype_ecs.render import Color, Shape, Size
    >>> from archetype_ecs.transform import GlobalTransform2D
    >>> w = World()
    >>> _ = w.spawn(Shape(0), Size(2.0), Color(255, 0, 0), GlobalTransform2D(x=5, y=5))
    >>> r = Renderer(20, 20, bounds=(0, 0, 10, 10))
    >>> frame = r.render(w)
    >>> frame.shape, frame[10, 10].tolist(), frame[0, 0].tolist()
    ((20, 20, 4), [255, 0, 0, 255], [255, 255, 255, 255])
    """

    def __init__(
        self,
        width: int = 512,
        height: int = 512,
        bounds: Sequence[float] | None = None,
        *,
        background: Sequence[int] = (255, 255, 255, 255),
        position: type | None = None,
        shape: str | int | None = None,
        size: float = 1.0,
        color: Sequence[int] = DEFAULT_COLOR,
    ) -> None:
        """Validate and store the view; nothing is drawn yet."""
        self.width = _check_size(width, "width")
        self.height = _check_size(height, "height")
        self.bounds: Bounds | None = (
            None if bounds is None else check_bounds(bounds, "Renderer")
        )
        self.background = check_color(background, "Renderer(background=...)")
        self.extract_options: dict[str, Any] = {
            "position": position,
            "shape": shape,
            "size": size,
            "color": color,
        }
        # The extract options are checked now, not at the first frame.
        check_color(color, "Renderer(color=...)")
        check_positive(size, "Renderer(size=...)")
        check_options(position, shape)

    @classmethod
    def from_hints(cls, hints: Mapping[str, Any] | None) -> Renderer:
        """A renderer from a model module's ``RENDER`` dict (Renderer keyword args).

        Raises
        ------
        RenderError
            When a key is not a Renderer argument.
        """
        hints = dict(hints or {})
        unknown = sorted(set(hints) - set(_HINT_KEYS))
        if unknown:
            raise RenderError(
                f"RENDER hints: unknown keys {unknown}; allowed: {list(_HINT_KEYS)}"
            )
        return cls(**hints)

    def fit(self, render_list: pa.Table) -> Bounds:
        """Bounds around every shape of ``render_list`` (5% margin, square pixels)."""
        cols = _columns(render_list)
        if not len(cols["x"]):
            return (0.0, 0.0, float(self.width), float(self.height))
        reach = cols["radius"].astype(np.float64) * math.sqrt(2.0)
        x, y = cols["x"].astype(np.float64), cols["y"].astype(np.float64)
        x0, x1 = float((x - reach).min()), float((x + reach).max())
        y0, y1 = float((y - reach).min()), float((y + reach).max())
        # Square pixels: widen the narrower side around its centre.
        per_px = max((x1 - x0) / self.width, (y1 - y0) / self.height) * 1.1
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        hw, hh = per_px * self.width / 2, per_px * self.height / 2
        return (cx - hw, cy - hh, cx + hw, cy + hh)

    def blank(self) -> Frame:
        """A new frame filled with the background."""
        buf = np.empty((self.height, self.width, 4), dtype=np.uint8)
        rgba = np.array(self.background, dtype=np.uint8).view(np.uint32)[0]
        buf.view(np.uint32).fill(rgba)  # one 32-bit store per pixel
        return buf.view(Frame)

    def draw(
        self, render_list: pa.Table, out: np.ndarray[Any, Any] | None = None
    ) -> Frame:
        """Rasterize ``render_list`` (from :func:`extract`) into a new frame.

        Parameters
        ----------
        render_list
            Rows in drawing order (later rows cover earlier ones).
        out
            Draw over this ``(height, width, 4)`` uint8 array instead of a fresh
            background frame.

        Returns
        -------
        Frame
            ``(height, width, 4)`` uint8, row 0 at the top.

        Notes
        -----
        One kernel call; each shape tests only the pixels of its clipped bounding
        box, so the cost is O(shapes + covered pixels). A pixel belongs to a shape
        when its centre does (hard edges, no anti-aliasing).
        """
        cols = _columns(render_list)
        if self.bounds is None:
            self.bounds = self.fit(render_list)
        frame = self.blank() if out is None else self._check_out(out)
        view = np.array(self.bounds, dtype=np.float64)
        rgba = np.stack([cols["r"], cols["g"], cols["b"], cols["a"]], axis=1)
        packed = rgba.view(np.uint32).reshape(-1)  # memory order: endian-safe
        rasterize_kernel(frame, *(cols[c] for c in _DRAWN), packed, view)
        return frame

    def _check_out(self, out: np.ndarray[Any, Any]) -> Frame:
        if out.shape != (self.height, self.width, 4) or out.dtype != np.uint8:
            raise RenderError(
                f"Renderer.draw(out=...): expected a ({self.height}, {self.width}, 4) "
                f"uint8 array, got {out.shape} {out.dtype}"
            )
        if not out.flags.c_contiguous:
            raise RenderError("Renderer.draw(out=...): the array must be C-contiguous")
        return out.view(Frame)

    def render(self, world: World) -> Frame:
        """Extract ``world``'s render list (culled to the bounds) and draw it."""
        rl = extract(world, bounds=self.bounds, **self.extract_options)
        return self.draw(rl)

    def png(self, path: str | os.PathLike[str], world: World) -> Path:
        """Render ``world`` and write the frame as a PNG file; returns the path."""
        return self.render(world).save(path)


class GifDisplay:
    """A GIF shown inline in notebooks (``_repr_html_``, a base64 ``<img>``)."""

    def __init__(self, data: bytes) -> None:
        """Wrap GIF bytes."""
        self.data = data

    def _repr_html_(self) -> str:
        b64 = base64.b64encode(self.data).decode("ascii")
        return f'<img src="data:image/gif;base64,{b64}" />'


def show_gif(path: str | os.PathLike[str]) -> GifDisplay:
    """Display a GIF file inline in a notebook (return it as a cell's last value).

    Raises
    ------
    RenderError
        When the file does not exist or is not a GIF.
    """
    p = Path(path)
    if not p.is_file():
        raise RenderError(f"show_gif: no file at {p}")
    data = p.read_bytes()
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise RenderError(f"show_gif: {p} is not a GIF file")
    return GifDisplay(data)


class GifRecorder:
    """Collects frames of a running world and writes them as one animated GIF.

    Parameters
    ----------
    path
        The GIF file to write on :meth:`close` (its folder must exist).
    renderer
        Draws each captured frame.
    every
        Capture every ``every``-th call of :meth:`capture` (the first call always).
    fps
        Playback frames per second (GIF delays are whole centiseconds).
    loop
        GIF loop count; 0 repeats forever.

    Notes
    -----
    Each frame is quantized to a 256-color palette (Pillow's fast octree) as it is
    captured, 1 byte per pixel kept in memory: frames with at most 256 distinct
    colors keep them exactly. The GIF is opaque: alpha is dropped. Identical
    consecutive frames are merged by the GIF writer (their delays add up).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from archetype_ecs import World
    >>> from archetype_ecs.render import Shape
    >>> from archetype_ecs.transform import GlobalTransform2D
    >>> w = World()
    >>> e = w.spawn(Shape(0), GlobalTransform2D())
    >>> path = Path(tempfile.mkdtemp()) / "out.gif"
    >>> with GifRecorder(path, Renderer(32, 32, bounds=(-4, -4, 4, 4))) as rec:
    ...     for i in range(3):
    ...         w.set(e, GlobalTransform2D(x=float(i)))
    ...         _ = rec.capture(w)
    >>> rec.frames, path.exists()
    (3, True)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        renderer: Renderer,
        *,
        every: int = 1,
        fps: float = 30.0,
        loop: int = 0,
    ) -> None:
        """Check the arguments; nothing is written until :meth:`close`."""
        if not isinstance(renderer, Renderer):
            raise RenderError(
                f"GifRecorder: renderer must be a Renderer, got {type(renderer).__name__}"
            )
        if not _is_int(every) or every < 1:
            raise RenderError(f"GifRecorder: every must be an int >= 1, got {every!r}")
        fps = check_positive(fps, "GifRecorder(fps=...)")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise RenderError(
                f"GifRecorder: the folder {self.path.parent} does not exist; create it "
                "first"
            )
        self.renderer = renderer
        self.every = every
        self.fps = float(fps)
        self.loop = int(loop)
        self._images: list[Image.Image] = []
        self._calls = 0
        self._count = 0
        self._world: World | None = None
        self.closed = False

    @property
    def frames(self) -> int:
        """Frames captured so far."""
        return self._count

    def add(self, frame: np.ndarray[Any, Any]) -> None:
        """Append an already drawn ``(H, W, 3 or 4)`` uint8 frame."""
        if self.closed:
            raise RenderError(f"GifRecorder({self.path}): already closed")
        arr = np.asarray(frame)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
            raise RenderError(
                f"GifRecorder.add: expected an (H, W, 3|4) uint8 frame, got "
                f"{arr.shape} {arr.dtype}"
            )
        if self._images and self._images[0].size != (arr.shape[1], arr.shape[0]):
            raise RenderError(
                f"GifRecorder.add: frame size {arr.shape[1]}x{arr.shape[0]} differs "
                f"from the first frame's {self._images[0].size[0]}x"
                f"{self._images[0].size[1]}"
            )
        rgb = Image.fromarray(np.ascontiguousarray(arr[..., :3]), "RGB")
        # Fast octree: exact for frames of <= 256 colors, ~20x faster than median
        # cut on busy frames.
        self._images.append(rgb.quantize(256, method=Image.Quantize.FASTOCTREE))
        self._count += 1

    def capture(self, world: World) -> Frame | None:
        """Render ``world`` if this call is one of every ``every``; returns the
        frame drawn (``None`` when skipped)."""
        if self.closed:
            raise RenderError(f"GifRecorder({self.path}): already closed")
        self._calls += 1
        if (self._calls - 1) % self.every:
            return None
        frame = self.renderer.render(world)
        self.add(frame)
        return frame

    def _hook(self, world: World) -> None:
        self.capture(world)

    def attach(self, world: World) -> GifRecorder:
        """Capture at the end of every frame of ``world`` (a frame-end hook) until
        :meth:`close`. Returns ``self``."""
        if self._world is not None:
            raise RenderError("GifRecorder.attach: already attached to a world")
        world.frame_end_hooks.append(self._hook)
        self._world = world
        return self

    def _detach(self) -> None:
        if self._world is not None:
            hooks = self._world.frame_end_hooks
            if self._hook in hooks:
                hooks.remove(self._hook)
            self._world = None

    def close(self) -> Path:
        """Detach, write the GIF (atomically) and return its path.

        Raises
        ------
        RenderError
            When no frame was captured (nothing is written).
        """
        self._detach()
        if self.closed:
            return self.path
        if not self._images:
            raise RenderError(
                f"GifRecorder({self.path}): no frames captured; call capture(world) "
                "(or attach(world) and step) before close()"
            )
        duration = max(20, round(1000 / self.fps / 10) * 10)
        first, rest = self._images[0], self._images[1:]

        def write(f: Any) -> None:
            first.save(
                f,
                format="GIF",
                save_all=True,
                append_images=rest,
                duration=duration,
                loop=self.loop,
                optimize=False,
            )

        _atomic_write(self.path, write)
        self.closed = True
        self._images = []
        return self.path

    def display(self) -> GifDisplay:
        """The written GIF for inline display (after :meth:`close`)."""
        if not self.closed:
            raise RenderError("GifRecorder.display: close() the recorder first")
        return show_gif(self.path)

    def __enter__(self) -> GifRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._detach()
