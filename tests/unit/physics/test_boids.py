"""The boids model: the grid kernel equals brute force bit for bit, the simultaneous
mode does not depend on storage order, cell size or threads, runs are seeded, and bad
parameters are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from archetype_ecs import World
from archetype_ecs._jit import kernel_threads, limit_kernel_threads
from archetype_ecs.demos import DEMOS, boids
from archetype_ecs.physics import Position2D, Velocity2D
from archetype_ecs.physics.grid import build_grid
from archetype_ecs.runner import ParamError, load_model

PARAMS = boids._params_array(boids.Flock(radius=3.0, separation=1.0))


def _flock(n: int, size: float, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, size, n), rng.uniform(0, size, n)
    vx, vy = rng.normal(size=n) * 3, rng.normal(size=n) * 3
    return x, y, vx, vy


def _steer(x, y, vx, vy, size, cell):  # type: ignore[no-untyped-def]
    g = build_grid(x, y, cell, bounds=(0, 0, size, size), periodic=True)
    ox, oy = np.empty_like(vx), np.empty_like(vy)
    boids.steer_simultaneous_kernel(g.x, g.y, vx, vy, *g.arrays(), PARAMS, ox, oy)
    return ox, oy


@pytest.mark.parametrize("cell", [1.0, 3.0, 7.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_grid_kernel_equals_brute_force_bit_for_bit(cell: float, seed: int) -> None:
    x, y, vx, vy = _flock(400, 20.0, seed)
    x[:5] = [0.0, 19.999, 10.0, 10.0, 3.0]  # on the seam, and a coincident pair
    y[:5] = [0.0, 19.999, 10.0, 10.0, 3.0]
    got = _steer(x, y, vx, vy, 20.0, cell)
    ref = boids.steer_reference(x, y, vx, vy, (20.0, 20.0), PARAMS)
    assert np.array_equal(got[0], ref[0])
    assert np.array_equal(got[1], ref[1])
    assert not np.array_equal(got[0], vx)  # it really steered


def test_parallel_and_serial_steering_agree() -> None:
    x, y, vx, vy = _flock(600, 20.0, 6)
    g = build_grid(x, y, 3.0, bounds=(0, 0, 20, 20), periodic=True)
    a = (np.empty(600), np.empty(600))
    b = (np.empty(600), np.empty(600))
    boids.steer_simultaneous_kernel(g.x, g.y, vx, vy, *g.arrays(), PARAMS, *a)
    boids.steer_simultaneous_serial(g.x, g.y, vx, vy, *g.arrays(), PARAMS, *b)
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])


def test_simultaneous_update_does_not_depend_on_storage_order() -> None:
    x, y, vx, vy = _flock(500, 25.0, 3)
    perm = np.random.default_rng(9).permutation(500)
    a = _steer(x, y, vx, vy, 25.0, 3.0)
    b = _steer(x[perm], y[perm], vx[perm], vy[perm], 25.0, 3.0)
    assert np.array_equal(a[0][perm], b[0])
    assert np.array_equal(a[1][perm], b[1])


def _world_from(x, y, vx, vy, *, size, mode="simultaneous", threads=1):  # type: ignore[no-untyped-def]
    w = boids.build(
        agents=0, size=size, radius=3.0, separation=1.0, mode=mode, threads=threads
    )
    ents = w.spawn_batch({Position2D: {"x": x, "y": y}, Velocity2D: {"x": vx, "y": vy}})
    return w, ents


def _state(w: World, ents: np.ndarray) -> np.ndarray:
    p, v = w.get_batch(ents, Position2D), w.get_batch(ents, Velocity2D)
    return np.stack([p["x"], p["y"], v["x"], v["y"]])


def test_world_runs_match_across_spawn_order_and_threads() -> None:
    x, y, vx, vy = _flock(300, 20.0, 4)
    perm = np.random.default_rng(2).permutation(300)
    w1, e1 = _world_from(x, y, vx, vy, size=20.0)
    w2, e2 = _world_from(x[perm], y[perm], vx[perm], vy[perm], size=20.0, threads=2)
    w1.run(15)
    w2.run(15)
    assert np.array_equal(_state(w1, e1)[:, perm], _state(w2, e2))


def test_sequential_mode_sees_earlier_updates() -> None:
    x, y, vx, vy = _flock(300, 15.0, 5)
    ws, es = _world_from(x, y, vx, vy, size=15.0, mode="sequential")
    wp, ep = _world_from(x, y, vx, vy, size=15.0)
    ws.step()
    wp.step()
    assert not np.array_equal(_state(ws, es), _state(wp, ep))
    # boid 0 goes first: it reads only frame-start state, like the simultaneous mode
    assert np.array_equal(_state(ws, es)[:, 0], _state(wp, ep)[:, 0])


def test_seeded_runs_are_identical_across_runs_and_threads() -> None:
    before = kernel_threads()
    try:
        out = []
        for threads in (1, 1, 2):
            limit_kernel_threads(threads)
            w = boids.build(agents=800, seed=7, threads=threads)
            w.run(10)
            out.append(boids.summary(w)["checksum"])
            t = w.query(Position2D, Velocity2D).to_arrow()
            out.append(t.column("Velocity2D.x").to_numpy().tobytes())
    finally:
        limit_kernel_threads(before)
    assert out[0] == out[2] == out[4]
    assert out[1] == out[3] == out[5]
    other = boids.build(agents=800, seed=8, threads=1)
    other.run(10)
    assert boids.summary(other)["checksum"] != out[0]


def test_flock_aligns_over_time() -> None:
    w = boids.build(agents=400, seed=1, threads=1)
    start = boids.polarization(w)
    w.run(150)
    assert boids.polarization(w) > max(0.5, 3 * start)
    s = boids.summary(w)
    assert s["agents"] == 400
    assert 3.0 - 1e-9 <= s["mean_speed"] <= 5.0 + 1e-9
    assert 0.0 < s["grid_share"] < 1.0  # physics_grid's share of the systems' time
    assert "polarization" in boids.status(w)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"agent": 5}, "did you mean 'agents'"),
        ({"radius": -1.0}, "radius must be > 0"),
        ({"min_speed": 9.0}, "min_speed .* must not exceed max_speed"),
        ({"mode": "random"}, "mode must be one of"),
        ({"cohesion": -0.5}, "cohesion must be >= 0"),
        ({"agents": -3}, "agents must be >= 0"),
        ({"size": -5.0}, "size must be > 0"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, object], match: str) -> None:
    with pytest.raises(ParamError, match=match):
        boids.build(**params)


def test_boids_is_a_registered_gallery_model() -> None:
    assert DEMOS["boids"] == "archetype_ecs.demos.boids"
    model = load_model("archetype_ecs.demos.boids")
    assert model.frames == boids.FRAMES
    link = Path(__file__).resolve().parents[3] / "examples" / "boids.py"
    assert link.is_symlink()
    assert str(link.readlink()) == "../archetype_ecs/demos/boids.py"
    # the model's entities carry render components when the render extra is present
    pytest.importorskip("PIL")
    from archetype_ecs.render import Shape, extract

    w = boids.build(agents=10)
    assert w.query(Shape).count() == 10
    assert extract(w, position=Position2D).num_rows == 10
