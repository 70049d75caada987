"""Boltzmann wealth model: conservation, exact agreement with plain-Python runs, determinism."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World, component
from archetype_ecs._random_kernels import _prefix
from archetype_ecs.demos import DEMOS, boltzmann
from archetype_ecs.demos._abm_kernels import (
    draw_below,
    exchange_sequential_kernel,
    exchange_sequential_reference,
    exchange_simultaneous_kernel,
    exchange_simultaneous_reference,
    gini,
)
from archetype_ecs.random import integers, stream_id
from archetype_ecs.runner import ParamError
from archetype_ecs.serialization import load

STREAM = stream_id(boltzmann.STREAM)
MODES = ("sequential", "simultaneous")


@pytest.fixture(autouse=True)
def _wrapping_is_intended() -> Iterator[None]:
    # Under NUMBA_DISABLE_JIT the hash runs on NumPy scalars, which warn on the
    # uint64 wrap-around it relies on.
    with np.errstate(over="ignore"):
        yield


def wealth_of(world: object) -> np.ndarray:
    cols = [v.units for _, v in world.query(boltzmann.Wealth)]  # type: ignore[attr-defined]
    return np.concatenate(cols)


# A plain-Python model written the way Mesa writes it (an agent object per agent,
# a list shuffled in place, random.choice over the list), drawing its random numbers
# from the same counter-based streams instead of Python's `random`.


class MoneyAgent:
    def __init__(self, uid: int, wealth: int) -> None:
        self.uid = uid
        self.wealth = wealth


class MesaStyleModel:
    def __init__(self, n: int, wealth: int, seed: int) -> None:
        self.agents = [MoneyAgent(i, wealth) for i in range(n)]
        # np.uint64: a Python int >= 2**63 would not convert to the int64
        # signature `integers` may already have been compiled for in this process
        self.seed = np.uint64(seed)
        self.tick = 0
        self.transfers = 0

    def choice(self, agent: MoneyAgent) -> MoneyAgent:
        n = len(self.agents)
        return self.agents[
            int(integers(0, n, self.seed, STREAM, agent.uid, self.tick, 1))
        ]

    def step_sequential(self) -> None:
        self.tick += 1
        order = list(self.agents)  # random.shuffle's loop, on the counter streams
        for i in range(len(order) - 1, 0, -1):
            j = int(integers(0, i + 1, self.seed, STREAM, i, self.tick, 0))
            order[i], order[j] = order[j], order[i]
        for agent in order:  # shuffle_do("step")
            if agent.wealth > 0:
                other = self.choice(agent)  # may be the agent itself, as in Mesa
                other.wealth += 1
                agent.wealth -= 1
                self.transfers += 1

    def step_simultaneous(self) -> None:
        self.tick += 1
        givers = [a for a in self.agents if a.wealth > 0]
        receivers = [self.choice(a) for a in givers]
        for a in givers:
            a.wealth -= 1
        for r in receivers:
            r.wealth += 1
        self.transfers += len(givers)

    def wealth(self) -> list[int]:
        return [a.wealth for a in self.agents]


@pytest.mark.parametrize("mode", MODES)
def test_total_wealth_is_conserved_every_frame(mode: str) -> None:
    world = boltzmann.build(seed=11, agents=300, wealth=3, mode=mode)
    for _ in range(15):
        world.step()
        w = wealth_of(world)
        assert int(w.sum()) == 900
        assert (w >= 0).all()
    assert boltzmann.summary(world)["total_wealth"] == 900


@pytest.mark.parametrize("mode", MODES)
def test_run_matches_mesa_style_reference_exactly(mode: str) -> None:
    seed, n = 7, 150
    world = boltzmann.build(seed=seed, agents=n, wealth=2, mode=mode)
    ref = MesaStyleModel(n, 2, seed)
    step = ref.step_sequential if mode == "sequential" else ref.step_simultaneous
    for _ in range(12):
        world.step()
        step()
        assert wealth_of(world).tolist() == ref.wealth()
    assert world.resource(boltzmann.Economy).transfers_total == ref.transfers


def test_sequential_agents_see_transfers_made_earlier_in_the_frame() -> None:
    # Both modes draw the same recipient for an agent, so while everyone holds a
    # unit they agree. Once some agents are broke, a broke agent paid before its
    # turn gives in the sequential step and not in the simultaneous one.
    seq = boltzmann.build(seed=5, agents=64, mode="sequential")
    sim = boltzmann.build(seed=5, agents=64, mode="simultaneous")
    seq.step()
    sim.step()
    assert wealth_of(seq).tolist() == wealth_of(sim).tolist()
    solvent = int((wealth_of(sim) > 0).sum())
    seq.step()
    sim.step()
    assert sim.resource(boltzmann.Economy).transfers == solvent
    assert seq.resource(boltzmann.Economy).transfers > solvent
    assert wealth_of(seq).tolist() != wealth_of(sim).tolist()


@pytest.mark.parametrize("mode", MODES)
def test_same_seed_same_run_across_runs_and_thread_counts(mode: str) -> None:
    runs = []
    for threads in (1, 2, 1):
        world = boltzmann.build(seed=3, threads=threads, agents=500, mode=mode)
        world.run(10)
        runs.append(wealth_of(world).copy())
        world.close()
    assert np.array_equal(runs[0], runs[1])
    assert np.array_equal(runs[0], runs[2])
    other = boltzmann.build(seed=4, agents=500, mode=mode)
    other.run(10)
    assert not np.array_equal(runs[0], wealth_of(other))


@component
class Flagged:
    """A tag that splits the agents over two archetype tables."""


def test_agents_in_several_archetypes_act_as_one_population() -> None:
    world = boltzmann.build(seed=9, agents=120, wealth=2)
    ids = next(iter(world.query(boltzmann.Wealth)))[0].copy()
    world.insert_batch(ids[::3], Flagged)
    assert len(world.archetypes_info()) == 2
    wealth = wealth_of(world).tolist()  # in query order: the order the system sees
    for tick in range(1, 6):
        world.step()
        exchange_sequential_reference(wealth, 9, STREAM, tick)
        assert wealth_of(world).tolist() == wealth
    assert sum(wealth) == 240


wealths = st.lists(st.integers(0, 4), min_size=1, max_size=40)
keys = st.integers(0, 2**63 - 1)


@settings(max_examples=60)
@given(wealths, keys, st.integers(0, 1000))
def test_kernels_equal_their_plain_python_twins(
    start: list[int], seed: int, tick: int
) -> None:
    u = np.uint64
    for kernel, twin in (
        (exchange_sequential_kernel, exchange_sequential_reference),
        (exchange_simultaneous_kernel, exchange_simultaneous_reference),
    ):
        col = np.array(start, dtype=np.int64)
        scratch = np.empty(len(start), dtype=np.int64)
        moved = kernel(col, scratch, u(seed), u(STREAM), u(tick))
        ref = list(start)
        assert moved == twin(ref, seed, STREAM, tick)
        assert col.tolist() == ref
        assert sum(ref) == sum(start)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=60))
def test_gini_equals_the_sorted_formula(values: list[int]) -> None:
    x = np.sort(np.array(values, dtype=np.float64))
    n = x.shape[0]
    expected = (
        0.0
        if x.sum() == 0
        else 2.0 * np.dot(np.arange(1, n + 1), x) / (n * x.sum()) - (n + 1) / n
    )
    assert gini(np.array(values)) == pytest.approx(expected, abs=1e-12)


def test_summary_and_status_report_the_distribution() -> None:
    world = boltzmann.build(seed=1, agents=1000)
    assert boltzmann.summary(world)["gini"] == 0.0
    world.run(30)
    s = boltzmann.summary(world)
    assert s["agents"] == 1000
    assert s["total_wealth"] == 1000
    assert 0.4 < s["gini"] < 0.8  # the exponential (Boltzmann-Gibbs) law gives ~0.5+
    assert 0.0 < s["zero_wealth_share"] < 1.0
    assert s["top10_share"] > 0.1
    assert s["gini"] == pytest.approx(gini(wealth_of(world)))
    assert boltzmann.status(world).startswith("gini 0.")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"agent": 10}, "unknown parameter 'agent' \\(did you mean 'agents'\\?\\)"),
        ({"agents": "many"}, "agents"),
        ({"agents": 0}, "agents must be >= 1, got 0"),
        ({"wealth": -1}, "wealth must be >= 0, got -1"),
        ({"mode": "parallel"}, "mode must be one of 'sequential', 'simultaneous'"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_built(
    params: dict[str, object], match: str
) -> None:
    with pytest.raises(ParamError, match=match):
        boltzmann.build(**params)


def test_registered_as_a_gallery_model() -> None:
    assert DEMOS["boltzmann"] == "archetype_ecs.demos.boltzmann"
    assert [boltzmann.Wealth] == boltzmann.RECORD
    assert set(boltzmann.PARAMS) == {"agents", "wealth", "mode"}


def test_a_saved_run_continues_exactly_after_load(tmp_path: Path) -> None:
    world = boltzmann.build(seed=21, agents=300, wealth=2)
    world.run(5)
    world.save(tmp_path / "save")
    world.run(5)
    resumed = World()
    resumed.add_system(boltzmann.exchange)
    load(
        tmp_path / "save",
        resumed,
        components=[boltzmann.Wealth],
        resources=[boltzmann.Economy],
    )
    assert resumed.resource(boltzmann.Economy).transfers_total > 0
    resumed.run(5)
    assert wealth_of(resumed).tolist() == wealth_of(world).tolist()
    assert (
        resumed.resource(boltzmann.Economy).transfers_total
        == world.resource(boltzmann.Economy).transfers_total
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_larger_run_matches_mesa_style_reference_exactly(mode: str) -> None:
    seed, n = 2**63 + 5, 5_000  # a seed above 2**63 too
    world = boltzmann.build(seed=seed, agents=n, mode=mode)
    ref = MesaStyleModel(n, 1, seed)
    step = ref.step_sequential if mode == "sequential" else ref.step_simultaneous
    for _ in range(8):
        world.step()
        step()
    assert wealth_of(world).tolist() == ref.wealth()


@given(
    keys, keys, st.integers(0, 2**40), st.integers(0, 3), keys, st.integers(1, 2**40)
)
def test_hoisted_draw_equals_the_public_integers(
    seed: int, stream: int, tick: int, counter: int, key: int, span: int
) -> None:
    u = np.uint64
    prefix = u(_prefix(u(seed), u(stream), u(tick), u(counter)))
    assert draw_below(prefix, key, span) == integers(
        0, span, u(seed), u(stream), u(key), u(tick), u(counter)
    )
