from __future__ import annotations

import json
import os
import threading
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World, component
from archetype_ecs.events import Events, event
from archetype_ecs.profiling import (
    _FOLD_AT,
    KINDS,
    Profiler,
    Span,
    StatsView,
    format_stats,
    world_counts,
)
from archetype_ecs.schema import f32, i32

MS = 1_000_000  # ns


@component
class Pos:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Tag:
    pass


@event
class Bang:
    power: i32 = 0


def _row(p: Profiler, name: str, kind: str = "system") -> dict[str, Any]:
    rows = [
        r
        for r in p.stats_table().to_pylist()
        if r["name"] == name and r["kind"] == kind
    ]
    assert len(rows) == 1, rows
    return rows[0]


def _run_frames(p: Profiler, frames: int, systems: int = 2, thread: int = 1) -> None:
    for f in range(frames):
        base = f * 100 * MS
        for s in range(systems):
            start = base + s * 10 * MS
            p.record("system", f"s{s}", "update", start, start + MS, thread)
        p.frame_mark(f, base, base + 50 * MS)


# ------------------------------------------------------------------ stats math


def test_stats_last_mean_max_calls_and_rows_from_synthetic_timings():
    p = Profiler(window=3)
    for i, ms in enumerate([1, 5, 2, 3, 4]):
        start = i * 10 * MS
        p.record("system", "move", "update", start, start + ms * MS, 1, rows=10 * ms)
    row = _row(p, "move")
    assert row["calls"] == 5
    assert row["last_ms"] == pytest.approx(4.0)
    assert row["mean_ms"] == pytest.approx((2 + 3 + 4) / 3)  # last 3 calls
    assert row["max_ms"] == pytest.approx(5.0)  # over all calls
    assert row["total_ms"] == pytest.approx(15.0)
    assert row["rows_last"] == 40
    assert row["rows_total"] == 150
    assert row["phase"] == "update"
    assert row["python"] is False


def test_rolling_mean_matches_numpy_over_many_calls():
    rng = np.random.default_rng(0)
    durations = rng.integers(1, 10_000_000, size=500)
    p = Profiler(window=60)
    for d in durations:
        p.record("system", "s", "update", 0, int(d), 1)
    row = _row(p, "s")
    assert row["mean_ms"] == pytest.approx(durations[-60:].mean() / MS)
    assert row["max_ms"] == pytest.approx(durations.max() / MS)
    assert row["total_ms"] == pytest.approx(durations.sum() / MS)


def test_mean_before_the_window_fills_uses_the_calls_so_far():
    p = Profiler(window=60)
    p.record("system", "s", "update", 0, 2 * MS, 1)
    p.record("system", "s", "update", 0, 4 * MS, 1)
    assert _row(p, "s")["mean_ms"] == pytest.approx(3.0)


def test_stats_are_kept_per_kind_name_and_phase():
    p = Profiler()
    p.record("phase", "update", "update", 0, 3 * MS, 1)
    p.record("sync", "sync", "update", 0, 1 * MS, 1)
    p.record("sync", "sync", "post_update", 0, 2 * MS, 1)
    p.record("system", "update", "update", 0, 5 * MS, 1)
    table = p.stats_table()
    assert table.num_rows == 4
    keys = list(
        zip(
            table.column("kind").to_pylist(),
            table.column("name").to_pylist(),
            table.column("phase").to_pylist(),
            strict=True,
        )
    )
    assert keys == [  # order of first record
        ("phase", "update", "update"),
        ("sync", "sync", "update"),
        ("sync", "sync", "post_update"),
        ("system", "update", "update"),
    ]


def test_python_flag_is_reported():
    p = Profiler()
    p.record("system", "py", "update", 0, MS, 1, python=True)
    p.record("system", "jit", "update", 0, MS, 1)
    assert _row(p, "py")["python"] is True
    assert _row(p, "jit")["python"] is False
    assert p.spans()[0].python is True


