"""arrow-ecs benchmarks: ``python -m benchmarks [--quick] [--only NAME] [--max-n N]``.

Not a test suite: pytest never collects this package (no ``test_`` files, and
``testpaths`` is ``tests``).  See ``docs/benchmarks.md``.
"""

SCENARIOS: tuple[str, ...] = (
    "spawn_batch",
    "iter_simple",
    "add_remove",
    "despawn",
    "iter_frag",
)
