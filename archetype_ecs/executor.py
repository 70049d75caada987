"""Runs a world's frame: phases, parallel batches of systems, sync points.

Frame lifecycle: ``Time`` advances; for each phase, its batches run (systems of one
batch do not conflict and may run on the thread pool: kernels release the GIL); then
the sync point applies the systems' command buffers in plan order and observers fire;
at the end of the frame event queues rotate and the profiler marks the frame.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from archetype_ecs._jit import kernel_threads, limit_kernel_threads
from archetype_ecs._owner import world_of
from archetype_ecs.commands import CommandBuffer
from archetype_ecs.errors import E_STRUCTURAL, StructuralChangeError, coded
from archetype_ecs.resources import Time
from archetype_ecs.schedule import PhasePlan
from archetype_ecs.system import (
    System,
    SystemContext,
    mark_written,
    run_kernel_system,
)

if TYPE_CHECKING:
    from archetype_ecs.query import QueryState
    from archetype_ecs.world import World

__all__ = ["Executor"]

T = TypeVar("T")


class Executor:
    """Owns the thread pool and each system's query state for one world."""

    def __init__(self, world: World, threads: int | None) -> None:
        # A weak reference: the world owns its executor, and a cycle would keep a
        # dropped world's tables alive until the next full GC pass.
        self._world = weakref.ref(world)
        self.threads = max(1, threads if threads is not None else (os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None
        self._states: dict[str, QueryState] = {}
        self.started = False
        self.in_frame = False

    @property
    def world(self) -> World:
        """The world this executor runs."""
        return world_of(self._world, "this executor")

    def close(self) -> None:
        """Shut the thread pool down."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            # The calling thread works too: threads - 1 workers.
            self._pool = ThreadPoolExecutor(
                max(1, self.threads - 1), thread_name_prefix="ecs"
            )
        return self._pool

    def run_tasks(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        """Run ``tasks`` on the world's threads (the caller's included); their results.

        Tasks are taken in order from one queue by every thread, so put the longest
        first. Every task runs, and every thread has finished, before this returns
        or raises the first task's exception (in task order). With ``threads=1``
        they run one after the other on the caller's thread. Tasks must release the
        GIL (NumPy copies, ``nogil`` kernels, hashing) to run at the same time.
        """
        results: list[Any] = [None] * len(tasks)
        errors: list[BaseException | None] = [None] * len(tasks)
        queue = iter(range(len(tasks)))
        lock = threading.Lock()

        def drain() -> None:
            while True:
                with lock:
                    i = next(queue, None)
                if i is None:
                    return
                try:
                    results[i] = tasks[i]()
                except BaseException as exc:  # re-raised below, in task order
                    errors[i] = exc

        helpers = min(self.threads, len(tasks)) - 1
        futures = [self._workers().submit(drain) for _ in range(helpers)]
        drain()
        for f in futures:
            # A helper that never started (every worker busy: say this is called from
            # one) is not needed any more; wait for the ones that did start.
            if not f.cancel():
                f.result()
        for err in errors:
            if err is not None:
                raise err
        return results

    def _state(self, sys: System) -> QueryState:
        state = self._states.get(sys.name)
        if state is None:
            state = self.world.query(
                *sys.query,
                without=sys.without,
                optional=sys.optional,
                added=sys.added,
                changed=sys.changed,
                writable=sys.access.writes,
            )
            self._states[sys.name] = state
        return state

    # ------------------------------------------------------------------- frames

    def run_frame(self) -> None:
        """Advance ``Time`` and run every phase (``startup`` on the first frame)."""
        if self.in_frame:
            raise StructuralChangeError(
                coded(
                    E_STRUCTURAL,
                    "world.step() called while a frame is running (from a system or "
                    "observer); frames do not nest: record work for the next frame",
                )
            )
        self.in_frame = True
        try:
            self._run_frame()
        finally:
            self.in_frame = False

    def _run_frame(self) -> None:
        world = self.world
        t0 = time.perf_counter_ns()
        clock = world.resource(Time)
        clock.frame += 1
        clock.elapsed = clock.frame * clock.dt
        plans = world.schedule.plan()
        for phase in world.schedule.phases:
            if phase == "startup" and self.started:
                continue
            self.run_phase(plans[phase])
        self.started = True
        world.events.update_all()
        for rec in tuple(world.recorders):  # a tuple: close() may detach in the loop
            rec.on_frame_end(world)
        # Every frame-end hook runs even when one raises (e.g. a breakpoint stopping
        # the run), and the frame is still timed; the first error is raised after.
        failed: Exception | None = None
        try:
            for hook in tuple(world.frame_end_hooks):
                try:
                    hook(world)
                except Exception as exc:
                    failed = failed or exc
        finally:
            t1 = time.perf_counter_ns()
            clock.real_dt = (t1 - t0) / 1e9
            world.profiler.frame_mark(clock.frame, t0, t1)
        if failed is not None:
            raise failed

    def run_phase(self, plan: PhasePlan) -> None:
        """Run one phase's batches, then its sync point."""
        if not plan.order:
            return
        world = self.world
        t0 = time.perf_counter_ns()
        buffers: dict[str, CommandBuffer] = {}
        for batch in plan.batches:
            self._run_batch(batch, plan.phase, buffers)
        t1 = time.perf_counter_ns()
        ordered = [buffers[s.name] for s in plan.order if s.name in buffers]
        if ordered:
            world.apply(*ordered)
        t2 = time.perf_counter_ns()
        prof = world.profiler
        tid = threading.get_ident()
        prof.record("phase", plan.phase, plan.phase, t0, t1, tid)
        prof.record("sync", f"sync:{plan.phase}", plan.phase, t1, t2, tid)

    def _run_batch(
        self, batch: list[System], phase: str, buffers: dict[str, CommandBuffer]
    ) -> None:
        world = self.world
        ready: list[tuple[System, SystemContext]] = []
        for sys in batch:  # run conditions and ticks on the main thread, in order
            if self._should_run(sys, phase):
                if sys.kind == "kernel":  # before the tick: may start change tracking
                    self._state(sys)._update()
                tick = world.change_tick
                world.change_tick += 1
                ready.append((sys, SystemContext(world, sys, tick)))
        exclusive = [p for p in ready if p[0].kind == "exclusive"]
        for sys, ctx in exclusive:
            self._run_one(sys, ctx, phase, buffers, allow_structural=True)
        pooled = [
            p
            for p in ready
            if p[0].kind == "kernel"
            and self._state(p[0]).count() >= p[0].parallel_threshold
        ]
        serial = [p for p in ready if p not in pooled and p[0].kind != "exclusive"]
        if self.threads > 1 and len(pooled) > 1:
            futures: list[Future[None]] = []
            pool = self._workers()
            world._phase_active += 1
            try:
                for sys, ctx in pooled[1:]:
                    futures.append(pool.submit(self._run_one, sys, ctx, phase, buffers))
                self._run_one(pooled[0][0], pooled[0][1], phase, buffers)
                for sys, ctx in serial:
                    self._run_one(sys, ctx, phase, buffers)
            finally:
                errors = [f.exception() for f in futures]
                world._phase_active -= 1
            for err in errors:
                if err is not None:
                    raise err
            return
        world._phase_active += 1
        try:
            for sys, ctx in [*pooled, *serial]:
                self._run_one(sys, ctx, phase, buffers)
        finally:
            world._phase_active -= 1

    def _should_run(self, sys: System, phase: str) -> bool:
        for cond in sys.run_if:
            try:
                ok = cond(self.world)
            except Exception as exc:
                exc.add_note(
                    f"in run condition {getattr(cond, '__name__', cond)!r} of system "
                    f"{sys.name!r} (phase {phase})"
                )
                raise
            if not ok:
                return False
        return True

    def _run_one(
        self,
        sys: System,
        ctx: SystemContext,
        phase: str,
        buffers: dict[str, CommandBuffer],
        *,
        allow_structural: bool = False,
    ) -> None:
        world = self.world
        t0 = time.perf_counter_ns()
        rows = 0
        previous = kernel_threads() if world.deterministic else 0
        if world.deterministic:
            limit_kernel_threads(1)
        try:
            if sys.kind == "kernel":
                state = self._state(sys)
                results = run_kernel_system(ctx, state)
                since = ctx.last_run if state.is_filtered else None
                rows = mark_written(world, sys, ctx.tick, results, since, state)
            elif sys.kind == "exclusive":
                if not allow_structural:
                    raise RuntimeError("exclusive systems run on the main thread only")
                sys.fn(world)
            else:
                sys.fn(ctx)
                handed: dict[int, Any] = {t.id: (t, None) for t in ctx._handed}
                rows = mark_written(world, sys, ctx.tick, handed.values(), None, None)
        except Exception as exc:
            exc.add_note(
                f"while running system {sys.name!r} (phase {phase}, "
                f"frame {world.resource(Time).frame}, tick {ctx.tick})"
            )
            raise
        finally:
            if previous:
                limit_kernel_threads(previous)
        sys.last_run = ctx.tick
        sys.runs += 1
        if ctx._commands is not None and len(ctx._commands):
            buffers[sys.name] = ctx._commands
        world.profiler.record(
            "system",
            sys.name,
            phase,
            t0,
            time.perf_counter_ns(),
            threading.get_ident(),
            rows,
            python=sys.is_python,
        )