def test_frame_marks_add_a_frame_row_first():
    p = Profiler(window=2)
    p.record("system", "s", "update", 0, MS, 1)
    for f, ms in enumerate([10, 20, 30]):
        p.frame_mark(f, 0, ms * MS)
    table = p.stats_table()
    first = table.slice(0, 1).to_pylist()[0]
    assert first["kind"] == "frame"
    assert first["calls"] == 3
    assert first["last_ms"] == pytest.approx(30.0)
    assert first["mean_ms"] == pytest.approx(25.0)
    assert first["max_ms"] == pytest.approx(30.0)


def test_empty_stats_table_has_the_schema():
    table = Profiler().stats_table()
    assert table.num_rows == 0
    assert table.column_names == [
        "kind",
        "name",
        "phase",
        "calls",
        "last_ms",
        "mean_ms",
        "max_ms",
        "total_ms",
        "rows_last",
        "rows_total",
        "python",
    ]
    assert table.schema.field("python").type == pa.bool_()
    assert table.schema.field("calls").type == pa.int64()


def test_every_documented_kind_is_accepted():
    p = Profiler()
    for kind in sorted(KINDS):
        p.record(kind, kind, "update", 0, MS, 1)
    assert p.stats_table().num_rows == len(KINDS) == 5


def test_bad_spans_are_refused():
    p = Profiler()
    with pytest.raises(ValueError, match="unknown span kind 'sytem'"):
        p.record("sytem", "s", "update", 0, MS, 1)
    with pytest.raises(ValueError, match="ends before it starts"):
        p.record("system", "s", "update", 5, 4, 1)
    with pytest.raises(ValueError, match="ends before it starts"):
        p.frame_mark(0, 5, 4)
    assert p.stats_table().num_rows == 0
    assert p.spans() == []


@pytest.mark.parametrize(
    "kwargs", [{"window": 0}, {"trace_frames": -1}, {"max_spans": 1.5}]
)
def test_bad_profiler_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="must be a positive int"):
        Profiler(**kwargs)


def test_disabled_profiler_records_nothing():
    p = Profiler(enabled=False)
    p.record("system", "s", "update", 0, MS, 1)
    p.record("nonsense", "s", "update", 5, 4, 1)  # not even checked when off
    p.frame_mark(0, 0, MS)
    with p.span("script", "x"):
        pass
    assert p.stats_table().num_rows == 0
    assert p.spans() == []
    assert p.trace_events()[-1]["ph"] == "M"  # metadata only
    p.enabled = True
    p.record("system", "s", "update", 0, MS, 1)
    assert p.stats_table().num_rows == 1


def test_span_context_manager_times_the_block_on_this_thread():
    p = Profiler()
    with p.span("script", "patrol", "update", rows=4):
        pass
    (span,) = p.spans()
    assert span.kind == "script"
    assert span.thread == threading.get_ident()
    assert span.end_ns >= span.start_ns
    assert span.rows == 4


def test_span_records_even_when_the_block_raises():
    p = Profiler()
    with pytest.raises(KeyError), p.span("script", "boom"):
        raise KeyError("x")
    assert len(p.spans()) == 1


def test_clear_forgets_everything():
    p = Profiler()
    _run_frames(p, 3)
    p.clear()
    assert p.stats_table().num_rows == 0
    assert p.spans() == []
    assert p.frames() == []


# ---------------------------------------------------------------- ring buffer


def test_trace_keeps_only_the_last_trace_frames_frames():
    p = Profiler(trace_frames=5)
    _run_frames(p, 20, systems=3)
    frames = p.frames()
    assert [f[0] for f in frames] == [15, 16, 17, 18, 19]
    spans = p.spans()
    assert len(spans) == 5 * 3
    assert min(s.start_ns for s in spans) >= frames[0][1]
    assert _row(p, "s0")["calls"] == 20  # stats still cover every call


