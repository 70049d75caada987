"""wolf_sheep: the first steps of wolf-sheep predation vs Mesa 3.3's own example model.

N is the initial number of sheep; there are N / 2 wolves and the grid keeps Mesa's
default density (100 sheep and 50 wolves on 20 x 20): ``side = round(20 * sqrt(N /
100))``, so N = 100, 1,000 and 10,000 are the default, 10x and 100x models (20 x 20,
63 x 63 and 200 x 200 grass patches).

One timed call runs the model's first ``STEPS`` steps from a freshly built model
(built untimed before every call, so every call does the same work); the per-step
figure is that time / ``STEPS``. The default model collapses (sheep die out around
step 40, wolves around step 90, in Mesa and here alike), so later steps would time
an empty grid: the first ten steps are the comparable work, and both models still
hold most of their animals then. Setup logs both models' populations after those
steps (they agree closely but not exactly: the semantics differ, see
``docs/gallery/wolf_sheep.md``, and the random streams are different).

Variants (one timed call = ``STEPS`` steps)
* ``arrow_ecs``: ``world.run(STEPS)`` of ``archetype_ecs.demos.wolf_sheep`` with
  ``threads=1`` (behavior-tree ticks, numpy systems, the Lua grass rule, command
  buffers).
* ``mesa`` (baseline): Mesa 3.3's ``mesa.examples.advanced.wolf_sheep`` classes
  (``WolfSheep`` with an ``ABMSimulator``, ``simulator.run_for(STEPS)``), imported
  without the ``mesa.examples`` package ``__init__`` (which imports every example,
  some needing networkx); skipped when Mesa or the example is missing.
* ``python_reference``: the plain-Python twin of our model the tests compare
  against (``ReferenceWolfSheep``: dicts, one agent at a time, the same draws); up
  to N = 1,000.

No target: the issue asks for the comparison. Ratios are against ``mesa``.
"""

from __future__ import annotations

import importlib
import math
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

from benchmarks._runner import Scenario, SkipVariant

SEED = 3
STEPS = 10


def side_for(n: int) -> int:
    """Grid side that keeps Mesa's default density (100 sheep on 20 x 20)."""
    return round(20 * math.sqrt(n / 100))


def params_for(n: int) -> dict[str, int]:
    """Model parameters at N sheep (everything else at Mesa's defaults)."""
    side = side_for(n)
    return {"width": side, "height": side, "initial_sheep": n, "initial_wolves": n // 2}


def _log(message: str) -> None:
    sys.stderr.write(f"[wolf_sheep] {message}\n")
    sys.stderr.flush()


def mesa_classes() -> tuple[Any, Any, Any, Any, Any]:
    """Mesa's ``WolfSheep``, ``Sheep``, ``Wolf``, ``GrassPatch`` and ``ABMSimulator``.

    ``mesa/examples/__init__.py`` imports every example model, and some need packages
    Mesa does not depend on (networkx); when that import fails, a bare package
    object with the same ``__path__`` stands in for it, so only the wolf-sheep
    modules (whose own ``__init__`` files are empty) are imported.

    Raises
    ------
    SkipVariant
        When Mesa or its wolf-sheep example cannot be imported.
    """
    try:
        import mesa
    except ImportError as exc:
        raise SkipVariant(f"mesa is not installed ({exc})") from exc
    try:
        importlib.import_module("mesa.examples")
    except ImportError:
        for name in [k for k in sys.modules if k.startswith("mesa.examples")]:
            del sys.modules[name]
        pkg = types.ModuleType("mesa.examples")
        pkg.__path__ = [str(Path(mesa.__file__).parent / "examples")]
        sys.modules["mesa.examples"] = pkg
    try:
        model = importlib.import_module("mesa.examples.advanced.wolf_sheep.model")
        agents = importlib.import_module("mesa.examples.advanced.wolf_sheep.agents")
        devs = importlib.import_module("mesa.experimental.devs")
    except ImportError as exc:
        raise SkipVariant(
            f"Mesa's wolf_sheep example is not importable ({exc})"
        ) from exc
    return (
        model.WolfSheep,
        agents.Sheep,
        agents.Wolf,
        agents.GrassPatch,
        devs.ABMSimulator,
    )


class WolfSheepSteps(Scenario):
    """The first STEPS steps of wolf-sheep predation."""

    name = "wolf_sheep"
    params = (100, 1_000, 10_000)
    baseline = "mesa"
    unit = "step"
    variant_max_n: ClassVar[dict[str, int]] = {"python_reference": 1_000}
    notes = (
        f"info: no target; one call = the first {STEPS} steps of a fresh model "
        "(N sheep, N/2 wolves, Mesa's density); per-step = median / steps"
    )

    def units(self, n: int) -> int:
        """Steps per timed call."""
        return STEPS

    # ------------------------------------------------------------------ arrow-ecs

    def setup_arrow_ecs(self, n: int) -> None:
        from archetype_ecs.demos import wolf_sheep

        self.ws = wolf_sheep
        world = wolf_sheep.build(seed=SEED, threads=1, **params_for(n))
        world.run(STEPS)  # compiles the trees once per process (untimed)
        _log(f"N={n}: arrow_ecs after {STEPS} steps: {wolf_sheep.status(world)}")
        world.close()
        self.world: Any = None

    def setup_repeat_arrow_ecs(self, n: int) -> None:
        if self.world is not None:
            self.world.close()
        self.world = self.ws.build(seed=SEED, threads=1, **params_for(n))

    def time_arrow_ecs(self, n: int) -> None:
        self.world.run(STEPS)

    # ------------------------------------------------------------------ Mesa

    def _mesa_model(self, n: int) -> tuple[Any, Any]:
        p = params_for(n)
        sim = self.mesa[4]()
        model = self.mesa[0](
            width=p["width"],
            height=p["height"],
            initial_sheep=p["initial_sheep"],
            initial_wolves=p["initial_wolves"],
            seed=SEED,
            simulator=sim,
        )
        return model, sim

    def setup_mesa(self, n: int) -> None:
        self.mesa = mesa_classes()
        model, sim = self._mesa_model(n)
        sim.run_for(STEPS)
        _, sheep, wolf, grass, _ = self.mesa
        grown = sum(1 for g in model.agents_by_type[grass] if g.fully_grown)
        _log(
            f"N={n}: mesa after {STEPS} steps: {len(model.agents_by_type[sheep])} "
            f"sheep, {len(model.agents_by_type[wolf])} wolves, {grown} grown patches"
        )
        self.sim: Any = None

    def setup_repeat_mesa(self, n: int) -> None:
        self.model, self.sim = self._mesa_model(n)

    def time_mesa(self, n: int) -> None:
        self.sim.run_for(STEPS)

    # ------------------------------------------------------------------ reference

    def setup_repeat_python_reference(self, n: int) -> None:
        from archetype_ecs.demos.wolf_sheep import ReferenceWolfSheep

        self.ref = ReferenceWolfSheep(seed=SEED, **params_for(n))

    def time_python_reference(self, n: int) -> None:
        for _ in range(STEPS):
            self.ref.step()

    def teardown(self, n: int) -> None:
        """Close the world."""
        world: Any = getattr(self, "world", None)
        if world is not None:
            world.close()
