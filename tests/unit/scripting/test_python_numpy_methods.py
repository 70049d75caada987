"""Trusted Python scripts can use numpy methods that numpy imports lazily."""

from __future__ import annotations

import pytest

from scripting.errors import SandboxViolation
from scripting.python import PythonScript


def test_ndarray_sum_works_inside_a_trusted_script() -> None:
    s = PythonScript("sums.py")
    s.load(
        "import numpy as np\n"
        "def run(b, ecs):\n"
        "    a = np.arange(5)\n"
        "    state['s'] = int(a.sum()) + int((a > 2).sum()) + int(a.mean())\n"
    )
    s.call("run", {}, None)
    assert s.state["s"] == 10 + 2 + 2


def test_numpy_submodules_stay_refused_to_the_script_itself() -> None:
    with pytest.raises(SandboxViolation, match=r"numpy\.ctypeslib"):
        PythonScript("bad.py").load("import numpy.ctypeslib\n")
