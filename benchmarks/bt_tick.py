"""bt_tick: one behavior-tree tick over N agents, ns per agent-tick, vs py_trees.

The tree (21 nodes): a reactive Selector over a Guard(enemy_near, Timeout(flee)), a
memory Sequence (hungry, Retry(move_to_food), Repeat(eat)), a memory Sequence (tired,
Cooldown(sleep)), a Parallel (wander, Inverter(enemy_near)) and ForceSuccess(idle).
Actions keep agents RUNNING over several frames; needs drift so every branch is used.

Variants
* ``arrow_ecs``: ``tick_tree`` over all N agents (one generated Numba kernel, the
  default serial loop).
* ``arrow_ecs_prange``: the same with ``parallel_min_rows=1`` (Numba's threads).
* ``py_trees`` (``python -m benchmarks.bt_tick``): the same tree in py_trees 2.x, one
  tree per agent, ticked for a sample of agents and scaled to N (py_trees has no
  Cooldown; a 12-line decorator with the same semantics stands in).

Targets: <= 100 ns per agent-tick at N >= 1e5; >= 300x faster than py_trees.
Run ``python -m benchmarks.bt_tick`` to print both numbers and the ratio in one run.
"""

import sys
import time
from typing import Any, ClassVar

import numpy as np

from benchmarks._runner import PerUnitTarget, Scenario, SkipVariant, Target

PY_TREES_SAMPLE = 2000
WARMUP_FRAMES = 30


def _build() -> Any:
    """The arrow-ecs world pieces (imported lazily, like benchmarks._ecs)."""
    from types import SimpleNamespace

    from archetype_ecs import World, component, f32, njit
    from behaviors.leaves import LeafRegistry, leaf
    from behaviors.nodes import (
        ALL,
        ONE,
        Action,
        Condition,
        Cooldown,
        ForceSuccess,
        Guard,
        Inverter,
        Parallel,
        Repeat,
        Retry,
        Selector,
        Sequence,
        Timeout,
    )
    from behaviors.tree import BehaviorTree

    @component
    class Needs:
        hunger: f32 = 0.0
        energy: f32 = 100.0
        threat: f32 = 0.0
        food_dist: f32 = 5.0
        x: f32 = 0.0

    w = [Needs]

    @leaf("enemy_near", kind="condition", reads=w)
    @njit
    def enemy_near(i, hunger, energy, threat, food, x):  # type: ignore[no-untyped-def]
        return threat[i] > 50.0

    @leaf("flee", kind="action", writes=w)
    @njit
    def flee(i, hunger, energy, threat, food, x):  # type: ignore[no-untyped-def]
        threat[i] -= 7.0
        x[i] -= 1.0
        return 3 if threat[i] > 0.0 else 1

    @leaf("hungry", kind="condition", reads=w)
    @njit
    def hungry(i, hunger, energy, threat, food, x):  # type: ignore[no-untyped-def]
        return hunger[i] > 70.0

    @leaf("move_to_food", kind="action", writes=w)
    @njit
    def move_to_food(i, hunger, energy, threat, food, x):  # type: ignore[no-untyped-def]
        food[i] -= 1.0
        if food[i] <= 0.0:
            food[i] = 5.0
            return 1
        return 3

    @leaf("eat", kind="action", writes=w)
    @njit
    def eat(i, hunger, energy, threat, food, x):  # type: ignore[no-untyped-def]
        hunger[i] -= 20.0
        return 1 if hunger[i] < 10.0 else 3

    @leaf("tired", kind="condition", reads=w)
    @njit
    def tired(i, hunger, energy, threat, food, x):  # type: ignore[no-untyped-def]
        return energy[i] < 20.0

    @leaf("sleep", kind="action", writes=w)
    @njit
    def sleep(i, hunger, energy, threat, food, x):  # type: ignore[no-untyped-def]
        energy[i] += 15.0
        return 1 if energy[i] >= 100.0 else 3

    @leaf("wander", kind="action", writes=w)
    @njit
    def wander(i, hunger, energy, threat, food, x):  # type: ignore[no-untyped-def]
        x[i] += 1.0
        hunger[i] += 1.3
        energy[i] -= 0.9
        threat[i] += 0.5 + (i % 7) * 0.3
        return 1

    @leaf("idle", kind="action", reads=w)
    @njit
    def idle(i, hunger, energy, threat, food, x):  # type: ignore[no-untyped-def]
        return 1

    root = Selector(
        [
            Guard(Condition("enemy_near"), Timeout(Action("flee"), frames=30)),
            Sequence(
                [
                    Condition("hungry"),
                    Retry(Action("move_to_food"), n=3),
                    Repeat(Action("eat"), n=2),
                ],
                memory=True,
            ),
            Sequence([Condition("tired"), Cooldown(Action("sleep"), frames=10)]),
            Parallel(
                [Action("wander"), Inverter(Condition("enemy_near"))],
                success=ALL,
                failure=ONE,
            ),
            ForceSuccess(Action("idle")),
        ],
        memory=False,
    )
    tree = BehaviorTree(root, "bench")
    leaves = (enemy_near, flee, hungry, move_to_food, eat, tired, sleep, wander, idle)

    def world() -> Any:
        wd = World()
        LeafRegistry.of(wd).register(*leaves)
        return wd

    return SimpleNamespace(Needs=Needs, tree=tree, world=world)


