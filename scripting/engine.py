"""ScriptEngine: loads Lua / Python scripts and runs them as systems or behavior leaves.

One engine per world. Each script has its own context (a Lua runtime, or a Python
namespace), a persistent ``state`` table, a permission set from its header block, and
counters (calls, time, failures, limit hits, refusals, violations). A failing call is
reported and skipped; a script failing repeatedly, or over the violation threshold, is
disabled. The frame and the other scripts go on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns
from types import CodeType
from typing import Any

import numpy as np

from archetype_ecs.commands import CommandBuffer
from archetype_ecs.component import schema_of
from archetype_ecs.resources import Time
from archetype_ecs.system import System, SystemContext, system
from archetype_ecs.world import World
from scripting.api import Permissions, PythonApi, Recorded, parse_header, replay
from scripting.errors import (
    PermissionDenied,
    SandboxViolation,
    ScriptError,
    ScriptMemoryError,
    ScriptTimeout,
)
from scripting.isolated import IsolatedLimits, IsolatedPythonScript, decode
from scripting.lua import LuaLimits, LuaSandbox, RawCommand
from scripting.python import PythonScript

__all__ = ["Script", "ScriptEngine", "ScriptStats"]

Array = np.ndarray[Any, Any]
_LANGUAGES = {".lua": "lua", ".py": "python"}


@dataclass
class ScriptStats:
    """Counters of one script (security monitoring and profiling)."""

    calls: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    time_ns: int = 0
    limit_hits: int = 0
    refusals: int = 0
    violations: int = 0
    disabled: bool = False
    last_error: str = ""


@dataclass
class Script:
    """One loaded script: source, language, permissions, runtime and counters."""

    name: str
    language: str
    source: str
    perms: Permissions
    runtime: LuaSandbox | PythonScript | IsolatedPythonScript
    stats: ScriptStats = field(default_factory=ScriptStats)
    logs: list[str] = field(default_factory=list)
    # per phase: (profiler, its recorder for this script) -- set on the first call
    recorders: dict[str, tuple[Any, Callable[[int, int, int, int], None]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def state(self) -> Any:
        """The persistent state of the script.

        A trusted Python script's own ``state`` dict (live). For an isolated script,
        a copy fetched from its worker (JSON-able values; see
        :meth:`IsolatedPythonScript.read_state`). For a Lua script, a copy of its
        ``state`` table made by the host's devtools (nested tables as lists / dicts,
        4 levels and 200 items per table; functions and other values as
        ``"<...>"`` text; no metamethod runs). Changing a copy changes nothing in the
        script. ``None`` before a Lua script is loaded.
        """
        rt = self.runtime
        if isinstance(rt, PythonScript):
            return rt.state
        if isinstance(rt, IsolatedPythonScript):
            return rt.read_state()
        if rt.env is None:
            return None
        from scripting._lua_devtools import LuaDevtools, lua_value

        tools = LuaDevtools.of(rt)
        tools.api.set_env(rt.env)  # the current one (a hot reload makes a new env)
        return lua_value(tools.api.state())


def _fmt(dtype: np.dtype[Any]) -> str:
    return "d" if dtype.kind == "f" else "j"


_F8, _I8 = np.dtype("<f8"), np.dtype("<i8")


def _check_columns(script: str, names: tuple[str, ...]) -> None:
    """Refuse batch column names the Lua batch cannot hold as given."""
    comps = {k.split(".", 1)[0] for k in names if "." in k}
    for k in names:
        if not k or "," in k or "=" in k or k == "n" or k in comps:
            raise ScriptError(
                script,
                f"batch column {k!r} cannot be passed to Lua: a column name must be "
                f"non-empty, hold no ',' or '=', and be neither 'n' (the batch size) "
                f"nor the name of a component other columns use as 'Component.field'; "
                f"rename the column",
            )


def _pack(arr: Array, fmt: str) -> bytes:
    """An array's values as packed little-endian doubles (``d``) or int64 (``j``)."""
    return arr.astype(_F8 if fmt == "d" else _I8, copy=False).tobytes()


