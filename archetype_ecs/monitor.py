"""Performance monitoring: a frame budget that warns about slow frames, live figures.

:class:`FrameBudget` watches a world's frames through its profiler. A frame that takes
longer than the budget is counted; at most one :class:`FrameBudgetWarning` per
``interval`` seconds names the frame, its time and the slowest systems in it (the rest
are counted and reported with the next warning), so a long slow stretch does not
flood the terminal. :func:`live_figures` is the short text the CLI progress bar shows.

Slow frames are reported with :mod:`warnings` (not :mod:`logging`): a library user
sees them without configuring anything, silences them with
``warnings.filterwarnings("ignore", category=FrameBudgetWarning)``, turns them into
errors in a test suite, or catches them with ``warnings.catch_warnings``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archetype_ecs.errors import EcsError

if TYPE_CHECKING:
    from archetype_ecs.profiling import Profiler
    from archetype_ecs.world import World

__all__ = ["FrameBudget", "FrameBudgetWarning", "SlowFrame", "live_figures"]

_NS_PER_MS = 1e6
# Span kinds that do work of their own (a phase span contains its systems' spans).
_WORK_KINDS = frozenset({"system", "sync", "observer", "script"})


class FrameBudgetWarning(UserWarning):
    """A frame took longer than its :class:`FrameBudget`."""


@dataclass(frozen=True)
class SlowFrame:
    """One frame over budget: its number, time and slowest pieces of work.

    Attributes
    ----------
    frame
        ``Time.frame`` of the frame.
    ms
        Wall time of the whole frame, in milliseconds.
    budget_ms
        The budget it went over.
    systems
        ``(name, ms)`` of the slowest systems (and sync points, observers, scripts)
        in that frame, slowest first.
    """

    frame: int
    ms: float
    budget_ms: float
    systems: tuple[tuple[str, float], ...]

    def describe(self) -> str:
        """One line: ``frame 12 took 25.3 ms (budget 16.7 ms); slowest: move ...``."""
        slow = ", ".join(f"{name} {ms:.2f} ms" for name, ms in self.systems)
        return (
            f"frame {self.frame} took {self.ms:.2f} ms (budget {self.budget_ms:g} ms, "
            f"{self.ms / self.budget_ms:.1f}x); slowest: {slow or 'no system spans'}"
        )


class FrameBudget:
    """Warn when a world's frame takes longer than ``ms`` milliseconds.

    Parameters
    ----------
    ms
        The budget per frame in milliseconds (16.7 is 60 frames a second).
    top
        How many of the slowest systems a warning names.
    interval
        Minimum seconds between two warnings; the over-budget frames in between are
        counted and reported with the next warning. 0 warns on every slow frame.
    warmup
        Frames seen after :meth:`attach` that are not judged (the first frame
        usually compiles the Numba kernels).

    Raises
    ------
    ValueError
        When ``ms`` or ``interval`` is not positive (``interval`` may be 0), or
        ``top`` / ``warmup`` is negative.

    Notes
    -----
    The budget reads the frame marks and spans the world's profiler records, so the
    world must profile (``World(profile=True)``, the default). Per frame it costs
    one comparison; only a frame over budget (and at most one warning per
    ``interval``) reads the profiler's spans to name the slowest systems.

    Examples
    --------
    >>> import warnings
    >>> from archetype_ecs import World
    >>> world = World(threads=1)
    >>> budget = FrameBudget(ms=1000.0, warmup=0).attach(world)
    >>> world.step()
    >>> budget.frames, budget.over_budget
    (1, 0)
    >>> tight = FrameBudget(ms=1e-6, warmup=0, interval=3600).attach(world)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     world.step()
    ...     world.step()
    >>> tight.over_budget, len(caught), tight.suppressed  # one warning per hour
    (2, 1, 1)
    >>> caught[0].category.__name__
    'FrameBudgetWarning'
    """

    def __init__(
        self,
        ms: float = 16.7,
        *,
        top: int = 3,
        interval: float = 5.0,
        warmup: int = 1,
    ) -> None:
        if not _is_number(ms) or not ms > 0:
            raise ValueError(
                f"FrameBudget(ms={ms!r}): the budget must be a positive number of "
                "milliseconds, e.g. FrameBudget(ms=16.7) for 60 frames a second"
            )
        if not _is_number(interval) or not interval >= 0:
            raise ValueError(
                f"FrameBudget(interval={interval!r}): seconds between warnings must "
                "be >= 0 (0 warns on every slow frame)"
            )
        for label, value in (("top", top), ("warmup", warmup)):
            if type(value) is not int or value < 0:
                raise ValueError(f"FrameBudget({label}={value!r}): must be an int >= 0")
        self.ms = float(ms)
        self.top = top
        self.interval = float(interval)
        self.warmup = warmup
        self.frames = 0
        """Frames judged (after the warm-up)."""
        self.over_budget = 0
        """Frames judged that went over the budget."""
        self.warnings = 0
        """Warnings issued."""
        self.suppressed = 0
        """Over-budget frames not warned about since the last warning."""
        self.last_ms = 0.0
        """Time of the most recent frame seen, in milliseconds."""
        self.max_ms = 0.0
        """Slowest judged frame, in milliseconds."""
        self.worst: SlowFrame | None = None
        """The slowest judged frame over budget, with its slowest systems."""
        self._seen = 0
        self._last_warning = -float("inf")
        self._world: World | None = None

    def __repr__(self) -> str:
        return (
            f"<FrameBudget {self.ms:g} ms frames={self.frames} "
            f"over_budget={self.over_budget} warnings={self.warnings}>"
        )

    # ----------------------------------------------------------- attach / detach

    def attach(self, world: World) -> FrameBudget:
        """Watch every frame ``world`` runs from now on; returns ``self``.

        Raises
        ------
        EcsError
            When the world's profiler is off, or the budget already watches a world.
        """
        if not world.profiler.enabled:
            raise EcsError(
                "FrameBudget.attach: the world's profiler is off (World(profile="
                "False)), so frame times are not measured; create the world with "
                "profile=True or set world.profiler.enabled = True"
            )
        if self._world is not None:
            raise EcsError(
                "FrameBudget.attach: this budget already watches a world; call "
                "detach() first or create one FrameBudget per world"
            )
        self._world = world
        world.profiler.frame_listeners.append(self.on_frame)
        return self

    def detach(self) -> None:
        """Stop watching (the counters keep their values)."""
        world, self._world = self._world, None
        if world is not None and self.on_frame in world.profiler.frame_listeners:
            world.profiler.frame_listeners.remove(self.on_frame)

    # ------------------------------------------------------------------- judging

    def on_frame(self, frame: int, start_ns: int, end_ns: int) -> None:
        """Judge one frame (called by the profiler after it marks the frame)."""
        ms = (end_ns - start_ns) / _NS_PER_MS
        self.last_ms = ms
        self._seen += 1
        if self._seen <= self.warmup:
            return
        self.frames += 1
        if ms <= self.ms:
            self.max_ms = max(self.max_ms, ms)
            return
        self.over_budget += 1
        now = time.monotonic()
        warn = now - self._last_warning >= self.interval
        if ms > self.max_ms or warn:
            slow = self._slow_frame(frame, ms, start_ns, end_ns)
            if ms > self.max_ms:
                self.worst = slow
            if warn:
                self._warn(slow)
                self._last_warning = now
        if not warn:
            self.suppressed += 1
        self.max_ms = max(self.max_ms, ms)

    def _slow_frame(self, frame: int, ms: float, start: int, end: int) -> SlowFrame:
        profiler = self._profiler()
        return SlowFrame(frame, ms, self.ms, _slowest(profiler, start, end, self.top))

    def _profiler(self) -> Profiler:
        if self._world is None:  # pragma: no cover - on_frame runs only attached
            raise EcsError("FrameBudget: not attached to a world")
        return self._world.profiler

    def _warn(self, slow: SlowFrame) -> None:
        more = (
            f" ({self.suppressed} more frame(s) over budget since the last warning)"
            if self.suppressed
            else ""
        )
        self.warnings += 1
        self.suppressed = 0
        warnings.warn(f"{slow.describe()}{more}", FrameBudgetWarning, stacklevel=2)

    def summary(self) -> dict[str, Any]:
        """The counters as a JSON-able dict (the CLI adds it to the run summary).

        Examples
        --------
        >>> FrameBudget(ms=10).summary()["over_budget_frames"]
        0
        """
        worst = self.worst
        return {
            "budget_ms": self.ms,
            "judged_frames": self.frames,
            "over_budget_frames": self.over_budget,
            "over_budget_share": self.over_budget / self.frames if self.frames else 0.0,
            "max_frame_ms": self.max_ms,
            "budget_warnings": self.warnings,
            "worst_frame": None
            if worst is None
            else {
                "frame": worst.frame,
                "ms": worst.ms,
                "slowest": [[name, ms] for name, ms in worst.systems],
            },
        }


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _slowest(
    profiler: Profiler, start: int, end: int, top: int
) -> tuple[tuple[str, float], ...]:
    """The ``top`` slowest pieces of work whose spans lie within ``[start, end]``."""
    totals: dict[str, int] = {}
    for span in reversed(profiler.spans()):
        if span.start_ns < start:
            break  # spans are appended in end order; older frames follow
        if span.kind in _WORK_KINDS and span.end_ns <= end:
            totals[span.name] = totals.get(span.name, 0) + span.end_ns - span.start_ns
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:top]
    return tuple((name, ns / _NS_PER_MS) for name, ns in ranked)


def live_figures(world: World) -> str:
    """Short live text: last frame time, entities, slowest system of the last frame.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> w = World(threads=1)
    >>> w.step()
    >>> live_figures(w).split(",")[1].strip()
    '0 entities'
    """
    profiler = world.profiler
    frames = profiler.frames()
    parts = []
    if frames:
        _, start, end = frames[-1]
        parts.append(f"{(end - start) / _NS_PER_MS:6.2f} ms/frame")
    parts.append(f"{len(world):,} entities")
    if frames:
        slow = _slowest(profiler, frames[-1][1], frames[-1][2], 1)
        if slow:
            parts.append(f"slowest {slow[0][0]} {slow[0][1]:.2f} ms")
    return ", ".join(parts)
