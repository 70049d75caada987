"""boltzmann: one Boltzmann wealth step at N agents vs Mesa, mesa-frames and a Numba loop.

Every variant starts from the same wealth distribution, the model's equilibrium law
(geometric, mean 1: ``rng.geometric(0.5, N) - 1`` with one seed), so each timed step
does the same amount of work however many steps a variant was sampled for.

Variants (one timed call = one model step)
* ``arrow_ecs``: ``world.step()`` of ``archetype_ecs.demos.boltzmann`` in
  ``mode="sequential"`` (Mesa's semantics: random activation order, later agents see
  earlier transfers; a Python system calling one Numba kernel over the column).
* ``arrow_ecs_simultaneous``: the same world in ``mode="simultaneous"`` (info; the
  semantics mesa-frames implements).
* ``numba_loop`` (baseline): a hand-written ``@njit`` loop over a plain int64 array,
  same semantics (Fisher-Yates order, ``np.random.randint`` recipient that may be the
  giver), Numba's own seeded generator; no world, no schedule.
* ``kernel_only`` (info): the model's own kernel (``exchange_sequential_kernel``) on a
  plain array, no world: ``arrow_ecs`` minus this is the frame's fixed cost (schedule,
  profiler, the system's query). The counter-based draws fold their shared keys once
  per loop, which makes them cheaper than Numba's ``np.random.randint``: that is why
  the ECS step can beat the hand-written loop.
* ``mesa``: Mesa 3.3, ``agents.shuffle_do("step")`` with each agent giving to
  ``self.random.choice(self.model.agent_list)``: the model keeps its own list of
  agents (Mesa's tutorial picks from ``model.agents``, which copies the agent set on
  every choice: not a fair baseline). Skipped at an N where one step takes longer than
  ``MESA_STEP_CAP`` seconds.
* ``mesa_frames``: mesa-frames 0.1.0a0 (Polars backend; its README's vectorized
  Boltzmann model, simultaneous semantics), run by ``boltzmann_mesa_frames.py`` in a
  virtual environment of its own (mesa-frames pins numpy 1.26): created on first use
  under ``$ARROW_ECS_BENCH_VENVS`` or ``$XDG_CACHE_HOME/arrow-ecs/venvs`` (default
  ``~/.cache/arrow-ecs/venvs``) with ``python -m venv`` and ``pip install
  mesa-frames``; skipped, with the reason, when that fails. A timed call sends
  ``step`` over a pipe and waits for the reply, so it includes one pipe round trip
  (printed at setup; tens of microseconds against milliseconds per step).

Targets (issue #9), for ``arrow_ecs``: <= 1.5x ``numba_loop``; >= 20x faster than
``mesa``; faster than ``mesa_frames`` at every N.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmarks._runner import RatioTarget, Scenario, SkipVariant, SpeedupTarget, Target

SEED = 12345
MESA_STEP_CAP = 20.0  # seconds: above this per step, Mesa is skipped at that N
WORKER = Path(__file__).resolve().with_name("boltzmann_mesa_frames.py")
INSTALL_TIMEOUT = 900.0


def initial_wealth(n: int, seed: int = SEED) -> np.ndarray[Any, Any]:
    """The equilibrium wealth law, mean 1 (every variant starts from it)."""
    return np.random.default_rng(seed).geometric(0.5, n).astype(np.int64) - 1


def _log(message: str) -> None:
    sys.stderr.write(f"[boltzmann] {message}\n")
    sys.stderr.flush()


# ------------------------------------------------------------------ the Numba loop


@functools.cache
def _numba_loop() -> tuple[Any, Any]:
    from archetype_ecs import njit

    @njit
    def seed_numba(seed: int) -> None:
        np.random.seed(seed)  # noqa: NPY002 # Numba's global generator, per thread

    @njit
    def step(wealth: Any, order: Any) -> None:
        n = wealth.shape[0]
        for i in range(n):
            order[i] = i
        for i in range(n - 1, 0, -1):  # Fisher-Yates, like random.shuffle
            j = np.random.randint(0, i + 1)  # noqa: NPY002 # as hand-written for Numba
            order[i], order[j] = order[j], order[i]
        for k in range(n):
            a = order[k]
            if wealth[a] > 0:
                b = np.random.randint(0, n)  # noqa: NPY002 # any agent, giver included
                wealth[a] -= 1
                wealth[b] += 1

    return seed_numba, step


# ------------------------------------------------------------------------- Mesa


def _mesa_model(wealth: np.ndarray[Any, Any], seed: int) -> Any:
    import mesa

    class MoneyAgent(mesa.Agent):  # type: ignore[misc] # untyped base
        def __init__(self, model: Any, units: int) -> None:
            super().__init__(model)
            self.wealth = units

        def step(self) -> None:
            if self.wealth > 0:
                other = self.random.choice(self.model.agent_list)
                other.wealth += 1
                self.wealth -= 1

    class MoneyModel(mesa.Model):  # type: ignore[misc] # untyped base
        def __init__(self) -> None:
            super().__init__(seed=seed)
            self.agent_list = [MoneyAgent(self, int(w)) for w in wealth]

        def step(self) -> None:
            self.agents.shuffle_do("step")

    return MoneyModel()


# ------------------------------------------------------------------- mesa-frames


def venv_root() -> Path:
    """Where the peers' virtual environments live (created on first use)."""
    env = os.environ.get("ARROW_ECS_BENCH_VENVS")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "arrow-ecs" / "venvs"