def _bools(cls: type, cols: dict[str, Array] | None) -> dict[str, Array] | None:
    """Lua packs booleans as 0 / 1 integers: turn them back into bool columns."""
    if cols:
        for f in schema_of(cls).fields:
            if f.name in cols and np.dtype(f.type.dtype) == np.bool_:
                cols[f.name] = cols[f.name] != 0
    return cols


def _merge_spawns(recs: list[Recorded]) -> list[Recorded]:
    out: list[Recorded] = []
    for op, args in recs:
        if op == "spawn+" and out and out[-1][0] == "spawn_batch":
            out[-1][1][0].update(args[0])
        elif op in ("spawn", "spawn+"):
            out.append(("spawn_batch", (dict(args[0]), args[1])))
        else:
            out.append((op, args))
    return out


class ScriptEngine:
    """Load scripts and run them as systems (or batched behavior leaves).

    Parameters
    ----------
    world
        The world the scripts' systems run in.
    components, resources
        Types scripts may name in their headers (components already registered in
        the world are found by name too; ``Time`` is always known).
    limits
        Lua limits (instruction budget, memory, size limits).
    max_failures
        Consecutive failed calls after which a script is disabled.
    max_violations
        Sandbox violations plus refused permissions after which it is disabled.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Hp:
    ...     v: f32 = 0.0
    >>> w = World()
    >>> _ = w.spawn_batch({Hp: {"v": [1.0, 2.0]}})
    >>> eng = ScriptEngine(w, components=[Hp])
    >>> src = "--! writes: Hp\\nfunction run(b)\\n  local v = {}\\n"
    >>> src += "  for i = 1, b.n do v[i] = b.Hp.v[i] * 2 end\\n"
    >>> src += "  ecs.set_batch(b.entity, 'Hp', {v = v})\\nend\\n"
    >>> w.add_system(eng.system(eng.load(src, name="double", language="lua")))
    >>> w.step()
    >>> sorted(w.query(Hp).to_arrow().column("Hp.v").to_pylist())
    [2.0, 4.0]
    """

    def __init__(
        self,
        world: World,
        *,
        components: Sequence[type] = (),
        resources: Sequence[type] = (),
        events: Sequence[type] = (),
        limits: LuaLimits | None = None,
        max_failures: int = 3,
        max_violations: int = 3,
    ) -> None:
        self.world = world
        self.limits = limits or LuaLimits()
        self.isolated_limits = IsolatedLimits()
        self.max_failures = max_failures
        self.max_violations = max_violations
        self.scripts: dict[str, Script] = {}
        self._components = {schema_of(c).name: c for c in components}
        self._resources = {r.__name__: r for r in (Time, *resources)}
        self._events = {schema_of(e).name: e for e in events}
        # (column names, formats) -> packed layout; see _pack_batch
        self._layouts: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
        self._code_cache: dict[str, CodeType] = {}
        self.last_statuses: Array | None = None
        self.pending = CommandBuffer("scripts")
        # hook(script, phase, start_ns, end_ns) after every call (the script profiler
        # and debugger use it); empty by default.
        self.call_hooks: list[Callable[[Script, str, int, int], None]] = []
        world.stats_providers.append(self._security_counters)

    def _security_counters(self) -> dict[str, dict[str, int]]:
        """Per-script security counters for ``world.stats()``."""
        return {
            s.name: {
                "failures": s.stats.failures,
                "limit_hits": s.stats.limit_hits,
                "refusals": s.stats.refusals,
                "violations": s.stats.violations,
                "disabled": int(s.stats.disabled),
            }
            for s in self.scripts.values()
        }

    # ------------------------------------------------------------------ loading

    def load(
        self,
        source: str | Path,
        *,
        name: str | None = None,
        language: str | None = None,
        isolated: bool = False,
    ) -> Script:
        """Load (or reload) a script from a file path or a source string.

        The language comes from the extension (``.lua``, ``.py``) or ``language``.
        Reloading a name keeps its state; unchanged content is not recompiled.
        ``isolated=True`` runs a Python script in a worker process with OS limits
        (the mode for untrusted Python).

        Raises
        ------
        ScriptError
            On an unknown language, a bad header, a syntax or top-level error, or a
            header naming an unknown component or resource.
        """
        if isinstance(source, Path) or (
            "\n" not in source and source.endswith((".lua", ".py"))
        ):
            path = Path(source)
            text = path.read_text()
            name = name or path.name
            language = language or _LANGUAGES.get(path.suffix)
        else:
            text = source
            name = name or f"script{len(self.scripts)}"
            language = language or _LANGUAGES.get(Path(name).suffix)
        if language not in ("lua", "python"):
            raise ScriptError(
                name,
                f"unknown script language {language!r}; use .lua / .py or language=",
            )
        perms = parse_header(text, name)
        for comp in perms.readable():
            self.component(comp, name)
        for res in perms.resources:
            self.resource_type(res, name)
        for ev in perms.events:
            self.event_type(ev, name)
        old = self.scripts.get(name)
        if (
            old is not None
            and old.language == language
            and isinstance(old.runtime, IsolatedPythonScript) == isolated
        ):
            runtime = old.runtime
        elif isolated and language == "python":
            runtime = IsolatedPythonScript(name, self.isolated_limits)
        else:
            runtime = self._runtime(name, language)
        if isinstance(runtime, LuaSandbox):
            self._configure_lua(runtime, perms)
        runtime.load(text)
        script = Script(name, language, text, perms, runtime)
        if old is not None:
            script.stats, script.logs = old.stats, old.logs
        self.scripts[name] = script
        return script

    def _runtime(self, name: str, language: str) -> LuaSandbox | PythonScript:
        if language == "lua":
            return LuaSandbox(name, self.limits)
        return PythonScript(name, self._code_cache)

    def component(self, comp: str, script: str) -> type:
        """The component type a script names (engine list, then the world's)."""
        cls = self._components.get(comp)
        if cls is None:
            reg = self.world.components
            cid = reg._by_name.get(comp)
            if cid is not None:
                cls = reg.schemas[cid].cls
        if cls is None:
            raise ScriptError(
                script,
                f"header names unknown component {comp!r}; pass it in "
                "ScriptEngine(world, components=[...])",
            )
        return cls

    def resource_type(self, res: str, script: str) -> type:
        """The resource type a script names."""
        if res not in self._resources:
            raise ScriptError(
                script,
                f"header names unknown resource {res!r}; pass it in "
                "ScriptEngine(world, resources=[...])",
            )
        return self._resources[res]

    def event_type(self, ev: str, script: str) -> type:
        """The event type a script names."""
        if ev not in self._events:
            raise ScriptError(
                script,
                f"header names unknown event {ev!r}; pass it in "
                "ScriptEngine(world, events=[...])",
            )
        return self._events[ev]

    def _types(self, sc: Script) -> dict[str, type]:
        out = {c: self.component(c, sc.name) for c in sc.perms.readable()}
        out.update({e: self._events[e] for e in sc.perms.events})
        return out

    def _schema(self, perms: Permissions) -> str:
        parts = []
        for comp in (*perms.readable(), *perms.events):
            cls = (
                self._events[comp] if comp in perms.events else self.component(comp, "")
            )
            s = schema_of(cls)
            fields = ",".join(
                f"{f.name}={_fmt(np.dtype(f.type.dtype))}"
                for f in s.fields
                if not f.type.shape
            )
            parts.append(f"{comp}:{fields}")
        return ";".join(parts)

    # ------------------------------------------------------------------ running

    def system(
        self,
        script: str | Script,
        *,
        query: Sequence[type | str] | None = None,
        entry: str = "run",
        name: str | None = None,
        phase: str = "update",
        before: Sequence[str] = (),
        after: Sequence[str] = (),
    ) -> System:
        """A python-kind :class:`System` calling ``entry(batch)`` once per run.

        The batch holds the entities the query matches (all archetypes together):
        ``batch.n``, ``batch.entity`` and ``batch.<Component>.<field>`` arrays
        (Lua tables, or a dict of numpy arrays in Python). The declared access
        comes from the script header.
        """
        sc = script if isinstance(script, Script) else self.scripts[script]
        perms = sc.perms
        names = [
            q if isinstance(q, str) else schema_of(q).name
            for q in (query or perms.readable())
        ]
        for comp in names:
            if comp not in perms.readable():
                raise PermissionDenied(
                    sc.name,
                    f"permission denied: query({comp}) needs 'reads: {comp}' in the script header",
                )
        comps = [self.component(c, sc.name) for c in names]

        def body(ctx: SystemContext) -> None:
            self._run_system(sc.name, ctx, comps, entry)

        body.__name__ = name or sc.name
        made = system(
            body,
            name=name or sc.name,
            phase=phase,
            reads=[self.component(c, sc.name) for c in perms.readable()],
            writes=[self.component(c, sc.name) for c in perms.writes],
            resources=[self._resources[r] for r in perms.resources],
            events_mut=[self._events[e] for e in perms.events],
            commands=True,
            before=before,
            after=after,
        )
        assert isinstance(made, System)
        return made

    def leaf_fn(
        self,
        script: str | Script,
        components: Sequence[type | str],
        *,
        entry: str = "tick",
    ) -> Callable[..., Array]:
        """A batched behavior-leaf function ``f(rows, *fields) -> statuses``.

        The script's ``entry(batch)`` gets ``batch.n``, ``batch.row`` and
        ``batch.<Component>.<field>`` for the agents at the leaf, and returns one
        status per agent. Commands go to :attr:`pending` (apply them with
        ``world.apply(engine.take_pending())``). A failing call returns FAILURE (2)
        for every agent. Register it with
        ``behaviors.leaves.leaf(name, kind=..., reads=[...], batched=True)(fn)``.
        """
        sc = script if isinstance(script, Script) else self.scripts[script]
        comps = [
            self.component(c, sc.name) if isinstance(c, str) else c for c in components
        ]
        keys = [
            f"{schema_of(c).name}.{f.name}" for c in comps for f in schema_of(c).fields
        ]

        def call(rows: Array, *fields: Array) -> Array:
            rows = np.asarray(rows, np.int64)
            batch = {"row": rows}
            batch.update(
                {k: np.asarray(a)[rows] for k, a in zip(keys, fields, strict=False)}
            )
            recorded = self.call(sc.name, batch, entry=entry, statuses=rows.size)
            if recorded is None or self.last_statuses is None:
                return np.full(rows.size, 2, np.int64)
            replay(recorded, self.pending)
            return self.last_statuses

        return call

    def take_pending(self) -> CommandBuffer:
        """The commands leaves recorded since the last take (a fresh buffer)."""
        out, self.pending = self.pending, CommandBuffer("scripts")
        return out

    def _run_system(
        self, name: str, ctx: SystemContext, comps: list[type], entry: str
    ) -> None:
        sc = self.scripts[name]
        if sc.stats.disabled:
            return
        cols: dict[str, list[Array]] = {"entity": []}
        for cls in comps:  # every key exists even when nothing matches
            s = schema_of(cls)
            for f in s.fields:
                if not f.type.shape:
                    cols[f"{s.name}.{f.name}"] = []
        for ents, *views in ctx.query(*comps):
            cols["entity"].append(np.asarray(ents))
            for cls, view in zip(comps, views, strict=True):
                s = schema_of(cls)
                for f in s.fields:
                    if not f.type.shape:
                        key = f"{s.name}.{f.name}"
                        cols.setdefault(key, []).append(
                            np.asarray(getattr(view, f.name))
                        )
        batch = {
            k: (
                np.concatenate(v)
                if v
                else np.zeros(0, np.uint64 if k == "entity" else np.float64)
            )
            for k, v in cols.items()
        }
        recorded = self.call(name, batch, entry=entry, phase=ctx.system.phase)
        if recorded:
            try:
                for op, args in recorded:
                    if op == "emit":
                        ctx.send_batch(args[0], args[1], args[2])
                replay(recorded, ctx.commands)
            except Exception as exc:  # bad values: the call failed, nothing recorded
                self._fail(sc, ScriptError(name, f"commands refused: {exc}"))

    def call(
        self,
        name: str,
        batch: dict[str, Array],
        *,
        entry: str = "run",
        statuses: int = 0,
        phase: str = "",
    ) -> list[Recorded] | None:
        """Call a script on one batch; its commands, or None when it failed.

        Failures are counted, kept in ``stats.last_error`` and skipped (never
        raised); the script is disabled past ``max_failures`` / ``max_violations``.
        With ``statuses > 0`` the statuses are kept in ``self.last_statuses``.
        """
        sc = self.scripts[name]
        st = sc.stats
        if st.disabled:
            return None
        first = batch.get("entity")
        if first is None:
            first = batch.get("row")
        n = 0 if first is None else len(first)
        start = perf_counter_ns()
        try:
            rt = sc.runtime
            if isinstance(rt, LuaSandbox):
                recorded = self._call_lua(sc, rt, batch, entry, n, statuses)
            else:
                recorded = self._call_python(sc, rt, batch, entry, statuses)
        except ScriptError as exc:
            self._fail(sc, exc)
            return None
        finally:
            end = perf_counter_ns()
            st.calls += 1
            st.time_ns += end - start
            prof = self.world.profiler
            if prof.enabled:
                hit = sc.recorders.get(phase)
                if hit is None or hit[0] is not prof:
                    rec = prof.recorder("script", name, phase, python=True)
                    hit = sc.recorders[phase] = (prof, rec)
                hit[1](start, end, 0, n)
            if self.call_hooks:
                for hook in self.call_hooks:
                    hook(sc, phase, start, end)
        st.consecutive_failures = 0
        return recorded

    def _call_python(
        self,
        sc: Script,
        rt: PythonScript | IsolatedPythonScript,
        batch: dict[str, Array],
        entry: str,
        statuses: int,
    ) -> list[Recorded]:
        if isinstance(rt, IsolatedPythonScript):
            r0 = rt.refusals
            comps = {c: self.component(c, sc.name) for c in sc.perms.readable()}
            events = {e: self._events[e] for e in sc.perms.events}
            try:
                cmds = rt.call(entry, batch, sc.perms, self._resource_values(sc))
            finally:
                sc.stats.refusals += rt.refusals - r0
                sc.logs[:] = (sc.logs + rt.logs)[-100:]
                rt.logs.clear()
            return decode(cmds, comps, events)
        api = PythonApi(sc.name, sc.perms, self._types(sc))
        api.resource_values = self._resource_values(sc)
        view = {k: v.copy() for k, v in batch.items()}
        try:
            out = rt.call(entry, view, api)
        finally:
            sc.stats.refusals += api.refusals
            sc.logs[:] = (sc.logs + api.logs)[-100:]
        self.last_statuses = np.asarray(out, np.int64) if statuses else None
        return api.recorded

    def _call_lua(
        self,
        sc: Script,
        rt: LuaSandbox,
        batch: dict[str, Array],
        entry: str,
        n: int,
        statuses: int,
    ) -> list[Recorded]:
        if sc.perms.resources:
            for res, values in self._resource_values(sc).items():
                lay = ",".join(
                    f"{k}={'d' if isinstance(v, float) else 'j'}"
                    for k, v in values.items()
                )
                blob = b"".join(
                    _pack(np.array([v]), "d" if isinstance(v, float) else "j")
                    for v in values.values()
                )
                rt.set_resource(res, lay, blob)
        lay, blob = self._pack_batch(batch, n, sc.name)
        v0, r0 = rt.violations, rt.refusals
        try:
            out = rt.call(entry, n, lay, blob, statuses=statuses)
        finally:
            if rt.violations != v0 or rt.refusals != r0:
                sc.stats.violations += rt.violations - v0
                sc.stats.refusals += rt.refusals - r0
            if rt.logs:
                sc.logs[:] = (sc.logs + rt.logs)[-100:]
                rt.logs.clear()
            raw = rt.take_commands()
        self.last_statuses = np.frombuffer(out, "<i8").copy() if statuses else None
        return _merge_spawns([self._decode(sc, c) for c in raw]) if raw else []

    def _configure_lua(self, box: LuaSandbox, perms: Permissions) -> None:
        """Give a Lua sandbox a script's permissions and the schemas it may touch."""
        box.configure(
            " ".join(perms.reads),
            " ".join(perms.writes),
            " ".join(perms.resources),
            spawn=perms.spawn,
            despawn=perms.despawn,
            schema=self._schema(perms),
            events=" ".join(perms.events),
        )

    def _pack_batch(
        self, batch: dict[str, Array], n: int, script: str
    ) -> tuple[str, bytes]:
        """A batch as Lua reads it: its layout (``"entity=j,Pos.x=d"``, each column's
        name and format, cached: the same every frame) and its columns packed one
        after the other. An empty batch packs nothing, so its columns' dtypes are not
        looked at: Lua makes empty columns whatever the format.

        Raises
        ------
        ScriptError
            When a column name cannot be a key of the Lua batch (checked once per
            layout).
        """
        names = tuple(batch)
        if n:
            formats, parts = [], []
            for k, col in batch.items():  # a loop: a few columns, each one C call
                if type(col) is not np.ndarray:
                    col = np.asarray(col)
                fmt = "d" if col.dtype.kind == "f" and k != "entity" else "j"
                formats.append(fmt)
                parts.append(_pack(col, fmt))
            fmts: tuple[str, ...] = tuple(formats)
            blob = b"".join(parts)
        else:
            fmts, blob = (), b""
        key = (names, fmts)
        lay = self._layouts.get(key)
        if lay is None:
            _check_columns(script, names)
            lay = ",".join(
                f"{k}={f}" for k, f in zip(names, fmts or "j" * len(names), strict=True)
            )
            if len(self._layouts) >= 256:
                self._layouts.clear()
            self._layouts[key] = lay
        return lay, blob

    def _resource_values(self, sc: Script) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for res in sc.perms.resources:
            obj: Any = self.world.get_resource(self._resources[res])
            if obj is None:
                continue
            attrs = (
                {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
                if dataclasses.is_dataclass(obj)
                else dict(vars(obj))
            )
            out[res] = {
                k: v
                for k, v in attrs.items()
                if isinstance(v, int | float) and not k.startswith("_")
            }
        return out

    def _decode(self, sc: Script, c: RawCommand) -> Recorded:
        ents = np.frombuffer(c.entities, "<i8").astype(np.uint64)
        cols: dict[str, Array] | None = None
        if c.layout:
            cols = {}
            for k, part in enumerate(c.layout.split(",")):
                fname, fmt = part.split("=")
                cols[fname] = np.frombuffer(
                    c.values, "<f8" if fmt == "d" else "<i8", c.n, k * 8 * c.n
                ).copy()
        if c.op == "despawn":
            return ("despawn_batch", (ents,))
        if c.op == "emit":
            ev = self._events[c.component]
            return ("emit", (ev, _bools(ev, cols), c.n))
        cls = self.component(c.component, sc.name)
        cols = _bools(cls, cols)
        if c.op == "set":
            return ("set_batch", (ents, cls, cols or {}))
        if c.op == "insert":
            return ("insert_batch", (ents, cls, cols))
        if c.op == "remove":
            return ("remove_batch", (ents, cls))
        return (c.op, ({cls: cols}, c.n))  # "spawn" / "spawn+", merged by _merge

    def _fail(self, sc: Script, exc: ScriptError) -> None:
        st = sc.stats
        st.failures += 1
        st.consecutive_failures += 1
        st.last_error = str(exc)
        if isinstance(exc, ScriptTimeout | ScriptMemoryError):
            st.limit_hits += 1
        if isinstance(exc, SandboxViolation) and not isinstance(sc.runtime, LuaSandbox):
            st.violations += 1
        if (
            st.consecutive_failures >= self.max_failures
            or st.violations + st.refusals >= self.max_violations
        ):
            st.disabled = True

    # ------------------------------------------------------------------ reporting

    def close(self) -> None:
        """Stop the worker processes of isolated scripts."""
        for s in self.scripts.values():
            if isinstance(s.runtime, IsolatedPythonScript):
                s.runtime.close()

    def enable(self, name: str) -> None:
        """Re-enable a disabled script and reset its consecutive-failure count."""
        st = self.scripts[name].stats
        st.disabled, st.consecutive_failures = False, 0

    def report(self) -> list[dict[str, Any]]:
        """One dict of counters per script (name, language, calls, time_ms, ...)."""
        return [
            {
                "name": s.name,
                "language": s.language,
                **dataclasses.asdict(s.stats),
                "time_ms": s.stats.time_ns / 1e6,
            }
            for s in self.scripts.values()
        ]
