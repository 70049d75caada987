"""Script debugger: breakpoints, stepping, call stacks, variables and eval, Lua and Python.

Design. A stop is *synchronous*: the script's own thread reaches a breakpoint, the
debugger builds a :class:`Frame` and hands it to the host, and the script resumes when
the host answers with an action (``"continue"``, ``"into"``, ``"over"``, ``"out"``).
Two ways to answer, on top of that one mechanism:

* **callback** (no threads): ``Debugger(engine, on_stop=fn)``; ``fn(frame)`` inspects
  the live frame and returns the action.
* **paused session** (notebooks, REPLs): :meth:`Debugger.start` runs the host's
  ``target`` (e.g. ``world.step``) in one helper thread. At a stop that thread blocks;
  the host gets the frame from :meth:`Session.wait`, inspects it (every inspection
  is shipped to the paused thread, which owns the Lua runtime and the Python frame,
  and runs there) and resumes with :meth:`Session.step`, :meth:`Session.next`,
  :meth:`Session.finish` or :meth:`Session.cont`. Lua hooks cannot yield across the C
  boundary and Python frames cannot be suspended without a thread, so a helper thread
  driven by the host is the sound way to pause; the callback form needs none.

Lua: the hook is the runtime's one hook slot, shared with the instruction budget (see
:mod:`scripting._lua_devtools`); the script can neither see it (``debug`` is not in its
environment) nor remove it. Python: ``sys.settrace`` around the calls of scripts that
have breakpoints, returning a frame-local tracer only for that script's code objects
that hold a breakpoint line (or while stepping); other scripts pay nothing.
"""

from __future__ import annotations

import queue
import sys
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from archetype_ecs.errors import EcsError
from scripting._lua_devtools import LuaDevtools, lua_value
from scripting.lua import LuaSandbox
from scripting.python import PythonScript

if TYPE_CHECKING:
    from scripting.engine import Script, ScriptEngine

__all__ = [
    "Breakpoint",
    "Debugger",
    "DebuggerError",
    "Frame",
    "Session",
    "StackEntry",
    "Stop",
]

_ACTIONS = {
    "continue": "continue",
    "c": "continue",
    "cont": "continue",
    "into": "into",
    "step": "into",
    "s": "into",
    "over": "over",
    "next": "over",
    "n": "over",
    "out": "out",
    "finish": "out",
    "f": "out",
}
_LUA_BUILTINS = frozenset(
    [
        "assert",
        "error",
        "ipairs",
        "next",
        "pairs",
        "select",
        "tonumber",
        "tostring",
        "type",
        "rawequal",
        "rawlen",
        "getmetatable",
        "_VERSION",
        "pcall",
        "xpcall",
        "setmetatable",
        "rawset",
        "rawget",
        "collectgarbage",
        "print",
        "string",
        "table",
        "math",
        "utf8",
        "os",
        "coroutine",
        "ecs",
        "state",
        "_G",
    ]
)


class DebuggerError(EcsError, ValueError):
    """A debugger request that cannot be done (unknown script, bad line, stale frame)."""


@dataclass
class Breakpoint:
    """A line breakpoint in one script; ``condition`` is in the script's language."""

    id: int
    script: str
    line: int
    condition: str | None = None
    hits: int = 0


@dataclass(frozen=True)
class StackEntry:
    """One script frame: function name, file (the script name), current line."""

    function: str
    file: str
    line: int
    defined: int
    """Line where the function is defined (0 for the script's top level)."""


@dataclass(frozen=True)
class Stop:
    """One past stop, as kept in :attr:`Debugger.history`."""

    script: str
    line: int
    reason: str
    function: str
    action: str


def _action(value: object) -> str:
    act = _ACTIONS.get(str(value)) if value is not None else "continue"
    if act is None:
        raise DebuggerError(
            f"unknown debugger action {value!r}; use one of 'continue', 'into' "
            "('step'), 'over' ('next'), 'out' ('finish')"
        )
    return act


