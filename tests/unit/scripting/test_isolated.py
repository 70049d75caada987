"""Isolated Python mode: real worker processes with OS limits.

Reading files, opening sockets, importing os / subprocess / ctypes, memory bombs and
endless loops are blocked or killed within their limits; the host goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from archetype_ecs import World
from scripting import (
    PermissionDenied,
    Permissions,
    SandboxViolation,
    ScriptEngine,
    ScriptError,
    ScriptMemoryError,
    ScriptTimeout,
)
from scripting.isolated import IsolatedLimits, IsolatedPythonScript
from tests.unit.scripting._components import SPos

PERMS = Permissions(reads=("SPos",), writes=("SPos",))


@pytest.fixture(scope="module")
def worker() -> Iterator[IsolatedPythonScript]:
    w = IsolatedPythonScript("iso.py", IsolatedLimits(call_timeout=2, memory=1 << 30))
    yield w
    w.close()


def run(worker: IsolatedPythonScript, body: str) -> object:
    worker.load("import numpy as np\nimport math\ndef run(b, ecs):\n" + body + "\n")
    return worker.call("run", {"entity": np.arange(2, dtype=np.uint64)}, PERMS, {})


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        ("    np.fromfile('/etc/passwd')", ScriptError, "iso.py:4"),
        (
            "    np.loadtxt('/etc/hostname', dtype=str)",
            ScriptError,
            "refused|open files",
        ),
        ("    np.save('{mark}', np.ones(3))", ScriptError, "refused|open files"),
        ("    np.ctypeslib.load_library('libc', '/lib')", ScriptError, "iso.py"),
        ("    x = [0] * 10**10", ScriptMemoryError, "memory"),
        ("    x = np.ones(10**10)", ScriptMemoryError, "memory"),
        ("    while True: pass", ScriptTimeout, "killed"),
        ("    import os", SandboxViolation, "import of 'os'"),
        ("    import subprocess", SandboxViolation, "import of 'subprocess'"),
        ("    import ctypes", SandboxViolation, "import of 'ctypes'"),
        ("    import socket", SandboxViolation, "import of 'socket'"),
        ("    f = open('/etc/passwd')", SandboxViolation, "open"),
        ("    x = np.__class__", SandboxViolation, "dunder"),
        ("    ecs.despawn(b['entity'])", PermissionDenied, "despawn: yes"),
    ],
)
def test_blocked_in_the_worker(
    worker: IsolatedPythonScript,
    tmp_path: Path,
    body: str,
    error: type[Exception],
    match: str,
) -> None:
    mark = tmp_path / "pwned.npy"
    with pytest.raises(error, match=match):
        run(worker, body.format(mark=mark))
    assert not mark.exists()
    assert run(worker, "    return 1") == []  # the worker (or its successor) answers


def test_worker_has_empty_environment(worker: IsolatedPythonScript) -> None:
    out = run(
        worker, "    ecs.set_batch(b['entity'], 'SPos', {'x': float(len(str(np)))})"
    )
    assert isinstance(out, list)
    assert len(out) == 1


def test_isolated_script_system_matches_trusted(tmp_path: Path) -> None:
    src = """#! reads: SPos
#! writes: SPos
def run(b, ecs):
    ecs.set_batch(b["entity"], "SPos", {"x": b["SPos.x"] * 2 + 1})
"""

    def final(isolated: bool) -> list[float]:
        w = World()
        w.spawn_batch({SPos: {"x": np.arange(5.0)}})
        eng = ScriptEngine(w, components=[SPos])
        try:
            w.add_system(eng.system(eng.load(src, name="d.py", isolated=isolated)))
            w.run(3)
            assert eng.scripts["d.py"].stats.failures == 0
        finally:
            eng.close()
        return w.query(SPos).to_arrow().column("SPos.x").to_pylist()

    assert final(isolated=True) == final(isolated=False)


def test_isolated_scripts_emit_declared_events_and_log() -> None:
    from archetype_ecs import SystemContext, system
    from tests.unit.scripting.test_engine import SHit

    src = """#! reads: SPos
