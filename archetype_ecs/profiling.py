"""Profiling: per-system and per-phase timings, world counts, Chrome trace export.

A :class:`Profiler` keeps rolling statistics per span name and a bounded buffer of
raw spans, which :meth:`Profiler.write_chrome_trace` exports in the Trace Event Format
(open the file in https://ui.perfetto.dev or chrome://tracing). One profiler hangs off
each world; ``world.stats()`` wraps its table and :func:`world_counts` in a StatsView.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from itertools import groupby, islice
from operator import itemgetter
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa

if TYPE_CHECKING:
    from archetype_ecs.world import World

__all__ = [
    "KINDS",
    "Profiler",
    "Span",
    "StatsView",
    "format_stats",
    "world_counts",
]

KINDS = frozenset({"system", "phase", "sync", "observer", "script"})
"""Kinds of span accepted by :meth:`Profiler.record` (frames use ``frame_mark``)."""

FRAME_KIND = "frame"
_NS_PER_MS = 1e6
_NS_PER_US = 1e3
_FRAME_TID = 0  # the dedicated "frames" track of the trace
# spans wait in a queue until this many are pending (or something reads the
# statistics, or a frame is marked); then they are folded into the statistics
_FOLD_AT = 4096
_KEY = itemgetter(0)  # the (kind, name, phase) of a buffered span

STATS_SCHEMA = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("phase", pa.string(), nullable=False),
        pa.field("calls", pa.int64(), nullable=False),
        pa.field("last_ms", pa.float64(), nullable=False),
        pa.field("mean_ms", pa.float64(), nullable=False),
        pa.field("max_ms", pa.float64(), nullable=False),
        pa.field("total_ms", pa.float64(), nullable=False),
        pa.field("rows_last", pa.int64(), nullable=False),
        pa.field("rows_total", pa.int64(), nullable=False),
        pa.field("python", pa.bool_(), nullable=False),
    ]
)


class Span(NamedTuple):
    """One timed piece of work, as kept in the trace buffer (times in ns)."""

    kind: str
    name: str
    phase: str
    start_ns: int
    end_ns: int
    thread: int
    rows: int
    python: bool


class _Stat:
    """Rolling statistics of one (kind, name, phase); durations in ns."""

    __slots__ = (
        "calls",
        "kind",
        "last",
        "max",
        "name",
        "phase",
        "python",
        "ring",
        "ring_sum",
        "rows_last",
        "rows_total",
        "total",
    )

    # Invariant: `ring` holds the last min(calls, window) durations and
    # `ring_sum == sum(ring)`.

    def __init__(self, kind: str, name: str, phase: str, *, python: bool) -> None:
        self.kind = kind
        self.name = name
        self.phase = phase
        self.python = python
        self.calls = 0
        self.last = 0
        self.max = 0
        self.total = 0
        self.rows_last = 0
        self.rows_total = 0
        self.ring: deque[int] = deque()
        self.ring_sum = 0

    def add(self, durations: list[int], rows: list[int], window: int) -> None:
        """Fold in a run of calls, oldest first (both lists non-empty, one length)."""
        ring = self.fit(window)
        n = len(durations)
        run_sum = sum(durations)
        if n >= window:
            ring.clear()
            ring.extend(durations[n - window :])
            self.ring_sum = sum(ring)
        else:
            over = len(ring) + n - window
            if over > 0:  # the oldest `over` durations leave the window
                self.ring_sum -= sum(islice(ring, over))
            ring.extend(durations)
            self.ring_sum += run_sum
        self.calls += n
        self.last = durations[-1]
        longest = max(durations)
        if longest > self.max:
            self.max = longest
        self.total += run_sum
        self.rows_last = rows[-1]
        self.rows_total += sum(rows)

    def fit(self, window: int) -> deque[int]:
        """Make the ring ``window`` long (first call, or the profiler's window
        changed), keeping the newest durations."""
        ring = self.ring
        if ring.maxlen != window:
            ring = self.ring = deque(
                islice(ring, max(0, len(ring) - window), None), window
            )
            self.ring_sum = sum(ring)
        return ring

    @property
    def mean(self) -> float:
        return self.ring_sum / len(self.ring) if self.ring else 0.0


class Profiler:
    """Per-system, per-phase and per-frame timings, and a trace of recent spans.

    Parameters
    ----------
    enabled
        Record spans (default). When off, :meth:`record` returns at once; callers
        should test ``profiler.enabled`` before reading the clock, so that the hot
        path costs one attribute check.
    window
        Number of most recent calls the rolling mean covers (one call per frame for
        a system: 60 frames by default).
    trace_frames
        Frames of raw spans kept for the trace: spans that started before the
        oldest of the last ``trace_frames`` frames are dropped.
    max_spans
        Hard bound on buffered spans (also when ``frame_mark`` is never called).

    Examples
    --------
    >>> p = Profiler()
    >>> p.record("system", "move", "update", 0, 2_000_000, thread=1, rows=100)
    >>> p.record("system", "move", "update", 0, 4_000_000, thread=1, rows=100)
    >>> p.stats_table().select(["name", "calls", "last_ms", "mean_ms"]).to_pylist()
    [{'name': 'move', 'calls': 2, 'last_ms': 4.0, 'mean_ms': 3.0}]
    >>> Profiler(window=1, trace_frames=10).window
    1

    Notes
    -----
    Memory is bounded: one small record per (kind, name, phase) plus at most
    ``max_spans`` spans and 4,096 spans not yet folded in. :meth:`record` only
    appends the span to a queue (a thread-safe append, no lock), so worker threads
    may record and a hot caller pays little; the statistics take the queue in
    whenever they are read, at every :meth:`frame_mark` and every 4,096 spans.
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        window: int = 60,
        trace_frames: int = 600,
        max_spans: int = 1_000_000,
    ) -> None:
        for label, value in (
            ("window", window),
            ("trace_frames", trace_frames),
            ("max_spans", max_spans),
        ):
            if type(value) is not int or value < 1:
                raise ValueError(
                    f"Profiler({label}={value!r}): must be a positive int, e.g. "
                    f"Profiler({label}=60)"
                )
        self.enabled = enabled
        self.window = window
        self.trace_frames = trace_frames
        self._max_spans = max_spans
        self._stats: dict[tuple[str, str, str], _Stat] = {}
        # spans as plain tuples ((kind, name, phase), start_ns, end_ns, thread, rows,
        # python): a NamedTuple costs ~4x as much to build; made Spans when read
        self._spans: deque[tuple[Any, ...]] = deque(maxlen=max_spans)
        # recorded spans not yet folded into the statistics and the span buffer
        self._pending: deque[tuple[Any, ...]] = deque()
        self._frames: deque[tuple[int, int, int]] = deque(maxlen=trace_frames)
        self._frame_stat = _Stat(FRAME_KIND, FRAME_KIND, "", python=False)
        #: Called as ``listener(frame, start_ns, end_ns)`` after each frame is marked
        #: (e.g. by a frame budget monitor); not called while disabled.
        self.frame_listeners: list[Callable[[int, int, int], None]] = []
        self._thread_names: dict[int, str] = {}
        self._lock = threading.Lock()

    @property
    def max_spans(self) -> int:
        """Bound on the number of buffered spans."""
        return self._max_spans

    def __repr__(self) -> str:
        state = "on" if self.enabled else "off"
        with self._lock:
            self._fold()
        return (
            f"<Profiler {state} names={len(self._stats)} spans={len(self._spans)} "
            f"frames={self._frame_stat.calls}>"
        )

    # ---------------------------------------------------------------- recording

    def record(
        self,
        kind: str,
        name: str,
        phase: str,
        start_ns: int,
        end_ns: int,
        thread: int,
        rows: int = 0,
        *,
        python: bool = False,
    ) -> None:
        """Record one timed span.

        Parameters
        ----------
        kind
            One of ``"system"``, ``"phase"``, ``"sync"``, ``"observer"``,
            ``"script"``.
        name
            The system, phase, observer or script name.
        phase
            The schedule phase the span ran in (``""`` when none).
        start_ns, end_ns
            ``time.perf_counter_ns()`` readings around the work.
        thread
            The thread that ran it (``threading.get_ident()``): one trace track each.
        rows
            Rows (entities) processed, when known.
        python
            True for a plain-Python system (shown in the stats table).

        Raises
        ------
        ValueError
            When ``kind`` is unknown or ``end_ns < start_ns``.

        Examples
        --------
        >>> p = Profiler()
        >>> p.record("phase", "update", "update", 1_000, 501_000, thread=7)
        >>> p.stats_table().column("max_ms").to_pylist()
        [0.5]
        """
        if not self.enabled:
            return
        if kind not in KINDS or end_ns < start_ns:
            raise ValueError(_bad_span(kind, name, start_ns, end_ns))
        pending = self._pending
        pending.append(((kind, name, phase), start_ns, end_ns, thread, rows, python))
        if len(pending) >= _FOLD_AT:
            with self._lock:
                self._fold()

    def recorder(
        self, kind: str, name: str, phase: str = "", *, python: bool = False
    ) -> Callable[[int, int, int, int], None]:
        """:meth:`record` for one ``(kind, name, phase)``, with the checks and the
        lookup done once: ``rec(start_ns, end_ns, thread, rows)``.

        For a hot caller (a script engine records every script call). It records
        nothing while the profiler is disabled, and survives :meth:`clear`.

        Raises
        ------
        ValueError
            When ``kind`` is unknown (now), or a span ends before it starts.

        Examples
        --------
        >>> p = Profiler()
        >>> rec = p.recorder("script", "patrol", "update", python=True)
        >>> rec(1_000, 3_000, 7, 4)
        >>> p.stats_table().column("rows_last").to_pylist()
        [4]
        """
        if kind not in KINDS:
            raise ValueError(_bad_span(kind, name, 0, 0))
        pending, lock, key = self._pending, self._lock, (kind, name, phase)

        def rec(start_ns: int, end_ns: int, thread: int, rows: int) -> None:
            if not self.enabled:
                return
            if end_ns < start_ns:
                raise ValueError(_bad_span(kind, name, start_ns, end_ns))
            pending.append((key, start_ns, end_ns, thread, rows, python))
            if len(pending) >= _FOLD_AT:
                with lock:
                    self._fold()

        return rec

    def _fold(self) -> None:
        """Fold the pending spans into the statistics and the span buffer, in the
        order they were recorded. The caller holds the lock; spans other threads
        append meanwhile stay pending."""
        pending = self._pending
        n = len(pending)
        if not n:
            return
        popleft = pending.popleft
        batch = [popleft() for _ in range(n)]
        stats, window = self._stats, self.window
        for key, group in groupby(batch, _KEY):  # runs of one (kind, name, phase)
            run = list(group)
            python = run[-1][5]
            stat = stats.get(key)
            if stat is None:
                stat = stats[key] = _Stat(*key, python=python)
            elif stat.python is not python:
                stat.python = python
            stat.add([s[2] - s[1] for s in run], [s[4] for s in run], window)
        self._spans.extend(batch)

    @contextmanager
    def span(
        self, kind: str, name: str, phase: str = "", rows: int = 0
    ) -> Iterator[None]:
        """Time the ``with`` block and record it on the current thread.

        Examples
        --------
        >>> p = Profiler()
        >>> with p.span("script", "patrol", "update", rows=3):
        ...     pass
        >>> p.stats_table().column("rows_last").to_pylist()
        [3]
        """
        if not self.enabled:
            yield
            return
        start = perf_counter_ns()
        try:
            yield
        finally:
            end = perf_counter_ns()
            self.record(kind, name, phase, start, end, threading.get_ident(), rows)

    def frame_mark(self, frame: int, start_ns: int, end_ns: int) -> None:
        """Mark one whole frame; keeps the trace to the last ``trace_frames`` frames.

        Raises
        ------
        ValueError
            When ``end_ns < start_ns``.

        Examples
        --------
        >>> p = Profiler(trace_frames=2)
        >>> for f in range(5):
        ...     p.record("system", "s", "update", f * 10, f * 10 + 5, thread=1)
        ...     p.frame_mark(f, f * 10, f * 10 + 9)
        >>> len(p.spans())  # the spans of frames 3 and 4
        2
        """
        if not self.enabled:
            return
        if end_ns < start_ns:
            raise ValueError(_bad_span(FRAME_KIND, f"frame {frame}", start_ns, end_ns))
        with self._lock:
            self._fold()
            self._frame_stat.add([end_ns - start_ns], [0], self.window)
            self._frames.append((frame, start_ns, end_ns))
            if len(self._frames) == self.trace_frames:
                cutoff = self._frames[0][1]
                spans = self._spans
                while spans and spans[0][1] < cutoff:  # start_ns
                    spans.popleft()
        for listener in self.frame_listeners:
            listener(frame, start_ns, end_ns)

    def set_thread_name(self, thread: int, name: str) -> None:
        """Name the trace track of ``thread`` (default: ``main`` / ``worker N``)."""
        self._thread_names[thread] = name

    def clear(self) -> None:
        """Forget every statistic, span and frame mark."""
        with self._lock:
            self._pending.clear()
            self._stats.clear()
            self._spans.clear()
            self._frames.clear()
            self._frame_stat = _Stat(FRAME_KIND, FRAME_KIND, "", python=False)

    # ------------------------------------------------------------------ reading

    def spans(self) -> list[Span]:
        """The buffered spans, oldest first (a copy)."""
        with self._lock:
            self._fold()
            return [Span(*t[0], *t[1:]) for t in self._spans]

    def frames(self) -> list[tuple[int, int, int]]:
        """The buffered frame marks ``(frame, start_ns, end_ns)``, oldest first."""
        with self._lock:
            return list(self._frames)

    def stats_table(self) -> pa.Table:
        """One row per (kind, name, phase), in order of first record; frames first.

        Returns
        -------
        pyarrow.Table
            Columns ``kind``, ``name``, ``phase``, ``calls``, ``last_ms``,
            ``mean_ms`` (over the last ``window`` calls), ``max_ms``, ``total_ms``,
            ``rows_last``, ``rows_total``, ``python``. A ``frame`` row comes first
            once ``frame_mark`` has been called.

        Examples
        --------
        >>> p = Profiler()
        >>> p.frame_mark(0, 0, 16_000_000)
        >>> p.stats_table().select(["kind", "last_ms"]).to_pylist()
        [{'kind': 'frame', 'last_ms': 16.0}]
        """
        with self._lock:
            self._fold()
            stats = list(self._stats.values())
            if self._frame_stat.calls:
                stats.insert(0, self._frame_stat)
            for s in stats:  # a window changed since the last call folded in
                s.fit(self.window)
            rows = [
                (
                    s.kind,
                    s.name,
                    s.phase,
                    s.calls,
                    s.last / _NS_PER_MS,
                    s.mean / _NS_PER_MS,
                    s.max / _NS_PER_MS,
                    s.total / _NS_PER_MS,
                    s.rows_last,
                    s.rows_total,
                    s.python,
                )
                for s in stats
            ]
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(STATS_SCHEMA)
        return pa.Table.from_arrays(
            [
                pa.array(c, type=f.type)
                for c, f in zip(columns, STATS_SCHEMA, strict=True)
            ],
            schema=STATS_SCHEMA,
        )

    def format_stats(self, counts: Mapping[str, int] | None = None) -> str:
        """The stats table as aligned text (see :func:`format_stats`)."""
        return format_stats(self.stats_table(), counts)

    # -------------------------------------------------------------------- trace

    def _track_names(self, threads: list[int]) -> dict[int, str]:
        main = threading.main_thread().ident
        names: dict[int, str] = {}
        workers = 0
        for t in threads:
            if t in self._thread_names:
                names[t] = self._thread_names[t]
            elif t == main:
                names[t] = "main"
            else:
                workers += 1
                names[t] = f"worker {workers}"
        return names

    def trace_events(self) -> list[dict[str, Any]]:
        """The buffered spans and frames as Trace Event Format events.

        Returns
        -------
        list of dict
            ``"M"`` metadata events (process and thread names), one ``"X"``
            (complete) event per span on its thread's track, and one ``"X"`` event
            ``"frame N"`` per frame mark on the ``frames`` track (tid 0). Times are
            microseconds from the earliest buffered time.

        Examples
        --------
        >>> p = Profiler()
        >>> p.record("system", "move", "update", 5_000, 8_000, thread=1, rows=10)
        >>> [e["ph"] for e in p.trace_events()]
        ['M', 'M', 'M', 'X']
        >>> p.trace_events()[-1]["dur"], p.trace_events()[-1]["args"]["rows"]
        (3.0, 10)
        """
        spans = self.spans()
        frames = self.frames()
        starts = [s.start_ns for s in spans] + [f[1] for f in frames]
        origin = min(starts, default=0)
        pid = os.getpid()
        threads = list(dict.fromkeys(s.thread for s in spans))
        names = self._track_names(threads)
        tids = {t: i + 1 for i, t in enumerate(threads)}
        events: list[dict[str, Any]] = [
            _meta(pid, _FRAME_TID, "process_name", "arrow-ecs"),
            _meta(pid, _FRAME_TID, "thread_name", "frames"),
        ]
        events += [_meta(pid, tids[t], "thread_name", names[t]) for t in threads]
        events += [_frame_event(pid, f, origin) for f in frames]
        events += [_span_event(pid, tids[s.thread], s, origin) for s in spans]
        return events

    def write_chrome_trace(self, path: str | os.PathLike[str]) -> Path:
        """Write the buffered spans as a Chrome trace-event JSON file, atomically.

        Parameters
        ----------
        path
            Destination file (``.json``); its folder must exist.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        OSError
            When the file cannot be written; an existing file is left as it was.

        Notes
        -----
        Writes ``{"traceEvents": [...], "displayTimeUnit": "ms"}`` to a temporary
        file in the same folder, then renames it over ``path`` (``os.replace``).

        Examples
        --------
        >>> import json, tempfile, pathlib
        >>> p = Profiler()
        >>> p.record("system", "move", "update", 0, 1_000_000, thread=1)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     out = p.write_chrome_trace(pathlib.Path(tmp) / "trace.json")
        ...     doc = json.loads(out.read_text())
        >>> doc["displayTimeUnit"], doc["traceEvents"][-1]["name"]
        ('ms', 'move')
        """
        target = Path(path)
        doc = {"traceEvents": self.trace_events(), "displayTimeUnit": "ms"}
        _atomic_write_text(target, json.dumps(doc, separators=(",", ":")))
        return target


