"""Start or join Ray: a local instance for the run unless an address is given."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import ray

__all__ = ["ray_session"]

#: CPUs a locally started Ray instance may use (the machine is shared; override with
#: the ``ARROW_ECS_RAY_CPUS`` environment variable).
DEFAULT_LOCAL_CPUS = 2


@contextlib.contextmanager
def ray_session(
    address: str | None = None, *, num_cpus: int | None = None, **options: Any
) -> Iterator[bool]:
    """Use the running Ray instance, join ``address``, or start a local one.

    Parameters
    ----------
    address
        A Ray cluster address (``"ray://head:10001"``, ``"auto"``, ``"host:6379"``).
        ``None``: reuse an instance this process already joined, else start a local
        one (few CPUs, no dashboard, logs in a temporary folder).
    num_cpus
        CPUs of a locally started instance (default ``ARROW_ECS_RAY_CPUS`` or 2).
    **options
        Passed to ``ray.init`` when this call starts or joins Ray.

    Yields
    ------
    bool
        True when this call started (or joined) Ray and will shut it down on exit.
    """
    if ray.is_initialized():
        yield False
        return
    if address is None:
        cpus = num_cpus or int(os.environ.get("ARROW_ECS_RAY_CPUS", DEFAULT_LOCAL_CPUS))
        options.setdefault("include_dashboard", False)
        options.setdefault("_temp_dir", tempfile.mkdtemp(prefix="arrow-ecs-ray-"))
        options.setdefault("log_to_driver", False)
        ray.init(num_cpus=cpus, **options)
    else:
        ray.init(address=address, **options)
    try:
        yield True
    finally:
        ray.shutdown()