class PyAgent:
    """One agent's needs as Python attributes (what a py_trees user would write)."""

    __slots__ = ("energy", "food_dist", "hunger", "i", "threat", "x")

    def __init__(self, i: int) -> None:
        self.i = i
        self.hunger = float(i % 90)
        self.energy = 100.0 - (i % 60)
        self.threat = float(i % 40)
        self.food_dist = 5.0
        self.x = 0.0


def _py_trees_tree(agent: PyAgent) -> Any:
    import py_trees
    from py_trees.common import Status as S

    class Fn(py_trees.behaviour.Behaviour):  # type: ignore[misc] # untyped base
        def __init__(self, name: str, fn: Any) -> None:
            super().__init__(name)
            self.fn = fn

        def update(self) -> Any:
            return self.fn()

    class Cooldown(py_trees.decorators.Decorator):  # type: ignore[misc] # untyped base
        def __init__(self, name: str, child: Any, frames: int) -> None:
            super().__init__(name=name, child=child)
            self.frames, self.ready_at, self.frame = frames, 0, 0

        def tick(self) -> Any:
            self.frame += 1
            if self.status != S.RUNNING and self.frame < self.ready_at:
                self.stop(S.FAILURE)
                yield self
                return
            yield from super().tick()

        def update(self) -> Any:
            if self.decorated.status in (S.SUCCESS, S.FAILURE):
                self.ready_at = self.frame + self.frames
            return self.decorated.status

    a = agent

    def st(ok: object) -> Any:
        return S.SUCCESS if ok else S.FAILURE

    def flee() -> Any:
        a.threat -= 7.0
        a.x -= 1.0
        return S.RUNNING if a.threat > 0 else S.SUCCESS

    def move() -> Any:
        a.food_dist -= 1.0
        if a.food_dist <= 0:
            a.food_dist = 5.0
            return S.SUCCESS
        return S.RUNNING

    def eat() -> Any:
        a.hunger -= 20.0
        return S.SUCCESS if a.hunger < 10 else S.RUNNING

    def sleep() -> Any:
        a.energy += 15.0
        return S.SUCCESS if a.energy >= 100 else S.RUNNING

    def wander() -> Any:
        a.x += 1.0
        a.hunger += 1.3
        a.energy -= 0.9
        a.threat += 0.5 + (a.i % 7) * 0.3
        return S.SUCCESS

    c, d = py_trees.composites, py_trees.decorators
    flee_branch = d.EternalGuard(
        "guard",
        d.Timeout("timeout", Fn("flee", flee), duration=1e9),
        condition=lambda: a.threat > 50,
    )
    hungry = c.Sequence(
        "eat",
        memory=True,
        children=[
            Fn("hungry", lambda: st(a.hunger > 70)),
            d.Retry("retry", Fn("move", move), num_failures=3),
            d.Repeat("repeat", Fn("eat", eat), num_success=2),
        ],
    )
    tired = c.Sequence(
        "sleep",
        memory=True,
        children=[
            Fn("tired", lambda: st(a.energy < 20)),
            Cooldown("cooldown", Fn("sleep", sleep), frames=10),
        ],
    )
    par = c.Parallel(
        "wander",
        policy=py_trees.common.ParallelPolicy.SuccessOnAll(synchronise=True),
        children=[
            Fn("wander", wander),
            d.Inverter("inv", Fn("enemy", lambda: st(a.threat > 50))),
        ],
    )
    idle = d.FailureIsSuccess("force", Fn("idle", lambda: S.SUCCESS))
    return c.Selector(
        "root", memory=False, children=[flee_branch, hungry, tired, par, idle]
    )


