"""Run the docstring ``Examples`` of archetype_ecs and the code blocks of docs/.

Two checks keep the documentation honest:

- every module of ``archetype_ecs`` with doctest examples is one test;
- every error code that the package raises (``coded(E_..., ...)``) has its page
  ``docs/errors/E00NN.md``;
- every relative link between pages points at an existing page and heading;
- every page under ``docs/`` is one test: its ```` ```python ```` blocks run in order in
  one fresh namespace (``__name__ == "__main__"``) inside a temporary working directory,
  and every ```` ```output ```` block must appear in what those blocks print (spaces
  and line breaks are normalized). Put ``<!-- skip-test -->`` on the line before a
  ```` ```python ```` block to show code without running it.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import importlib.util
import io
import pkgutil
import re
from pathlib import Path

import pytest

import archetype_ecs
import behaviors
import scripting
from archetype_ecs import errors

DOCS = Path(__file__).resolve().parents[2] / "docs"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
SKIP_MARK = "<!-- skip-test -->"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _module_names() -> list[str]:
    names: list[str] = []
    for package in (archetype_ecs, behaviors, scripting):
        prefix = package.__name__ + "."
        subs = pkgutil.walk_packages(package.__path__, prefix)
        names += [package.__name__, *(m.name for m in subs)]
    return sorted(names)


def _doctests(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    found = doctest.DocTestFinder(exclude_empty=True).find(module)
    return sorted((t for t in found if t.examples), key=lambda t: t.name)


MODULES = [name for name in _module_names() if _doctests(name)]


def test_docstring_examples_exist() -> None:
    assert MODULES, "no module of archetype_ecs has doctest examples"


ANALYSIS_EXTRA = ("pandas", "polars", "duckdb", "matplotlib")
NEEDS_EXTRA = {"archetype_ecs.analysis", "analysis.md"}


def _skip_without_extra(name: str) -> None:
    if name in NEEDS_EXTRA and any(
        importlib.util.find_spec(m) is None for m in ANALYSIS_EXTRA
    ):
        pytest.skip("needs the analysis extra: pip install 'arrow-ecs[analysis]'")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str) -> None:
    _skip_without_extra(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    for test in _doctests(name):
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, report.getvalue()


def _blocks(text: str, language: str) -> list[tuple[int, str]]:
    """``(first line number, code)`` of every fenced block in ``language``."""
    out = []
    for m in FENCE.finditer(text):
        if m.group(1) != language:
            continue
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.strip() == SKIP_MARK:
            continue
        out.append((text.count("\n", 0, m.start(2)) + 1, m.group(2)))
    return out


def _program(blocks: list[tuple[int, str]]) -> str:
    """Blocks joined so each line keeps its line number in the page (for tracebacks)."""
    lines: list[str] = []
    for first, code in blocks:
        lines.extend([""] * (first - 1 - len(lines)))
        lines.extend(code.splitlines())
    return "\n".join(lines) + "\n"


def _normalize(text: str) -> str:
    return " ".join(text.split())


PAGES = sorted(DOCS.rglob("*.md"))


def test_docs_pages_exist() -> None:
    assert PAGES, f"no pages found under {DOCS}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_docs_code_blocks_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _skip_without_extra(page.name)
    text = page.read_text(encoding="utf-8")
    blocks = _blocks(text, "python")
    expected = [code for _, code in _blocks(text, "output")]
    if not blocks and not expected:
        pytest.skip("no python or output blocks")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_program(blocks), str(page), "exec"), {"__name__": "__main__"})
    seen = _normalize(printed.getvalue())
    for block in expected:
        assert _normalize(block) in seen, (
            f"{page.name}: this output block is not what the code prints:\n{block}\n"
            f"--- printed ---\n{printed.getvalue()}"
        )


def _raised_codes() -> dict[str, str]:
    """Code -> constant name, for every code constant used in a ``coded(...)`` call."""
    consts = {
        name: value
        for name, value in vars(errors).items()
        if name.startswith("E_") and isinstance(value, str)
    }
    used: dict[str, str] = {}
    root = Path(archetype_ecs.__file__).parent
    for source in root.rglob("*.py"):
        for name in re.findall(r"coded\(\s*(E_[A-Z_]+)", source.read_text("utf-8")):
            used[consts[name]] = name
    return used


def test_every_raised_error_code_has_a_page() -> None:
    codes = _raised_codes()
    assert codes, "found no coded(...) calls in archetype_ecs"
    missing = sorted(
        f"{code} ({name})"
        for code, name in codes.items()
        if not (DOCS / "errors" / f"{code}.md").is_file()
    )
    assert not missing, f"error codes without a docs/errors page: {missing}"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(h) for h in re.findall(r"^#+\s+(.*)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_docs_links_resolve(page: Path) -> None:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
            continue
        if anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"
