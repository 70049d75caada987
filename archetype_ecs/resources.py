"""Built-in resources: ``Time`` (frame index, fixed dt, elapsed) updated every frame.

Resources are typed singletons held by the world (``world.insert_resource``); systems
declare which they read (``resources=``) and write (``resources_mut=``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Time"]


@dataclass
class Time:
    """Frame clock, updated at the start of every ``world.step()``.

    Attributes
    ----------
    frame
        Frames stepped so far (1 during the first frame's systems).
    dt
        Simulated seconds per frame (fixed, so runs are reproducible).
    elapsed
        Simulated seconds since the first frame started (``frame * dt``).
    real_dt
        Wall-clock seconds the previous frame took (for display only: never feed
        it into simulation state if you want determinism).
    """

    frame: int = 0
    dt: float = 1.0 / 60.0
    elapsed: float = 0.0
    real_dt: float = 0.0
