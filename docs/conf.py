"""Sphinx configuration of the arrow-ecs documentation site.

Build (warnings are errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

The manual is the Markdown pages of this folder, parsed by MyST (through myst-nb);
``api.md`` is the API reference generated from the numpy-style docstrings (autodoc +
napoleon); ``notebooks/`` is a link to the repository's ``notebooks/`` folder, whose
MyST text notebooks (jupytext ``md:myst``) myst-nb reads as notebooks.

Notebooks are not executed by default: ``tests/notebooks/test_notebooks.py`` runs them
with a real kernel. Set ``ARROW_ECS_DOCS_EXECUTE=cache`` (or ``force``) to execute
them during the build as well, so the pages show their outputs; a notebook error then
fails the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the packages, when not installed

project = "arrow-ecs"
author = "arrow-ecs contributors"
copyright = "arrow-ecs contributors"
release = version = "0.1.0"

extensions = [
    "myst_nb",  # MyST Markdown pages and text notebooks (it loads myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "**/__pycache__"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# ----------------------------------------------------------------- MyST

myst_enable_extensions = ["colon_fence", "deflist"]
# Pages link to each other's sections with GitHub-style anchors (page.md#a-heading);
# generate those anchors for every heading level the pages use.
myst_heading_anchors = 4
# Fenced blocks the doc tests read (```output) and shell snippets: plain text.
highlight_language = "none"

# ------------------------------------------------------------- notebooks

nb_execution_mode = os.environ.get("ARROW_ECS_DOCS_EXECUTE", "off")
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_cache_path = str(ROOT / "docs" / "_build" / ".jupyter_cache")
nb_merge_streams = True

# --------------------------------------------------------------- autodoc

autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# "Attributes" sections become :ivar: fields: autodoc documents the dataclass fields
# themselves, and two descriptions of one attribute would be a duplicate.
napoleon_use_ivar = True
# Docstrings name types in prose (``World``, ``pyarrow.Table``); they are not all
# resolvable targets, so unresolved references stay plain text instead of warnings.
nitpicky = False


def _split_grouped_attributes(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Give each name of a grouped ``Attributes`` entry (``world, ref``) its own entry.

    numpydoc allows ``a, b`` on one line; napoleon's ``:ivar:`` fields do not (the
    first name would be read as a type). Runs before napoleon (priority 400).
    """
    out: list[str] = []
    in_attributes = False
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.strip() and underline and set(underline) == {"-"}:
            in_attributes = line.strip() == "Attributes"
            out += [line, lines[i + 1]]
            i += 2
            continue
        grouped = line and not line[0].isspace() and "," in line and ":" not in line
        if in_attributes and grouped:
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or lines[j][0].isspace()):
                j += 1
            for attr in (n.strip() for n in line.split(",")):
                out += [attr, *lines[i + 1 : j]]
            i = j
            continue
        out.append(line)
        i += 1
    lines[:] = out


API_PACKAGES = ("archetype_ecs", "behaviors", "scripting")


def _public_modules() -> list[str]:
    """Every module of the packages whose dotted name has no ``_``-prefixed part."""
    import importlib
    import pkgutil

    names = []
    for package in API_PACKAGES:
        pkg = importlib.import_module(package)
        for info in pkgutil.walk_packages(pkg.__path__, f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return sorted(names)


def _append_unlisted_modules(app: Sphinx, docname: str, source: list[str]) -> None:
    """Document, at the end of ``api.md``, every public module it does not list.

    ``api.md`` groups the modules by topic; a module added since lands under "Other
    modules" until someone files it under a topic, so the reference is never short
    of a module.
    """
    if docname != "api":
        return
    text = source[0]
    missing = [m for m in _public_modules() if f"automodule:: {m}\n" not in text + "\n"]
    if missing:
        lines = "\n".join(f".. automodule:: {m}" for m in missing)
        source[0] = f"{text}\n\n## Other modules\n\n```{{eval-rst}}\n{lines}\n```\n"


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-docstring", _split_grouped_attributes, priority=400)
    app.connect("source-read", _append_unlisted_modules)


# ------------------------------------------------------------------ HTML

html_theme = "alabaster"
html_title = "arrow-ecs"
html_theme_options = {
    "description": "An archetype ECS for Python: Arrow tables, Numba systems.",
    "fixed_sidebar": True,
}
