"""HTML summaries for notebooks: worlds, queries, command buffers, stats, recorders.

Each function returns a self-contained HTML fragment (no scripts, no external CSS)
that the ``_repr_html_`` methods of those objects return. Rendering reads counts and
small previews only: it never copies a whole table and never raises on an odd state.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from archetype_ecs.profiling import StatsView, world_counts
from archetype_ecs.resources import Time

if TYPE_CHECKING:
    from archetype_ecs.commands import CommandBuffer
    from archetype_ecs.query import QueryState
    from archetype_ecs.recorder import Recorder
    from archetype_ecs.world import World

__all__ = [
    "commands_html",
    "format_bytes",
    "query_html",
    "recorder_html",
    "stats_html",
    "table_html",
    "world_html",
]

MAX_ROWS = 50
_STYLE = "font-family: monospace; font-size: 12px;"
_NUM = ' style="text-align: right"'


def format_bytes(n: int) -> str:
    """``n`` bytes in binary units (``"1.5 MiB"``).

    Examples
    --------
    >>> format_bytes(512), format_bytes(1536), format_bytes(3 * 2**20)
    ('512 B', '1.5 KiB', '3.0 MiB')
    """
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover - the loop returns at GiB


def _esc(value: object) -> str:
    return html.escape(str(value))


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return "<i>null</i>"
    return _esc(value)


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    numeric: Sequence[bool] | None = None,
    total: int | None = None,
) -> str:
    num = list(numeric) if numeric is not None else [False] * len(header)
    head = "".join(
        f"<th{_NUM if n else ''}>{_esc(h)}</th>"
        for h, n in zip(header, num, strict=True)
    )
    body = []
    shown = 0
    for row in rows:
        if shown == MAX_ROWS:
            break
        cells = "".join(
            f"<td{_NUM if n else ''}>{_cell(v)}</td>"
            for v, n in zip(row, num, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
        shown += 1
    more = ""
    if total is not None and total > shown:
        more = f'<tr><td colspan="{len(header)}">... {total - shown:,} more</td></tr>'
    return (
        f'<table style="{_STYLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}{more}</tbody></table>"
    )


def _section(title: str, content: str, *, is_open: bool = True) -> str:
    state = " open" if is_open else ""
    return f"<details{state}><summary><b>{_esc(title)}</b></summary>{content}</details>"


def table_html(table: pa.Table, *, max_rows: int = 10, title: str | None = None) -> str:
    """The first ``max_rows`` rows of an Arrow table as an HTML table.

    Examples
    --------
    >>> import pyarrow as pa
    >>> out = table_html(pa.table({"a": [1, 2, 3]}), max_rows=2)
    >>> "3 rows" in out and "1 more" in out
    True
    """
    numeric = [
        pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types
    ]
    head = table.slice(0, max_rows).to_pylist()
    rows = [[r[name] for name in table.column_names] for r in head]
    shape = f"{table.num_rows:,} rows x {table.num_columns} columns"
    caption = f"<p>{_esc(title) + ': ' if title else ''}{shape}</p>"
    return caption + _table(
        table.column_names, rows, numeric=numeric, total=table.num_rows
    )


def _archetypes(world: World) -> str:
    tables = [t for t in world.tables if t.len]
    rows = (
        (t.id, ", ".join(t.names) or "(none)", t.len, format_bytes(t.nbytes()))
        for t in tables
    )
    return _table(
        ["id", "components", "entities", "memory"],
        rows,
        numeric=[True, False, True, True],
        total=len(tables),
    )


def _systems(world: World) -> str:
    stats: dict[str, Mapping[str, Any]] = {}
    try:
        for row in world.profiler.stats_table().to_pylist():
            if row["kind"] == "system":
                stats[row["name"]] = row
    except Exception:  # a repr must render whatever state the profiler is in
        stats = {}
    phases = {p: i for i, p in enumerate(world.schedule.phases)}
    systems = sorted(
        world.schedule.systems, key=lambda s: (phases.get(s.phase, 99), s.order)
    )
    rows = []
    for s in systems:
        st = stats.get(s.name, {})
        rows.append(
            (
                s.phase,
                s.name,
                s.kind,
                s.runs,
                st.get("last_ms"),
                st.get("mean_ms"),
                st.get("rows_last"),
            )
        )
    header = ["phase", "system", "kind", "runs", "last ms", "mean ms", "rows"]
    numeric = [False, False, False, True, True, True, True]
    return _table(header, rows, numeric=numeric, total=len(rows))


def world_html(world: World) -> str:
    """A world's summary: counts, archetypes with memory, systems with timings.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> w = World()
    >>> _ = w.spawn_batch({Pos: None}, n=3)
    >>> out = world_html(w)
    >>> "Pos" in out and "<table" in out
    True
    """
    counts = world_counts(world)
    time = world.get_resource(Time)
    frame = f" | frame {time.frame:,}" if time is not None else ""
    head = (
        f"<p><b>World</b>: {counts['entities']:,} entities | "
        f"{counts['archetypes']:,} archetypes | {counts['components']:,} components | "
        f"{format_bytes(counts['table_bytes'])} in tables{frame}</p>"
    )
    parts = [
        head,
        _section(f"Archetypes ({counts['archetypes']:,})", _archetypes(world)),
    ]
    if world.schedule.systems:
        title = f"Systems ({len(world.schedule.systems)})"
        parts.append(_section(title, _systems(world)))
    resources = ", ".join(_esc(t.__name__) for t in world._resources)
    if resources:
        parts.append(_section("Resources", f"<p>{resources}</p>", is_open=False))
    return f'<div class="arrow-ecs-world">{"".join(parts)}</div>'


def query_html(query: QueryState) -> str:
    """A query's spec, matched archetypes with counts, and a preview of its rows.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> w = World()
    >>> _ = w.spawn_batch({Pos: None}, n=3)
    >>> "3 entities" in query_html(w.query(Pos))
    True
    """
    world = query._world
    name = world.components.schemas

    def names(ids: Iterable[Any]) -> str:
        return ", ".join(_esc(name[c].name) for c in ids) or "-"

    tables = [t for t in query.tables() if t.len]
    total = sum(t.len for t in tables)
    spec = [f"<b>Query</b>({names(query.required)})"]
    if query.without:
        spec.append(f"without {names(sorted(query.without))}")
    if query.optional:
        spec.append(f"optional {names(query.optional)}")
    if query.is_filtered:
        spec.append(f"added {names(query.added)} changed {names(query.changed)}")
    head = f"<p>{' | '.join(spec)}: {total:,} entities in {len(tables)} archetypes</p>"
    rows = ((t.id, ", ".join(t.names), t.len) for t in tables)
    archetypes = _table(
        ["id", "components", "entities"],
        rows,
        numeric=[True, False, True],
        total=len(tables),
    )
    parts = [head, _section("Archetypes", archetypes, is_open=False)]
    if total:
        parts.append(_section("Rows", table_html(query.to_arrow(), max_rows=5)))
    return f'<div class="arrow-ecs-query">{"".join(parts)}</div>'


def commands_html(buffer: CommandBuffer) -> str:
    """A command buffer's runs: kind, components and count, in recording order.

    Examples
    --------
    >>> from archetype_ecs import CommandBuffer, component, f32
    >>> @component
    ... class Hp:
    ...     value: f32 = 1.0
    >>> cmd = CommandBuffer("spawner")
    >>> _ = cmd.spawn_batch({Hp: None}, n=4)
    >>> "SPAWN" in commands_html(cmd)
    True
    """
    runs = buffer.commands()
    head = (
        f"<p><b>CommandBuffer</b> {_esc(buffer.name)}: {len(buffer):,} commands in "
        f"{len(runs):,} runs, {buffer.pending_count:,} pending spawns</p>"
    )
    rows = (
        (i, run.kind.name, ", ".join(c.__name__ for c in run.classes) or "-", len(run))
        for i, run in enumerate(runs)
    )
    table = _table(
        ["run", "kind", "components", "commands"],
        rows,
        numeric=[True, False, False, True],
        total=len(runs),
    )
    return f'<div class="arrow-ecs-commands">{head}{table}</div>'


def stats_html(
    stats: StatsView | pa.Table, counts: Mapping[str, int] | None = None
) -> str:
    """Profiler statistics (``world.stats()``) and optional counts as HTML.

    Examples
    --------
    >>> from archetype_ecs.profiling import Profiler
    >>> p = Profiler()
    >>> p.record("system", "move", "update", 0, 2_000_000, thread=1, rows=5)
    >>> out = stats_html(p.stats_table(), {"entities": 5})
    >>> "move" in out and "entities" in out
    True
    """
    if isinstance(stats, StatsView):
        table, counts = stats.table, {**stats.counts, **(counts or {})}
    else:
        table = stats
    parts = []
    if counts:
        items = " | ".join(f"{_esc(k)}: <b>{v:,}</b>" for k, v in counts.items())
        parts.append(f"<p>{items}</p>")
    numeric = [
        pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types
    ]
    rows = [
        [r[n] for n in table.column_names] for r in table.slice(0, MAX_ROWS).to_pylist()
    ]
    parts.append(
        _table(table.column_names, rows, numeric=numeric, total=table.num_rows)
    )
    return f'<div class="arrow-ecs-stats">{"".join(parts)}</div>'


def recorder_html(recorder: Recorder) -> str:
    """A recorder's settings, recorded frames and memory use.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> from archetype_ecs.recorder import Recorder
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> w = World()
    >>> rec = Recorder(w, [Pos], attach=False)
    >>> "Recorder" in recorder_html(rec)
    True
    """
    frames = recorder.frames()
    span = f"frames {frames[0]:,} to {frames[-1]:,}" if frames else "no frame yet"
    where = f" to {_esc(recorder.path)}" if recorder.path is not None else ""
    ring = f", last {recorder.max_frames:,} kept" if recorder.max_frames else ""
    state = " (closed)" if recorder.closed else ""
    head = (
        f"<p><b>Recorder</b>{state}: every {recorder.every} frames{ring}{where}; "
        f"{len(frames):,} recorded ({span}), {len(recorder):,} rows, "
        f"{format_bytes(recorder.nbytes)} in memory</p>"
    )
    cols = ", ".join(_esc(n) for n in recorder.schema.names)
    return f'<div class="arrow-ecs-recorder">{head}<p>columns: {cols}</p></div>'