def _bad_span(kind: str, name: str, start_ns: int, end_ns: int) -> str:
    if kind not in KINDS and kind != FRAME_KIND:
        return (
            f"profiler: unknown span kind {kind!r} for {name!r}; use one of "
            f"{sorted(KINDS)}"
        )
    return (
        f"profiler: span {name!r} ends before it starts (start_ns={start_ns}, "
        f"end_ns={end_ns}); pass perf_counter_ns() readings taken before and after"
    )


def _meta(pid: int, tid: int, what: str, name: str) -> dict[str, Any]:
    return {
        "name": what,
        "ph": "M",
        "ts": 0,
        "pid": pid,
        "tid": tid,
        "args": {"name": name},
    }


def _us(ns: int, origin: int) -> float:
    return (ns - origin) / _NS_PER_US


def _frame_event(pid: int, frame: tuple[int, int, int], origin: int) -> dict[str, Any]:
    number, start, end = frame
    return {
        "name": f"frame {number}",
        "cat": FRAME_KIND,
        "ph": "X",
        "ts": _us(start, origin),
        "dur": (end - start) / _NS_PER_US,
        "pid": pid,
        "tid": _FRAME_TID,
        "args": {"frame": number},
    }


def _span_event(pid: int, tid: int, s: Span, origin: int) -> dict[str, Any]:
    return {
        "name": s.name,
        "cat": s.kind,
        "ph": "X",
        "ts": _us(s.start_ns, origin),
        "dur": (s.end_ns - s.start_ns) / _NS_PER_US,
        "pid": pid,
        "tid": tid,
        "args": {"phase": s.phase, "rows": s.rows, "python": s.python},
    }


