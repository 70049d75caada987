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
    # issue #3: systems and schedule
    "frame_systems",
    "schedule_overhead",
    "parallel_systems",
    "observers",
    # issue #4: persistence and hierarchy
    "save_load",
    "snapshot",
    "transform_propagation",
    # issue #5: behavior trees
    "bt_tick",
    # issue #6: scripting
    "script_calls",
    # issue #7: script devtools
    "debugger",
    "script_profiler",
    # issue #8: analysis
    "analysis",
    # issue #9: model gallery
    "boltzmann",
    "sugarscape",
    "wolf_sheep",
    # issue #9: physics (spatial grid vs cKDTree) and the boids model
    "physics_grid",
    "boids",
    # issue #9: rendering
    "render",
    # issue #9: frame budget and live progress figures
    "monitor",
    # issue #7: hot reload
    "reload",
    # issue #10: sharded worlds on Ray (N = 2e5 only: --quick skips it)
    "distributed_sharding",
)
