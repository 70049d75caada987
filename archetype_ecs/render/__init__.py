"""Rendering: render components, the extract phase, and a headless renderer.

Entities with a :class:`Shape` (plus optional :class:`Size`, :class:`Color`,
:class:`Layer`) and a position are turned by :func:`extract` into a *render list*, an
Arrow table in drawing order; a :class:`Renderer` rasterizes render lists into RGBA
:class:`Frame` arrays with one Numba kernel call, writes PNG files, and
:class:`GifRecorder` writes animated GIFs. Frames show inline in notebooks.

Needs the ``render`` extra (Pillow): ``pip install 'arrow-ecs[render]'``.
"""

from __future__ import annotations

try:
    import PIL  # noqa: F401 # checked first so the error names the extra
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "archetype_ecs.render needs Pillow, which is not installed; install with: "
        "pip install 'arrow-ecs[render]'"
    ) from exc

from archetype_ecs.render.components import (
    Color,
    Layer,
    Shape,
    ShapeKind,
    Size,
    shape_kind,
)
from archetype_ecs.render.extract import (
    DEFAULT_COLOR,
    RENDER_SCHEMA,
    RenderError,
    extract,
)
from archetype_ecs.render.renderer import (
    Frame,
    GifDisplay,
    GifRecorder,
    Renderer,
    show_gif,
)

__all__ = [
    "DEFAULT_COLOR",
    "RENDER_SCHEMA",
    "Color",
    "Frame",
    "GifDisplay",
    "GifRecorder",
    "Layer",
    "RenderError",
    "Renderer",
    "Shape",
    "ShapeKind",
    "Size",
    "extract",
    "shape_kind",
    "show_gif",
]
