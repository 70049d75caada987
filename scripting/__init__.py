"""Lua and Python scripts that read views and record commands.

:class:`ScriptEngine` loads scripts (``.lua`` untrusted, sandboxed; ``.py`` trusted, with
guard rails) and runs each as a system with the access its header declares. See
``docs/scripting.md`` for the API, the trust model and every limit.
"""

from scripting.api import Permissions, parse_header
from scripting.engine import Script, ScriptEngine, ScriptStats
from scripting.errors import (
    PermissionDenied,
    SandboxViolation,
    ScriptError,
    ScriptMemoryError,
    ScriptTimeout,
)
from scripting.isolated import IsolatedLimits, IsolatedPythonScript
from scripting.lua import LuaLimits, LuaSandbox
from scripting.python import PythonScript

__all__ = [
    "IsolatedLimits",
    "IsolatedPythonScript",
    "LuaLimits",
    "LuaSandbox",
    "PermissionDenied",
    "Permissions",
    "PythonScript",
    "SandboxViolation",
    "Script",
    "ScriptEngine",
    "ScriptError",
    "ScriptMemoryError",
    "ScriptStats",
    "ScriptTimeout",
    "parse_header",
]
