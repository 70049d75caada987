"""Isolated Python scripts: a worker process with OS limits, Arrow IPC in and out.

The worker is a fresh interpreter (``-I``: no user site, no environment variables, no
inherited files) with an empty environment. After importing what it needs it lowers
its own hard limits: CPU seconds, address space, open files (no new file or socket can
be opened), processes (no fork) and file size (no writes). Then it runs the script with
the trusted-mode guard rails on top. Views go in as an Arrow IPC stream; recorded
commands come back as one IPC stream per command. A call that overruns its wall-time
limit gets the worker killed (a new one starts on the next call).
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from scripting.api import Permissions, Recorded
from scripting.errors import ScriptError, ScriptMemoryError, ScriptTimeout

__all__ = ["IsolatedLimits", "IsolatedPythonScript"]

Array = np.ndarray[Any, Any]
ROOT = Path(__file__).resolve().parents[1]

_WORKER = r"""
import json, os, resource, struct, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import pyarrow as pa
from scripting.python import PythonScript
from scripting.errors import ScriptError, PermissionDenied

# warm up every lazy import the protocol uses before the limits close the door
_t = pa.table({"a": pa.array(np.arange(3.0)), "b": pa.array(np.arange(3, dtype=np.uint64))})
_s = pa.BufferOutputStream()
with pa.ipc.new_stream(_s, _t.schema) as _w:
    _w.write_table(_t)
