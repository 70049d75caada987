"""Crash safety: a process killed (SIGKILL) while saving never loses the last good save.

A child process (``sys.executable -c ...``) builds a world of 2e5 entities and saves
it again and again into one directory, changing values and structure between saves.
Before each save it appends ``begin <k> <checksum of the state>`` to a side file, and
after the save returns ``done <k> <snapshot>``, both fsynced. The test kills it at a
random moment (seeded; every other trial aims at a save in progress), then loads the directory: the load must succeed, be exact, and
give either the last completed state or the one whose save was under way (its
``CURRENT`` swap may have happened just before the kill). The next trial saves into the
same directory, so leftovers of a killed save must not get in the way either.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from archetype_ecs import World
from archetype_ecs.serialization import load, save

ENTITIES = 200_000
DEFAULT_TRIALS = 20
SLOW_TRIALS = 100
MAX_DELAY = 0.6  # seconds between "ready" and the kill
SAVE_WINDOW = 0.06  # seconds after a "begin" line in which aimed kills land

# Shared by the child and the test: components and the content checksum.
SHARED = '''
import hashlib
import numpy as np
from archetype_ecs import EntityRef, World, bool_, component, f32, f64, i32

@component
class Pos:
    xy: f32[2] = (0.0, 0.0)

@component
class Vel:
    v: f64 = 0.0

@component
class Hp:
    value: i32 = 100

@component
class Target:
    to: EntityRef = 0

@component
class Flag:
    on: bool_ = False

@component
class Dead:
    pass

CLASSES = [Pos, Vel, Hp, Target, Flag, Dead]

def checksum(world):
    """Entity index + every archetype's rows in order (exact loads keep both)."""
    h = hashlib.blake2b(digest_size=16)
    idx = world.entities
    h.update(idx.generation[: idx.size].tobytes())
    h.update(idx.free_list().tobytes())
    tables = sorted((sorted(t.names), t) for t in world.tables if t.len)
    for names, t in tables:
        h.update(repr(names).encode())
        for key in sorted(t.keys):
            if "#" not in key:
                h.update(key.encode())
                h.update(np.ascontiguousarray(t.column(key)).tobytes())
    return h.hexdigest()