#! events: SHit
def run(b, ecs):
    ecs.log("rows", len(b["entity"]))
    ecs.emit("SHit", {"amount": [1.0, 2.0]})
    ecs.emit("SHit")
"""
    w = World()
    w.spawn(SPos())
    eng = ScriptEngine(w, components=[SPos], events=[SHit])
    got: list[list[float]] = []

    @system(events=[SHit], after=["emit.py"])
    def reader(ctx: SystemContext) -> None:
        got.append(ctx.read(SHit)["amount"].tolist())

    try:
        w.add_system(eng.system(eng.load(src, name="emit.py", isolated=True)), reader)
        w.step()
        sc = eng.scripts["emit.py"]
        assert sc.stats.failures == 0, sc.stats.last_error
        assert got == [[1.0, 2.0, 0.0]]
        assert sc.logs == ["rows\t1"]
    finally:
        eng.close()


def test_isolated_undeclared_event_is_refused() -> None:
    from tests.unit.scripting.test_engine import SHit

    w = World()
    w.spawn(SPos())
    eng = ScriptEngine(w, components=[SPos], events=[SHit])
    src = "#! reads: SPos\ndef run(b, ecs):\n    ecs.log('before')\n    ecs.emit('SHit')\n"
    try:
        w.add_system(eng.system(eng.load(src, name="e.py", isolated=True)))
        w.step()
        sc = eng.scripts["e.py"]
        assert "emit(SHit) needs 'events: SHit'" in sc.stats.last_error
        assert sc.stats.refusals == 1
        assert sc.logs == ["before"]  # lines logged before the failure are kept
    finally:
        eng.close()


def test_isolated_script_state_is_readable_from_the_host() -> None:
    src = """#! reads: SPos
import numpy as np
def run(b, ecs):
    state["calls"] = state.get("calls", 0) + 1
    state["last"] = b["SPos.x"] * 2
    state["nested"] = {"t": (1, 2.5, "x"), "obj": {1, 2}}
"""
    w = World()
    w.spawn_batch({SPos: {"x": np.array([1.0, 2.0])}})
    eng = ScriptEngine(w, components=[SPos])
    try:
        sc = eng.load(src, name="st.py", isolated=True)
        assert sc.state == {}  # no worker yet
        w.add_system(eng.system(sc))
        w.run(2)
        state = sc.state
        assert state == {
            "calls": 2,
            "last": [2.0, 4.0],
            "nested": {"t": [1, 2.5, "x"], "obj": "<set>"},
        }
        state["calls"] = 99  # a copy: the worker's state is unchanged
        assert sc.state["calls"] == 2
    finally:
        eng.close()


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="needs Linux /proc")
def test_the_worker_runs_under_its_os_limits(worker: IsolatedPythonScript) -> None:
    """The kernel's view of the live worker: no new processes, files or writes.

    (RLIMIT_NPROC does not bind root: under root, fork is stopped by the guard rails
    only; as any other user the kernel refuses it too.)
    """
    run(worker, "    return None")
    assert worker._proc is not None
    limits = Path(f"/proc/{worker._proc.pid}/limits").read_text().splitlines()
    table = {line[:26].strip(): line[26:].split()[:2] for line in limits[1:]}
    assert table["Max processes"] == ["0", "0"]
    assert table["Max open files"] == ["3", "3"]
    assert table["Max file size"] == ["0", "0"]
    assert table["Max core file size"] == ["0", "0"]
    assert table["Max cpu time"] == [str(worker.limits.cpu_seconds)] * 2
    assert table["Max address space"] == [str(worker.limits.memory)] * 2
    env = Path(f"/proc/{worker._proc.pid}/environ").read_bytes()
    assert env == b""  # an empty environment
