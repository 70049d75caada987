"""Build the documentation site with Sphinx, warnings as errors.

Runs ``sphinx-build -W --keep-going -b html docs <tmp>/html`` with this interpreter
(the command CI and ``docs/conf.py`` document), so a broken cross-reference, a page
missing from the table of contents, a docstring autodoc cannot parse or a notebook
myst-nb cannot read fails the test. Notebooks are not executed here (see
``test_notebooks.py``). Skipped when Sphinx or myst-nb is not installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BUILD_TIMEOUT = 600


def test_docs_build_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "html"
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "-d",
        str(tmp_path / "doctrees"),
        str(DOCS),
        str(out),
    ]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, (
        f"sphinx-build failed (exit {proc.returncode}):\n{proc.stderr[-20_000:]}"
    )
    pages = {p.relative_to(out).as_posix() for p in out.rglob("*.html")}
    expected = {
        "index.html",
        "quickstart.html",
        "analysis.html",
        "api.html",
        "benchmarks.html",
        "errors/index.html",
        "errors/E0001.html",
        "notebooks/quickstart.html",
        "notebooks/agent_simulation.html",
    }
    assert expected <= pages, f"missing pages: {sorted(expected - pages)}"
    api = (out / "api.html").read_text(encoding="utf-8")
    for name in (
        "archetype_ecs.world.World",
        "archetype_ecs.analysis.to_arrow",
        "archetype_ecs.recorder.Recorder",
    ):
        assert f'id="{name}"' in api, f"api.html documents no {name}"
