"""Trusted Python scripts: guard rails (imports, dunders, builtins), errors with file:line."""

from __future__ import annotations

import pytest

from scripting import PythonScript, SandboxViolation, ScriptError

REFUSED = [
    "import os",
    "import subprocess",
    "from os import path",
    "import numpy.linalg",
    "x = ().__class__",
    "x = (1).__class__.__bases__",
    "f = open",
    "exec('1')",
    "eval('1')",
    "compile('1', 'x', 'exec')",
    "__import__('os')",
    "x = __builtins__",
    "getattr(1, 'real')",
    "x = globals()",
    "x = type(1)",
    "k = '__class__'",
    "import numpy as np\nnp.save('x.npy', np.ones(2))",
    "import numpy as np\nnp.fromfile('/etc/passwd')",
    "import numpy as np\nnp.ones(2).tofile('x')",
    "import numpy as np\nnp.ctypeslib.load_library('c', '/lib')",
    "import numpy as np\nnp.lib.format.open_memmap('x')",
]


@pytest.mark.parametrize("code", REFUSED)
def test_guard_rails_refuse(code: str) -> None:
    with pytest.raises(SandboxViolation, match=r"s\.py:\d"):
        PythonScript("s.py").load(code)


def test_allowed_imports_work() -> None:
    s = PythonScript("s.py")
    s.load(
        "import math\nimport numpy as np\ndef run(b, ecs):\n    return np.sqrt(4.0) + math.pi\n"
    )
    assert s.call("run", {}, None) == pytest.approx(2 + 3.14159265)


def test_open_is_not_a_builtin() -> None:
    s = PythonScript("s.py")
    s.load("def run(b, ecs):\n    return len(dir)\n")
    with pytest.raises(ScriptError, match="NameError"):
        s.call("run", {}, None)


def test_runtime_error_has_file_and_line() -> None:
    s = PythonScript("s.py")
    s.load("def run(b, ecs):\n    x = 1\n    return x / 0\n")
    with pytest.raises(ScriptError, match=r"script s\.py:3: ZeroDivisionError") as info:
        s.call("run", {}, None)
    assert info.value.line == 3
    assert "ZeroDivisionError" in info.value.traceback


def test_syntax_error_has_line() -> None:
    with pytest.raises(ScriptError, match=r"s\.py:2: syntax error"):
        PythonScript("s.py").load("x = 1\ndef (:\n")


def test_state_persists() -> None:
    s = PythonScript("s.py")
    s.load("def run(b, ecs):\n    state['n'] = state.get('n', 0) + 1\n")
    s.call("run", {}, None)
    s.load("def run(b, ecs):\n    state['n'] = state.get('n', 0) + 10\n")
    s.call("run", {}, None)
    assert s.state == {"n": 11}