_r = pa.ipc.open_stream(_s.getvalue().to_pybytes()).read_all()
[_r.column(c).to_numpy(zero_copy_only=False) for c in _r.column_names]
np.broadcast_to(np.asarray(1.0), (3,)).copy(); np.atleast_1d(np.asarray([1], np.uint64))
import numpy.ma, numpy.linalg, numpy.random, traceback, linecache  # noqa: E401,F401
json.dumps({"a": [1]})
cpu, mem = int(sys.argv[2]), int(sys.argv[3])
for lim, val in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, mem),
                 (resource.RLIMIT_NOFILE, 3), (resource.RLIMIT_NPROC, 0),
                 (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(lim, (val, val))
inp, out = sys.stdin.buffer, sys.stdout.buffer

def read():
    head = inp.read(8)
    if len(head) < 8:
        sys.exit(0)
    (n,) = struct.unpack("<Q", head)
    data = inp.read(n)
    (k,) = struct.unpack("<I", data[:4])
    return json.loads(data[4:4 + k]), data[4 + k:]

def write(meta, blobs=()):
    m = json.dumps({**meta, "sizes": [len(b) for b in blobs]}).encode()
    body = struct.pack("<I", len(m)) + m + b"".join(blobs)
    out.write(struct.pack("<Q", len(body)) + body)
    out.flush()

def ipc(cols):
    t = pa.table({k: pa.array(np.asarray(v)) for k, v in cols.items()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    return sink.getvalue().to_pybytes()

class Api:
    def __init__(self, script, perms, resources):
        self.script, self.perms, self.res = script, perms, resources
        self.cmds, self.refusals, self.logs = [], 0, []
    def _deny(self, op, need):
        self.refusals += 1
        raise PermissionDenied(self.script, f"permission denied: {op} needs '{need}' in the script header")
    def _write(self, op, comp):
        if comp not in self.perms["writes"]:
            self._deny(f"{op}({comp})", f"writes: {comp}")
    def _rec(self, op, comp, ents, values, n=None):
        ents = np.atleast_1d(np.asarray(ents, np.uint64))
        n = ents.size if n is None else n
        cols = {"__entity__": ents} if op != "spawn_batch" else {}
        for k, v in (values or {}).items():
            cols[str(k)] = np.broadcast_to(np.asarray(v), (n,)).copy()
        self.cmds.append(({"op": op, "comp": comp, "n": n, "values": values is not None}, cols))
    def resource(self, name):
        if name not in self.perms["resources"]:
            self._deny(f"resource({name})", f"resources: {name}")
        return dict(self.res.get(name, {}))
    def set_batch(self, ents, comp, values):
        self._write("set_batch", comp); self._rec("set_batch", comp, ents, values)
    def set(self, e, comp, values):
        self.set_batch([e], comp, values)
    def insert(self, ents, comp, values=None):
        self._write("insert", comp); self._rec("insert_batch", comp, ents, values)
    def remove(self, ents, comp):
        self._write("remove", comp); self._rec("remove_batch", comp, ents, None)
    def despawn(self, ents):
        if not self.perms["despawn"]:
            self._deny("despawn", "despawn: yes")
        self._rec("despawn_batch", "", ents, None)
    despawn_batch = despawn
    def spawn(self, comps, n=1):
        if not self.perms["spawn"]:
            self._deny("spawn", "spawn: yes")
        for comp, values in comps.items():
            self._write("spawn", comp)
        for i, (comp, values) in enumerate(comps.items()):
            self._rec("spawn_batch" if i == 0 else "spawn+", comp, [], None if values is True else values, n)
    def emit(self, name, values=None, n=1):
        if name not in self.perms["events"]:
            self._deny(f"emit({name})", f"events: {name}")
        if values:
            n = max([int(np.size(v)) for v in values.values()] + [n])
        cols = {str(k): np.broadcast_to(np.asarray(v), (n,)).copy() for k, v in (values or {}).items()}
        self.cmds.append(({"op": "emit", "comp": name, "n": n, "values": True}, cols))
    def log(self, *parts):
        if len(self.logs) < 100:
            self.logs.append("\t".join(map(str, parts))[:1000])

def plain(v, depth=4):
    # a JSON-able copy of the script's state for the host (numbers, text, lists, dicts)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if depth <= 0:
        return f"<{type(v).__name__}>"
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[:200].tolist()
    if isinstance(v, (list, tuple)):
        return [plain(x, depth - 1) for x in list(v)[:200]]
    if isinstance(v, dict):
        return {str(k): plain(x, depth - 1) for k, x in list(v.items())[:200]}
    return f"<{type(v).__name__}>"

script = None
while True:
    meta, blob = read()
    try:
        if meta["op"] == "state":
            write({"ok": True, "state": plain(script.state if script else {})})
            continue
        if meta["op"] == "load":
            script = script or PythonScript(meta["name"])
            script.load(meta["source"])
            write({"ok": True})
            continue
        batch = {}
        if blob:
            t = pa.ipc.open_stream(blob).read_all()
            batch = {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}
        api = Api(meta["name"], meta["perms"], meta["resources"])
        try:
            script.call(meta["entry"], batch, api)
        except ScriptError as exc:
            exc.logs = api.logs
            raise
        metas = [m for m, _ in api.cmds]
        write({"ok": True, "commands": metas, "refusals": api.refusals, "logs": api.logs},
              [ipc(c) for _, c in api.cmds])
    except MemoryError:
        write({"ok": False, "kind": "memory", "message": "memory limit exceeded", "line": None})
    except ScriptError as exc:
        write({"ok": False, "kind": type(exc).__name__, "message": exc.detail,
               "line": exc.line, "traceback": exc.traceback,
               "logs": getattr(exc, "logs", []),
               "refusals": 1 if type(exc).__name__ == "PermissionDenied" else 0})
    except Exception as exc:
        write({"ok": False, "kind": "error", "message": f"{type(exc).__name__}: {exc}", "line": None})
"""


class IsolatedLimits:
    """OS limits of a worker: CPU seconds (lifetime), address space, wall time per call."""

    def __init__(
        self, cpu_seconds: int = 60, memory: int = 2 << 30, call_timeout: float = 5.0
    ) -> None:
        self.cpu_seconds = cpu_seconds
        self.memory = memory
        self.call_timeout = call_timeout


class IsolatedPythonScript:
    """An untrusted Python script run in a worker process (started lazily).

    The script has the trusted-mode API (``run(b, ecs)``) and guard rails; the worker's
    OS limits are the security boundary.
    """

    def __init__(self, name: str, limits: IsolatedLimits | None = None) -> None:
        self.name = name
        self.limits = limits or IsolatedLimits()
        self.compiles = 0
        self.refusals = 0
        self.restarts = 0
        self.source = ""
        self.logs: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None

    def load(self, source: str) -> bool:
        """Send the script to the worker; False when unchanged."""
        if source == self.source and self._proc is not None:
            return False
        self.source = source
        self._ensure()
        self._request({"op": "load", "name": self.name, "source": source}, b"", 30.0)
        self.compiles += 1
        return True

    def call(
        self,
        entry: str,
        batch: dict[str, Array],
        perms: Permissions,
        resources: dict[str, dict[str, Any]],
    ) -> list[tuple[dict[str, Any], dict[str, Array]]]:
        """Run ``entry(batch, ecs)`` in the worker; the recorded commands (raw)."""
        self._ensure()
        t = pa.table({k: pa.array(np.asarray(v)) for k, v in batch.items()})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
        meta = {
            "op": "call",
            "name": self.name,
            "entry": entry,
            "resources": resources,
            "perms": {
                "writes": list(perms.writes),
                "events": list(perms.events),
                "resources": list(perms.resources),
                "spawn": perms.spawn,
                "despawn": perms.despawn,
            },
        }
        reply, blobs = self._request(meta, sink.getvalue().to_pybytes(), None)
        self.refusals += int(reply.get("refusals", 0))
        self._keep_logs(reply)
        out = []
        for m, b in zip(reply["commands"], blobs, strict=True):
            tab = pa.ipc.open_stream(b).read_all()
            cols = {
                c: tab.column(c).to_numpy(zero_copy_only=False)
                for c in tab.column_names
            }
            out.append((m, cols))
        return out

    def read_state(self) -> Any:
        """A copy of the script's ``state`` dict as the worker holds it.

        JSON-able values only (numbers, text, lists, dicts; numpy arrays as lists;
        anything else as ``"<TypeName>"``), at most 4 levels deep and 200 items per
        container. ``{}`` when the worker has not started.
        """
        if self._proc is None or self._proc.poll() is not None:
            return {}
        reply, _ = self._request({"op": "state"}, b"", None)
        return reply.get("state", {})

    def close(self) -> None:
        """Stop the worker."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for f in (self._proc.stdin, self._proc.stdout):
                if f is not None:
                    f.close()
            self._proc = None

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        if self._proc is not None:
            self.close()
            self.restarts += 1
        lim = self.limits
        self._proc = subprocess.Popen(  # our own interpreter and code
            [
                sys.executable,
                "-I",
                "-c",
                _WORKER,
                str(ROOT),
                str(lim.cpu_seconds),
                str(lim.memory),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},
            close_fds=True,
        )
        if self.source:
            src, self.source = self.source, ""
            self.load(src)

    def _request(
        self, meta: dict[str, Any], blob: bytes, timeout: float | None
    ) -> tuple[dict[str, Any], list[bytes]]:
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        m = json.dumps(meta).encode()
        body = struct.pack("<I", len(m)) + m + blob
        try:
            proc.stdin.write(struct.pack("<Q", len(body)) + body)
            proc.stdin.flush()
        except BrokenPipeError:
            self.close()
            raise ScriptError(self.name, "the worker process died") from None
        deadline = time.monotonic() + (timeout or self.limits.call_timeout)
        head = self._read(8, deadline)
        (n,) = struct.unpack("<Q", head)
        data = self._read(n, deadline)
        (k,) = struct.unpack("<I", data[:4])
        reply: dict[str, Any] = json.loads(data[4 : 4 + k])
        blobs, pos = [], 4 + k
        for size in reply.get("sizes", []):
            blobs.append(data[pos : pos + size])
            pos += size
        if not reply["ok"]:
            self.refusals += int(reply.get("refusals", 0))
            self._keep_logs(reply)
            raise _reply_error(self.name, reply)
        return reply, blobs

    def _keep_logs(self, reply: dict[str, Any]) -> None:
        """Lines the script logged in the worker (``ecs.log``), at most 100 per call."""
        lines = reply.get("logs") or []
        self.logs.extend(str(line)[:1000] for line in lines[:100])

    def _read(self, n: int, deadline: float) -> bytes:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self.close()
                raise ScriptTimeout(
                    self.name,
                    f"no answer within {self.limits.call_timeout} s; the worker was killed",
                )
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                rc = proc.wait()
                self.close()
                raise ScriptError(
                    self.name, f"the worker process died (exit status {rc})"
                )
            buf += chunk
        return bytes(buf)


def _reply_error(name: str, reply: dict[str, Any]) -> ScriptError:
    from scripting import errors

    kind = str(reply.get("kind", "error"))
    if kind == "memory":
        return ScriptMemoryError(name, str(reply["message"]))
    cls = getattr(errors, kind, ScriptError)
    if not (isinstance(cls, type) and issubclass(cls, ScriptError)):
        cls = ScriptError
    return cls(
        name, str(reply["message"]), reply.get("line"), str(reply.get("traceback", ""))
    )


def decode(
    cmds: list[tuple[dict[str, Any], dict[str, Array]]],
    comps: dict[str, type],
    events: dict[str, type] | None = None,
) -> list[Recorded]:
    """Turn a worker's raw commands into replayable ones (spawn parts merged)."""
    out: list[Recorded] = []
    for m, cols in cmds:
        op, comp = str(m["op"]), str(m["comp"])
        ents = cols.pop("__entity__", np.zeros(0, np.uint64)).astype(np.uint64)
        values = cols if m["values"] else None
        if op == "emit":
            out.append(("emit", ((events or {})[comp], cols, int(m["n"]))))
        elif op == "despawn_batch":
            out.append((op, (ents,)))
        elif op == "remove_batch":
            out.append((op, (ents, comps[comp])))
        elif op in ("set_batch", "insert_batch"):
            out.append(
                (
                    op,
                    (
                        ents,
                        comps[comp],
                        values if op == "insert_batch" else (values or {}),
                    ),
                )
            )
        elif op == "spawn+" and out and out[-1][0] == "spawn_batch":
            out[-1][1][0][comps[comp]] = values
        else:
            out.append(("spawn_batch", ({comps[comp]: values}, int(m["n"]))))
    return out