def _atomic_write_text(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def world_counts(world: World) -> dict[str, int]:
    """Entity, archetype, component and memory counts of a world.

    Parameters
    ----------
    world
        The world to measure.

    Returns
    -------
    dict
        ``entities``, ``archetypes`` (non-empty), ``archetypes_total`` (empty ones
        included), ``components`` (registered types), ``table_bytes`` (allocated
        by every table's columns), plus ``event_queues`` and ``event_bytes`` when
        the world has ``events``.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Mass:
    ...     kg: f32 = 1.0
    >>> w = World()
    >>> _ = w.spawn_batch({Mass: None}, n=10)
    >>> c = world_counts(w)
    >>> c["entities"], c["archetypes"], c["components"]
    (10, 1, 1)
    """
    counts = {
        "entities": len(world),
        "archetypes": sum(1 for t in world.tables if t.len),
        "archetypes_total": len(world.tables),
        "components": len(world.components),
        "table_bytes": sum(t.nbytes() for t in world.tables),
    }
    events = getattr(world, "events", None)
    if events is not None:
        counts["event_queues"] = len(events)
        counts["event_bytes"] = int(events.nbytes())
    return counts


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, bool):
        return "yes" if value else ""
    return str(value)


def _rows_of(table: pa.Table) -> tuple[list[str], list[list[str]]]:
    names = list(table.column_names)
    rows = [[_cell(r[n]) for n in names] for r in table.to_pylist()]
    return names, rows