class Frame(ABC):
    """A stopped script: where it is, its stack, variables and an ``eval``.

    Valid only while the script is stopped (inside the ``on_stop`` callback, or
    until the paused session resumes); afterwards every method raises
    :class:`DebuggerError`. Level 0 is the innermost script frame.

    Attributes
    ----------
    script, language
        The script's name and ``"lua"`` / ``"python"``.
    line
        The line about to run.
    reason
        ``"breakpoint"`` or ``"step"``.
    breakpoint
        The breakpoint hit (``None`` for a step).
    note
        A condition that failed to evaluate (the stop then happens), else ``""``.
    stack
        The script's call stack, innermost first.
    """

    language = ""

    def __init__(
        self,
        script: str,
        line: int,
        reason: str,
        bp: Breakpoint | None,
        note: str,
        stack: list[StackEntry],
    ) -> None:
        self.script = script
        self.line = line
        self.reason = reason
        self.breakpoint = bp
        self.note = note
        self.stack = stack
        self.valid = True
        self._via: Callable[[Callable[[], Any]], Any] | None = None

    @property
    def function(self) -> str:
        """Name of the function the script is stopped in."""
        return self.stack[0].function if self.stack else "<main>"

    def __repr__(self) -> str:
        where = f"{self.script}:{self.line} in {self.function}"
        return f"<Frame {self.reason} at {where}{'' if self.valid else ' (resumed)'}>"

    def _run(self, fn: Callable[[], Any]) -> Any:
        if not self.valid:
            raise DebuggerError(
                f"frame {self.script}:{self.line} is no longer stopped; inspect a "
                "frame inside on_stop, or before resuming the session"
            )
        return self._via(fn) if self._via is not None else fn()

    def _level(self, level: int) -> int:
        if not 0 <= level < len(self.stack):
            raise DebuggerError(
                f"no frame level {level!r} in {self.script}: the stack has "
                f"{len(self.stack)} script frame(s), 0 is the innermost"
            )
        return level

    def locals(self, level: int = 0) -> dict[str, Any]:
        """The frame's local variables (name -> value)."""
        lv = self._level(level)
        return dict(self._run(lambda: self._locals(lv)))

    def upvalues(self, level: int = 0) -> dict[str, Any]:
        """The frame's closure variables (Lua upvalues, Python free variables)."""
        lv = self._level(level)
        return dict(self._run(lambda: self._upvalues(lv)))

    def state(self) -> Any:
        """The script's persistent ``state`` table / dict."""
        return self._run(self._state)

    def globals(self) -> dict[str, Any]:
        """The script's own globals (functions, top-level variables), builtins left out."""
        return dict(self._run(self._globals))

    def eval(self, expression: str, level: int = 0) -> Any:
        """Evaluate an expression (or run a statement) in the script's language.

        Names resolve to the frame's locals, then its closure variables, then the
        script's globals. Lua evaluations run under a 1,000,000-instruction limit
        and may assign locals; Python evaluations see the frame's variables (3.11
        cannot rebind a running frame's locals; mutating objects works).

        Raises
        ------
        DebuggerError
            When the expression does not compile or raises (message included).
        """
        lv = self._level(level)
        return self._run(lambda: self._eval(expression, lv))

    # implemented per language (_LuaFrame, _PyFrame)
    @abstractmethod
    def _locals(self, level: int) -> dict[str, Any]: ...

    @abstractmethod
    def _upvalues(self, level: int) -> dict[str, Any]: ...

    @abstractmethod
    def _state(self) -> Any: ...

    @abstractmethod
    def _globals(self) -> dict[str, Any]: ...

    @abstractmethod
    def _eval(self, expression: str, level: int) -> Any: ...


