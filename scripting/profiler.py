"""Script profiler: per-script and per-function call counts and times, Lua line samples.

Lua: the runtime's one hook (shared with the instruction budget, see
:mod:`scripting._lua_devtools`) counts every call of a script function exactly (call
hook) and samples the running line every ``sample_every`` VM instructions (count
hook). A Lua function's time is *estimated*: the script's measured call time split in
proportion to the function's samples (self: it was on top; total: it was anywhere on
the stack). Python: ``sys.setprofile`` around the calls of profiled scripts, keeping
only the script's own code objects, measures every call (total and self time).

Results are Arrow tables (:meth:`ScriptProfiler.functions`, :meth:`~ScriptProfiler.
scripts`, :meth:`~ScriptProfiler.lines`). With ``trace=True`` each script call's
functions also go to the world's profiler as ``"script"`` spans named
``"<script>:<function>"`` inside the call's own span, so ``world.trace(path)`` shows
them with the systems (Lua ones are sampled shares, laid end to end).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from scripting._lua_devtools import LuaDevtools, lua_value
from scripting.lua import LuaSandbox
from scripting.python import PythonScript

if TYPE_CHECKING:
    from scripting.engine import Script, ScriptEngine

__all__ = [
    "FUNCTIONS_SCHEMA",
    "LINES_SCHEMA",
    "SCRIPTS_SCHEMA",
    "ProfilerError",
    "ScriptProfiler",
]

from archetype_ecs.errors import EcsError

FUNCTIONS_SCHEMA = pa.schema(
    [
        pa.field("script", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("function", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("calls", pa.int64(), nullable=False),
        pa.field("total_ms", pa.float64(), nullable=False),
        pa.field("self_ms", pa.float64(), nullable=False),
        pa.field("samples", pa.int64(), nullable=False),
        pa.field("estimated", pa.bool_(), nullable=False),
    ]
)
"""One row per script function: ``line`` where it is defined (0: top level, -1:
the sandbox's own code for Lua, e.g. packing commands), exact ``calls``, total and
self time (``estimated`` from samples for Lua), Lua self ``samples``."""

SCRIPTS_SCHEMA = pa.schema(
    [
        pa.field("script", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("calls", pa.int64(), nullable=False),
        pa.field("total_ms", pa.float64(), nullable=False),
        pa.field("mean_us", pa.float64(), nullable=False),
        pa.field("samples", pa.int64(), nullable=False),
    ]
)
"""One row per profiled script: calls made by the engine while profiling, their time."""

LINES_SCHEMA = pa.schema(
    [
        pa.field("script", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("samples", pa.int64(), nullable=False),
        pa.field("share", pa.float64(), nullable=False),
    ]
)
"""Lua line samples: the innermost script line when a sample was taken."""


class ProfilerError(EcsError, ValueError):
    """A profiler request that cannot be done (unknown script, bad option)."""


@dataclass(eq=False)
class _PyFn:
    name: str
    line: int
    calls: int = 0
    total_ns: int = 0
    self_ns: int = 0


@dataclass
class _Target:
    script: Script
    calls: int = 0
    time_ns: int = 0
    tools: LuaDevtools | None = None
    wrapper: Callable[[Callable[[], Any]], Any] | None = None
    py: dict[CodeType, _PyFn] = field(default_factory=dict)
    spans: list[tuple[str, int, int]] = field(default_factory=list)


class ScriptProfiler:
    """Profile the scripts of one :class:`ScriptEngine` while active.

    Parameters
    ----------
    engine
        The engine whose script calls are profiled.
    sample_every
        Lua VM instructions between line samples (the count hook's period; the
        instruction budget is charged at the same period, so it stays exact).
    trace
        Also record per-function spans in ``world.profiler`` (Chrome trace).
    max_spans_per_call
        Bound on the per-function spans one Python script call adds to the trace.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> from scripting import ScriptEngine
    >>> eng = ScriptEngine(World())
    >>> _ = eng.load("def f(x):\\n    return x + 1\\n"
    ...              "def run(b, ecs):\\n    state['y'] = f(f(1))\\n", name="p.py")
    >>> with ScriptProfiler(eng) as prof:
    ...     _ = eng.call("p.py", {"entity": __import__("numpy").zeros(1, "u8")})
    >>> prof.functions().select(["function", "calls"]).to_pylist()
    [{'function': 'run', 'calls': 1}, {'function': 'f', 'calls': 2}]
    """

    def __init__(
        self,
        engine: ScriptEngine,
        *,
        sample_every: int = 1000,
        trace: bool = True,
        max_spans_per_call: int = 256,
    ) -> None:
        if type(sample_every) is not int or not 1 <= sample_every <= 1_000_000:
            raise ProfilerError(
                f"ScriptProfiler(sample_every={sample_every!r}): must be an int in "
                "1..1,000,000 (Lua instructions between samples), e.g. 1000"
            )
        self.engine = engine
        self.sample_every = sample_every
        self.trace = trace
        self.max_spans_per_call = max_spans_per_call
        self.active = False
        self._targets: dict[str, _Target] = {}

    # ---------------------------------------------------------------- control

    def start(self, scripts: list[str] | None = None) -> ScriptProfiler:
        """Start profiling ``scripts`` (default: every script loaded now).

        Raises
        ------
        ProfilerError
            When a name is not a loaded script, or names an isolated script.
        """
        names = list(self.engine.scripts) if scripts is None else list(scripts)
        for name in names:
            sc = self.engine.scripts.get(name)
            if sc is None:
                raise ProfilerError(
                    f"no script named {name!r} to profile (scripts: "
                    f"{', '.join(sorted(self.engine.scripts)) or 'none loaded'})"
                )
            if scripts is not None and not isinstance(
                sc.runtime, LuaSandbox | PythonScript
            ):
                raise ProfilerError(
                    f"script {name!r} runs isolated in a worker process; the "
                    "profiler times its calls only (see engine.report())"
                )
        for name in names:
            self._attach(self.engine.scripts[name])
        if self._on_call not in self.engine.call_hooks:
            self.engine.call_hooks.append(self._on_call)
        self.active = True
        return self

    def stop(self) -> None:
        """Stop profiling; hooks are removed, the results stay."""
        for t in self._targets.values():
            rt = t.script.runtime
            if t.tools is not None:
                t.tools.api.profile(False, 0)
            if t.wrapper is not None and isinstance(rt, PythonScript):
                if t.wrapper in rt.hooks:
                    rt.hooks.remove(t.wrapper)
                t.wrapper = None
        if self._on_call in self.engine.call_hooks:
            self.engine.call_hooks.remove(self._on_call)
        self.active = False

    def reset(self) -> None:
        """Forget the results gathered so far (profiling goes on if active)."""
        for t in self._targets.values():
            t.calls, t.time_ns = 0, 0
            t.py.clear()
            t.spans.clear()
            if t.tools is not None:
                t.tools.api.reset_profile()

    def __enter__(self) -> ScriptProfiler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _attach(self, sc: Script) -> None:
        t = self._targets.get(sc.name)
        if t is None or t.script.runtime is not sc.runtime:
            t = self._targets[sc.name] = _Target(sc)
        t.script = sc
        rt = sc.runtime
        if isinstance(rt, LuaSandbox):
            t.tools = LuaDevtools.of(rt)
            t.tools.api.profile(True, self.sample_every)
        elif isinstance(rt, PythonScript) and t.wrapper is None:
            t.wrapper = self._py_wrapper(t, sc.name)
            rt.hooks.append(t.wrapper)

    def _py_wrapper(self, t: _Target, name: str) -> Callable[[Callable[[], Any]], Any]:
        clock = time.perf_counter_ns
        stack: list[list[Any]] = []  # [fn, start, child_ns]
        active: dict[_PyFn, int] = {}  # recursion depth: total time counts once
        fns = t.py
        spans = t.spans
        cap = self.max_spans_per_call

        def prof(frame: FrameType, event: str, arg: Any) -> None:
            if event == "call":
                code = frame.f_code
                if code.co_filename != name:
                    return
                fn = fns.get(code)
                if fn is None:
                    label = "<main>" if code.co_name == "<module>" else code.co_name
                    line = 0 if code.co_name == "<module>" else code.co_firstlineno
                    fn = fns[code] = _PyFn(label, line)
                fn.calls += 1
                active[fn] = active.get(fn, 0) + 1
                stack.append([fn, clock(), 0])
            elif event == "return":
                if frame.f_code.co_filename != name or not stack:
                    return
                now = clock()
                fn, start, child = stack.pop()
                dur = now - start
                active[fn] -= 1
                if not active[fn]:  # the outermost frame of a recursion
                    fn.total_ns += dur
                fn.self_ns += dur - child
                if stack:
                    stack[-1][2] += dur
                if len(spans) < cap or not stack:  # the call's own frame always
                    spans.append((fn.name, start, now))

        def wrapper(go: Callable[[], Any]) -> Any:
            previous = sys.getprofile()
            sys.setprofile(prof)
            try:
                return go()
            finally:
                sys.setprofile(previous)
                stack.clear()
                active.clear()

        return wrapper

    def _on_call(self, sc: Script, phase: str, start: int, end: int) -> None:
        t = self._targets.get(sc.name)
        if t is None:
            return
        t.calls += 1
        t.time_ns += end - start
        record = self.engine.world.profiler.record if self.trace else None
        if t.tools is not None:
            shares = lua_value(t.tools.api.take_call_samples())
            if record is not None and shares:
                names = self._lua_names(t)
                total = sum(shares.values())
                at = start
                for key, count in sorted(
                    shares.items(), key=lambda kv: (-kv[1], kv[0])
                ):
                    dur = (end - start) * count // total
                    record(
                        "script",
                        f"{sc.name}:{names.get(int(key), _lua_label(int(key)))}",
                        phase,
                        at,
                        at + dur,
                        0,
                        python=False,
                    )
                    at += dur
        elif t.spans:
            if record is not None:
                for fname, s0, s1 in t.spans:
                    record(
                        "script", f"{sc.name}:{fname}", phase, s0, s1, 0, python=True
                    )
            t.spans.clear()

    def _lua_names(self, t: _Target) -> dict[int, str]:
        assert t.tools is not None
        t.tools.sync_env()
        data = t.tools.api.profile_data()
        names = lua_value(data[5]) or {}
        if isinstance(names, list):
            names = dict(enumerate(names, 1))
        return {int(k): str(v) for k, v in names.items()}

    # ---------------------------------------------------------------- results

    def functions(self) -> pa.Table:
        """Per-function results of every profiled script (:data:`FUNCTIONS_SCHEMA`)."""
        rows: list[tuple[Any, ...]] = []
        for name, t in self._targets.items():
            lang = t.script.language
            if t.tools is not None:
                t.tools.sync_env()
                calls, s_self, s_incl, _lines, n, fnames = (
                    lua_value(x) for x in t.tools.api.profile_data()
                )
                calls = _int_keys(calls)
                s_self, s_incl = _int_keys(s_self), _int_keys(s_incl)
                fnames = {k: str(v) for k, v in _int_keys(fnames).items()}
                per = t.time_ns / n / 1e6 if n else 0.0
                for key in sorted(set(calls) | set(s_self) | set(s_incl)):
                    rows.append(
                        (
                            name,
                            lang,
                            fnames.get(key, _lua_label(key)),
                            key,
                            calls.get(key, 0),
                            s_incl.get(key, s_self.get(key, 0)) * per,
                            s_self.get(key, 0) * per,
                            s_self.get(key, 0),
                            True,
                        )
                    )
            else:
                for fn in t.py.values():
                    rows.append(
                        (
                            name,
                            lang,
                            fn.name,
                            fn.line,
                            fn.calls,
                            fn.total_ns / 1e6,
                            fn.self_ns / 1e6,
                            0,
                            False,
                        )
                    )
        return _table(rows, FUNCTIONS_SCHEMA)

    def scripts(self) -> pa.Table:
        """Per-script calls and time while profiling (:data:`SCRIPTS_SCHEMA`)."""
        rows = []
        for name, t in self._targets.items():
            n = int(lua_value(t.tools.api.profile_data()[4])) if t.tools else 0
            rows.append(
                (
                    name,
                    t.script.language,
                    t.calls,
                    t.time_ns / 1e6,
                    t.time_ns / t.calls / 1e3 if t.calls else 0.0,
                    n,
                )
            )
        return _table(rows, SCRIPTS_SCHEMA)

    def lines(self) -> pa.Table:
        """Lua line samples, most sampled first (:data:`LINES_SCHEMA`)."""
        rows = []
        for name, t in self._targets.items():
            if t.tools is None:
                continue
            data = t.tools.api.profile_data()
            lines = _int_keys(lua_value(data[3]))
            total = sum(lines.values())
            for line, count in lines.items():
                rows.append((name, line, count, count / total if total else 0.0))
        rows.sort(key=lambda r: (-r[2], r[0], r[1]))
        return _table(rows, LINES_SCHEMA)


def _lua_label(key: int) -> str:
    if key == 0:
        return "<main>"
    if key == -1:
        return "(sandbox runtime)"
    return f"<function:{key}>"


def _int_keys(value: Any) -> dict[int, Any]:
    if not value:
        return {}
    if isinstance(value, list):
        return {i + 1: v for i, v in enumerate(value)}
    return {int(k): v for k, v in value.items()}


def _table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)],
        schema=schema,
    )
