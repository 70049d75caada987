"""The script-facing API shared by both languages: permissions, batches and commands.

A script's header declares what it may touch (``reads``, ``writes``, ``spawn``,
``despawn``, ``resources``); :class:`Permissions` holds it. Scripts record commands;
the engine replays them into the system's :class:`~archetype_ecs.CommandBuffer` only
when the call succeeds, so a failing call leaves no half-recorded changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype_ecs.commands import CommandBuffer
from archetype_ecs.component import schema_of
from scripting.errors import PermissionDenied, ScriptError

__all__ = ["Permissions", "PythonApi", "parse_header", "replay", "to_columns"]

Array = np.ndarray[Any, Any]
Recorded = tuple[str, tuple[Any, ...]]

_HEADER = re.compile(r"^\s*(?:--|#)!\s*([A-Za-z_]+)\s*:(.*)$")
_YES = {"yes", "true", "1", "on"}
_NO = {"no", "false", "0", "off", ""}


@dataclass(frozen=True)
class Permissions:
    """What one script may touch, parsed from its header block.

    Examples
    --------
    >>> p = parse_header("--! reads: Position, Velocity\\n--! spawn: yes\\n", "demo")
    >>> p.reads, p.spawn
    (('Position', 'Velocity'), True)
    """

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    spawn: bool = False
    despawn: bool = False

    def readable(self) -> tuple[str, ...]:
        """Components the script may read (declared reads and writes)."""
        return self.reads + tuple(w for w in self.writes if w not in self.reads)


def parse_header(source: str, script: str) -> Permissions:
    """Parse ``--! key: value`` (Lua) or ``#! key: value`` (Python) header lines.

    Raises
    ------
    ScriptError
        On an unknown key or a bad yes/no value (with the line number).
    """
    got: dict[str, Any] = {}
    for no, line in enumerate(source.splitlines(), 1):
        m = _HEADER.match(line)
        if not m:
            continue
        key, value = m.group(1).lower(), m.group(2).strip()
        if key in ("reads", "writes", "resources", "events"):
            names = tuple(v for v in re.split(r"[\s,]+", value) if v)
            got[key] = got.get(key, ()) + names
        elif key in ("spawn", "despawn"):
            if value.lower() not in _YES | _NO:
                raise ScriptError(
                    script, f"header {key!r} must be yes or no, got {value!r}", no
                )
            got[key] = value.lower() in _YES
        else:
            raise ScriptError(
                script,
                f"unknown header key {key!r}; use reads, writes, resources, events, spawn, despawn",
                no,
            )
    return Permissions(**got)


def denied(script: str, op: str, need: str) -> PermissionDenied:
    """The error for an operation the header does not grant."""
    return PermissionDenied(
        script, f"permission denied: {op} needs '{need}' in the script header"
    )


def to_columns(
    cls: type, values: dict[str, Any] | None, n: int
) -> dict[str, Array] | None:
    """Field columns of length ``n`` from scalars or arrays (None stays None)."""
    if values is None:
        return None
    s = schema_of(cls)
    out: dict[str, Array] = {}
    for f in s.fields:
        if f.name in values:
            out[f.name] = np.broadcast_to(np.asarray(values[f.name]), (n,)).copy()
    return out


def replay(recorded: list[Recorded], cb: CommandBuffer) -> None:
    """Record a successful call's commands into ``cb`` (in the order made)."""
    for op, args in recorded:
        if op == "emit":
            continue  # events go to the system context (see ScriptEngine)
        method: Callable[..., Any] = getattr(cb, op)
        if op == "spawn_batch":
            method(args[0], n=args[1])
        else:
            method(*args)


@dataclass
class PythonApi:
    """``ecs`` as a Python script sees it: permission-checked resources and commands."""

    script: str
    perms: Permissions
    components: dict[str, type]
    resource_values: dict[str, Any] = field(default_factory=dict)
    recorded: list[Recorded] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    refusals: int = 0

    def _write(self, op: str, comp: str) -> type:
        if comp not in self.perms.writes:
            self.refusals += 1
            raise denied(self.script, f"{op}({comp})", f"writes: {comp}")
        return self.components[comp]

    @staticmethod
    def _ids(entities: Any) -> Array:
        return np.atleast_1d(np.asarray(entities, dtype=np.uint64))

    def resource(self, name: str) -> Any:
        """A copy of a declared resource's fields (a dict)."""
        if name not in self.perms.resources:
            self.refusals += 1
            raise denied(self.script, f"resource({name})", f"resources: {name}")
        return dict(self.resource_values.get(name, {}))

    def set_batch(self, entities: Any, comp: str, values: dict[str, Any]) -> None:
        """Overwrite some fields of ``comp`` on many entities."""
        cls = self._write("set_batch", comp)
        ids = self._ids(entities)
        self.recorded.append(
            ("set_batch", (ids, cls, to_columns(cls, values, ids.size)))
        )

    def set(self, entity: int, comp: str, values: dict[str, Any]) -> None:
        """Overwrite some fields of ``comp`` on one entity."""
        self.set_batch([entity], comp, values)

    def insert(
        self, entities: Any, comp: str, values: dict[str, Any] | None = None
    ) -> None:
        """Insert ``comp`` on one or many entities."""
        cls = self._write("insert", comp)
        ids = self._ids(entities)
        self.recorded.append(
            ("insert_batch", (ids, cls, to_columns(cls, values, ids.size)))
        )

    def remove(self, entities: Any, comp: str) -> None:
        """Remove ``comp`` from one or many entities."""
        cls = self._write("remove", comp)
        self.recorded.append(("remove_batch", (self._ids(entities), cls)))

    def despawn(self, entities: Any) -> None:
        """Despawn one or many entities."""
        if not self.perms.despawn:
            self.refusals += 1
            raise denied(self.script, "despawn", "despawn: yes")
        self.recorded.append(("despawn_batch", (self._ids(entities),)))

    despawn_batch = despawn

    def spawn(self, components: dict[str, Any], n: int = 1) -> None:
        """Spawn ``n`` entities with these components (``{name: {field: value(s)}}``)."""
        if not self.perms.spawn:
            self.refusals += 1
            raise denied(self.script, "spawn", "spawn: yes")
        cols: dict[type, Any] = {}
        for comp, values in components.items():
            cls = self._write("spawn", comp)
            cols[cls] = to_columns(cls, None if values is True else values, n)
        self.recorded.append(("spawn_batch", (cols, n)))

    def emit(self, name: str, values: dict[str, Any] | None = None, n: int = 1) -> None:
        """Send ``n`` events of a declared event type (values: scalars or arrays)."""
        if name not in self.perms.events:
            self.refusals += 1
            raise denied(self.script, f"emit({name})", f"events: {name}")
        cls = self.components[name]
        if values:
            n = max([np.size(v) for v in values.values()] + [n])
        self.recorded.append(("emit", (cls, to_columns(cls, values, n), n)))

    def log(self, *parts: object) -> None:
        """Keep one log line (at most 100 per call)."""
        if len(self.logs) < 100:
            self.logs.append("\t".join(map(str, parts))[:1000])