def format_stats(table: pa.Table, counts: Mapping[str, int] | None = None) -> str:
    """Render a stats table (and world counts) as aligned text.

    Parameters
    ----------
    table
        A table such as :meth:`Profiler.stats_table` returns.
    counts
        Optional counts (:func:`world_counts`), printed first as ``key: value``.

    Returns
    -------
    str
        One header line and one line per row; numbers right-aligned.

    Examples
    --------
    >>> p = Profiler()
    >>> p.record("system", "move", "update", 0, 1_500_000, thread=1, rows=8)
    >>> print(format_stats(p.stats_table().select(["name", "calls", "last_ms"])))
    name  calls  last_ms
    move      1    1.500
    """
    lines = [f"{k}: {v:,}" for k, v in (counts or {}).items()]
    names, rows = _rows_of(table)
    numeric = [
        pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types
    ]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(out).rstrip()

    if lines:
        lines.append("")
    lines.append(line(names))
    lines.extend(line(r) for r in rows)
    return "\n".join(lines)


class StatsView:
    """Profiler statistics plus world counts, shown as text or as an HTML table.

    ``world.stats()`` returns one; ``view.table`` is the Arrow table and
    ``view.counts`` the counts dict.

    Examples
    --------
    >>> p = Profiler()
    >>> p.record("system", "move", "update", 0, 1_000_000, thread=1)
    >>> view = StatsView(p.stats_table(), {"entities": 3})
    >>> view.counts["entities"], view.table.num_rows
    (3, 1)
    >>> "<table" in view._repr_html_()
    True
    """

    def __init__(
        self, table: pa.Table, counts: Mapping[str, int] | None = None
    ) -> None:
        self.table = table
        self.counts = dict(counts or {})

    def __str__(self) -> str:
        return format_stats(self.table, self.counts)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        parts = []
        if self.counts:
            items = ", ".join(
                f"{html.escape(k)}: <b>{v:,}</b>" for k, v in self.counts.items()
            )
            parts.append(f"<p>{items}</p>")
        names, rows = _rows_of(self.table)
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
            for r in rows
        )
        parts.append(
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
        return "\n".join(parts)
