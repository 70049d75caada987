"""The headless renderer: known pixels for simple scenes, extract rules, PNG / GIF files.

Frames are small (a 20x20 view of a 10x10 world: one pixel = 0.5 world units, pixel
(row j, column i) has its centre at x = (i + 0.5) / 2, y = 10 - (j + 0.5) / 2).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image  # noqa: TID251 # reading the files back needs the render extra

from archetype_ecs import World, component, f32, i32
from archetype_ecs.hierarchy import set_parent
from archetype_ecs.render import (
    Color,
    Frame,
    GifRecorder,
    Layer,
    Renderer,
    RenderError,
    Shape,
    ShapeKind,
    Size,
    extract,
    show_gif,
)
from archetype_ecs.transform import GlobalTransform2D, Transform2D, propagate_2d

WHITE = [255, 255, 255, 255]
RED = [255, 0, 0, 255]
BLUE = [0, 0, 255, 255]


@component
class Pos:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class BadPos:
    x: i32 = 0


def px(x: float, y: float) -> tuple[int, int]:
    """(row, column) of the pixel holding world point (x, y) in the 20x20 view."""
    return int((10 - y) * 2), int(x * 2)


def one(kind: int, x: float, y: float, r: float, color=(255, 0, 0), **gt) -> World:  # type: ignore[no-untyped-def]
    w = World(threads=1)
    w.spawn(Shape(kind), Size(r), Color(*color), GlobalTransform2D(x=x, y=y, **gt))
    return w


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(20, 20, bounds=(0, 0, 10, 10))


def test_circle_centre_has_its_color_and_outside_does_not(renderer: Renderer) -> None:
    frame = renderer.render(one(ShapeKind.CIRCLE, 3.0, 7.0, 1.0))
    assert isinstance(frame, Frame)
    assert frame.shape == (20, 20, 4)
    assert frame.dtype == np.uint8
    assert frame[px(3.0, 7.0)].tolist() == RED
    assert frame[px(3.9, 7.0)].tolist() == RED  # inside the radius
    assert frame[px(4.3, 7.0)].tolist() == WHITE  # just outside
    assert frame[px(3.8, 7.8)].tolist() == WHITE  # in the box, outside the disc
    # exactly the pixels whose centre is within the radius
    jj, ii = np.mgrid[0:20, 0:20]
    inside = ((ii + 0.5) / 2 - 3.0) ** 2 + (10 - (jj + 0.5) / 2 - 7.0) ** 2 <= 1.0
    assert np.array_equal(np.all(frame == RED, axis=2), inside)


def test_y_axis_points_up(renderer: Renderer) -> None:
    frame = renderer.render(one(ShapeKind.CIRCLE, 5.0, 9.0, 0.6))
    rows = np.flatnonzero(np.any(np.all(frame == RED, axis=2), axis=1))
    assert rows.max() < 4  # high y is near the top row


def test_square_covers_its_corners_and_rotation_turns_it(renderer: Renderer) -> None:
    frame = renderer.render(one(ShapeKind.SQUARE, 5.0, 5.0, 2.0))
    assert frame[px(3.1, 3.1)].tolist() == RED  # near a corner: inside a square
    assert frame[px(6.9, 6.9)].tolist() == RED
    assert frame[px(7.3, 5.0)].tolist() == WHITE
    assert int(np.all(frame == RED, axis=2).sum()) == 64  # 4x4 world = 8x8 pixels
    turned = renderer.render(one(ShapeKind.SQUARE, 5.0, 5.0, 2.0, rotation=math.pi / 4))
    assert turned[px(3.1, 3.1)].tolist() == WHITE  # the corner turned away
    assert frame[px(7.1, 5.1)].tolist() == WHITE
    assert turned[px(7.1, 5.1)].tolist() == RED  # a corner now points along +x


def test_triangle_points_up(renderer: Renderer) -> None:
    frame = renderer.render(one(ShapeKind.TRIANGLE, 5.0, 5.0, 3.0))
    assert frame[px(5.0, 5.0)].tolist() == RED
    assert frame[px(4.9, 7.1)].tolist() == RED  # near the apex
    assert frame[px(3.0, 7.0)].tolist() == WHITE  # beside the apex
    assert frame[px(3.0, 3.8)].tolist() == RED  # above the base, left
    assert frame[px(5.0, 3.2)].tolist() == WHITE  # below the base (y = 3.5)
    down = renderer.render(one(ShapeKind.TRIANGLE, 5.0, 5.0, 3.0, rotation=math.pi))
    assert down[px(4.9, 7.1)].tolist() == WHITE
    assert frame[px(4.9, 2.9)].tolist() == WHITE
    assert down[px(4.9, 2.9)].tolist() == RED


def test_higher_layer_is_drawn_over_lower_whatever_the_spawn_order(
    renderer: Renderer,
) -> None:
    w = World(threads=1)
    w.spawn(
        Shape(0), Size(2.0), Color(0, 0, 255), Layer(5), GlobalTransform2D(x=5, y=5)
    )
    w.spawn(
        Shape(1), Size(2.0), Color(255, 0, 0), Layer(1), GlobalTransform2D(x=5, y=5)
    )
    frame = renderer.render(w)
    assert frame[px(5, 5)].tolist() == BLUE
    assert frame[px(3.2, 3.2)].tolist() == RED  # the square's corner shows
    rl = extract(w)
    assert rl.column("layer").to_pylist() == [1, 5]


def test_same_layer_later_slot_on_top(renderer: Renderer) -> None:
    w = World(threads=1)
    a = w.spawn(Shape(0), Size(2.0), Color(0, 0, 255), GlobalTransform2D(x=5, y=5))
    b = w.spawn(Shape(0), Size(2.0), Color(255, 0, 0), GlobalTransform2D(x=5, y=5))
    assert extract(w).column("entity").to_pylist() == [a, b]
    assert renderer.render(w)[px(5, 5)].tolist() == RED


def test_shapes_partly_off_screen_are_clipped_and_fully_off_are_culled(
    renderer: Renderer,
) -> None:
    w = World(threads=1)
    w.spawn(Shape(0), Size(2.0), Color(255, 0, 0), GlobalTransform2D(x=0, y=0))
    w.spawn(Shape(1), Size(3.0), Color(0, 0, 255), GlobalTransform2D(x=12, y=5))
    w.spawn(Shape(0), Size(1.0), Color(0, 0, 255), GlobalTransform2D(x=-50, y=5))
    w.spawn(Shape(0), Size(1.0), Color(0, 0, 255), GlobalTransform2D(x=5, y=1e9))
    frame = renderer.render(w)
    assert frame[19, 0].tolist() == RED  # bottom-left corner: the clipped disc
    assert frame[px(9.8, 5)].tolist() == BLUE  # the square reaches x = 9
    assert frame[px(8.8, 5)].tolist() == WHITE
    assert len(extract(w, bounds=(0, 0, 10, 10))) == 2
    assert len(extract(w)) == 4


def test_alpha_blends_over_the_background_and_over_shapes(renderer: Renderer) -> None:
    w = World(threads=1)
    w.spawn(Shape(0), Size(2.0), Color(0, 0, 255), GlobalTransform2D(x=4, y=5))
    w.spawn(
        Shape(0),
        Size(2.0),
        Color(255, 0, 0, 128),
        GlobalTransform2D(x=6, y=5),
        Layer(1),
    )
    frame = renderer.render(w)
    assert frame[px(7.5, 5)].tolist() == [255, 127, 127, 255]  # red 50% over white
    assert frame[px(5, 5)].tolist() == [128, 0, 127, 255]  # red 50% over blue
    w.spawn(
        Shape(0), Size(2.0), Color(0, 255, 0, 0), GlobalTransform2D(x=5, y=5), Layer(2)
    )
    assert renderer.render(w)[px(5, 5)].tolist() == [128, 0, 127, 255]  # alpha 0: none


def test_transparent_background_keeps_coverage_alpha() -> None:
    r = Renderer(20, 20, bounds=(0, 0, 10, 10), background=(0, 0, 0, 0))
    w = World(threads=1)
    w.spawn(Shape(0), Size(2.0), Color(255, 0, 0, 128), GlobalTransform2D(x=5, y=5))
    frame = r.render(w)
    assert frame[px(5, 5)].tolist() == [255, 0, 0, 128]
    assert frame[0, 0].tolist() == [0, 0, 0, 0]


def test_non_square_pixels_follow_the_bounds() -> None:
    r = Renderer(40, 10, bounds=(0, 0, 10, 10))  # 4 px per unit in x, 1 in y
    frame = r.render(one(0, 5.0, 5.0, 2.0))
    mask = np.all(frame == RED, axis=2)
    cols = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    assert len(cols) == 16
    assert len(rows) == 4


def test_transform_scale_and_hierarchy_give_the_position() -> None:
    w = World(threads=1)
    parent = w.spawn(Transform2D(x=2.0, y=2.0, scale=2.0), GlobalTransform2D())
    child = w.spawn(
        Transform2D(x=1.0, y=1.0),
        GlobalTransform2D(),
        Shape(0),
        Size(0.5),
        Color(255, 0, 0),
    )
    set_parent(w, [child], parent)
    propagate_2d(w)
    rl = extract(w)
    assert rl.column("x").to_pylist() == [4.0]
    assert rl.column("y").to_pylist() == [4.0]
    assert rl.column("radius").to_pylist() == [1.0]  # size x the global scale


def test_position_component_fallback_and_shape_hint() -> None:
    w = World(threads=1)
    a = w.spawn(Shape(1), Pos(1.0, 2.0))
    b = w.spawn(Pos(3.0, 4.0))  # no Shape: drawn only with shape=
    c = w.spawn(Shape(0), Pos(9.0, 9.0), GlobalTransform2D(x=5.0, y=6.0))
    w.spawn(Shape(0))  # no position at all: never drawn
    assert extract(w).column("entity").to_pylist() == [c]
    rl = extract(w, position=Pos)
    assert rl.column("entity").to_pylist() == [a, c]
    assert rl.column("x").to_pylist() == [1.0, 5.0]  # the transform wins
    rl = extract(w, position=Pos, shape="triangle", size=2.5, color=(1, 2, 3))
    assert rl.column("entity").to_pylist() == [a, b, c]
    row = {k: rl.column(k)[1].as_py() for k in ("kind", "radius", "r", "g", "b", "a")}
    assert row == {"kind": 2, "radius": 2.5, "r": 1, "g": 2, "b": 3, "a": 255}


def test_extract_defaults_and_schema() -> None:
    w = World(threads=1)
    w.spawn(Shape(0), GlobalTransform2D(x=1.0, rotation=0.5))
    rl = extract(w)
    assert rl.schema.names == [
        "entity",
        "layer",
        "kind",
        "x",
        "y",
        "radius",
        "rotation",
        "r",
        "g",
        "b",
        "a",
    ]
    assert [
        rl.column(k)[0].as_py() for k in ("layer", "radius", "r", "g", "b", "a")
    ] == [0, 1.0, 31, 119, 180, 255]
    assert rl.column("rotation")[0].as_py() == pytest.approx(0.5)


def test_invisible_rows_are_dropped() -> None:
    w = World(threads=1)
    w.spawn(Shape(0), Size(0.0), GlobalTransform2D())
    w.spawn(Shape(0), Size(-1.0), GlobalTransform2D())
    w.spawn(Shape(0), GlobalTransform2D(x=float("nan")))
    w.spawn(Shape(0), Color(1, 2, 3, 0), GlobalTransform2D())
    w.spawn(Shape(7), GlobalTransform2D())  # unknown kind
    keep = w.spawn(Shape(0), GlobalTransform2D())
    assert extract(w).column("entity").to_pylist() == [keep]


def test_extract_is_deterministic_across_archetypes_and_moves() -> None:
    def build() -> World:
        w = World(threads=1)
        rng = np.random.default_rng(3)
        ids = w.spawn_batch(
            {
                Shape: None,
                GlobalTransform2D: {"x": rng.random(50)},
                Layer: {"value": rng.integers(0, 3, 50)},
            }
        )
        w.insert_batch(ids[::3], Color(255, 0, 0))  # some rows move tables
        w.despawn_batch(ids[5:9])
        return w

    a, b = extract(build()), extract(build())
    assert a.equals(b)
    key = [
        (lay, e & 0xFFFFFFFF)
        for lay, e in zip(
            a.column("layer").to_pylist(), a.column("entity").to_pylist(), strict=True
        )
    ]
    assert key == sorted(key)


def test_extreme_layers_sort_like_small_ones() -> None:
    w = World(threads=1)
    top = w.spawn(Shape(0), Layer(2**31 - 1), GlobalTransform2D())
    low = w.spawn(Shape(0), Layer(-(2**31)), GlobalTransform2D())
    mid = w.spawn(Shape(0), GlobalTransform2D())
    mid2 = w.spawn(Shape(0), Layer(0), GlobalTransform2D())
    assert extract(w).column("entity").to_pylist() == [low, mid, mid2, top]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bounds": (0, 0, 0, 1)}, "empty"),
        ({"bounds": (0, 0, 1)}, "four finite numbers"),
        ({"color": (1, 2)}, "3 or 4 integers"),
        ({"color": (1, 2, 300)}, "3 or 4 integers"),
        ({"size": 0}, "size"),
        ({"shape": "hexagon"}, "unknown shape"),
        ({"position": BadPos}, "float fields 'x' and 'y'"),
    ],
)
def test_bad_extract_options_are_clear_errors(kwargs, match) -> None:  # type: ignore[no-untyped-def]
    w = World(threads=1)
    w.spawn(Shape(0), GlobalTransform2D())
    with pytest.raises(RenderError, match=match):
        extract(w, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0, 10), {}, "width must be a positive integer"),
        ((10, 2.5), {}, "height must be a positive integer"),
        ((10, 10), {"bounds": (1, 0, 0, 1)}, "empty"),
        ((10, 10), {"background": "white"}, "3 or 4 integers"),
        ((10, 10), {"shape": "blob"}, "unknown shape"),
    ],
)
def test_bad_renderer_arguments_are_clear_errors(args, kwargs, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RenderError, match=match):
        Renderer(*args, **kwargs)


def test_draw_checks_its_input(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match=r"pyarrow\.Table"):
        renderer.draw({"x": [1.0]})  # type: ignore[arg-type]
    with pytest.raises(RenderError, match="lacks columns"):
        renderer.draw(pa.table({"x": [1.0]}))
    with pytest.raises(RenderError, match=r"\(20, 20, 4\) uint8"):
        renderer.draw(extract(World()), out=np.zeros((5, 5, 4), np.uint8))


def test_draw_over_an_existing_frame(renderer: Renderer) -> None:
    base = renderer.render(one(0, 2.0, 2.0, 1.0, color=(0, 0, 255)))
    again = renderer.draw(extract(one(0, 8.0, 8.0, 1.0)), out=base)
    assert again[px(2, 2)].tolist() == BLUE
    assert again[px(8, 8)].tolist() == RED


def test_fit_bounds_when_none_and_keeps_them() -> None:
    r = Renderer(32, 16)
    w = one(0, 100.0, 50.0, 1.0)
    w.spawn(Shape(0), Size(1.0), GlobalTransform2D(x=110.0, y=50.0))
    frame = r.render(w)
    assert r.bounds is not None
    xmin, ymin, xmax, ymax = r.bounds
    assert xmin < 99
    assert xmax > 111
    assert ymin < 49
    assert ymax > 51
    assert (xmax - xmin) / 32 == pytest.approx((ymax - ymin) / 16)  # square pixels
    assert np.all(frame[8, :] == WHITE, axis=1).sum() < 32
    kept = r.bounds
    r.render(one(0, 0.0, 0.0, 1.0))
    assert r.bounds == kept


def test_empty_world_draws_the_background(renderer: Renderer) -> None:
    frame = renderer.render(World())
    assert np.all(frame == WHITE)


def test_png_round_trips_and_repr_png_shows_the_frame(
    tmp_path: Path, renderer: Renderer
) -> None:
    w = one(0, 5.0, 5.0, 2.0)
    path = renderer.png(tmp_path / "f.png", w)
    back = np.asarray(Image.open(path))
    assert np.array_equal(back, renderer.render(w))
    data = renderer.render(w)._repr_png_()
    assert data is not None
    assert data.startswith(b"\x89PNG")
    assert renderer.render(w)[0]._repr_png_() is None  # a row is not an image
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    with pytest.raises(RenderError, match="does not exist"):
        renderer.png(tmp_path / "missing" / "f.png", w)


def test_gif_has_one_frame_per_capture_and_the_frame_size(tmp_path: Path) -> None:
    r = Renderer(24, 16, bounds=(0, 0, 12, 8))
    w = World(threads=1)
    e = w.spawn(Shape(0), Size(1.0), Color(255, 0, 0), GlobalTransform2D(x=1, y=4))
    rec = GifRecorder(tmp_path / "a.gif", r, fps=25)
    for i in range(7):
        w.set(e, GlobalTransform2D(x=1.0 + i, y=4.0))
        assert rec.capture(w) is not None
    path = rec.close()
    with Image.open(path) as im:
        assert im.n_frames == 7
        assert im.size == (24, 16)
        assert im.info["duration"] == 40
        im.seek(3)
        rgb = np.asarray(im.convert("RGB"))
        assert rgb[8, 8].tolist() == [255, 0, 0]  # frame 3: the disc at x = 4
        assert rgb[8, 2].tolist() == [255, 255, 255]
    assert "data:image/gif;base64," in rec.display()._repr_html_()
    assert rec.frames == 7


def test_gif_every_and_attach_capture_at_frame_end(tmp_path: Path) -> None:
    from archetype_ecs import system

    w = World(threads=1)
    e = w.spawn(Shape(0), Size(1.0), Color(255, 0, 0), GlobalTransform2D(x=1, y=4))

    @system(writes=[GlobalTransform2D])
    def move(ctx):  # type: ignore[no-untyped-def]
        for _, g in ctx.query(GlobalTransform2D):
            g.x += 1.0

    w.add_system(move)
    rec = GifRecorder(
        tmp_path / "b.gif", Renderer(24, 16, bounds=(0, 0, 12, 8)), every=2
    )
    rec.attach(w)
    for _ in range(6):
        w.step()
    rec.close()
    assert rec.frames == 3
    assert rec._hook not in w.frame_end_hooks  # type: ignore[comparison-overlap]
    w.step()  # detached: nothing captured, nothing raised
    with Image.open(tmp_path / "b.gif") as im:
        assert im.n_frames == 3
    assert w.component(e, GlobalTransform2D).x == 8.0


def test_gif_errors_write_nothing(tmp_path: Path) -> None:
    r = Renderer(8, 8, bounds=(0, 0, 1, 1))
    rec = GifRecorder(tmp_path / "none.gif", r)
    with pytest.raises(RenderError, match="no frames captured"):
        rec.close()
    assert not (tmp_path / "none.gif").exists()
    with pytest.raises(RenderError, match="does not exist"):
        GifRecorder(tmp_path / "no" / "x.gif", r)
    with pytest.raises(RenderError, match="every"):
        GifRecorder(tmp_path / "x.gif", r, every=0)
    rec.add(np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(RenderError, match="differs from the first"):
        rec.add(np.zeros((9, 8, 4), np.uint8))
    (tmp_path / "t.txt").write_text("hello")
    with pytest.raises(RenderError, match="not a GIF"):
        show_gif(tmp_path / "t.txt")


def test_from_hints_builds_a_renderer() -> None:
    r = Renderer.from_hints(
        {"width": 64, "height": 32, "shape": "square", "position": Pos}
    )
    w = World(threads=1)
    w.spawn(Pos(3.0, 3.0))
    assert len(extract(w, **r.extract_options)) == 1
    assert r.render(w).shape == (32, 64, 4)
    with pytest.raises(RenderError, match="unknown keys"):
        Renderer.from_hints({"widht": 3})


def test_import_without_pillow_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['PIL'] = None\n"
        "try:\n    import archetype_ecs.render\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'arrow-ecs[render]'" in out
