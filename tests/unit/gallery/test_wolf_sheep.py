"""Wolf-sheep: exact agreement with the plain-Python reference, determinism, Lua permissions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World
from archetype_ecs.demos import DEMOS, wolf_sheep
from archetype_ecs.demos.wolf_sheep import (
    Energy,
    Grass,
    ReferenceWolfSheep,
    animal_state,
    build,
    populations,
)
from archetype_ecs.runner import ParamError, run_model
from archetype_ecs.serialization import load
from scripting import PermissionDenied, ScriptEngine

# Small worlds for the many-example tests; the default Mesa sizes elsewhere.
SMALL = {"width": 8, "height": 6, "initial_sheep": 30, "initial_wolves": 6}
# A fertile setting where both species survive the first frames in numbers.
LIVELY = {
    "width": 24,
    "height": 24,
    "initial_sheep": 300,
    "initial_wolves": 40,
    "sheep_reproduce": 0.15,
    "wolf_reproduce": 0.08,
    "grass_regrowth_time": 10,
}


@pytest.fixture(autouse=True)
def _wrapping_is_intended() -> Iterator[None]:
    # Under NUMBA_DISABLE_JIT the counter-based hash runs on NumPy scalars, which
    # warn on the uint64 wrap-around it relies on.
    with np.errstate(over="ignore"):
        yield


def grass_state(world: World) -> tuple[list[bool], list[int]]:
    """Grown flags and regrowth frames per cell (index y * width + x)."""
    t = world.query(wolf_sheep.Cell, Grass).to_arrow()
    w = world.resource(wolf_sheep.Pasture).width
    cell = np.asarray(t.column("Cell.y")) * w + np.asarray(t.column("Cell.x"))
    order = np.argsort(cell)
    grown = np.asarray(t.column("Grass.fully_grown"))[order]
    left = np.asarray(t.column("Grass.regrow_at"))[order]
    return grown.tolist(), left.tolist()


def full_state(world: World) -> dict[str, Any]:
    grown, left = grass_state(world)
    return {**animal_state(world), "grown": grown, "regrow_at": left}


def assert_matches(world: World, ref: ReferenceWolfSheep, frame: int) -> None:
    assert populations(world) == ref.populations(), f"populations at frame {frame}"
    assert animal_state(world) == ref.state(), f"animals at frame {frame}"
    assert grass_state(world) == (ref.grown, ref.regrow_at), f"grass at frame {frame}"


@pytest.mark.parametrize(
    ("seed", "params", "frames"),
    [(1, {}, 40), (7, {}, 40), (3, LIVELY, 25)],
    ids=["mesa-defaults-seed1", "mesa-defaults-seed7", "lively"],
)
def test_populations_match_the_reference_frame_by_frame(
    seed: int, params: dict[str, Any], frames: int
) -> None:
    world = build(seed=seed, threads=2, **params)
    ref = ReferenceWolfSheep(seed=seed, **params)
    assert_matches(world, ref, 0)
    census = []
    for frame in range(1, frames + 1):
        world.step()
        ref.step()
        assert_matches(world, ref, frame)
        census.append(ref.populations())
    # The runs are not trivial: both species live, die and are born, grass is
    # eaten and regrows.
    sheep, wolves, grass = (np.array(c) for c in zip(*census, strict=True))
    assert sheep.max() > 0
    assert wolves.max() > 0
    assert (np.diff(grass) > 0).any()
    assert (np.diff(grass) < 0).any()
    assert ref.next_uid > (
        params.get("initial_sheep", 100) + params.get("initial_wolves", 50)
    )
    census_res = world.resource(wolf_sheep.Census)
    assert (
        list(zip(census_res.sheep, census_res.wolves, census_res.grass, strict=True))
        == census
    )
    world.close()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**63 - 1),
    width=st.integers(3, 9),
    height=st.integers(3, 9),
    sheep=st.integers(0, 40),
    wolves=st.integers(0, 12),
    p_sheep=st.sampled_from([0.0, 0.04, 0.3, 1.0]),
    p_wolf=st.sampled_from([0.0, 0.05, 0.5]),
    regrowth=st.integers(1, 8),
    gains=st.tuples(
        st.sampled_from([0.0, 1.5, 4.0]), st.sampled_from([0.0, 2.0, 20.0])
    ),
)
def test_any_parameters_match_the_reference(
    seed: int,
    width: int,
    height: int,
    sheep: int,
    wolves: int,
    p_sheep: float,
    p_wolf: float,
    regrowth: int,
    gains: tuple[float, float],
) -> None:
    params = {
        "width": width,
        "height": height,
        "initial_sheep": sheep,
        "initial_wolves": wolves,
        "sheep_reproduce": p_sheep,
        "wolf_reproduce": p_wolf,
        "grass_regrowth_time": regrowth,
        "sheep_gain_from_food": gains[0],
        "wolf_gain_from_food": gains[1],
    }
    world = build(seed=seed, threads=1, **params)
    ref = ReferenceWolfSheep(seed=seed, **params)
    for frame in range(1, 9):
        world.step()
        ref.step()
        assert_matches(world, ref, frame)
    world.close()


def run_state(seed: int, threads: int, frames: int, **params: Any) -> dict[str, Any]:
    world = build(seed=seed, threads=threads, **params)
    world.run(frames)
    out = full_state(world)
    world.close()
    return out


def test_deterministic_across_runs_and_thread_counts() -> None:
    first = run_state(11, 1, 20, **LIVELY)
    assert first == run_state(11, 1, 20, **LIVELY)
    assert first == run_state(11, 2, 20, **LIVELY)
    assert first == run_state(11, 4, 20, **LIVELY)
    assert first != run_state(12, 1, 20, **LIVELY)


def test_grazed_patch_is_bare_for_regrowth_time_frames() -> None:
    # Mesa: a patch eaten during step t regrows at the end of step t + regrowth_time.
    world = build(
        seed=0,
        initial_sheep=1,
        initial_wolves=0,
        sheep_gain_from_food=50.0,
        grass_regrowth_time=3,
    )
    for _, grass in world.query(Grass):
        grass.fully_grown[:] = True
        grass.regrow_at[:] = 0
    world.step()  # the sheep steps onto a grown patch and eats it
    grown = np.array(grass_state(world)[0])
    assert (~grown).sum() == 1
    eaten = int(np.flatnonzero(~grown)[0])
    history = []
    for _ in range(3):
        world.step()
        history.append(grass_state(world)[0][eaten])
    assert history == [False, False, True]


def test_the_grass_rule_is_a_lua_system_with_declared_permissions() -> None:
    world = build(seed=0, **SMALL)
    engine = world.resource(ScriptEngine)
    script = engine.scripts["grass.lua"]
    assert script.language == "lua"
    assert script.perms.writes == ("Grass",)
    assert not script.perms.spawn
    assert not script.perms.despawn
    world.run(3)
    report = {r["name"]: r for r in engine.report()}["grass.lua"]
    assert report["calls"] == 3
    assert report["failures"] == 0, report["last_error"]


SNEAKY = wolf_sheep.GRASS_LUA.replace(
    "  if k > 0 then\n",
    '  ecs.set_batch(b.entity, "Energy", {value = 100})\n  if k > 0 then\n',
)


def test_a_grass_rule_writing_an_undeclared_component_is_refused() -> None:
    assert SNEAKY != wolf_sheep.GRASS_LUA
    world = build(seed=5, **SMALL)
    engine = world.resource(ScriptEngine)
    # The variant replaces the real rule: same header (writes Grass only).
    script = engine.load(SNEAKY, name="grass.lua")
    assert script.perms.writes == ("Grass",)
    ref = ReferenceWolfSheep(seed=5, **SMALL)
    before_grass = grass_state(world)
    world.step()
    ref.step()
    report = {r["name"]: r for r in engine.report()}["grass.lua"]
    assert report["refusals"] == 1
    assert report["failures"] == 1
    assert "permission denied" in report["last_error"]
    assert "writes: Energy" in report["last_error"]
    # The refused call recorded nothing: no energy is 100, and the grass did not
    # follow the rule this frame (its commands were discarded with the call).
    energies = np.concatenate([e.value for _, e in world.query(Energy)])
    assert not (energies == 100).any()
    assert animal_state(world) == ref.state()
    assert grass_state(world)[1] == before_grass[1]
    assert grass_state(world) != (ref.grown, ref.regrow_at)


def test_a_grass_rule_cannot_widen_its_query_beyond_the_header() -> None:
    world = build(seed=5, **SMALL)
    engine = world.resource(ScriptEngine)
    with pytest.raises(
        PermissionDenied, match=r"query\(Energy\) needs 'reads: Energy'"
    ):
        engine.system("grass.lua", query=[Grass, Energy], name="peek")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"initial_sheeps": 3}, "did you mean 'initial_sheep'"),
        ({"width": 2.5}, "width"),
        ({"width": 2}, "width must be at least 3"),
        ({"sheep_reproduce": 1.5}, r"sheep_reproduce is a probability in \[0, 1\]"),
        ({"initial_wolves": -1}, "initial_wolves must be >= 0"),
        ({"grass_regrowth_time": 0}, "grass_regrowth_time must be >= 1"),
        ({"wolf_gain_from_food": float("inf")}, "wolf_gain_from_food must be finite"),
    ],
)
def test_bad_parameters_are_refused_before_building(
    params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ParamError, match=message):
        build(seed=0, **params)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.0, True])
def test_bad_seed_is_refused(seed: Any) -> None:
    with pytest.raises(ParamError, match="seed must be an int"):
        build(seed=seed)


def test_registered_demo_runs_through_the_model_protocol() -> None:
    assert DEMOS["wolf_sheep"] == "archetype_ecs.demos.wolf_sheep"
    out = run_model(
        "archetype_ecs.demos.wolf_sheep",
        frames=5,
        seed=3,
        params={"width": "10", "height": "10"},
        progress=False,
    )
    ref = ReferenceWolfSheep(seed=3, width=10, height=10)
    for _ in range(5):
        ref.step()
    assert (out["sheep"], out["wolves"], out["grass"]) == ref.populations()
    assert out["frame"] == 5


def test_status_and_summary_figures() -> None:
    world = build(seed=2, **SMALL)
    world.run(3)
    sheep, wolves, grass = populations(world)
    assert (
        wolf_sheep.status(world)
        == f"{sheep} sheep, {wolves} wolves, {grass} grown patches"
    )
    s = wolf_sheep.summary(world)
    assert (s["sheep"], s["wolves"], s["grass"], s["frame"]) == (
        sheep,
        wolves,
        grass,
        3,
    )
    census = world.resource(wolf_sheep.Census)
    assert s["sheep_max"] == max(census.sheep)
    assert s["wolves_min"] == min(census.wolves)
    world.close()


cells_keys = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 3)), min_size=0, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(rows=cells_keys)
def test_first_per_cell_picks_the_smallest_key_then_uid(
    rows: list[tuple[int, int]],
) -> None:
    cells = np.array([c for c, _ in rows], dtype=np.int64)
    keys = np.array([k for _, k in rows], dtype=np.uint64)  # small: many ties
    uids = np.arange(len(rows), dtype=np.int64)[::-1].copy()
    got = wolf_sheep._first_per_cell(cells, keys, uids)
    best: dict[int, tuple[int, int, int]] = {}
    for i, (c, k) in enumerate(rows):
        cand = (k, int(uids[i]), i)
        if c not in best or cand < best[c]:
            best[c] = cand
    assert sorted(got.tolist()) == sorted(i for _, _, i in best.values())


@settings(max_examples=60, deadline=None)
@given(rows=cells_keys)
def test_ranks_in_cell_count_from_zero_in_key_order(
    rows: list[tuple[int, int]],
) -> None:
    cells = np.array([c for c, _ in rows], dtype=np.int64)
    keys = np.array([k for _, k in rows], dtype=np.uint64)
    uids = np.arange(len(rows), dtype=np.int64)
    order, rank = wolf_sheep._ranks_in_cell(cells, keys, uids)
    expected = sorted(range(len(rows)), key=lambda i: (rows[i][0], rows[i][1], i))
    assert order.tolist() == expected
    seen: dict[int, int] = {}
    for i, r in zip(order.tolist(), rank.tolist(), strict=True):
        assert r == seen.get(rows[i][0], 0)
        seen[rows[i][0]] = r + 1


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "params"), [(2, {}), (4, LIVELY)])
def test_long_runs_match_the_reference_through_extinction(
    seed: int, params: dict[str, Any]
) -> None:
    # 150 frames: with Mesa's defaults the sheep, then the wolves die out, and the
    # grass covers the grid again (empty species tables on every path).
    world = build(seed=seed, threads=2, **params)
    ref = ReferenceWolfSheep(seed=seed, **params)
    for frame in range(1, 151):
        world.step()
        ref.step()
        assert populations(world) == ref.populations(), f"frame {frame}"
    assert_matches(world, ref, 150)
    world.close()


def test_render_draws_grass_soil_sheep_and_wolves() -> None:
    render = pytest.importorskip("archetype_ecs.render")
    world = build(seed=4, width=12, height=9, initial_sheep=15, initial_wolves=6)
    world.run(3)
    px = 10  # pixels per cell
    r = render.Renderer(
        **{
            **wolf_sheep.RENDER,
            "width": 12 * px,
            "height": 9 * px,
            "bounds": (0, 0, 12, 9),
        }
    )
    frame = np.asarray(r.render(world))
    grown, _ = grass_state(world)

    def centre(x: int, y: int) -> list[int]:
        return frame[(9 - y) * px - px // 2, x * px + px // 2].tolist()

    st_ = animal_state(world)
    wolves = {
        (x, y) for x, y, w in zip(st_["x"], st_["y"], st_["wolf"], strict=True) if w
    }
    sheep = {
        (x, y) for x, y, w in zip(st_["x"], st_["y"], st_["wolf"], strict=True) if not w
    }
    for c, is_grown in enumerate(grown):
        x, y = c % 12, c // 12
        if (x, y) in wolves:
            expected = [*wolf_sheep.LOOKS["wolf"][2]]
        elif (x, y) in sheep:
            expected = [*wolf_sheep.LOOKS["sheep"][2]]
        else:
            expected = [
                *(wolf_sheep.LOOKS["grass"][2] if is_grown else wolf_sheep.BARE)
            ]
        assert centre(x, y) == expected, (x, y)
    assert wolves
    assert sheep
    assert any(grown)
    assert not all(grown)


def test_a_saved_world_keeps_the_animals_grass_and_pasture(tmp_path: Any) -> None:
    world = build(seed=6, **SMALL)
    world.run(4)
    before = full_state(world)
    world.save(tmp_path / "save")
    classes = [s.cls for s in world.components.schemas]
    result = load(
        tmp_path / "save",
        components=classes,
        resources=[wolf_sheep.Pasture, wolf_sheep.Census],
    )
    assert full_state(result.world) == before
    assert result.world.resource(wolf_sheep.Pasture) == world.resource(
        wolf_sheep.Pasture
    )
    assert result.world.resource(wolf_sheep.Census) == world.resource(wolf_sheep.Census)
    world.close()