class _LuaFrame(Frame):
    language = "lua"

    def __init__(self, tools: LuaDevtools, *args: Any) -> None:
        super().__init__(*args)
        self._api = tools.api

    def _locals(self, level: int) -> dict[str, Any]:
        pairs = lua_value(self._api.locals(level)) or []
        return dict(pairs)

    def _upvalues(self, level: int) -> dict[str, Any]:
        return lua_value(self._api.upvalues(level)) or {}

    def _state(self) -> Any:
        return lua_value(self._api.state())

    def _globals(self) -> dict[str, Any]:
        out = lua_value(self._api.globals()) or {}
        return {k: v for k, v in out.items() if k not in _LUA_BUILTINS}

    def _eval(self, expression: str, level: int) -> Any:
        res = self._api.eval(expression.encode(), level)
        ok, value = (res[0], res[1]) if isinstance(res, tuple) else (res, None)
        if not ok:
            raise DebuggerError(
                f"eval in {self.script}:{self.line}: {lua_value(value)} "
                f"(expression {expression!r})"
            )
        return lua_value(value)


class _PyFrame(Frame):
    language = "python"

    def __init__(self, frames: list[FrameType], rt: PythonScript, *args: Any) -> None:
        super().__init__(*args)
        self._frames = frames
        self._rt = rt

    def _locals(self, level: int) -> dict[str, Any]:
        f = self._frames[level]
        free = set(f.f_code.co_freevars)
        return {k: v for k, v in f.f_locals.items() if k not in free}

    def _upvalues(self, level: int) -> dict[str, Any]:
        f = self._frames[level]
        loc = f.f_locals
        return {k: loc[k] for k in f.f_code.co_freevars if k in loc}

    def _state(self) -> Any:
        return self._rt.state

    def _globals(self) -> dict[str, Any]:
        g = self._frames[0].f_globals
        return {k: v for k, v in g.items() if k not in ("__builtins__", "state")}

    def _eval(self, expression: str, level: int) -> Any:
        f = self._frames[level]
        try:
            try:
                code = compile(expression, "<eval>", "eval")
            except SyntaxError:
                code = compile(expression, "<eval>", "exec")
            return eval(code, f.f_globals, f.f_locals)  # host-side debugging eval
        except Exception as exc:
            raise DebuggerError(
                f"eval in {self.script}:{self.line}: {type(exc).__name__}: {exc} "
                f"(expression {expression!r})"
            ) from None


def _code_lines(code: CodeType) -> set[int]:
    lines = {ln for _, _, ln in code.co_lines() if ln is not None}
    for c in code.co_consts:
        if isinstance(c, CodeType):
            lines |= _code_lines(c)
    return lines


