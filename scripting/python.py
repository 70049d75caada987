"""Trusted Python scripts: compile cache, restricted builtins, import allow-list, no dunders.

These guard rails stop accidents, not attackers: in-process Python sandboxing is not a
security boundary. Run untrusted code as Lua (see ``docs/scripting.md``).
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import math
import traceback
from collections.abc import Callable, Mapping
from types import CodeType
from typing import Any

import numpy as np

from scripting.errors import SandboxViolation, ScriptError, ScriptMemoryError

__all__ = ["ALLOWED_IMPORTS", "PythonScript"]

ALLOWED_IMPORTS: Mapping[str, Any] = {"math": math, "numpy": np}
_SAFE_BUILTINS = [
    "abs",
    "all",
    "any",
    "bool",
    "dict",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "int",
    "isinstance",
    "len",
    "list",
    "map",
    "max",
    "min",
    "print",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "ZeroDivisionError",
    "Exception",
    "ArithmeticError",
    "True",
    "False",
    "None",
]
_FORBIDDEN_NAMES = frozenset(
    {
        "__builtins__",
        "__import__",
        "__loader__",
        "__spec__",
        "globals",
        "locals",
        "vars",
        "getattr",
        "setattr",
        "delattr",
        "open",
        "exec",
        "eval",
        "compile",
        "breakpoint",
        "input",
        "memoryview",
        "type",
        "object",
        "super",
        "help",
        "exit",
        "quit",
    }
)


# numpy's file / process / foreign-code doors (trusted mode has no file access)
_FORBIDDEN_ATTRS = frozenset(
    {
        "fromfile",
        "tofile",
        "save",
        "savez",
        "savez_compressed",
        "load",
        "loadtxt",
        "savetxt",
        "genfromtxt",
        "fromregex",
        "memmap",
        "open_memmap",
        "DataSource",
        "dump",
        "dumps",
        "ctypeslib",
        "ctypes",
        "lib",
        "core",
        "compat",
        "f2py",
        "testing",
        "distutils",
        "os",
        "sys",
        "show_config",
        "info",
        "source",
    }
)


def _check(tree: ast.AST, name: str) -> None:
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Attribute) and node.attr in _FORBIDDEN_ATTRS:
            raise SandboxViolation(
                name,
                f"attribute '.{node.attr}' is refused (file, process or native access)",
                line,
            )
        if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            raise SandboxViolation(
                name, f"dunder attribute access '.{node.attr}' is refused", line
            )
        if isinstance(node, ast.Name) and (
            node.id in _FORBIDDEN_NAMES or node.id.startswith("__")
        ):
            raise SandboxViolation(
                name, f"name '{node.id}' is refused in scripts", line
            )
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for mod in mods:
                if mod.split(".")[0] not in ALLOWED_IMPORTS or "." in mod:
                    raise SandboxViolation(
                        name,
                        f"import of {mod!r} is refused; allowed: {', '.join(ALLOWED_IMPORTS)}",
                        line,
                    )
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "__" in node.value
            and len(node.value) < 64
            and node.value.startswith("__")
        ):
            raise SandboxViolation(
                name, f"string {node.value!r} names a dunder; refused", line
            )


def _import(
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    if not level and name.startswith("numpy."):
        # numpy's own lazy imports (e.g. numpy._core._methods for ndarray.sum) run
        # through the calling frame's builtins, i.e. this hook. Scripts cannot name
        # these modules themselves: the AST check allows only ALLOWED_IMPORTS.
        return builtins.__import__(name, globals, locals, fromlist, level)
    if level or name not in ALLOWED_IMPORTS:
        raise ImportError(
            f"import of {name!r} is refused; allowed: {', '.join(ALLOWED_IMPORTS)}"
        )
    return ALLOWED_IMPORTS[name]


class PythonScript:
    """One trusted Python script: its code object cache, globals and ``state`` dict.

    Examples
    --------
    >>> s = PythonScript("demo.py")
    >>> s.load("def run(batch, ecs):\\n    state['n'] = state.get('n', 0) + 1\\n")
    True
    >>> s.call("run", {}, None); s.call("run", {}, None); s.state["n"]
    2
    """

    def __init__(self, name: str, cache: dict[str, CodeType] | None = None) -> None:
        self.name = name
        # shared per engine: scripts with the same content compile once
        self._cache: dict[str, CodeType] = {} if cache is None else cache
        self.compiles = 0
        self.state: dict[str, Any] = {}
        self._hash = ""
        safe = {k: getattr(builtins, k) for k in _SAFE_BUILTINS if hasattr(builtins, k)}
        safe["__import__"] = _import
        self._globals: dict[str, Any] = {"__builtins__": safe, "state": self.state}
        # Host devtools (scripting.debugger / scripting.profiler) wrap every run of
        # script code: each hook gets a thunk and calls it (under settrace, say).
        # Empty unless a breakpoint or a profile is active, so scripts pay nothing.
        self.hooks: list[Callable[[Callable[[], Any]], Any]] = []

    def load(self, source: str) -> bool:
        """Check and compile (cached by content hash); run the top level.

        Returns False when the content is unchanged.

        Raises
        ------
        ScriptError
            On a syntax error, a refused construct (:class:`SandboxViolation`) or an
            error in the top-level code.
        """
        digest = hashlib.sha256(source.encode()).hexdigest()
        if digest == self._hash:
            return False
        code = self._cache.get(digest)
        if code is None:
            try:
                tree = ast.parse(source, self.name)
            except SyntaxError as exc:
                raise ScriptError(
                    self.name, f"syntax error: {exc.msg}", exc.lineno
                ) from None
            _check(tree, self.name)
            code = compile(tree, self.name, "exec")
            self._cache[digest] = code
            self.compiles += 1
        self._guarded(  # checked, restricted builtins
            self._hooked(lambda: exec(code, self._globals))
        )
        self._hash = digest
        return True

    def call(self, entry: str, batch: Any, api: Any) -> Any:
        """Call ``entry(batch, ecs)``; errors become :class:`ScriptError` with file:line."""
        fn = self._globals.get(entry)
        if not callable(fn):
            raise ScriptError(self.name, f"the script defines no function {entry!r}")
        if self.hooks:
            return self._guarded(self._hooked(lambda: fn(batch, api)))
        return self._guarded(lambda: fn(batch, api))

    def _hooked(self, go: Callable[[], Any]) -> Callable[[], Any]:
        for hook in self.hooks:
            go = (lambda h, g: lambda: h(g))(hook, go)
        return go

    def _guarded(self, go: Callable[[], Any]) -> Any:
        try:
            return go()
        except ScriptError:
            raise
        except MemoryError:
            raise ScriptMemoryError(self.name, "memory limit exceeded") from None
        except Exception as exc:  # a script's own failure: report with file:line
            frames = [
                f
                for f in traceback.extract_tb(exc.__traceback__)
                if f.filename == self.name
            ]
            line = frames[-1].lineno if frames else None
            tb = "".join(traceback.format_exception(exc))
            raise ScriptError(
                self.name, f"{type(exc).__name__}: {exc}", line, tb
            ) from None
