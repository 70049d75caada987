"""One local Ray instance for the whole test session (started lazily, shut down at the end)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

MODELS = Path(__file__).parent / "models"


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            _temp_dir=tempfile.mkdtemp(prefix="arrow-ecs-ray-test-"),
        )
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def contagion() -> str:
    return str(MODELS / "contagion.py")