def test_trace_is_bounded_by_max_spans_without_frame_marks():
    p = Profiler(max_spans=100)
    for i in range(1000):
        p.record("system", "s", "update", i, i + 1, 1)
    spans = p.spans()
    assert len(spans) == p.max_spans == 100
    assert spans[0].start_ns == 900  # oldest dropped first
    assert _row(p, "s")["calls"] == 1000


def test_memory_is_bounded_however_many_spans_are_recorded():
    # spans wait in a queue folded every _FOLD_AT records, so with no frame mark
    # and no reader the queue, the span buffer and each ring stay bounded
    p = Profiler(window=8, max_spans=100)
    rec = p.recorder("script", "r", "update")
    for i in range(3 * _FOLD_AT + 5):
        p.record("system", "s", "update", 0, i, 1)
        rec(0, i, 1, 0)
        assert len(p._pending) < _FOLD_AT
    assert len(p._spans) == 100
    assert _row(p, "s")["calls"] == _row(p, "r", "script")["calls"] == 3 * _FOLD_AT + 5
    assert not p._pending
    assert len(p._stats[("system", "s", "update")].ring) == 8


def test_changing_the_window_keeps_the_newest_durations():
    p = Profiler(window=4)
    for d in (1, 2, 3, 4, 5, 6):
        p.record("system", "s", "update", 0, d * MS, 1)
    assert _row(p, "s")["mean_ms"] == (3 + 4 + 5 + 6) / 4
    p.window = 2
    assert _row(p, "s")["mean_ms"] == 5.5  # the two newest of the ring
    p.record("system", "s", "update", 0, 7 * MS, 1)
    assert _row(p, "s")["mean_ms"] == 6.5
    p.window = 3  # a longer window fills up again from here on
    p.record("system", "s", "update", 0, 8 * MS, 1)
    assert _row(p, "s")["mean_ms"] == (6 + 7 + 8) / 3


_OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("record"),
            st.sampled_from(["a", "b", "c"]),
            st.integers(0, 10**9),
            st.integers(0, 1000),
            st.booleans(),  # through a recorder (names a and b have them)
            st.booleans(),  # python
        ),
        st.tuples(st.just("read")),
        st.tuples(st.just("frame")),
        st.tuples(st.just("clear")),
        st.tuples(st.just("toggle")),
        st.tuples(st.just("window"), st.integers(1, 10)),
    ),
    max_size=300,
)


class _RefStat:
    """The plain reference: every statistic recomputed from whole lists."""

    def __init__(self) -> None:
        self.durs: list[int] = []
        self.rows: list[int] = []
        self.ring: list[int] = []
        self.python = False


