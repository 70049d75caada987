"""Population-scale breakpoints: a vectorized predicate over components pauses the world.

A breakpoint is checked after a chosen system (a probe system scheduled right after
it, reading the predicate's components: it sees the system's in-place writes; its
commands apply at the phase's sync point) or at the end of the frame (everything
applied). The predicate runs once per matched archetype on the component views
(numpy columns) and returns a bool mask; the matching entities and their values are
gathered as an Arrow table. Nothing stops mid-frame: the frame finishes, then the
world pauses *between frames*, by raising :class:`BreakpointHit` out of
``world.step()`` / ``world.run()`` (``mode="raise"``, the default), or by setting
:attr:`PopulationBreakpoints.paused`, which :meth:`PopulationBreakpoints.run` honours
(``mode="pause"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from archetype_ecs.component import schema_of
from archetype_ecs.errors import EcsError
from archetype_ecs.resources import Time
from archetype_ecs.system import System, SystemContext, system
from archetype_ecs.world import World

__all__ = [
    "BreakpointError",
    "BreakpointHit",
    "Hit",
    "PopulationBreakpoint",
    "PopulationBreakpoints",
]

Array = np.ndarray[Any, Any]
Predicate = Callable[..., Any] | str
FRAME_END = "frame end"


class BreakpointError(EcsError, ValueError):
    """A population breakpoint that cannot be set up (bad name, system, predicate)."""


@dataclass(frozen=True)
class Hit:
    """One breakpoint firing: where, when, which entities, their values.

    Attributes
    ----------
    breakpoint
        The breakpoint's name.
    frame
        ``Time.frame`` of the frame it fired in.
    after
        The system it was checked after, or ``"frame end"``.
    entities
        The matching entity ids (uint64), in archetype then row order.
    table
        ``entity`` plus one column per field of the breakpoint's components
        (``"Component.field"``), one row per matching entity.
    """

    breakpoint: str
    frame: int
    after: str
    entities: Array
    table: pa.Table

    def __repr__(self) -> str:
        return (
            f"<Hit {self.breakpoint!r} frame {self.frame} after {self.after}: "
            f"{len(self.entities)} entities>"
        )


class BreakpointHit(EcsError, RuntimeError):  # a signal, like StopIteration
    """Raised out of ``world.step()`` after a frame in which breakpoints fired.

    The frame completed (systems, sync points, events, recorders, the other
    frame-end hooks registered before the breakpoints); ``hits`` says what fired.
    """

    def __init__(self, hits: list[Hit]) -> None:
        names = ", ".join(f"{h.breakpoint} ({len(h.entities)} entities)" for h in hits)
        frame = hits[0].frame if hits else 0
        super().__init__(f"population breakpoint hit in frame {frame}: {names}")
        self.hits = hits


@dataclass
class PopulationBreakpoint:
    """One breakpoint: predicate over components, checked after a system or frame."""

    name: str
    components: tuple[type, ...]
    predicate: Predicate
    after: str
    enabled: bool = True
    hits: int = 0
    probe: System | None = field(default=None, repr=False)


class PopulationBreakpoints:
    """The population breakpoints of one world.

    Parameters
    ----------
    world
        The world to watch.
    mode
        ``"raise"``: ``world.step()`` raises :class:`BreakpointHit` after a frame
        in which a breakpoint fired (so ``world.run(n)`` stops there).
        ``"pause"``: :attr:`paused` becomes true and :attr:`hits` fills;
        :meth:`run` stops stepping, ``world.step()`` itself is not blocked.
    on_hit
        Optional ``fn(hit)`` called when a breakpoint fires (in the frame).

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Health:
    ...     hp: f32 = 10.0
    >>> w = World()
    >>> ids = w.spawn_batch({Health: {"hp": [5.0, -1.0, 3.0]}})
    >>> bps = PopulationBreakpoints(w)
    >>> _ = bps.add("dead", "Health.hp < 0", Health)
    >>> try:
    ...     w.step()
    ... except BreakpointHit as stop:
    ...     print(stop.hits[0].table.column("Health.hp").to_pylist())
    [-1.0]
    """

    def __init__(
        self,
        world: World,
        *,
        mode: str = "raise",
        on_hit: Callable[[Hit], None] | None = None,
    ) -> None:
        if mode not in ("raise", "pause"):
            raise BreakpointError(
                f"PopulationBreakpoints(mode={mode!r}): use 'raise' (world.step "
                "raises BreakpointHit) or 'pause' (run() stops, paused is set)"
            )
        self.world = world
        self.mode = mode
        self.on_hit = on_hit
        self.paused = False
        self.hits: list[Hit] = []
        self.history: list[Hit] = []
        self._bps: dict[str, PopulationBreakpoint] = {}
        self._pending: list[Hit] = []
        world.frame_end_hooks.append(self._frame_end)

    @property
    def breakpoints(self) -> list[PopulationBreakpoint]:
        """Every breakpoint, in the order added."""
        return list(self._bps.values())

    def add(
        self,
        name: str,
        when: Predicate,
        *components: type,
        after: str | System | None = None,
    ) -> PopulationBreakpoint:
        """Fire when any entity with ``components`` satisfies ``when``.

        Parameters
        ----------
        name
            Unique breakpoint name.
        when
            ``fn(*views) -> bool mask`` over one archetype's views (one per
            component, fields as numpy arrays: ``lambda h: h.hp < 0``), or an
            expression over component names (``"Health.hp < 0"``; ``np`` is
            available).
        *components
            The components the predicate reads (entities must have them all).
        after
            A system (or its name; a behavior tree's tick system works the same):
            check right after it runs, in its phase. ``None``: at frame end.

        Raises
        ------
        BreakpointError
            Duplicate name, no components, an unknown system, or an expression
            that does not compile.
        """
        if name in self._bps:
            raise BreakpointError(
                f"a population breakpoint named {name!r} exists; remove it first "
                "or pick another name"
            )
        if not components:
            raise BreakpointError(
                f"breakpoint {name!r}: name the components the predicate reads, "
                "e.g. bps.add('dead', 'Health.hp < 0', Health)"
            )
        for c in components:
            schema_of(c)  # raises for a non-component
        if isinstance(when, str):
            try:
                compile(when, f"<breakpoint {name}>", "eval")
            except SyntaxError as exc:
                raise BreakpointError(
                    f"breakpoint {name!r}: predicate {when!r} does not compile: "
                    f"{exc.msg}"
                ) from None
        elif not callable(when):
            raise BreakpointError(
                f"breakpoint {name!r}: `when` must be a function of the component "
                f"views or an expression string, not {type(when).__name__}"
            )
        target = after.name if isinstance(after, System) else after
        bp = PopulationBreakpoint(name, tuple(components), when, target or FRAME_END)
        if target is not None:
            try:
                sys_ = self.world.schedule.system(target)
            except KeyError:
                known = ", ".join(s.name for s in self.world.schedule.systems) or "none"
                raise BreakpointError(
                    f"breakpoint {name!r}: no system named {target!r} to check "
                    f"after (systems: {known})"
                ) from None

            def probe(ctx: SystemContext) -> None:
                if bp.enabled:
                    self._check(bp, ctx.query(*bp.components))

            bp.probe = system(
                probe,
                name=f"breakpoint:{name}",
                phase=sys_.phase,
                reads=list(components),
                after=[target],
            )
            assert isinstance(bp.probe, System)
            self.world.add_system(bp.probe)
        self._bps[name] = bp
        return bp

    def remove(self, name: str) -> None:
        """Remove a breakpoint (its probe system stays scheduled, idle).

        Raises
        ------
        BreakpointError
            When no breakpoint has that name.
        """
        bp = self._bps.pop(name, None)
        if bp is None:
            raise BreakpointError(
                f"no population breakpoint named {name!r} "
                f"(breakpoints: {', '.join(self._bps) or 'none'})"
            )
        bp.enabled = False

    def resume(self) -> None:
        """Clear :attr:`paused` and the current :attr:`hits` (history stays)."""
        self.paused = False
        self.hits = []

    def run(self, frames: int) -> list[Hit]:
        """Step up to ``frames`` frames; stop after a frame where a breakpoint fired.

        Returns
        -------
        list of Hit
            The hits that stopped the run (empty when all frames ran). In
            ``"raise"`` mode the :class:`BreakpointHit` is caught here.
        """
        self.resume()
        for _ in range(frames):
            try:
                self.world.step()
            except BreakpointHit as stop:
                return stop.hits
            if self.paused:
                return list(self.hits)
        return []

    def close(self) -> None:
        """Disable every breakpoint and stop watching the world."""
        for bp in self._bps.values():
            bp.enabled = False
        self._bps.clear()
        if self._frame_end in self.world.frame_end_hooks:
            self.world.frame_end_hooks.remove(self._frame_end)

    # ------------------------------------------------------------ checking

    def _mask(self, bp: PopulationBreakpoint, views: tuple[Any, ...], n: int) -> Array:
        if isinstance(bp.predicate, str):
            names = {
                schema_of(c).name: v for c, v in zip(bp.components, views, strict=True)
            }
            out = eval(bp.predicate, {"__builtins__": {}, "np": np}, names)
        else:
            out = bp.predicate(*views)
        mask = np.asarray(out)
        if mask.shape == ():
            mask = np.full(n, bool(mask))
        if mask.dtype != np.bool_ or mask.shape != (n,):
            raise BreakpointError(
                f"breakpoint {bp.name!r}: the predicate returned "
                f"{mask.dtype}{list(mask.shape)}; it must return a bool mask of "
                f"shape ({n},) for an archetype of {n} entities"
            )
        return mask

    def _check(self, bp: PopulationBreakpoint, rows: Any) -> None:
        ids: list[Array] = []
        cols: dict[str, list[Array]] = {}
        for ents, *views in rows:
            mask = self._mask(bp, tuple(views), len(ents))
            if not mask.any():
                continue
            ids.append(np.asarray(ents)[mask])
            for c, view in zip(bp.components, views, strict=True):
                s = schema_of(c)
                for f in s.fields:
                    cols.setdefault(f"{s.name}.{f.name}", []).append(
                        np.asarray(getattr(view, f.name))[mask]
                    )
        if not ids:
            return
        entities = np.concatenate(ids).astype(np.uint64)
        arrays: dict[str, pa.Array] = {"entity": pa.array(entities)}
        for key, parts in cols.items():
            values = np.concatenate(parts)
            if values.ndim == 2:  # vector field: a fixed-size list per entity
                arrays[key] = pa.FixedSizeListArray.from_arrays(
                    pa.array(values.reshape(-1)), values.shape[1]
                )
            else:
                arrays[key] = pa.array(values)
        hit = Hit(
            bp.name,
            self.world.resource(Time).frame,
            bp.after,
            entities,
            pa.table(arrays),
        )
        bp.hits += 1
        self._pending.append(hit)
        self.history.append(hit)
        if self.on_hit is not None:
            self.on_hit(hit)

    def _frame_end(self, world: World) -> None:
        for bp in self._bps.values():
            if bp.enabled and bp.after == FRAME_END:
                self._check(bp, world.query(*bp.components))
        if not self._pending:
            return
        hits, self._pending = self._pending, []
        self.hits.extend(hits)
        self.paused = True
        if self.mode == "raise":
            raise BreakpointHit(hits)
