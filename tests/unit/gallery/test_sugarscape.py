"""Sugarscape (G-infinity, M): exact agreement with a plain-Python run, invariants, determinism."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World, component
from archetype_ecs.demos import DEMOS, sugarscape
from archetype_ecs.demos._abm_kernels import forage_reference
from archetype_ecs.errors import EcsError
from archetype_ecs.random import Rng, stream_id
from archetype_ecs.runner import ParamError
from archetype_ecs.serialization import load

STREAM = stream_id(sugarscape.STREAM)


@pytest.fixture(autouse=True)
def _wrapping_is_intended() -> Iterator[None]:
    # Under NUMBA_DISABLE_JIT the hash runs on NumPy scalars, which warn on the
    # uint64 wrap-around it relies on.
    with np.errstate(over="ignore"):
        yield


def agents_of(world: World) -> dict[int, list[int]]:
    """``{entity: [x, y, sugar, metabolism, vision]}`` of the live agents."""
    out: dict[int, list[int]] = {}
    for ents, loc, sug, tr in world.query(
        sugarscape.Location, sugarscape.Sugar, sugarscape.Traits
    ):
        for i, e in enumerate(ents.tolist()):
            out[e] = [
                int(loc.x[i]),
                int(loc.y[i]),
                int(sug.amount[i]),
                int(tr.metabolism[i]),
                int(tr.vision[i]),
            ]
    return out


def run_against_reference(world: World, frames: int, *, torus: bool) -> None:
    land = world.resource(sugarscape.Landscape)
    capacity = land.capacity.tolist()
    level = land.level.tolist()
    ref = agents_of(world)
    seed = world.resource(Rng).seed
    for tick in range(1, frames + 1):
        world.step()
        dead = forage_reference(
            ref, level, capacity, torus=torus, seed=seed, stream=STREAM, tick=tick
        )
        assert agents_of(world) == ref, f"agents differ after frame {tick}"
        assert land.level.tolist() == level, f"landscape differs after frame {tick}"
        assert land.deaths == len(dead)


def build(seed: int, **params: Any) -> World:
    return sugarscape.build(seed=seed, **params)


@pytest.mark.parametrize("torus", [False, True])
def test_first_frames_match_plain_python_reference(torus: bool) -> None:
    world = build(5, agents=90, width=16, height=16, torus=torus, vision_max=5)
    run_against_reference(world, 15, torus=torus)
    assert world.resource(sugarscape.Landscape).deaths_total > 0  # deaths exercised


@settings(max_examples=12)
@given(
    seed=st.integers(0, 2**32),
    agents=st.integers(0, 40),
    size=st.integers(7, 12),
    torus=st.booleans(),
)
def test_random_small_worlds_match_the_reference(
    seed: int, agents: int, size: int, torus: bool
) -> None:
    world = build(
        seed,
        agents=agents,
        width=size,
        height=size,
        torus=torus,
        vision_max=3,
        endowment_min=1,
        endowment_max=8,
    )
    run_against_reference(world, 4, torus=torus)


def test_rules_hold_every_frame() -> None:
    world = build(2, agents=150, width=20, height=20)
    land = world.resource(sugarscape.Landscape)
    for _ in range(25):
        before = len(world)
        world.step()
        agents = agents_of(world)
        cells = [(a[0], a[1]) for a in agents.values()]
        assert len(set(cells)) == len(cells)  # at most one agent per cell
        assert all(a[2] > 0 for a in agents.values())  # the starved are gone
        assert len(agents) == before - land.deaths
        harvested = land.level != land.capacity  # G-infinity: only this frame's meals
        assert int(harvested.sum()) <= before
        for x, y in cells:
            assert land.level[y, x] == 0
    s = sugarscape.summary(world)
    assert s["agents"] + s["deaths_total"] == 150
    assert land.population[-1] == s["agents"]


@component
class Marked:
    """A tag that splits the agents over two archetype tables."""


def test_agents_in_several_archetypes_give_the_same_run() -> None:
    # The activation order is keyed by entity id, so moving half the agents to
    # another table changes nothing.
    plain = build(8, agents=80, width=15, height=15)
    split = build(8, agents=80, width=15, height=15)
    ids = next(iter(split.query(sugarscape.Location)))[0].copy()
    split.insert_batch(ids[::2], Marked)
    assert len(split.archetypes_info()) == 2
    for _ in range(10):
        plain.step()
        split.step()
        assert agents_of(plain) == agents_of(split)


def test_same_seed_same_run_across_runs_and_thread_counts() -> None:
    finals = []
    for threads in (1, 2, 1):
        world = sugarscape.build(seed=4, threads=threads, agents=200)
        world.run(20)
        finals.append((agents_of(world), sugarscape.summary(world)))
        world.close()
    assert finals[0] == finals[1] == finals[2]
    other = sugarscape.build(seed=5, agents=200)
    other.run(20)
    assert agents_of(other) != finals[0][0]


def test_landscape_has_two_peaks() -> None:
    cap = sugarscape.two_peaks(50, 50)
    assert cap[15, 35] == 4  # (row, column): near the peak at 70% / 30%
    assert cap[35, 15] == 4
    assert cap[0, 0] == 0
    assert cap[49, 49] == 0
    assert set(np.unique(cap).tolist()) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"agent": 10}, "unknown parameter 'agent'"),
        ({"width": 2.5}, "width"),
        ({"agents": 26, "width": 5, "height": 5}, "agents must be in \\[0, width"),
        ({"vision_min": 4, "vision_max": 2}, "need 0 <= vision_min <= vision_max"),
        ({"endowment_min": 0}, "need 1 <= endowment_min"),
        ({"torus": True, "vision_max": 25}, "on a torus vision_max must be < "),
        ({"width": 0}, "width and height must be >= 1"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_built(
    params: dict[str, object], match: str
) -> None:
    with pytest.raises(ParamError, match=match):
        sugarscape.build(**params)


def test_registered_as_a_gallery_model() -> None:
    assert DEMOS["sugarscape"] == "archetype_ecs.demos.sugarscape"
    world = sugarscape.build(seed=1)
    world.step()
    assert sugarscape.status(world).endswith("died")
    assert [sugarscape.Location, sugarscape.Sugar] == sugarscape.RECORD


def test_a_saved_run_continues_exactly_after_load(tmp_path: Path) -> None:
    world = sugarscape.build(seed=6, agents=120, width=20, height=20)
    world.run(5)
    world.save(tmp_path / "save")
    world.run(5)
    resumed = World()
    resumed.add_system(sugarscape.forage)
    load(
        tmp_path / "save",
        resumed,
        components=[sugarscape.Location, sugarscape.Sugar, sugarscape.Traits],
        resources=[sugarscape.Landscape],
    )
    resumed.run(5)
    assert agents_of(resumed) == agents_of(world)
    a, b = resumed.resource(sugarscape.Landscape), world.resource(sugarscape.Landscape)
    assert a.population == b.population
    assert np.array_equal(a.level, b.level)


@pytest.mark.slow
@settings(max_examples=100)
@given(
    seed=st.integers(0, 2**63 - 1),
    agents=st.integers(0, 300),
    width=st.integers(8, 30),
    height=st.integers(8, 30),
    torus=st.booleans(),
    vision_max=st.integers(0, 3),
)
def test_many_random_worlds_match_the_reference_for_ten_frames(
    seed: int,
    agents: int,
    width: int,
    height: int,
    torus: bool,
    vision_max: int,
) -> None:
    world = build(
        seed,
        agents=min(agents, width * height),
        width=width,
        height=height,
        torus=torus,
        vision_min=0,
        vision_max=vision_max,
        metabolism_min=0,
        endowment_min=1,
        endowment_max=6,
    )
    run_against_reference(world, 10, torus=torus)


def test_an_agent_off_the_grid_is_refused_before_anything_moves() -> None:
    world = build(3, agents=30, width=10, height=10)
    ids = next(iter(world.query(sugarscape.Location)))[0]
    world.set(int(ids[4]), sugarscape.Location(12, 3))
    before = agents_of(world)
    level = world.resource(sugarscape.Landscape).level.copy()
    with pytest.raises(EcsError, match=r"stands at x=12, y=3, outside the 10 x 10"):
        world.step()
    assert agents_of(world) == before
    assert np.array_equal(world.resource(sugarscape.Landscape).level, level)


def test_two_agents_on_one_cell_are_refused_before_anything_moves() -> None:
    world = build(3, agents=30, width=10, height=10)
    ids = next(iter(world.query(sugarscape.Location)))[0]
    taken = world.component(int(ids[0]), sugarscape.Location)
    world.set(int(ids[7]), sugarscape.Location(taken.x, taken.y))
    before = agents_of(world)
    level = world.resource(sugarscape.Landscape).level.copy()
    with pytest.raises(EcsError, match="which another agent already holds"):
        world.step()
    assert agents_of(world) == before
    assert np.array_equal(world.resource(sugarscape.Landscape).level, level)


def test_the_landscape_grows_back_after_the_last_agent_dies() -> None:
    """Regression (found by the slow-tier reference run): with no agent left, the
    forage system still applies G-infinity growback, like the reference."""
    world = sugarscape.build(seed=3, agents=4, width=6, height=6)
    land = world.resource(sugarscape.Landscape)
    world.despawn_batch(
        world.query(sugarscape.Location).to_arrow().column(0).to_numpy()
    )
    land.level[:] = 0
    world.step()
    assert land.level.tolist() == land.capacity.tolist()
    assert land.population[-1] == 0