@settings(max_examples=80, deadline=None)
@given(ops=_OPS, window=st.integers(1, 10), fold_at=st.sampled_from([1, 3, 64]))
def test_deferred_stats_equal_a_plain_reference(
    ops: list[tuple[Any, ...]], window: int, fold_at: int
) -> None:
    """Differential: the queued, run-folded statistics against whole lists.

    Spans of three names interleave, through recorders and ``record``, with the
    python flag changing; stats are read, frames marked, the profiler cleared,
    turned off and on, and its window changed (after a read) at random moments; the
    queue is folded every ``fold_at`` spans (patched low, so that a run of one name
    is split across folds)."""
    import archetype_ecs.profiling as profiling

    old = profiling._FOLD_AT
    profiling._FOLD_AT = fold_at
    try:
        p = Profiler(window=window)
        recs = {
            (n, py): p.recorder("script", n, "update", python=py)
            for n in ("a", "b")
            for py in (False, True)
        }
        ref: dict[str, _RefStat] = {}
        trace: list[int] = []
        t = 0
        for op in ops:
            if op[0] == "record":
                _, name, dur, rows, via_recorder, py = op
                if via_recorder and (name, py) in recs:
                    recs[name, py](t, t + dur, 1, rows)
                else:
                    p.record("script", name, "update", t, t + dur, 1, rows, python=py)
                t += dur
                if not p.enabled:
                    continue
                r = ref.setdefault(name, _RefStat())
                r.durs.append(dur)
                r.rows.append(rows)
                r.ring = [*r.ring, dur][-p.window :]
                r.python = py
                trace.append(dur)
            elif op[0] == "read":
                p.stats_table()
            elif op[0] == "frame":
                p.frame_mark(0, t, t)
            elif op[0] == "clear":
                p.clear()
                ref.clear()
                trace.clear()
            elif op[0] == "toggle":
                p.enabled = not p.enabled
            else:
                p.stats_table()  # nothing pending: the new window applies from here
                p.window = op[1]
                for r in ref.values():
                    r.ring = r.ring[-op[1] :]
        table = {r["name"]: r for r in p.stats_table().to_pylist()}
        table.pop("frame", None)
        assert set(table) == set(ref)
        for name, r in ref.items():
            row = table[name]
            assert row["calls"] == len(r.durs)
            assert row["last_ms"] == r.durs[-1] / MS
            assert row["max_ms"] == max(r.durs) / MS
            assert row["total_ms"] == sum(r.durs) / MS
            assert row["mean_ms"] == sum(r.ring) / len(r.ring) / MS
            assert row["rows_last"] == r.rows[-1]
            assert row["rows_total"] == sum(r.rows)
            assert row["python"] is r.python
        # every span recorded while on since the last clear, in the order recorded
        assert [s.end_ns - s.start_ns for s in p.spans()] == trace
    finally:
        profiling._FOLD_AT = old


def test_threads_recording_at_once_lose_no_span():
    p = Profiler()
    per_thread, threads = 20_000, 4
    start = threading.Barrier(threads)

    def work(k: int) -> None:
        rec = p.recorder("system", f"t{k}", "update")
        start.wait()
        for i in range(per_thread):
            if i % 2:
                rec(i, i + 1, k, 1)
            else:
                p.record("system", f"t{k}", "update", i, i + 1, k, 1)
            if i % 5000 == 0:
                p.stats_table()  # a reader folding while the others append

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    for k in range(threads):
        row = _row(p, f"t{k}")
        assert row["calls"] == row["rows_total"] == per_thread
    assert len(p.spans()) == per_thread * threads


# ---------------------------------------------------------------------- trace


REQUIRED = {"name", "ph", "ts", "pid", "tid"}


def _check_trace(doc: dict[str, Any]) -> list[dict[str, Any]]:
    assert set(doc) == {"traceEvents", "displayTimeUnit"}
    assert doc["displayTimeUnit"] == "ms"
    events = doc["traceEvents"]
    assert isinstance(events, list)
    for e in events:
        assert set(e) >= REQUIRED, e
        assert e["ph"] in {"X", "M"}, e
        assert isinstance(e["pid"], int)
        assert isinstance(e["tid"], int)
        assert isinstance(e["ts"], int | float)
        if e["ph"] == "X":
            assert isinstance(e["dur"], int | float)
            assert e["dur"] >= 0
            assert e["ts"] >= 0
            assert isinstance(e["args"], dict)
        else:
            assert e["name"] in {"process_name", "thread_name"}
            assert isinstance(e["args"]["name"], str)
    named = {e["tid"] for e in events if e["name"] == "thread_name"}
    used = {e["tid"] for e in events if e["ph"] == "X"}
    assert used <= named  # every track has a name
    return events


