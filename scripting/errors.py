"""The errors scripts raise: failures, sandbox violations, limits, refused permissions.

All subclass :class:`archetype_ecs.errors.EcsError` through :class:`ScriptError`, which
carries the script name, the line (when known) and the Lua / Python traceback.
"""

from __future__ import annotations

from archetype_ecs.errors import EcsError

__all__ = [
    "PermissionDenied",
    "SandboxViolation",
    "ScriptError",
    "ScriptMemoryError",
    "ScriptTimeout",
]


class ScriptError(EcsError, RuntimeError):
    """A script failed: syntax error, runtime error, or a limit or rule it broke.

    Attributes
    ----------
    script
        The script's name.
    line
        The script line the error points at (``None`` when unknown).
    traceback
        The script-side traceback text (Lua ``debug.traceback`` or Python).
    """

    def __init__(
        self, script: str, message: str, line: int | None = None, traceback: str = ""
    ) -> None:
        where = f"{script}:{line}" if line is not None else script
        super().__init__(f"script {where}: {message}")
        self.script = script
        self.line = line
        self.detail = message
        self.traceback = traceback


class SandboxViolation(ScriptError):
    """A script reached for something the sandbox forbids (io, debug, load, ...)."""


class ScriptTimeout(ScriptError):
    """A script call used up its instruction budget (or time limit)."""


class ScriptMemoryError(ScriptError):
    """A script call ran past its memory cap or a size limit (string.rep, ...)."""


class PermissionDenied(ScriptError):
    """A script used a component, resource or command its header does not grant."""
