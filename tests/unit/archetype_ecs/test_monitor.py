"""Performance monitoring: the frame budget, live figures, progress bars, activities."""

from __future__ import annotations

import io
import time
import warnings

import pytest

from archetype_ecs import World, system
from archetype_ecs._progress import Progress, activity, format_bytes
from archetype_ecs.errors import EcsError
from archetype_ecs.monitor import (
    FrameBudget,
    FrameBudgetWarning,
    SlowFrame,
    live_figures,
)


@system
def slow(ctx) -> None:
    time.sleep(0.006)


@system
def quick(ctx) -> None:
    pass


@system(phase="post_update")
def medium(ctx) -> None:
    time.sleep(0.002)


def steps(world: World, n: int) -> None:
    for _ in range(n):
        world.step()


def slow_world() -> World:
    world = World(threads=1)
    world.add_system(quick, slow, medium)
    return world


def test_over_budget_frame_warns_naming_the_slowest_systems() -> None:
    world = slow_world()
    budget = FrameBudget(ms=1.0, warmup=0, top=2).attach(world)
    with pytest.warns(FrameBudgetWarning) as caught:
        world.step()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("frame 1 took ")
    assert "(budget 1 ms" in message
    slowest = message.split("slowest: ")[1]
    assert slowest.startswith("slow ")  # the slowest first
    assert ", medium " in slowest  # then the next one; top=2 leaves quick out
    assert "quick" not in slowest
    assert budget.over_budget == 1
    assert budget.frames == 1
    assert budget.worst is not None
    assert budget.worst.systems[0][0] == "slow"
    assert budget.worst.systems[0][1] >= 6.0
    assert budget.worst.ms >= budget.worst.systems[0][1]


def test_warnings_are_rate_limited_and_count_the_suppressed_frames() -> None:
    world = slow_world()
    budget = FrameBudget(ms=1.0, warmup=0, interval=3600).attach(world)
    with pytest.warns(FrameBudgetWarning) as caught:
        steps(world, 4)
    assert len(caught) == 1  # one warning an hour
    assert budget.over_budget == 4
    assert budget.suppressed == 3
    assert budget.warnings == 1
    # the next allowed warning reports the frames it did not warn about
    budget.interval = 0.0
    with pytest.warns(FrameBudgetWarning, match=r"\(3 more frame\(s\) over budget"):
        world.step()
    assert budget.suppressed == 0
    with pytest.warns(FrameBudgetWarning) as every:
        steps(world, 2)
    assert len(every) == 2  # interval 0: every slow frame


def test_frames_within_budget_and_warmup_are_not_reported() -> None:
    world = slow_world()
    budget = FrameBudget(ms=10_000.0, warmup=2).attach(world)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(5):
            world.step()
    assert budget.frames == 3  # frames 3..5
    assert budget.over_budget == 0
    assert budget.worst is None
    assert budget.last_ms > 6.0
    assert budget.max_ms >= budget.last_ms
    summary = budget.summary()
    assert summary["judged_frames"] == 3
    assert summary["over_budget_share"] == 0.0
    assert summary["worst_frame"] is None


def test_warmup_frame_is_not_judged_even_when_slow() -> None:
    world = slow_world()
    budget = FrameBudget(ms=1.0).attach(world)  # warmup=1 by default
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        world.step()
    assert budget.frames == 0
    with pytest.warns(FrameBudgetWarning, match="^frame 2 took"):
        world.step()


def test_detach_stops_watching_and_a_budget_watches_one_world() -> None:
    world = slow_world()
    budget = FrameBudget(ms=1.0, warmup=0).attach(world)
    with pytest.raises(EcsError, match="already watches a world"):
        budget.attach(World())
    budget.detach()
    budget.detach()  # idempotent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        world.step()
    assert budget.frames == 0
    assert world.profiler.frame_listeners == []
    budget.attach(world)  # may watch again after detach
    with pytest.warns(FrameBudgetWarning):
        world.step()