class Debugger:
    """Breakpoints and stops for the scripts of one :class:`ScriptEngine`.

    Parameters
    ----------
    engine
        The engine whose scripts are debugged.
    on_stop
        ``fn(frame) -> action`` called at every stop (``None`` or ``"continue"``
        resumes; ``"into"`` / ``"step"``, ``"over"`` / ``"next"``, ``"out"`` /
        ``"finish"`` step). Without a callback and outside a :class:`Session`, a
        stop is recorded in :attr:`history` and the script continues.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> from scripting import ScriptEngine
    >>> eng = ScriptEngine(World())
    >>> _ = eng.load("function run(b)\\n  local x = b.n * 2\\n  state.x = x\\nend\\n",
    ...              name="t.lua")
    >>> seen = []
    >>> dbg = Debugger(eng, on_stop=lambda f: seen.append(f.locals()))
    >>> bp = dbg.set_breakpoint("t.lua", 3)
    >>> _ = eng.call("t.lua", {"entity": __import__("numpy").zeros(4, "u8")})
    >>> list(seen[0]), seen[0]["x"], seen[0]["b"]["n"]
    (['b', 'x'], 8, 4)
    """

    def __init__(
        self,
        engine: ScriptEngine,
        *,
        on_stop: Callable[[Frame], str | None] | None = None,
    ) -> None:
        for hook in engine.call_hooks:
            if isinstance(getattr(hook, "__self__", None), Debugger):
                raise DebuggerError(
                    "this script engine already has a debugger; use it, or call "
                    "its close() first"
                )
        self.engine = engine
        self.on_stop = on_stop
        self.history: deque[Stop] = deque(maxlen=1000)
        self.errors: list[BaseException] = []
        self._bps: dict[int, Breakpoint] = {}
        self._next_id = 1
        self._lua: dict[str, LuaDevtools] = {}
        self._py: dict[str, _PyTracer] = {}
        self._lua_stepping: set[str] = set()
        self._sessions: dict[int, Session] = {}
        engine.call_hooks.append(self._after_call)

    # ------------------------------------------------------------ breakpoints

    @property
    def breakpoints(self) -> list[Breakpoint]:
        """Every breakpoint, in the order set."""
        return list(self._bps.values())

    def set_breakpoint(
        self, script: str, line: int, condition: str | None = None
    ) -> Breakpoint:
        """Stop before ``line`` of ``script`` runs (when ``condition`` is true).

        Parameters
        ----------
        script
            A loaded script's name.
        line
            1-based line in the script's source.
        condition
            An expression in the script's language, evaluated in the frame (its
            locals, closure variables and globals); an error in it stops too, with
            the message in ``frame.note``.

        Raises
        ------
        DebuggerError
            Unknown script, a line outside the source (or, in Python, with no code),
            a condition that does not compile, or an isolated script.
        """
        sc = self._script(script)
        n_lines = len(sc.source.splitlines())
        if not 1 <= line <= n_lines:
            raise DebuggerError(
                f"breakpoint line {line!r} is outside {script} (lines 1..{n_lines})"
            )
        if isinstance(sc.runtime, PythonScript):
            lines = _code_lines(compile(sc.source, script, "exec"))
            if line not in lines:
                near = sorted(lines, key=lambda ln: (abs(ln - line), ln))[:3]
                raise DebuggerError(
                    f"line {line} of {script} has no code; lines with code nearby: "
                    f"{sorted(near)}"
                )
            if condition is not None:
                try:
                    compile(condition, "<condition>", "eval")
                except SyntaxError as exc:
                    raise DebuggerError(
                        f"breakpoint condition {condition!r} for {script}:{line} "
                        f"does not compile: {exc.msg}"
                    ) from None
        elif isinstance(sc.runtime, LuaSandbox) and condition is not None:
            tools = self._on_owner(lambda: self._tools(sc))
            ok, msg = self._on_owner(lambda: tools.api.check(condition.encode()))
            if not ok:
                raise DebuggerError(
                    f"breakpoint condition {condition!r} for {script}:{line} does "
                    f"not compile: {lua_value(msg)}"
                )
        bp = Breakpoint(self._next_id, script, line, condition)
        for old in list(self._bps.values()):
            if old.script == script and old.line == line:
                del self._bps[old.id]
        self._next_id += 1
        self._bps[bp.id] = bp
        self._sync(script)
        return bp

    def clear_breakpoint(self, bp: Breakpoint | int) -> None:
        """Remove one breakpoint (the object or its id).

        Raises
        ------
        DebuggerError
            When no such breakpoint is set.
        """
        key = bp.id if isinstance(bp, Breakpoint) else bp
        found = self._bps.pop(key, None)
        if found is None:
            raise DebuggerError(
                f"no breakpoint {bp!r} is set; see debugger.breakpoints"
            )
        self._sync(found.script)

    def clear(self, script: str | None = None) -> None:
        """Remove every breakpoint (of one script, or of all)."""
        names = {b.script for b in self._bps.values()}
        for b in list(self._bps.values()):
            if script is None or b.script == script:
                del self._bps[b.id]
        for name in names:
            self._sync(name)

    def close(self) -> None:
        """Remove every breakpoint and detach from the engine (hooks uninstalled)."""
        self.clear()
        if self._after_call in self.engine.call_hooks:
            self.engine.call_hooks.remove(self._after_call)

    def start(self, target: Callable[[], Any]) -> Session:
        """Run ``target()`` in a helper thread whose stops wait for the host.

        Examples
        --------
        ``s = dbg.start(world.step)``; ``frame = s.wait()``; ``frame.locals()``;
        ``frame = s.next()``; ... ``s.cont()`` returns ``None`` once ``target``
        has returned.
        """
        return Session(self, target)

    # ------------------------------------------------------------ internals

    def _script(self, name: str) -> Script:
        sc = self.engine.scripts.get(name)
        if sc is None:
            known = ", ".join(sorted(self.engine.scripts)) or "none loaded"
            raise DebuggerError(f"no script named {name!r} (scripts: {known})")
        if not isinstance(sc.runtime, LuaSandbox | PythonScript):
            raise DebuggerError(
                f"script {name!r} runs isolated in a worker process; the debugger "
                "works on Lua and trusted Python scripts"
            )
        return sc

    def _tools(self, sc: Script) -> LuaDevtools:
        assert isinstance(sc.runtime, LuaSandbox)
        tools = LuaDevtools.of(sc.runtime)
        self._lua[sc.name] = tools
        return tools

    def _sync(self, name: str) -> None:
        sc = self.engine.scripts.get(name)
        if sc is None:
            return
        mine = {b.line: b for b in self._bps.values() if b.script == name}
        rt = sc.runtime
        if isinstance(rt, LuaSandbox):

            def install() -> None:
                tools = self._tools(sc)
                tools.on_stop = (
                    (lambda k, ln, note: self._lua_stop(name, tools, k, ln, note))
                    if mine
                    else None
                )
                lines = {ln: b.condition or "" for ln, b in mine.items()}
                tools.set_breakpoints(lines)

            self._on_owner(install)
        elif isinstance(rt, PythonScript):
            tr = self._py.get(name)
            if not mine:
                if tr is not None:  # a call running now stops stopping too
                    tr.lines, tr.conds = {}, {}
                    rt.hooks.remove(tr.wrapper)
                    del self._py[name]
                return
            if tr is None:
                tr = self._py[name] = _PyTracer(self, rt)
                rt.hooks.append(tr.wrapper)
            tr.lines = mine
            tr.conds = {
                ln: compile(b.condition, "<condition>", "eval")
                for ln, b in mine.items()
                if b.condition
            }

    def _on_owner(self, fn: Callable[[], Any]) -> Any:
        # A paused session's thread holds the Lua runtimes: run Lua work there.
        for session in list(self._sessions.values()):
            if session.frame is not None:
                return session._call(fn)
        return fn()

    def _after_call(self, sc: Script, phase: str, start: int, end: int) -> None:
        # stepping never carries over from one call of a script to the next
        if sc.name in self._lua_stepping:
            self._lua_stepping.discard(sc.name)
            self._lua[sc.name].api.clear_stepping()

    def _dispatch(self, frame: Frame) -> str:
        session = self._sessions.get(threading.get_ident())
        try:
            if session is not None:
                act = session._stopped(frame)
            elif self.on_stop is not None:
                act = _action(self.on_stop(frame))
            else:
                act = "continue"
        except BaseException as exc:  # a failing callback must not kill the script
            self.errors.append(exc)
            act = "continue"
        finally:
            frame.valid = False
        if frame.breakpoint is not None:
            frame.breakpoint.hits += 1
        self.history.append(
            Stop(frame.script, frame.line, frame.reason, frame.function, act)
        )
        return act

    def _lua_stop(
        self, name: str, tools: LuaDevtools, kind: str, line: int, note: str
    ) -> str:
        raw = lua_value(tools.api.stack()) or []
        stack = [StackEntry(str(f), str(s), int(ln), int(d)) for f, s, ln, d in raw]
        bp = next(
            (b for b in self._bps.values() if b.script == name and b.line == line),
            None,
        )
        frame = _LuaFrame(
            tools, name, line, kind, bp if kind == "breakpoint" else None, note, stack
        )
        act = self._dispatch(frame)
        if act != "continue":
            self._lua_stepping.add(name)
        return act

    def _py_stop(
        self,
        rt: PythonScript,
        frames: list[FrameType],
        reason: str,
        bp: Breakpoint | None,
        note: str,
    ) -> str:
        name = rt.name
        stack = [
            StackEntry(
                f.f_code.co_name if f.f_code.co_name != "<module>" else "<main>",
                name,
                f.f_lineno,
                0 if f.f_code.co_name == "<module>" else f.f_code.co_firstlineno,
            )
            for f in frames
        ]
        line = frames[0].f_lineno
        return self._dispatch(_PyFrame(frames, rt, name, line, reason, bp, note, stack))


