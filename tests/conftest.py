"""Shared pytest configuration: Hypothesis profiles.

Profiles (choose with the ``HYPOTHESIS_PROFILE`` environment variable):

- ``default``: 200 examples per test, no deadline (the local run);
- ``ci``: like ``default``, but derandomized (same examples on every run) and printing
  the reproduction blob of a failure;
- ``nightly``: 10,000 examples per test.

Tests marked ``slow`` ask for at least :data:`SLOW_EXAMPLES` examples through
``@settings`` (``slow_settings()`` in their module), and the default run deselects them.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile(
    "ci", derandomize=True, max_examples=200, deadline=None, print_blob=True
)
settings.register_profile(
    "nightly",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