def test_chrome_trace_structure(tmp_path):
    p = Profiler()
    _run_frames(p, 3, systems=2, thread=threading.get_ident())
    p.record("system", "other", "update", 5 * MS, 6 * MS, thread=12345, rows=7)
    out = p.write_chrome_trace(tmp_path / "trace.json")
    with out.open() as fh:
        doc = json.load(fh)
    events = _check_trace(doc)
    spans = [e for e in events if e["ph"] == "X" and e["cat"] != "frame"]
    frames = [e for e in events if e.get("cat") == "frame"]
    assert len(spans) == 3 * 2 + 1
    assert [f["name"] for f in frames] == ["frame 0", "frame 1", "frame 2"]
    assert {f["tid"] for f in frames} == {0}
    assert all(f["dur"] == pytest.approx(50_000.0) for f in frames)  # 50 ms in us
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names[0] == "frames"
    by_name = {e["name"]: e for e in spans}
    assert names[by_name["s0"]["tid"]] == "main"
    assert names[by_name["other"]["tid"]] == "worker 1"
    assert by_name["other"]["args"] == {"phase": "update", "rows": 7, "python": False}
    assert by_name["other"]["ts"] == pytest.approx(5_000.0)  # us from the origin
    assert by_name["other"]["dur"] == pytest.approx(1_000.0)
    process = [e for e in events if e["name"] == "process_name"]
    assert process[0]["pid"] == os.getpid()


def test_one_track_per_thread_and_custom_thread_names():
    p = Profiler()
    p.set_thread_name(22, "pool-0")
    p.record("system", "a", "update", 0, MS, thread=11)
    p.record("system", "b", "update", 0, MS, thread=22)
    p.record("system", "c", "update", MS, 2 * MS, thread=11)
    events = _check_trace({"traceEvents": p.trace_events(), "displayTimeUnit": "ms"})
    tids = {e["name"]: e["tid"] for e in events if e["ph"] == "X"}
    assert tids["a"] == tids["c"] != tids["b"]
    assert 0 not in tids.values()  # tid 0 is the frames track
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names[tids["b"]] == "pool-0"


def test_trace_of_an_empty_profiler_is_valid(tmp_path):
    out = Profiler().write_chrome_trace(tmp_path / "empty.json")
    _check_trace(json.loads(out.read_text()))


def test_trace_from_worker_threads(tmp_path):
    p = Profiler()
    barrier = threading.Barrier(4)  # all alive at once: thread idents can be reused

    def work(k: int) -> None:
        barrier.wait()
        for i in range(50):
            with p.span("system", f"w{k}", "update", rows=i):
                pass
        barrier.wait()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(_row(p, f"w{k}")["calls"] for k in range(4)) == 200
    out = p.write_chrome_trace(tmp_path / "t.json")
    events = _check_trace(json.loads(out.read_text()))
    assert len({e["tid"] for e in events if e["ph"] == "X"}) == 4


# -------------------------------------------------------------- atomic write


def test_write_leaves_no_temp_file_and_replaces_the_old_file(tmp_path):
    target = tmp_path / "trace.json"
    target.write_text("old")
    p = Profiler()
    p.record("system", "s", "update", 0, MS, 1)
    assert p.write_chrome_trace(str(target)) == target
    assert sorted(x.name for x in tmp_path.iterdir()) == ["trace.json"]
    assert json.loads(target.read_text())["traceEvents"][-1]["name"] == "s"


def test_failed_write_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "trace.json"
    target.write_text("old")
    p = Profiler()
    p.record("system", "s", "update", 0, MS, 1)

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        p.write_chrome_trace(target)
    assert target.read_text() == "old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["trace.json"]


def test_write_into_a_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        Profiler().write_chrome_trace(tmp_path / "nope" / "trace.json")


# ------------------------------------------------------- counts and rendering


def test_world_counts():
    w = World()
    w.spawn_batch({Pos: None}, n=5)
    w.spawn_batch({Pos: None, Tag: None}, n=3)
    ids = w.spawn_batch({Tag: None}, n=2)
    w.despawn_batch(ids)
    counts = world_counts(w)
    assert counts["entities"] == 8
    assert counts["archetypes"] == 2  # [Pos], [Pos, Tag]; [Tag] and [] are empty
    assert counts["archetypes_total"] == len(w.tables) == 4
    assert counts["components"] == 2
    assert counts["table_bytes"] == sum(t.nbytes() for t in w.tables) > 0
    assert "event_queues" not in counts or isinstance(counts["event_queues"], int)