def mesa_frames_python() -> Path:
    """The Python of the mesa-frames venv, created and installed if needed.

    Raises
    ------
    SkipVariant
        When the venv cannot be created or ``pip install mesa-frames`` fails.
    """
    venv = venv_root() / "mesa-frames"
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import mesa_frames"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    _log(f"creating the mesa-frames venv in {venv} (pip install mesa-frames) ...")
    steps = (
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "mesa-frames"],
    )
    for cmd in steps:
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SkipVariant(
                f"mesa-frames venv: {' '.join(cmd)} failed: {exc}"
            ) from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SkipVariant(
                f"mesa-frames venv: {' '.join(cmd[:4])} exited {done.returncode}: "
                + " | ".join(tail)
            )
    if subprocess.run(check, capture_output=True).returncode != 0:
        raise SkipVariant(f"mesa-frames installed in {venv} but does not import")
    return python


class MesaFramesWorker:
    """The worker process (``boltzmann_mesa_frames.py``) in the mesa-frames venv."""

    def __init__(self, python: Path) -> None:
        self.proc = subprocess.Popen(
            [str(python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def ask(self, command: str) -> str:
        """Send one command line; return the reply after ``ok``."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply.startswith("ok"):
            raise RuntimeError(f"mesa-frames worker: {command!r} -> {reply!r}")
        return reply[2:].strip()

    def close(self) -> None:
        """Ask the worker to quit; kill it if it does not."""
        if self.proc.poll() is None:
            try:
                self.ask_quit()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def ask_quit(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()


# --------------------------------------------------------------------- scenario


class BoltzmannWealth(Scenario):
    """One Boltzmann wealth step."""

    name = "boltzmann"
    params = (10**3, 10**4, 10**5, 10**6)
    baseline = "numba_loop"
    unit = "agent"
    targets: ClassVar[dict[str, list[Target]]] = {
        "arrow_ecs": [
            RatioTarget(baseline="numba_loop", max_ratio=1.5),
            SpeedupTarget(other="mesa", min_speedup=20.0),
            SpeedupTarget(other="mesa_frames", min_speedup=1.0),
        ],
        "arrow_ecs_simultaneous": [SpeedupTarget(other="mesa_frames", min_speedup=1.0)],
    }
    notes = (
        "one model step from the equilibrium wealth law; mesa_frames (simultaneous "
        "semantics) runs in its own venv over a pipe"
    )

    def setup(self, n: int) -> None:
        self.wealth = initial_wealth(n)
        self.total = int(self.wealth.sum())
        self.worker: MesaFramesWorker | None = None

    def _world(self, n: int, mode: str) -> Any:
        from archetype_ecs.demos import boltzmann

        world = boltzmann.build(seed=SEED, threads=1, agents=n, mode=mode)
        for _, view in world.query(boltzmann.Wealth):
            view.units[:] = self.wealth
        return world

    def setup_arrow_ecs(self, n: int) -> None:
        self.seq = self._world(n, "sequential")

    def time_arrow_ecs(self, n: int) -> None:
        self.seq.step()

    def setup_arrow_ecs_simultaneous(self, n: int) -> None:
        self.sim = self._world(n, "simultaneous")

    def time_arrow_ecs_simultaneous(self, n: int) -> None:
        self.sim.step()

    def setup_numba_loop(self, n: int) -> None:
        seed_numba, self.loop = _numba_loop()
        seed_numba(SEED)
        self.loop_wealth = self.wealth.copy()
        self.loop_order = np.empty(n, dtype=np.int64)

    def time_numba_loop(self, n: int) -> None:
        self.loop(self.loop_wealth, self.loop_order)

    def setup_kernel_only(self, n: int) -> None:
        from archetype_ecs.demos._abm_kernels import exchange_sequential_kernel
        from archetype_ecs.random import stream_id

        self.kernel = exchange_sequential_kernel
        self.kernel_wealth = self.wealth.copy()
        self.kernel_order = np.empty(n, dtype=np.int64)
        self.kernel_keys = (SEED, stream_id("bench"))  # ints, as the model passes them
        self.kernel_tick = 0

    def time_kernel_only(self, n: int) -> None:
        self.kernel_tick += 1
        self.kernel(
            self.kernel_wealth,
            self.kernel_order,
            *self.kernel_keys,
            self.kernel_tick,
        )

    def setup_mesa(self, n: int) -> None:
        try:
            import mesa  # noqa: F401 # only to skip cleanly without it
        except ImportError as exc:
            raise SkipVariant(f"mesa not installed ({exc})") from exc
        t0 = time.perf_counter()
        self.mesa = _mesa_model(self.wealth, SEED)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.mesa.step()
        one = time.perf_counter() - t0
        _log(f"N={n:,}: Mesa built in {built:.2f} s, first step {one:.3f} s")
        if one > MESA_STEP_CAP:
            raise SkipVariant(
                f"one Mesa step took {one:.1f} s at N={n:,} (cap {MESA_STEP_CAP:g} s)"
            )

    def time_mesa(self, n: int) -> None:
        self.mesa.step()

    def setup_mesa_frames(self, n: int) -> None:
        python = mesa_frames_python()
        self.worker = MesaFramesWorker(python)
        self.worker.ask(f"build {n} {SEED}")
        t0 = time.perf_counter()
        for _ in range(20):
            self.worker.ask("ping")
        ping = (time.perf_counter() - t0) / 20
        inside = float(self.worker.ask("steps 3"))
        _log(
            f"N={n:,}: mesa-frames step {inside * 1e3:.2f} ms inside the worker, "
            f"pipe round trip {ping * 1e6:.0f} us"
        )

    def time_mesa_frames(self, n: int) -> None:
        assert self.worker is not None
        self.worker.ask("step")

    def teardown(self, n: int) -> None:
        """Check that every variant kept the total wealth; stop the worker."""
        from archetype_ecs.demos import boltzmann

        totals = {}
        for attr in ("seq", "sim"):
            world = getattr(self, attr, None)
            if world is not None:
                totals[attr] = boltzmann.summary(world)["total_wealth"]
                world.close()
        if hasattr(self, "kernel_wealth"):
            totals["kernel_only"] = int(self.kernel_wealth.sum())
        if hasattr(self, "loop_wealth"):
            totals["numba_loop"] = int(self.loop_wealth.sum())
        if hasattr(self, "mesa"):
            totals["mesa"] = sum(a.wealth for a in self.mesa.agent_list)
        if self.worker is not None:
            totals["mesa_frames"] = int(self.worker.ask("total"))
            self.worker.close()
        bad = {k: v for k, v in totals.items() if v != self.total}
        if bad:  # a bug in that variant: say so loudly, keep the other scenarios
            _log(f"N={n:,}: WEALTH NOT CONSERVED (expected {self.total}): {bad}")
