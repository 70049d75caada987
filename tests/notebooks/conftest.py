"""The ``notebooks`` tier: notebooks executed with a real kernel, and the docs build.

The marker is also declared here, so these tests run under ``--strict-markers`` even
where ``pyproject.toml`` does not list it.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "notebooks: executes notebooks/ with a Jupyter kernel and builds the docs "
        "(own CI step)",
    )
