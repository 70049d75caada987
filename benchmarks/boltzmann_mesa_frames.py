"""Worker for the mesa-frames variant of ``benchmarks/boltzmann.py`` (its own venv).

mesa-frames' only PyPI release (0.1.0a0) pins numpy 1.26, so it never runs in the
project's environment: the benchmark starts this script with the Python of a separate
virtual environment and talks to it over stdin / stdout, one command per line:

``build N SEED``  build the model: N agents, wealth drawn like the other variants
``step``          one model step
``steps K``       K steps timed inside the worker; replies with the seconds per step
``total``         total wealth (conservation check)
``ping``          round trip only (the pipe's overhead)
``quit``          exit

Every reply is one line starting with ``ok`` (or ``error: ...``). The model is the
mesa-frames README's Boltzmann wealth example (Polars backend): each agent with wealth
> 0 gives one unit to a random agent sampled with replacement, the step computed
as one vectorized (simultaneous) update. Imports only mesa-frames' own dependencies.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any


def _model_classes() -> tuple[Any, Any]:
    import polars as pl  # noqa: TID251 # runs in mesa-frames' own venv, not ours
    from mesa_frames import AgentSetPolars, ModelDF

    class MoneyAgents(AgentSetPolars):  # type: ignore[misc] # untyped base
        def __init__(self, wealth: Any, model: Any) -> None:
            super().__init__(model)
            n = len(wealth)
            self += pl.DataFrame(
                {"unique_id": pl.arange(0, n, eager=True), "wealth": wealth}
            )

        def step(self) -> None:
            self.do("give_money")

        def give_money(self) -> None:
            self.select(self.wealth > 0)
            other = self.agents.sample(n=len(self.active_agents), with_replacement=True)
            self["active", "wealth"] -= 1
            received = other.group_by("unique_id").len()
            self[received, "wealth"] += received["len"]

    class MoneyModel(ModelDF):  # type: ignore[misc] # untyped base
        def __init__(self, wealth: Any) -> None:
            super().__init__()
            self.agents += MoneyAgents(wealth, self)

        def step(self) -> None:
            self.agents.do("step")

    return MoneyAgents, MoneyModel


def _initial_wealth(n: int, seed: int) -> Any:
    """Geometric(1/2) - 1: the equilibrium law, mean 1 (as in the benchmark)."""
    import numpy as np

    return np.random.default_rng(seed).geometric(0.5, n).astype(np.int64) - 1


def _total(model: Any) -> int:
    agents = model.agents
    column = agents["wealth"]
    if isinstance(column, dict):  # AgentsDF maps agent sets to their columns
        return int(sum(int(c.sum()) for c in column.values()))
    return int(column.sum())


def main() -> int:
    """Serve commands until ``quit`` or end of input."""
    _, money_model = _model_classes()
    model = None
    for line in sys.stdin:
        cmd = line.split()
        try:
            if not cmd:
                continue
            if cmd[0] == "quit":
                return 0
            if cmd[0] == "build":
                model = money_model(_initial_wealth(int(cmd[1]), int(cmd[2])))
                reply = "ok"
            elif cmd[0] == "step":
                model.step()  # type: ignore[union-attr] # built first
                reply = "ok"
            elif cmd[0] == "steps":
                k = int(cmd[1])
                t0 = time.perf_counter()
                for _ in range(k):
                    model.step()  # type: ignore[union-attr] # built first
                reply = f"ok {(time.perf_counter() - t0) / k!r}"
            elif cmd[0] == "total":
                reply = f"ok {_total(model)}"
            elif cmd[0] == "ping":
                reply = "ok"
            else:
                reply = f"error: unknown command {cmd[0]!r}"
        except Exception as exc:  # report to the parent instead of dying silently
            reply = f"error: {type(exc).__name__}: {exc}".replace("\n", " ")
            traceback.print_exc(file=sys.stderr)
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
