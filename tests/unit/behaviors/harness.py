"""Test harness for behavior trees: logging leaves, a world of agents, kernel vs reference.

Leaves (each takes a ``code`` parameter: the node index, written to the agent's log):

- ``sc`` / ``sa``: scripted condition / action returning ``Script.out[i, code]``
  (the test sets outcomes per agent and node before each tick);
- ``hc`` / ``ha``: hashed condition / action whose outcome is a deterministic hash of
  (agent, code, tick, seed) -- the same hash in Python for the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from archetype_ecs import World, component, i8, i32, i64, njit
from behaviors.leaves import LeafRegistry, leaf
from behaviors.nodes import Leaf
from behaviors.reference import AgentState, ReferenceInterpreter
from behaviors.script import tick_batched
from behaviors.tick import add_agents, compiled, tick_tree
from behaviors.tree import BehaviorTree

MAX_NODES = 64
MOD = 2147483647


@component
class Agent:
    id: i64 = 0
    tick: i64 = 0
    seed: i64 = 0
    bias: i64 = 50  # percent of conditions that succeed / actions that keep running


@component
class Log:
    seq: i32[MAX_NODES]
    n: i32 = 0


@component
class Script:
    out: i8[MAX_NODES]


@njit
def _hash(agent, code, tick, seed):  # type: ignore[no-untyped-def]
    h = (agent * 1000003 + code * 7919 + tick * 104729 + seed) % MOD
    h = (h * 48271) % MOD
    h = (h * 48271) % MOD
    return h


def py_hash(agent: int, code: int, tick: int, seed: int) -> int:
    h = (agent * 1000003 + code * 7919 + tick * 104729 + seed) % MOD
    h = (h * 48271) % MOD
    return (h * 48271) % MOD


def py_outcome(
    kind: str, agent: int, code: int, tick: int, seed: int, bias: int
) -> int:
    h = py_hash(agent, code, tick, seed)
    if kind == "condition":
        return 1 if h % 100 < bias else 0
    if h % 100 < bias:
        return 3
    return 1 if (h // 100) % 2 == 0 else 2


@leaf("hc", kind="condition", reads=[Agent], writes=[Log], params=("code",))
@njit
def hc(i, ident, tick, seed, bias, seq, n, code):  # type: ignore[no-untyped-def]
    seq[i, n[i]] = code
    n[i] += 1
    return _hash(ident[i], code, tick[i], seed[i]) % 100 < bias[i]


@leaf("ha", kind="action", reads=[Agent], writes=[Log], params=("code",))
@njit
def ha(i, ident, tick, seed, bias, seq, n, code):  # type: ignore[no-untyped-def]
    seq[i, n[i]] = code
    n[i] += 1
    h = _hash(ident[i], code, tick[i], seed[i])
    if h % 100 < bias[i]:
        return 3
    return 1 if (h // 100) % 2 == 0 else 2


@leaf("sc", kind="condition", reads=[Script], writes=[Log], params=("code",))
@njit
def sc(i, out, seq, n, code):  # type: ignore[no-untyped-def]
    seq[i, n[i]] = code
    n[i] += 1
    return out[i, code] == 1


@leaf("sa", kind="action", reads=[Script], writes=[Log], params=("code",))
@njit
def sa(i, out, seq, n, code):  # type: ignore[no-untyped-def]
    seq[i, n[i]] = code
    n[i] += 1
    return out[i, code]


def registry_world() -> World:
    w = World()
    LeafRegistry.of(w).register(hc, ha, sc, sa)
    return w


@dataclass
class Run:
    """A world of ``n`` agents running ``tree`` through the kernel, and the reference."""

    world: World
    tree: BehaviorTree
    ct: Any
    agents: np.ndarray[Any, Any]
    ref: ReferenceInterpreter
    states: list[AgentState]
    outcomes: dict[int, dict[int, int]]

    @classmethod
    def make(cls, tree: BehaviorTree, n: int, world: World | None = None) -> Run:
        w = world if world is not None else registry_world()
        ct = compiled(w, tree)
        agents = w.spawn_batch(
            {Agent: {"id": np.arange(n, dtype=np.int64)}, Log: None, Script: None}
        )
        add_agents(w, ct, agents)
        run = cls(w, tree, ct, agents, None, [], {})  # type: ignore[arg-type]
        run.ref = ReferenceInterpreter(tree, run._call)
        run.states = [AgentState.fresh(tree.n_nodes) for _ in range(n)]
        run.tick_no = 0
        run.seed = 0
        run.bias = 50
        return run

    def _call(self, agent: int, k: int, node: Leaf) -> int:
        code = int(node.param_dict["code"])
        assert code == k
        if node.name in ("sc", "sa"):
            return self.outcomes.get(agent, {}).get(k, 0)
        kind = "condition" if node.name == "hc" else "action"
        return py_outcome(kind, agent, code, self.tick_no, self.seed, self.bias)

    def set_outcomes(self, per_node: dict[int, int], agent: int | None = None) -> None:
        """Scripted outcomes of ``sc`` / ``sa`` nodes for one agent (or all)."""
        who = range(len(self.agents)) if agent is None else [agent]
        cols = self.world.get_batch(self.agents, Script)["out"]
        for a in who:
            for k, v in per_node.items():
                self.outcomes.setdefault(a, {})[k] = v
                cols[a, k] = v
        self.world.set_batch(self.agents, Script, {"out": cols})

    def tick(self, frame: int) -> None:
        """Tick the kernel and the reference once; clears the logs first."""
        n = len(self.agents)
        self.world.set_batch(
            self.agents,
            Agent,
            {
                "tick": np.full(n, self.tick_no, np.int64),
                "seed": np.full(n, self.seed, np.int64),
                "bias": np.full(n, self.bias, np.int64),
            },
        )
        self.world.set_batch(self.agents, Log, {"n": np.zeros(n, np.int32)})
        if getattr(self, "wavefront", False):
            tick_batched(self.world, self.tree, frame)
        else:
            tick_tree(self.world, self.ct, frame)
        for a, st in enumerate(self.states):
            st.log = []
            self.ref.tick(a, st, frame)
        self.tick_no += 1

    def kernel_state(self) -> dict[str, np.ndarray[Any, Any]]:
        st = self.world.get_batch(self.agents, self.ct.state)
        log = self.world.get_batch(self.agents, Log)
        return {**st, "log": log["seq"], "log_n": log["n"]}

    def mismatches(self) -> list[str]:
        """Differences between kernel and reference, per agent (empty when equal)."""
        ks = self.kernel_state()
        out = []
        for a, st in enumerate(self.states):
            kern = {
                "status": ks["status"][a].tolist(),
                "data": ks["data"][a].tolist(),
                "entered": ks["entered"][a].tolist(),
                "log": ks["log"][a, : ks["log_n"][a]].tolist(),
            }
            ref = {
                "status": st.status,
                "data": st.data,
                "entered": st.entered,
                "log": st.log,
            }
            for key in kern:
                if kern[key] != ref[key]:
                    out.append(f"agent {a} {key}: kernel {kern[key]} ref {ref[key]}")
        return out

    def status(self, agent: int = 0) -> list[int]:
        """The kernel's status vector of one agent (asserting the reference agrees)."""
        mism = self.mismatches()
        assert not mism, "\n".join(mism)
        return self.kernel_state()["status"][agent].tolist()

    def log(self, agent: int = 0) -> list[int]:
        ks = self.kernel_state()
        return ks["log"][agent, : ks["log_n"][agent]].tolist()
