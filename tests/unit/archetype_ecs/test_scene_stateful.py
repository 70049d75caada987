"""SceneManager against a plain model: random load / unload / switch requests, applied
at frame ends or by flush, must leave exactly the scenes the model says are loaded.

The model keeps the request queue as a list and applies it with the documented rules:
requests apply in order at the sync point; ``switch`` queues an unload of the scene
last switched to (unless already unloaded or queued) before its load; ``unload``
names a loaded or queued scene.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from archetype_ecs import EntityRef, World, component, f32
from archetype_ecs.hierarchy import hierarchy, set_parent
from archetype_ecs.scene import Scene, SceneInstance, save_scene, scenes

pytestmark = pytest.mark.hypothesis


@component
class Mass:
    value: f32 = 1.0


@component
class Ref:
    to: EntityRef = 0


def _scene() -> Scene:
    src = World(threads=1)
    root = src.spawn(Mass(5.0))
    kids = src.spawn_batch({Mass: {"value": [1.0, 2.0]}, Ref: None})
    set_parent(src, kids, root)
    src.set(kids[0], Ref(to=kids[1]))
    folder = Path(tempfile.mkdtemp(prefix="scene-stateful-"))
    save_scene(src, root, folder)
    return Scene.open(folder, components=[Mass, Ref])


SCENE = _scene()
SIZE = len(SCENE)


class SceneMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(threads=1)
        self.mgr = scenes(self.world)
        self.insts: list[SceneInstance] = []
        self.state: list[str] = []  # model state per instance
        self.queue: list[tuple[str, int]] = []
        self.current: int | None = None  # model: applied current
        self.head: int | None = None  # model: current once the queue applies

    def _live(self) -> list[int]:
        dropping = {i for op, i in self.queue if op == "unload"}
        loaded = [i for i, s in enumerate(self.state) if s == "loaded"]
        queued = [i for op, i in self.queue if op in ("load", "switch")]
        return [i for i in dict.fromkeys(loaded + queued) if i not in dropping]

    @rule(n=st.integers(0, 3))
    def load(self, n: int) -> None:
        note(f"load n={n}")
        self.insts.append(self.mgr.load(SCENE, n, name=f"s{len(self.insts)}"))
        self.state.append("pending")
        self.queue.append(("load", len(self.insts) - 1))

    @rule(n=st.integers(0, 3))
    def switch(self, n: int) -> None:
        note(f"switch n={n}")
        self.insts.append(self.mgr.switch(SCENE, n, name=f"s{len(self.insts)}"))
        self.state.append("pending")
        k = len(self.insts) - 1
        prev = self.head
        if (
            prev is not None
            and self.state[prev] != "unloaded"
            and ("unload", prev) not in self.queue
        ):
            self.queue.append(("unload", prev))
        self.queue.append(("switch", k))
        self.head = k

    @precondition(lambda self: bool(self._live()))
    @rule(data=st.data())
    def unload(self, data: st.DataObject) -> None:
        k = data.draw(st.sampled_from(self._live()))
        note(f"unload s{k}")
        self.mgr.unload(self.insts[k])
        self.queue.append(("unload", k))

    def _apply(self) -> None:
        for op, k in self.queue:
            if op == "unload":
                self.state[k] = "unloaded"
                if self.current == k:
                    self.current = None
                if self.head == k:
                    self.head = None
            else:
                self.state[k] = "loaded"
                if op == "switch":
                    self.current = k
        self.queue = []

    @rule()
    def step(self) -> None:
        note("step")
        self.world.step()
        self._apply()

    @rule()
    def flush(self) -> None:
        note("flush")
        assert self.mgr.flush() == len(self.queue)
        self._apply()

    @invariant()
    def matches_the_model(self) -> None:
        assert [i.state for i in self.insts] == self.state
        assert self.mgr.pending == len(self.queue)
        want = None if self.current is None else self.insts[self.current]
        assert self.mgr.current is want
        loaded = [k for k, s in enumerate(self.state) if s == "loaded"]
        assert [i.name for i in self.mgr.loaded] == [self.insts[k].name for k in loaded]
        assert len(self.world) == SIZE * sum(self.insts[k].n for k in loaded)

    @invariant()
    def loaded_copies_are_whole(self) -> None:
        h = hierarchy(self.world)
        for inst in self.mgr.loaded:
            assert len(inst.roots) == inst.n
            if not inst.n:
                continue
            assert self.world.is_alive_batch(inst.roots).all()
            offsets, kids = h.children_of(inst.roots)
            assert np.diff(offsets).tolist() == [2] * inst.n
            refs = self.world.get_batch(kids, Ref)["to"]
            assert np.isin(refs[refs != 0], kids).all()


SceneMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=20)
test_scene_manager_matches_the_model = SceneMachine.TestCase
