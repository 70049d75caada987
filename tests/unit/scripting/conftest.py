"""Shared fixtures: a world with positions and velocities, and its script engine."""

from __future__ import annotations

import numpy as np
import pytest

from archetype_ecs import World
from scripting import LuaLimits, ScriptEngine
from tests.unit.scripting._components import SFrozen, SHp, SPos, SVel


@pytest.fixture
def world() -> World:
    w = World(seed=0)
    w.spawn_batch(
        {SPos: {"x": np.arange(4.0), "y": np.zeros(4)}, SVel: {"dx": np.ones(4)}}
    )
    return w


@pytest.fixture
def engine(world: World) -> ScriptEngine:
    return ScriptEngine(
        world,
        components=[SPos, SVel, SHp, SFrozen],
        limits=LuaLimits(instructions=2_000_000),
    )
