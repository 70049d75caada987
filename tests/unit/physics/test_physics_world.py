"""Physics systems in a world: integration, bounds, collisions, the spatial grid
resource, determinism across runs and thread counts, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from archetype_ecs import World
from archetype_ecs.physics import (
    Acceleration2D,
    Collider,
    CollisionSettings,
    Contacts,
    Force2D,
    GridError,
    Mass,
    PhysicsError,
    Position2D,
    SpatialGrid,
    Velocity2D,
    WorldBounds,
    add_physics,
    find_contacts,
)
from archetype_ecs.physics._kernels import (
    contacts_reference,
    integrate_reference,
    respond_reference,
)


def _pos(world: World, ents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cols = world.get_batch(ents, Position2D)
    return cols["x"], cols["y"]


def _vel(world: World, ents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cols = world.get_batch(ents, Velocity2D)
    return cols["x"], cols["y"]


def test_integration_over_archetypes_matches_the_reference() -> None:
    rng = np.random.default_rng(0)
    world = World(dt=0.1, threads=1)
    add_physics(world, gravity=(0.0, -9.8))
    n = 20

    def cols() -> dict[str, np.ndarray]:
        return {"x": rng.normal(size=n), "y": rng.normal(size=n)}

    plain = world.spawn_batch({Position2D: cols(), Velocity2D: cols()})
    pushed = world.spawn_batch(
        {
            Position2D: cols(),
            Velocity2D: cols(),
            Force2D: cols(),
            Mass: {"value": rng.uniform(0.5, 2.0, n)},
            Acceleration2D: cols(),
        }
    )
    still = world.spawn_batch(
        {Position2D: cols(), Velocity2D: cols(), Mass: {"value": np.zeros(n)}}
    )
    groups = [(plain, (None,) * 5), (still, (None,) * 4 + ("mass",))]
    groups.append((pushed, ("acc", "acc", "force", "force", "mass")))
    expected = []
    for ents, have in groups:
        x, y = (a.copy() for a in _pos(world, ents))
        vx, vy = (a.copy() for a in _vel(world, ents))
        acc = world.get_batch(ents, Acceleration2D) if "acc" in have else None
        force = world.get_batch(ents, Force2D) if "force" in have else None
        mass = world.get_batch(ents, Mass)["value"] if "mass" in have else None
        for _ in range(3):
            integrate_reference(
                x,
                y,
                vx,
                vy,
                None if acc is None else acc["x"],
                None if acc is None else acc["y"],
                None if force is None else force["x"],
                None if force is None else force["y"],
                mass,
                0.0,
                -9.8,
                0.1,
            )
        expected.append((ents, x, y, vx, vy))
    world.run(3)
    for ents, x, y, vx, vy in expected:
        gx, gy = _pos(world, ents)
        gvx, gvy = _vel(world, ents)
        for a, b in ((gx, x), (gy, y), (gvx, vx), (gvy, vy)):
            assert np.array_equal(a, b)
    # mass 0 is kinematic: velocity unchanged by gravity and forces
    assert np.array_equal(_vel(world, still)[1], expected[1][4])


def test_semi_implicit_euler_uses_the_new_velocity() -> None:
    world = World(dt=0.5)
    add_physics(world, gravity=(0.0, -2.0))
    e = world.spawn(Position2D(0.0, 10.0), Velocity2D(1.0, 0.0))
    world.step()
    assert world.component(e, Velocity2D) == Velocity2D(1.0, -1.0)
    assert world.component(e, Position2D) == Position2D(0.5, 9.5)


@pytest.mark.parametrize(
    ("mode", "pos", "vel"),
    [
        ("wrap", (1.0, 9.0), (3.0, -1.0)),
        ("bounce", (9.0, 1.0), (-3.0, 1.0)),
        ("clamp", (10.0, 0.0), (0.0, 0.0)),
    ],
)
def test_bounds_modes(
    mode: str, pos: tuple[float, float], vel: tuple[float, float]
) -> None:
    world = World(dt=1.0)
    add_physics(world, bounds=WorldBounds(0.0, 0.0, 10.0, 10.0, mode=mode))
    e = world.spawn(Position2D(8.0, 0.0), Velocity2D(3.0, -1.0))
    static = world.spawn(Position2D(-2.5, 12.0))  # no velocity: position only
    world.step()
    assert world.component(e, Position2D) == Position2D(*pos)
    assert world.component(e, Velocity2D) == Velocity2D(*vel)
    p = world.component(static, Position2D)
    assert 0.0 <= p.x <= 10.0
    assert 0.0 <= p.y <= 10.0


def test_bounce_restitution_scales_the_reflected_speed() -> None:
    world = World(dt=1.0)
    add_physics(world, bounds=WorldBounds(0, 0, 10, 10, mode="bounce", restitution=0.5))
    e = world.spawn(Position2D(9.0, 5.0), Velocity2D(2.0, 0.0))
    world.step()
    assert world.component(e, Velocity2D) == Velocity2D(-1.0, 0.0)


def test_head_on_elastic_circles_swap_velocities() -> None:
    world = World(dt=0.1)
    add_physics(world, collisions=CollisionSettings(restitution=1.0))
    a = world.spawn(Position2D(0.0, 0.0), Velocity2D(1.0, 0.0), Collider.circle(0.5))
    b = world.spawn(Position2D(0.95, 0.0), Velocity2D(-1.0, 0.0), Collider.circle(0.5))
    world.step()
    assert world.component(a, Velocity2D).x == pytest.approx(-1.0)
    assert world.component(b, Velocity2D).x == pytest.approx(1.0)
    pa, pb = world.component(a, Position2D), world.component(b, Position2D)
    assert pb.x - pa.x == pytest.approx(1.0)  # separated exactly (percent = 1)
    contacts = world.resource(Contacts)
    assert len(contacts) == 1
    assert (int(contacts.a[0]), int(contacts.b[0])) == (int(a), int(b))


def test_heavy_body_moves_less_and_static_walls_do_not_move() -> None:
    world = World(dt=0.01)
    add_physics(world, collisions=CollisionSettings(restitution=0.0))
    light = world.spawn(Position2D(0.0, 0.0), Velocity2D(), Collider.circle(1.0))
    heavy = world.spawn(
        Position2D(1.5, 0.0), Velocity2D(), Collider.circle(1.0), Mass(3.0)
    )
    wall = world.spawn(Position2D(0.0, -1.5), Collider.box(5.0, 1.0))  # no velocity
    world.step()
    dl = 0.0 - world.component(light, Position2D).x
    dh = world.component(heavy, Position2D).x - 1.5
    assert dl == pytest.approx(3 * dh)
    assert dl + dh == pytest.approx(0.5)
    assert world.component(wall, Position2D) == Position2D(0.0, -1.5)
    # the light circle overlapped the wall (0.5 deep): pushed fully up
    assert world.component(light, Position2D).y == pytest.approx(0.5)


def test_collide_system_equals_the_brute_force_reference() -> None:
    rng = np.random.default_rng(5)
    world = World(dt=0.05, threads=1)
    cfg = CollisionSettings(restitution=0.7, percent=0.8, slop=0.001)
    add_physics(world, collisions=cfg)
    n = 60
    circles = world.spawn_batch(
        {
            Position2D: {"x": rng.uniform(0, 8, n), "y": rng.uniform(0, 8, n)},
            Velocity2D: {"x": rng.normal(size=n), "y": rng.normal(size=n)},
            Collider: {
                "shape": np.zeros(n, np.uint8),
                "radius": rng.uniform(0.1, 0.6, n),
            },
        }
    )
    boxes = world.spawn_batch(
        {
            Position2D: {"x": rng.uniform(0, 8, 20), "y": rng.uniform(0, 8, 20)},
            Velocity2D: {"x": rng.normal(size=20), "y": rng.normal(size=20)},
            Mass: {"value": rng.uniform(1, 3, 20)},
            Collider: {
                "shape": np.ones(20, np.uint8),
                "hx": rng.uniform(0.1, 0.8, 20),
                "hy": rng.uniform(0.1, 0.8, 20),
            },
        }
    )
    ents = np.concatenate([circles, boxes])
    x, y = (
        np.concatenate(a)
        for a in zip(_pos(world, circles), _pos(world, boxes), strict=True)
    )
    vx, vy = (
        np.concatenate(a)
        for a in zip(_vel(world, circles), _vel(world, boxes), strict=True)
    )
    col = {
        k: np.concatenate([world.get_batch(e, Collider)[k] for e in (circles, boxes)])
        for k in ("shape", "radius", "hx", "hy")
    }
    mass = np.concatenate([np.ones(n), world.get_batch(boxes, Mass)["value"]])
    # the reference frame: integrate (no forces), then brute-force contacts + response
    x += vx * 0.05
    y += vy * 0.05
    contacts = contacts_reference(
        x, y, col["shape"], col["radius"], col["hx"], col["hy"]
    )
    assert len(contacts) > 10
    respond_reference(contacts, x, y, vx, vy, 1.0 / mass, 0.7, 0.8, 0.001)
    world.step()
    gx = np.concatenate([_pos(world, circles)[0], _pos(world, boxes)[0]])
    gvy = np.concatenate([_vel(world, circles)[1], _vel(world, boxes)[1]])
    np.testing.assert_allclose(gx, x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gvy, vy, rtol=1e-12, atol=1e-12)
    got = world.resource(Contacts)
    assert [(int(a), int(b)) for a, b in zip(got.a, got.b, strict=True)] == [
        (int(ents[c[0]]), int(ents[c[1]])) for c in contacts
    ]


def _pile(threads: int, *, deterministic: bool = False) -> np.ndarray:
    rng = np.random.default_rng(11)
    world = World(dt=0.02, threads=threads, seed=3, deterministic=deterministic)
    add_physics(
        world,
        gravity=(0.0, -9.8),
        bounds=WorldBounds(0, 0, 20, 20, mode="bounce", restitution=0.8),
        grid_cell_size=1.0,
        collisions=True,
    )
    n = 400
    world.spawn_batch(
        {
            Position2D: {"x": rng.uniform(0, 20, n), "y": rng.uniform(0, 20, n)},
            Velocity2D: {"x": rng.normal(size=n), "y": rng.normal(size=n)},
            Collider: {
                "shape": rng.integers(0, 2, n).astype(np.uint8),
                "radius": np.full(n, 0.4),
                "hx": np.full(n, 0.3),
                "hy": np.full(n, 0.5),
            },
        }
    )
    world.run(25)
    t = world.query(Position2D, Velocity2D).to_arrow()
    return np.stack([t.column(k).to_numpy() for k in t.column_names[1:]])


def test_collisions_are_deterministic_across_runs_and_threads() -> None:
    a = _pile(1)
    b = _pile(1)
    c = _pile(2)
    d = _pile(2, deterministic=True)
    assert np.array_equal(a, b)
    assert np.array_equal(a, c)
    assert np.array_equal(a, d)


def test_spatial_grid_resource_indexes_every_position() -> None:
    world = World()
    add_physics(world, grid_cell_size=2.0, bounds=WorldBounds(0, 0, 10, 10))
    a = world.spawn_batch({Position2D: {"x": [1.0, 2.0], "y": [1.0, 1.0]}})
    b = world.spawn_batch({Position2D: {"x": [9.5], "y": [1.0]}, Velocity2D: None})
    sg = world.resource(SpatialGrid)
    with pytest.raises(PhysicsError, match="has not been built yet"):
        sg.index_of(a)
    world.step()
    assert sg.grid is not None
    assert sg.grid.n == 3
    assert sg.grid.periods == (10.0, 10.0)  # wrap bounds -> periodic grid
    idx = sg.index_of(np.concatenate([a, b]))
    assert sorted(idx.tolist()) == [0, 1, 2]
    assert np.array_equal(sg.entities[idx], np.concatenate([a, b]))
    # wrapped distance: 9.5 is 1.5 away from 1.0
    near = sg.grid.neighbors(1.0, 1.0, 1.6)
    assert sorted(sg.entities[near].tolist()) == sorted(
        [int(a[0]), int(a[1]), int(b[0])]
    )
    # the grid is a snapshot of its build: a new entity in a reused slot is not in it
    world.despawn(int(a[0]))
    fresh = world.spawn(Position2D(5.0, 5.0))
    assert (int(fresh) & 0xFFFFFFFF) == (int(a[0]) & 0xFFFFFFFF)
    assert sg.index_of(np.array([fresh], np.uint64)).tolist() == [-1]
    assert sg.index_of(a[:1]).tolist() == [0]


def test_find_contacts_agrees_on_a_periodic_seam() -> None:
    b = WorldBounds(0, 0, 10, 10)
    found = find_contacts(
        np.array([0.2, 9.9]),
        np.array([5.0, 5.0]),
        np.zeros(2, np.uint8),
        np.array([0.3, 0.3]),
        np.zeros(2),
        np.zeros(2),
        bounds=b,
    )
    assert len(found) == 1
    assert found.nx[0] == -1.0  # from body 0 to body 1 across the seam


def test_bad_settings_are_refused_and_leave_the_world_unchanged() -> None:
    for kwargs, msg in (
        ({"xmin": 0, "ymin": 0, "xmax": 0, "ymax": 1}, "are empty"),
        ({"xmin": 0, "ymin": 0, "xmax": float("nan"), "ymax": 1}, "finite numbers"),
        (
            {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1, "mode": "loop"},
            "unknown mode 'loop'",
        ),
        (
            {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1, "restitution": 2.0},
            "restitution",
        ),
    ):
        with pytest.raises(PhysicsError, match=msg):
            WorldBounds(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(PhysicsError, match="restitution <= 1"):
        CollisionSettings(restitution=-0.1).check()
    with pytest.raises(PhysicsError, match="cell_size must be a finite number > 0"):
        SpatialGrid(0.0)
    world = World()
    with pytest.raises(PhysicsError, match="restitution"):
        add_physics(world, collisions=CollisionSettings(percent=3.0))
    assert not world.schedule.systems
    add_physics(world)
    with pytest.raises(PhysicsError, match="call add_physics once per world"):
        add_physics(world)
    assert issubclass(GridError, PhysicsError)


def test_invalid_collider_is_reported_with_its_index() -> None:
    world = World()
    add_physics(world, collisions=True)
    world.spawn(Position2D(), Velocity2D(), Collider.circle(0.5))
    world.spawn(Position2D(), Velocity2D(), Collider(shape=7))
    with pytest.raises(PhysicsError, match=r"collider 1 is invalid \(shape=7"):
        world.step()