class _PyTracer:
    """Breakpoints of one Python script: settrace around its calls, script frames only."""

    def __init__(self, dbg: Debugger, rt: PythonScript) -> None:
        self.dbg = dbg
        self.rt = rt
        self.name = rt.name
        self.lines: dict[int, Breakpoint] = {}
        self.conds: dict[int, CodeType] = {}
        self.stepping: str | None = None
        self.step_depth = 0
        self.step_thread = 0
        self.wants: dict[CodeType, bool] = {}

    def frames(self, frame: FrameType | None) -> list[FrameType]:
        out = []
        while frame is not None:
            if frame.f_code.co_filename == self.name:
                out.append(frame)
            frame = frame.f_back
        return out

    def stop(
        self, frame: FrameType, reason: str, bp: Breakpoint | None, note: str
    ) -> None:
        frames = self.frames(frame)
        act = self.dbg._py_stop(self.rt, frames, reason, bp, note)
        if act == "continue":
            self.stepping = None
            return
        self.stepping = act
        self.step_depth = len(frames)
        self.step_thread = threading.get_ident()
        for f in frames:  # the callers must report lines for "over" / "out"
            f.f_trace = self.local

    def hit(self, frame: FrameType, line: int) -> tuple[bool, str]:
        cond = self.conds.get(line)
        if cond is None:
            return True, ""
        try:
            return bool(eval(cond, frame.f_globals, frame.f_locals)), ""
        except Exception as exc:
            return True, f"condition raised {type(exc).__name__}: {exc}"

    def local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event != "line":
            return self.local
        line = frame.f_lineno
        bp = self.lines.get(line)
        if bp is not None:
            hit, note = self.hit(frame, line)
            if hit:
                self.stop(frame, "breakpoint", bp, note)
                return self.local
        mode = self.stepping
        if mode == "into":
            self.stop(frame, "step", None, "")
        elif mode is not None and threading.get_ident() == self.step_thread:
            d = len(self.frames(frame))
            if d < self.step_depth or (mode == "over" and d <= self.step_depth):
                self.stop(frame, "step", None, "")
        return self.local

    def global_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        if code.co_filename != self.name:
            return None
        if self.stepping is not None:
            return self.local
        hit = self.wants.get(code)
        if hit is None:
            own = {ln for _, _, ln in code.co_lines() if ln is not None}
            hit = self.wants[code] = any(ln in own for ln in self.lines)
        return self.local if hit else None

    def wrapper(self, go: Callable[[], Any]) -> Any:
        self.wants.clear()  # breakpoints may have changed since the last call
        previous = sys.gettrace()
        sys.settrace(self.global_trace)
        try:
            return go()
        finally:
            sys.settrace(previous)
            self.stepping = None