def test_budget_needs_the_profiler() -> None:
    with pytest.raises(EcsError, match="profiler is off"):
        FrameBudget().attach(World(profile=False))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ms": 0}, "must be a positive number"),
        ({"ms": -1.0}, "must be a positive number"),
        ({"ms": True}, "must be a positive number"),
        ({"ms": "16"}, "must be a positive number"),
        ({"interval": -1}, "must be >= 0"),
        ({"top": -1}, "must be an int >= 0"),
        ({"warmup": 1.5}, "must be an int >= 0"),
    ],
)
def test_bad_budget_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        FrameBudget(**kwargs)


def test_summary_is_json_able_and_names_the_worst_frame() -> None:
    import json

    world = slow_world()
    budget = FrameBudget(ms=1.0, warmup=0, interval=3600).attach(world)
    with pytest.warns(FrameBudgetWarning):
        steps(world, 2)
    summary = json.loads(json.dumps(budget.summary()))
    assert summary["over_budget_frames"] == 2
    assert summary["over_budget_share"] == 1.0
    assert summary["worst_frame"]["slowest"][0][0] == "slow"
    assert summary["max_frame_ms"] == pytest.approx(budget.worst.ms)  # type: ignore[union-attr]
    assert "over_budget=2" in repr(budget)


def test_slow_frame_text() -> None:
    frame = SlowFrame(7, 25.0, 10.0, (("move", 20.0), ("sync:update", 3.5)))
    assert frame.describe() == (
        "frame 7 took 25.00 ms (budget 10 ms, 2.5x); slowest: move 20.00 ms, "
        "sync:update 3.50 ms"
    )
    assert "no system spans" in SlowFrame(1, 2.0, 1.0, ()).describe()


def test_live_figures_name_frame_time_entities_and_slowest_system() -> None:
    world = slow_world()
    assert live_figures(world) == "0 entities"  # before any frame
    world.step()
    text = live_figures(world)
    assert "ms/frame" in text
    assert "0 entities" in text
    assert "slowest slow " in text


# -------------------------------------------------------------------- progress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_pipe_prints_every_ten_percent() -> None:
    out = io.StringIO()
    bar = Progress(50, stream=out)
    for i in range(1, 51):
        bar.update(i, f"fig {i}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 11  # the first update, then one line per 10 %
    assert lines[-1].startswith("[" + "#" * 30 + "] 50/50 frames")
    assert lines[-1].endswith("| fig 50")


def test_progress_on_a_terminal_redraws_in_place_and_makes_room_for_messages() -> None:
    out = FakeTty()
    bar = Progress(3, stream=out)
    bar.update(1, "a")
    bar.message("warning: slow")
    bar.update(3, "c")
    text = out.getvalue()
    assert text.startswith("\r[")
    assert "\r\x1b[Kwarning: slow\n" in text  # the bar line is cleared first
    assert text.endswith("| c\x1b[K\n")


def test_progress_due_tells_when_figures_are_needed() -> None:
    bar = Progress(100, stream=io.StringIO())
    assert bar.due(1)
    bar.update(1)
    assert not bar.due(2)  # same decile
    assert bar.due(10)


def test_progress_with_delay_prints_nothing_for_quick_work() -> None:
    out = io.StringIO()
    bar = Progress(10, stream=out, delay=60.0)
    for i in range(1, 11):
        bar.update(i)
    assert out.getvalue() == ""


def test_progress_in_bytes() -> None:
    out = io.StringIO()
    Progress(3 * 1024 * 1024, "checked", stream=out, unit_bytes=True).update(1024)
    assert "1.0 KiB/3.0 MiB checked" in out.getvalue()
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(5 * 1024**4) == "5120.0 GiB"


def test_activity_reports_long_work_only() -> None:
    out = io.StringIO()
    with activity("quick", out, delay=5.0):
        pass
    assert out.getvalue() == ""
    with activity("saving", out, delay=0.0):
        time.sleep(0.05)
    text = out.getvalue()
    assert text.startswith("saving ...\n")
    assert "saving: done in " in text


def test_activity_reports_failure() -> None:
    out = FakeTty()

    def fail() -> None:
        with activity("loading", out, delay=0.0):
            time.sleep(0.05)
            raise RuntimeError("disk")

    with pytest.raises(RuntimeError, match="disk"):
        fail()
    assert "loading: failed after" in out.getvalue()
    assert out.getvalue().startswith("\rloading ... ")