def _initial_needs(n: int) -> dict[str, np.ndarray[Any, Any]]:
    i = np.arange(n)
    return {
        "hunger": (i % 90).astype(np.float32),
        "energy": (100 - (i % 60)).astype(np.float32),
        "threat": (i % 40).astype(np.float32),
    }


class BtTick(Scenario):
    params = (10**5, 10**6)
    baseline = None
    unit = "agent-tick"
    targets: ClassVar[dict[str, list[Target]]] = {
        "arrow_ecs": [
            PerUnitTarget(min_n=10**5, max_seconds=100e-9, unit="agent-tick")
        ],
    }
    notes = "21-node tree; py_trees comparison (sample, scaled): python -m benchmarks.bt_tick"

    def setup(self, n: int) -> None:
        try:
            self.ns = _build()
        except ImportError as exc:  # pragma: no cover - partial installs
            raise SkipVariant(f"behaviors unavailable: {exc}") from exc
        from behaviors.tick import add_agents, compiled, tick_tree

        self.world = self.ns.world()
        self.ct = compiled(self.world, self.ns.tree)
        self.ct_par = compiled(self.world, self.ns.tree, parallel_min_rows=1)
        ents = self.world.spawn_batch({self.ns.Needs: _initial_needs(n)})
        add_agents(self.world, self.ct, ents)
        self.frame = 1
        self._tick = tick_tree
        for _ in range(WARMUP_FRAMES):  # compile, and reach a steady mix of branches
            self.time_arrow_ecs(n)

    def time_arrow_ecs(self, n: int) -> None:
        self._tick(self.world, self.ct, self.frame)
        self.frame += 1

    def setup_arrow_ecs_prange(self, n: int) -> None:
        self.time_arrow_ecs_prange(n)  # compile the prange loop

    def time_arrow_ecs_prange(self, n: int) -> None:
        self._tick(self.world, self.ct_par, self.frame)
        self.frame += 1


def py_trees_per_agent_tick(sample: int = PY_TREES_SAMPLE, ticks: int = 20) -> float:
    """Seconds per agent-tick of the same tree in py_trees (one tree per agent)."""
    roots = [_py_trees_tree(PyAgent(i)) for i in range(sample)]
    for r in roots:  # warm up, like the Numba side
        for _ in range(5):
            r.tick_once()
    t0 = time.perf_counter()
    for _ in range(ticks):
        for r in roots:
            r.tick_once()
    return (time.perf_counter() - t0) / (ticks * sample)


def arrow_ecs_per_agent_tick(n: int, ticks: int = 20, *, prange: bool = False) -> float:
    """Seconds per agent-tick of the arrow-ecs tick over ``n`` agents (median)."""
    sc = BtTick()
    sc.setup(n)
    step = sc.time_arrow_ecs_prange if prange else sc.time_arrow_ecs
    step(n)
    times = []
    for _ in range(ticks):
        t0 = time.perf_counter()
        step(n)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / n


def main() -> int:
    """Print ns per agent-tick for arrow-ecs (1e5, 1e6) and py_trees, and the ratio."""
    py = py_trees_per_agent_tick()
    print(
        f"py_trees  (sample {PY_TREES_SAMPLE} agents, scaled): {py * 1e9:10.0f} ns/agent-tick"
    )
    ok = True
    for n in BtTick.params:
        par = arrow_ecs_per_agent_tick(n, prange=True)
        print(f"arrow-ecs N={n:>8} (prange loop): {par * 1e9:10.1f} ns/agent-tick")
        ours = arrow_ecs_per_agent_tick(n)
        ratio = py / ours
        pass_ns = ours <= 100e-9
        pass_ratio = ratio >= 300
        ok &= pass_ns and pass_ratio
        print(
            f"arrow-ecs N={n:>8} (default): {ours * 1e9:10.1f} ns/agent-tick "
            f"[target <=100 ns: {'PASS' if pass_ns else 'MISS'}]; "
            f"{ratio:8.0f}x faster than py_trees [target >=300x: "
            f"{'PASS' if pass_ratio else 'MISS'}]"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