class Session:
    """A host-driven run: ``target()`` in a helper thread that pauses at stops.

    Made by :meth:`Debugger.start`. Drive it from one host thread; do not step the
    world from the host while the session runs.

    Examples
    --------
    ``s = dbg.start(world.step)``; ``f = s.wait()`` (a :class:`Frame`, or
    ``None`` once the target returned); ``f.locals()``; ``f = s.next()``;
    ``s.cont()``.
    """

    def __init__(self, debugger: Debugger, target: Callable[[], Any]) -> None:
        self.debugger = debugger
        self.frame: Frame | None = None
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self._aborting = False
        self._events: queue.Queue[tuple[str, Frame | None]] = queue.Queue()
        self._req: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._resp: queue.Queue[tuple[bool, Any]] = queue.Queue()
        self._target = target
        self._thread = threading.Thread(
            target=self._main, name="arrow-ecs-debug", daemon=True
        )
        self._thread.start()

    def _main(self) -> None:
        self.debugger._sessions[threading.get_ident()] = self
        try:
            self.result = self._target()
        except BaseException as exc:
            self.error = exc
        finally:
            self.debugger._sessions.pop(threading.get_ident(), None)
            self._events.put(("done", None))

    def _stopped(self, frame: Frame) -> str:
        """On the helper thread: hand the frame to the host, serve it, resume."""
        if self._aborting:
            return "continue"
        frame._via = self._call
        self._events.put(("stop", frame))
        while True:
            kind, payload = self._req.get()
            if kind == "resume":
                return str(payload)
            try:
                self._resp.put((True, payload()))
            except BaseException as exc:
                self._resp.put((False, exc))

    def _call(self, fn: Callable[[], Any]) -> Any:
        if threading.get_ident() == self._thread.ident:
            return fn()
        self._req.put(("call", fn))
        ok, value = self._resp.get()
        if not ok:
            raise value
        return value

    def wait(self, timeout: float | None = None) -> Frame | None:
        """The next stop's frame, or ``None`` once the target has returned.

        Raises
        ------
        DebuggerError
            When nothing happens within ``timeout`` seconds.
        BaseException
            Whatever the target raised, once it has finished.
        """
        if self.done:
            return None
        try:
            kind, frame = self._events.get(timeout=timeout)
        except queue.Empty:
            raise DebuggerError(
                f"the debug session did not stop or finish within {timeout} s"
            ) from None
        if kind == "done":
            self.done, self.frame = True, None
            self._thread.join()
            if self.error is not None:
                raise self.error
            return None
        self.frame = frame
        return frame

    def resume(
        self, action: str = "continue", timeout: float | None = None
    ) -> Frame | None:
        """Resume the paused script with ``action``; the next frame or ``None``.

        Raises
        ------
        DebuggerError
            When the session is not paused, or the action is unknown.
        """
        act = _action(action)
        if self.frame is None:
            raise DebuggerError(
                "the session is not paused; call wait() first"
                if not self.done
                else "the session has finished"
            )
        self.frame.valid = False
        self.frame = None
        self._req.put(("resume", act))
        return self.wait(timeout)

    def step(self, timeout: float | None = None) -> Frame | None:
        """Step into: stop at the next script line, entering calls."""
        return self.resume("into", timeout)

    def next(self, timeout: float | None = None) -> Frame | None:
        """Step over: the next line in this function (or its caller)."""
        return self.resume("over", timeout)

    def finish(self, timeout: float | None = None) -> Frame | None:
        """Step out: stop in the caller once this function returns."""
        return self.resume("out", timeout)

    def cont(self, timeout: float | None = None) -> Frame | None:
        """Continue to the next breakpoint (or the end: ``None``)."""
        return self.resume("continue", timeout)

    def abort(self) -> None:
        """Let the target run to the end without stopping again, and wait for it."""
        self._aborting = True
        while not self.done:
            if self.frame is not None:
                self.resume("continue")
            else:
                self.wait()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.abort()
        except BaseException:
            if exc[0] is None:
                raise
