"""Execute every notebook of ``notebooks/`` with a real Jupyter kernel.

The notebooks are MyST Markdown text notebooks (jupytext ``md:myst``). Each one is
converted to an ``.ipynb`` in memory with jupytext and executed by nbclient with the
``python3`` kernel (the kernel of this interpreter's ipykernel), in a temporary working
directory. Any cell error fails the test, and so does a cell that runs longer than
:data:`CELL_TIMEOUT` seconds.

Skipped when jupytext, nbclient or ipykernel are not installed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.md"))
CELL_TIMEOUT = 120
REQUIRED = {"quickstart.md", "agent_simulation.md"}


def test_required_notebooks_exist() -> None:
    assert {p.name for p in PATHS} >= REQUIRED, f"notebooks in {NOTEBOOKS}: {PATHS}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_is_a_myst_text_notebook(path: Path) -> None:
    nb = jupytext.read(path)
    meta = nb.metadata["jupytext"]["text_representation"]
    assert meta["format_name"] == "myst", f"{path.name}: not a MyST text notebook"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name}: no code cells"
    assert all(not c.get("outputs") for c in code), f"{path.name}: stored outputs"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_executes(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = jupytext.read(path)
    # jupyter_core warns (DeprecationWarning) unless told to use platformdirs paths.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    # Figures render inline in the kernel; keep any stray window backend away.
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the failing cell
    elapsed = time.perf_counter() - start
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: error outputs {errors}"
    out = os.environ.get("ARROW_ECS_NOTEBOOK_OUT")
    if out:  # keep the executed notebook for a look (e.g. in CI artifacts)
        import nbformat

        Path(out).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, Path(out) / f"{path.stem}.ipynb")
    print(f"{path.name}: executed in {elapsed:.1f} s")
