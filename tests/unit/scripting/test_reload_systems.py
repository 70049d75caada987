"""Hot reload of a module of Numba systems: re-import, recompile, swap in the schedule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from archetype_ecs import World
from archetype_ecs.resources import Time
from scripting.reload import HotReloader, ReloadError
from tests.unit.scripting._components import SHp
from tests.unit.scripting.test_reload import count, last, outcomes, step_until

MODULE = """
from archetype_ecs import njit, system
from tests.unit.scripting._components import SHp


@system(query=[SHp], writes=[SHp])
@njit
def bump(v):
    for i in range(v.shape[0]):
        v[i] += STEP
"""


def module(step: int, extra: str = "") -> str:
    return MODULE.replace("STEP", str(step)) + extra


@pytest.fixture
def world() -> World:
    w = World(seed=0, threads=1)
    w.spawn_batch({SHp: {"v": np.zeros(3, np.int64)}})
    return w


@pytest.fixture
def reloader(world: World) -> Iterator[HotReloader]:
    r = HotReloader(world)
    yield r
    r.close()


def hp(world: World) -> list[int]:
    return sorted(world.query(SHp).to_arrow().column("SHp.v").to_pylist())


def test_numba_system_module_swaps_and_a_broken_one_keeps_the_old(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp_systems.py"
    f.write_text(module(1))
    systems = reloader.watch_systems(f)
    assert [s.name for s in systems] == ["bump"]
    world.step()
    assert hp(world) == [1, 1, 1]

    f.write_text(module(10))
    step_until(world, lambda: count(reloader, f, "reloaded") == 1)
    assert "failed" not in outcomes(reloader, f)
    before = hp(world)[0]
    world.step()
    assert hp(world)[0] == before + 10  # the new kernel runs
    live = world.schedule.system("bump")
    assert live.runs == world.resource(Time).frame  # run state kept by the swap
    # compiled ahead for the running signature: the first run did not add one
    assert len(live.fn.signatures) == 1
    assert "swapped ['bump']" in last(reloader, f, "reloaded").detail

    # a typing error (compile fails): the old kernel keeps running
    f.write_text(module(10).replace("+= 10", "+= undefined_name"))
    step_until(world, lambda: count(reloader, f, "failed") == 1)
    rec = last(reloader, f, "failed")
    assert "undefined_name" in rec.error
    assert rec.line == 10
    before = hp(world)[0]
    world.step()
    assert hp(world)[0] == before + 10

    # an import-time error, with its line
    f.write_text(module(10, "\nraise RuntimeError('boom')\n"))
    step_until(world, lambda: count(reloader, f, "failed") == 2)
    rec = last(reloader, f, "failed")
    assert "boom" in rec.error
    assert rec.line == 12
    before = hp(world)[0]
    world.step()
    assert hp(world)[0] == before + 10


def test_systems_module_adds_new_systems_and_keeps_removed_ones(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "two_systems.py"
    f.write_text(module(1))
    reloader.watch_systems(f)
    world.step()
    extra = (
        "\n\ndef double(ctx):\n"
        "    for _e, hp in ctx.query(SHp):\n"
        "        pass\n\n"
        "double = system(double, reads=[SHp])\n"
    )
    f.write_text(module(1, extra).replace("def bump", "def bump2"))
    step_until(world, lambda: count(reloader, f, "reloaded") == 1)
    assert "failed" not in outcomes(reloader, f)
    detail = last(reloader, f, "reloaded").detail
    assert "added ['bump2', 'double']" in detail
    assert "kept (gone from the file) ['bump']" in detail
    before = hp(world)[0]
    world.step()
    assert hp(world)[0] == before + 2  # bump (kept) and bump2 both run


def test_a_component_declared_in_the_reloaded_module_is_refused(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    src = (
        "from archetype_ecs import component, njit, system, i64\n"
        "@component\nclass ReloadedHp:\n    v: i64 = 0\n"
        "@system(query=[ReloadedHp], writes=[ReloadedHp])\n@njit\n"
        "def grow(v):\n    for i in range(v.shape[0]):\n        v[i] += 1\n"
    )
    f = tmp_path / "own_component.py"
    f.write_text(src)
    reloader.watch_systems(f)
    comp = world.schedule.system("grow").query[0]
    world.spawn_batch({comp: {"v": np.zeros(2, np.int64)}})
    world.step()
    f.write_text(src.replace("+= 1", "+= 2"))
    step_until(world, lambda: count(reloader, f, "failed") == 1)
    assert "move the component declarations" in last(reloader, f, "failed").error


def test_a_module_without_systems_is_refused(
    tmp_path: Path, reloader: HotReloader
) -> None:
    f = tmp_path / "empty.py"
    f.write_text("X = 1\n")
    with pytest.raises(ReloadError, match="module-level systems"):
        reloader.watch_systems(f)