def test_world_counts_include_events_when_the_world_has_them():
    class FakeWorld(World):
        def __init__(self) -> None:
            super().__init__()
            self.events = Events()

    w = FakeWorld()
    w.events.send_batch(Bang, {"power": [1, 2, 3]})
    counts = world_counts(w)
    assert counts["event_queues"] == 1
    assert counts["event_bytes"] == w.events.nbytes() > 0


def test_format_stats_aligns_columns():
    p = Profiler()
    p.record("system", "move", "update", 0, 1_500_000, 1, rows=8)
    p.record("system", "a_long_system_name", "update", 0, 12_250_000, 1, rows=1000)
    text = format_stats(p.stats_table(), {"entities": 12345})
    lines = text.splitlines()
    assert lines[0] == "entities: 12,345"
    assert lines[1] == ""
    header, *rows = lines[2:]
    assert header.split() == p.stats_table().column_names
    assert len(rows) == 2
    # Right-aligned numbers end where their header ends.
    end = header.index("last_ms") + len("last_ms")
    assert rows[0][:end].endswith("1.500")
    assert rows[1][:end].endswith("12.250")
    # Left-aligned names start where their header starts.
    start = header.index("name")
    assert rows[1][start:].startswith("a_long_system_name")
    assert p.format_stats() == format_stats(p.stats_table())


def test_stats_view_renders_text_and_escaped_html():
    p = Profiler()
    p.record("system", "<script>", "update", 0, MS, 1, python=True)
    view = StatsView(p.stats_table(), {"entities": 2})
    assert str(view) == repr(view) == format_stats(view.table, view.counts)
    assert "yes" in str(view)  # python column
    page = view._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert page.count("<tr>") == 2
    assert "entities: <b>2</b>" in page
    assert "<p>" not in StatsView(p.stats_table())._repr_html_()


def test_span_tuple_fields():
    s = Span("system", "s", "update", 1, 2, 3, 4, False)
    assert s._asdict()["thread"] == 3
    assert "Profiler on" in repr(Profiler())


def test_frame_listeners_see_each_frame_as_it_is_marked():
    from archetype_ecs import World

    w = World(threads=1)
    seen: list[tuple[int, int]] = []
    w.profiler.frame_listeners.append(lambda f, s, e: seen.append((f, e - s)))
    w.step()
    w.step()
    assert [f for f, _ in seen] == [1, 2]
    assert all(d >= 0 for _, d in seen)
    w.profiler.enabled = False
    w.step()
    assert len(seen) == 2  # disabled: no marks, no listeners


def test_recorder_records_what_record_records():
    a, b = Profiler(window=3), Profiler(window=3)
    rec = b.recorder("script", "patrol", "update", python=True)
    for i, (start, end, rows) in enumerate(
        [(0, 5, 1), (10, 30, 2), (40, 41, 3), (50, 90, 0)]
    ):
        a.record("script", "patrol", "update", start, end, i, rows, python=True)
        rec(start, end, i, rows)
    assert a.stats_table().equals(b.stats_table())
    assert a.spans() == b.spans()


def test_recorder_survives_clear_and_respects_enabled():
    p = Profiler()
    rec = p.recorder("script", "s")
    rec(0, 10, 1, 0)
    p.clear()
    p.enabled = False
    rec(0, 10, 1, 0)
    assert p.spans() == []
    p.enabled = True
    rec(5, 25, 1, 4)
    assert p.stats_table().column("rows_last").to_pylist() == [4]
    assert [s.end_ns - s.start_ns for s in p.spans()] == [20]


def test_recorder_refuses_unknown_kinds_and_backward_spans():
    p = Profiler()
    with pytest.raises(ValueError, match="kind"):
        p.recorder("scrip", "s")
    rec = p.recorder("script", "s")
    with pytest.raises(ValueError, match="ends before it starts"):
        rec(10, 5, 1, 0)
    assert p.spans() == []