'''

# A server that imports everything once, then forks one saving child per trial (a
# fresh interpreter per trial would spend most of the time budget importing).
SERVER = (
    SHARED
    + """
import os, sys
from archetype_ecs.serialization import save

def saver(root, side, seed, n, keep):
    rng = np.random.default_rng(seed)
    world = World(seed=seed, threads=1)
    movers = world.spawn_batch({
        Pos: {"xy": rng.random((n, 2), dtype=np.float32)},
        Vel: {"v": rng.random(n)},
        Hp: None,
        Target: None,
    })
    world.set_batch(movers, Target, {"to": rng.choice(movers, n)})
    others = list(world.spawn_batch({Flag: {"on": rng.random(n // 4) < 0.5}, Dead: None}))

    def record(line):
        with open(side, "a") as f:
            f.write(line + "\\n")
            f.flush()
            os.fsync(f.fileno())

    def mutate(k):
        world.set_batch(movers, Hp, {"value": np.full(n, k, np.int32)})
        some = movers[k % 7 :: 7]
        world.set_batch(some, Vel, {"v": np.full(len(some), k)})
        if k % 2:
            gone = np.array(others[-1000:], dtype=np.uint64)
            del others[-1000:]
            world.despawn_batch(gone)
        else:
            spawned = world.spawn_batch({Flag: {"on": np.full(1000, k % 4 == 0)}})
            others.extend(spawned.tolist())

    k = 0
    record(f"begin {k} {checksum(world)}")
    record(f"done {k} {save(world, root, keep=keep).name}")
    print("ready", flush=True)
    while True:
        k += 1
        mutate(k)
        record(f"begin {k} {checksum(world)}")
        record(f"done {k} {save(world, root, keep=keep).name}")

def warm_up():
    # Compile / load every kernel the saver uses, so forked savers start fast.
    import shutil, tempfile
    w = World(threads=1)
    ids = w.spawn_batch({Pos: None, Vel: None, Hp: None, Target: None}, n=4)
    w.set_batch(ids, Target, {"to": ids})
    w.set_batch(ids, Hp, {"value": np.zeros(4, np.int32)})
    w.despawn_batch(w.spawn_batch({Flag: None, Dead: None}, n=2))
    w.spawn_batch({Flag: None}, n=1)
    folder = tempfile.mkdtemp()
    save(w, folder)
    checksum(w)
    shutil.rmtree(folder)
    w.close()

warm_up()
for line in sys.stdin:
    root, side, seed, n, keep = line.split()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            saver(root, side, int(seed), int(n), int(keep))
        finally:
            os._exit(1)
    print("pid", pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print("exit", status, flush=True)
"""
)


def shared() -> dict[str, Any]:
    """The child's components and checksum, as a module of this process."""
    module = sys.modules.get("_crash_safety_shared")
    if module is None:
        module = types.ModuleType("_crash_safety_shared")
        sys.modules[module.__name__] = module
        exec(SHARED, module.__dict__)
    return module.__dict__


def read_side(path: Path) -> tuple[dict[int, str], dict[int, str]]:
    begun: dict[int, str] = {}
    done: dict[int, str] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit():
            continue  # a line cut by the kill
        (begun if parts[0] == "begin" else done)[int(parts[1])] = parts[2]
    return begun, done


class Server:
    """The forking server process and its line protocol."""

    def __init__(self, log: Path) -> None:
        self.stderr = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.log = log

    def start(self, *args: object) -> tuple[int, str]:
        """Fork a saver; wait until it has saved once. Returns (pid, problem)."""
        assert self.proc.stdin
        assert self.proc.stdout
        self.proc.stdin.write(" ".join(map(str, args)) + "\n")
        self.proc.stdin.flush()
        pid, ready = 0, False
        while not (pid and ready):
            line = self.proc.stdout.readline()
            if not line or line.startswith("exit"):
                return pid, f"saver died: {line!r} {self.log.read_text()[-2000:]}"
            if line.startswith("pid"):
                pid = int(line.split()[1])
            ready = ready or line.strip() == "ready"
        return pid, ""

    def reap(self) -> str:
        assert self.proc.stdout
        return self.proc.stdout.readline()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()


def count_begins(side: Path) -> int:
    try:
        return side.read_text().count("begin ")
    except FileNotFoundError:
        return 0


def wait_for_begin(side: Path, target: int, timeout: float = 30.0) -> None:
    """Poll the side file until it holds ``target`` "begin" lines (or time out)."""
    end = time.monotonic() + timeout
    while count_begins(side) < target and time.monotonic() < end:
        time.sleep(0.0005)


def run_trial(
    server: Server, trial: int, seed: int, root: Path, ns: dict[str, Any]
) -> tuple[str, bool]:
    """One saver, one kill, one check: (what went wrong or '', killed mid-save)."""
    rng = random.Random(seed * 7919 + trial)
    side = root.parent / f"{root.name}-trial-{trial}.log"
    pid, problem = server.start(root, side, trial, ENTITIES, 1 + trial % 2)
    if problem:
        return f"trial {trial}: {problem}", False
    if trial % 2:
        # Aim inside a save: wait until the saver logs "begin" for a new save, then
        # kill within about one save's duration (saves take tens of milliseconds, a
        # small share of the saver's loop, so uniform kills rarely land in one).
        wait_for_begin(side, count_begins(side) + rng.randint(1, 2))
        time.sleep(rng.uniform(0.0, SAVE_WINDOW))
    else:
        time.sleep(rng.uniform(0.0, MAX_DELAY))
    os.kill(pid, signal.SIGKILL)
    status = server.reap()
    if status.split()[:1] != ["exit"]:
        return f"trial {trial}: unexpected server output {status!r}", False
    begun, done = read_side(side)
    last = max(done)
    allowed = {begun[last]}
    mid_save = last + 1 in begun  # killed during this save: it may have completed
    if mid_save:
        allowed.add(begun[last + 1])
    try:
        result = load(root, World(threads=1), components=ns["CLASSES"])
    except Exception as exc:
        return f"trial {trial} (after save {last}): load failed: {exc!r}", mid_save
    got = ns["checksum"](result.world)
    if not result.exact or got not in allowed:
        return (
            f"trial {trial}: loaded state {got} is neither save {last} nor {last + 1} "
            f"(exact={result.exact})"
        ), mid_save
    return "", mid_save


def run_trials(tmp_path: Path, seed: int, trials: int) -> None:
    ns = shared()
    root = tmp_path / "save"
    server = Server(tmp_path / "server.err")
    try:
        outcomes = [run_trial(server, t, seed, root, ns) for t in range(trials)]
    finally:
        server.close()
    problems = [p for p, _ in outcomes if p]
    assert not problems, "\n".join(problems)
    assert any(mid for _, mid in outcomes), "no kill landed inside a save"
    # After all the kills, a normal save still cleans up and loads.
    world = load(root, World(threads=1), components=ns["CLASSES"]).world
    save(world, root, keep=1)
    names = sorted(p.name for p in root.iterdir())
    assert len(names) == 2, names
    assert names[0] == "CURRENT", names
    again = load(root, World(threads=1), components=ns["CLASSES"]).world
    assert ns["checksum"](again) == ns["checksum"](world)


def test_killed_saves_always_leave_the_last_good_save_loadable(tmp_path):
    run_trials(tmp_path, 1, DEFAULT_TRIALS)


@pytest.mark.slow
def test_killed_saves_always_leave_the_last_good_save_loadable_many(tmp_path):
    run_trials(tmp_path, 2, SLOW_TRIALS)
