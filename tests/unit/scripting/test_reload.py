"""Hot reload of Lua and Python scripts: real files, a real watchdog observer.

Every wait polls with a timeout (the world keeps stepping meanwhile), so the tests
stay fast on an idle machine and robust on a loaded one.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World
from archetype_ecs.resources import Time
from scripting import ScriptEngine
from scripting.reload import HotReloader, ReloadError, ReloadRecord, error_line
from tests.unit.scripting._components import SHp

TIMEOUT = 60.0  # seconds; only a failing test waits this long (loaded 2-core box)


def lua(value: int, extra: str = "") -> str:
    return (
        "--! writes: SHp\n"
        "function run(b)\n"
        "  state.calls = (state.calls or 0) + 1\n"
        f"  ecs.set_batch(b.entity, 'SHp', {{v = {value} * 1000 + state.calls}})\n"
        "end\n" + extra
    )


def py(value: int, extra: str = "") -> str:
    return (
        "#! writes: SHp\n"
        "def run(b, ecs):\n"
        "    state['calls'] = state.get('calls', 0) + 1\n"
        f"    ecs.set_batch(b['entity'], 'SHp', {{'v': {value} * 1000 + state['calls']}})\n"
        + extra
    )


def values(world: World) -> list[int]:
    return sorted(world.query(SHp).to_arrow().column("SHp.v").to_pylist())


def step_until(
    world: World, done: Callable[[], bool], timeout: float = TIMEOUT
) -> None:
    """Step the world until ``done()`` (checked after each frame) or fail."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        world.step()
        if done():
            return
        time.sleep(0.002)
    history = [
        (r.outcome, Path(r.file).name, r.error[:300])
        for hook in world.frame_end_hooks
        if isinstance(getattr(hook, "__self__", None), HotReloader)
        for r in hook.__self__.history
    ]
    raise AssertionError(f"condition not met within {timeout} s; history: {history}")


def wait_for(done: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait (without stepping) until ``done()`` or fail."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.002)


def count(reloader: HotReloader, path: Path, outcome: str) -> int:
    """How many records of ``path`` have ``outcome``."""
    return outcomes(reloader, path).count(outcome)


def last(reloader: HotReloader, path: Path, outcome: str) -> ReloadRecord:
    """The latest record of ``path`` with ``outcome``."""
    return [r for r in reloader.records(path) if r.outcome == outcome][-1]


def outcomes(reloader: HotReloader, path: Path) -> list[str]:
    return [r.outcome for r in reloader.records(path)]


@pytest.fixture
def world() -> World:
    w = World(seed=0, threads=1)
    w.spawn_batch({SHp: {"v": np.zeros(3, np.int64)}})
    return w


@pytest.fixture
def engine(world: World) -> ScriptEngine:
    return ScriptEngine(world, components=[SHp])


@pytest.fixture
def reloader(world: World, engine: ScriptEngine) -> Iterator[HotReloader]:
    r = HotReloader(world, engine)
    yield r
    r.close()


def start(reloader: HotReloader, path: Path, text: str) -> None:
    path.write_text(text)
    sc = reloader.watch_script(path)
    assert reloader.engine is not None
    reloader.world.add_system(reloader.engine.system(sc))
    reloader.world.step()


@pytest.mark.parametrize(("suffix", "src"), [(".lua", lua), (".py", py)])
def test_in_place_edit_swaps_between_frames_and_keeps_state(
    tmp_path: Path,
    world: World,
    reloader: HotReloader,
    suffix: str,
    src: Callable[[int], str],
) -> None:
    f = tmp_path / f"hp{suffix}"
    start(reloader, f, src(1))
    world.run(2)
    assert values(world) == [1003] * 3
    with f.open("w") as fh:  # in place: truncate, then two writes
        text = src(2)
        fh.write(text[:10])
        fh.flush()
        fh.write(text[10:])
    step_until(world, lambda: "reloaded" in outcomes(reloader, f))
    rec = reloader.records(f)[-1]
    assert rec.frame == world.resource(Time).frame  # swapped after the last frame
    world.step()
    # the new version runs, and state.calls went on counting (state preserved)
    got = values(world)[0]
    assert got // 1000 == 2
    assert got % 1000 == world.resource(Time).frame
    assert outcomes(reloader, f) == ["reloaded"]  # two modified events, one reload


def test_atomic_rename_save_and_delete_create(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp.lua"
    start(reloader, f, lua(1))
    tmp = tmp_path / ".hp.lua.swp"
    tmp.write_text(lua(2))
    tmp.replace(f)  # the target arrives as the moved event's destination
    step_until(world, lambda: outcomes(reloader, f) == ["reloaded"])
    world.step()
    assert values(world)[0] // 1000 == 2
    f.unlink()  # an editor that deletes, then creates
    f.write_text(lua(3))
    step_until(world, lambda: outcomes(reloader, f).count("reloaded") == 2)
    world.step()
    assert values(world)[0] // 1000 == 3
    assert "deleted" not in outcomes(reloader, f)  # coalesced into one change


def test_twenty_saves_in_one_second_coalesce_and_the_last_wins(
    tmp_path: Path, world: World, engine: ScriptEngine
) -> None:
    with HotReloader(world, engine, debounce=0.1) as reloader:
        f = tmp_path / "hp.lua"
        start(reloader, f, lua(1))
        t0 = time.monotonic()
        for k in range(2, 22):
            f.write_text(lua(k))
            time.sleep(0.03)
        assert time.monotonic() - t0 < 1.5
        step_until(
            world, lambda: reloader.is_idle() and "reloaded" in outcomes(reloader, f)
        )
        world.step()
        assert values(world)[0] // 1000 == 21  # the final content wins
        n = outcomes(reloader, f).count("reloaded")
        assert 1 <= n <= 5, outcomes(reloader, f)


def test_syntax_error_keeps_the_old_version_and_loses_no_frame(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp.lua"
    start(reloader, f, lua(1))
    frame0 = world.resource(Time).frame
    f.write_text(lua(1).replace("end\n", "end end\n", 1))  # line 5: extra 'end'
    step_until(world, lambda: "failed" in outcomes(reloader, f))
    rec = reloader.records(f)[-1]
    assert rec.line == 5
    assert rec.file == str(f.resolve())
    assert "hp.lua:5" in rec.error
    world.step()
    frames = world.resource(Time).frame - frame0
    # the old version ran on every frame meanwhile: state.calls == frames + 1
    assert values(world) == [1000 + frames + 1] * 3
    # the fixed file reloads
    f.write_text(lua(4))
    step_until(world, lambda: outcomes(reloader, f)[-1:] == ["reloaded"])


def test_python_runtime_error_is_reported_with_its_line(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp.py"
    start(reloader, f, py(1))
    f.write_text(py(1) + "x = 1\ny = x / 0\n")
    step_until(world, lambda: "failed" in outcomes(reloader, f))
    rec = reloader.records(f)[-1]
    assert rec.line == 6
    assert "ZeroDivisionError" in rec.error
    world.step()
    assert values(world)[0] // 1000 == 1


def test_unchanged_content_is_skipped(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp.lua"
    start(reloader, f, lua(1))
    f.write_text(lua(1))
    step_until(world, lambda: outcomes(reloader, f) == ["skipped"])


def test_deleted_file_keeps_running_by_default(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp.lua"
    start(reloader, f, lua(1))
    f.unlink()
    step_until(world, lambda: outcomes(reloader, f) == ["deleted"])
    before = values(world)[0]
    world.step()
    assert values(world)[0] == before + 1  # still running
    f.write_text(lua(5))
    step_until(world, lambda: outcomes(reloader, f)[-1:] == ["reloaded"])


def test_deleted_file_disables_with_on_delete_disable(
    tmp_path: Path, world: World, engine: ScriptEngine
) -> None:
    with HotReloader(world, engine, on_delete="disable") as reloader:
        f = tmp_path / "hp.lua"
        start(reloader, f, lua(1))
        f.unlink()
        step_until(world, lambda: outcomes(reloader, f) == ["disabled"])
        assert engine.scripts["hp.lua"].stats.disabled
        before = values(world)
        world.step()
        assert values(world) == before  # no longer runs
        f.write_text(lua(6))
        step_until(world, lambda: outcomes(reloader, f)[-1:] == ["reloaded"])
        world.step()
        assert not engine.scripts["hp.lua"].stats.disabled
        assert values(world)[0] // 1000 == 6


ON_RELOAD_LUA = """
counter = 7
function on_reload(old)
  state.migrated = old.counter
  state.had_state = old.state == state
end
function run(b)
  local v = {}
  for i = 1, b.n do v[i] = (state.migrated or -1) * 10 + (state.had_state and 1 or 0) end
  ecs.set_batch(b.entity, "SHp", {v = v})
end
"""

ON_RELOAD_PY = """
counter = 7
def on_reload(old):
    state["migrated"] = old["counter"]
    state["had_state"] = old["state"] is state
def run(b, ecs):
    v = state.get("migrated", -1) * 10 + int(state.get("had_state", False))
    ecs.set_batch(b["entity"], "SHp", {"v": v})
"""


@pytest.mark.parametrize(
    ("suffix", "first", "second"),
    [
        (".lua", "--! writes: SHp\ncounter = 3\nfunction run(b) end\n", ON_RELOAD_LUA),
        (
            ".py",
            "#! writes: SHp\ncounter = 3\ndef run(b, ecs):\n    pass\n",
            ON_RELOAD_PY,
        ),
    ],
)
def test_on_reload_gets_the_old_module_data_and_old_functions_are_gone(
    tmp_path: Path,
    world: World,
    reloader: HotReloader,
    suffix: str,
    first: str,
    second: str,
) -> None:
    hdr = "--! writes: SHp\n" if suffix == ".lua" else "#! writes: SHp\n"
    f = tmp_path / f"m{suffix}"
    start(
        reloader,
        f,
        first.replace("function run", "function stale() end\nfunction run")
        if suffix == ".lua"
        else first + "def stale():\n    pass\n",
    )
    f.write_text(hdr + second)
    step_until(world, lambda: outcomes(reloader, f) == ["reloaded"])
    world.step()
    assert values(world) == [31] * 3  # old counter 3 migrated; same state object
    assert reloader.engine is not None
    sc = reloader.engine.scripts[f"m{suffix}"]
    if suffix == ".py":
        assert sc.state == {"migrated": 3, "had_state": True}
        assert "stale" not in sc.runtime._globals  # type: ignore[union-attr]
    else:
        assert sc.runtime._env[b"stale"] is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("suffix", "test"),
    [
        (".lua", "function self_test() return run_ok ~= nil end\n"),
        (".lua", "function self_test() assert(1 == 2, 'bad math') end\n"),
        (".py", "def self_test():\n    return False\n"),
        (".py", "def self_test():\n    assert 1 == 2, 'bad math'\n"),
    ],
)
def test_failing_self_test_blocks_the_swap(
    tmp_path: Path, world: World, reloader: HotReloader, suffix: str, test: str
) -> None:
    src = lua if suffix == ".lua" else py
    f = tmp_path / f"hp{suffix}"
    start(reloader, f, src(1))
    f.write_text(src(2, test))
    step_until(world, lambda: "failed" in outcomes(reloader, f))
    rec = reloader.records(f)[-1]
    assert "self_test" in rec.error or "bad math" in rec.error
    if "bad math" in rec.error:
        assert rec.line is not None
        assert rec.line > 5
    world.step()
    assert values(world)[0] // 1000 == 1
    f.write_text(
        src(
            3,
            test.replace("False", "True")
            .replace("1 == 2", "2 == 2")
            .replace("run_ok ~= nil", "true"),
        )
    )
    step_until(world, lambda: outcomes(reloader, f)[-1:] == ["reloaded"])
    world.step()
    assert values(world)[0] // 1000 == 3


def test_self_test_sees_a_fresh_state_not_the_live_one(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp.lua"
    start(reloader, f, lua(1))
    f.write_text(lua(2, "function self_test() return state.calls == nil end\n"))
    step_until(world, lambda: outcomes(reloader, f) == ["reloaded"])


def test_widening_the_header_is_refused(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp.lua"
    start(reloader, f, lua(1))
    f.write_text("--! despawn: yes\n" + lua(2))
    step_until(world, lambda: "failed" in outcomes(reloader, f))
    rec = reloader.records(f)[-1]
    assert "despawn: yes" in rec.error
    assert rec.line == 1


def test_history_table_and_misuse_errors(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp.lua"
    start(reloader, f, lua(1))
    f.write_text(lua(2))
    step_until(world, lambda: outcomes(reloader, f) == ["reloaded"])
    table = reloader.history_table()
    assert table.num_rows == 1
    row = table.to_pylist()[0]
    assert row["outcome"] == "reloaded"
    assert row["kind"] == "lua"
    assert row["hash"] == reloader.history[0].hash
    assert len(row["hash"]) == 64
    assert isinstance(reloader.history[0], ReloadRecord)
    with pytest.raises(ReloadError, match="no such file"):
        reloader.watch_script(tmp_path / "missing.lua")
    with (
        HotReloader(world) as bare,
        pytest.raises(ReloadError, match="needs a script engine"),
    ):
        bare.watch_script(f)
    with pytest.raises(ReloadError, match="debounce"):
        HotReloader(world, debounce=2.0, max_delay=1.0)


def test_close_detaches_from_the_world(world: World, engine: ScriptEngine) -> None:
    r = HotReloader(world, engine)
    assert len(world.frame_end_hooks) == 1
    r.close()
    r.close()
    assert world.frame_end_hooks == []


def test_error_line_reads_messages_and_tracebacks(tmp_path: Path) -> None:
    p = tmp_path / "k.py"
    assert error_line(ValueError(f'File "{p}", line 12, in f'), p) == 12
    assert error_line(ValueError("k.py:9: oops"), p) == 9
    assert error_line(ValueError("nothing"), p) is None


def test_a_newer_version_supersedes_one_waiting_for_the_sync_point(
    tmp_path: Path, world: World, reloader: HotReloader
) -> None:
    f = tmp_path / "hp.lua"
    start(reloader, f, lua(1))
    f.write_text(lua(2))  # no frame runs: the version waits for the sync point
    wait_for(lambda: reloader.pending == [str(f.resolve())])
    f.write_text(lua(3))
    wait_for(lambda: outcomes(reloader, f) == ["superseded"])
    wait_for(lambda: reloader.pending == [str(f.resolve())])
    swapped = reloader.apply()  # by hand, between frames
    assert [r.outcome for r in swapped] == ["reloaded"]
    world.step()
    assert values(world)[0] // 1000 == 3


def test_watch_folder_loads_scripts_and_picks_up_new_files(
    tmp_path: Path, world: World, engine: ScriptEngine, reloader: HotReloader
) -> None:
    (tmp_path / "a.lua").write_text(lua(1))
    (tmp_path / "notes.txt").write_text("not a script")
    loaded = reloader.watch_folder(tmp_path, after=[])
    assert [s.name for s in loaded] == ["a.lua"]
    world.step()
    assert values(world)[0] // 1000 == 1

    # a new script appears (written through a dot-named temporary file)
    tmp = tmp_path / ".b.py"  # a dot name: an editor's temporary file
    tmp.write_text(py(2))
    tmp.replace(tmp_path / "b.py")
    b = tmp_path / "b.py"
    step_until(world, lambda: outcomes(reloader, b) == ["reloaded"])
    assert "its system added" in reloader.records(b)[-1].detail
    world.step()
    # both systems write SHp; b.py was added last, so its commands apply last
    assert values(world)[0] // 1000 == 2
    assert reloader.records(tmp) == []  # the temporary file was ignored

    # the new script is tracked like any other
    b.write_text(py(3))
    step_until(world, lambda: outcomes(reloader, b) == ["reloaded", "reloaded"])
    world.step()
    assert values(world)[0] // 1000 == 3

    # a broken new file is reported, then loaded once fixed
    c = tmp_path / "c.lua"
    c.write_text("function run(b) oops(\n")
    step_until(world, lambda: outcomes(reloader, c) == ["failed"])
    assert reloader.records(c)[-1].line is not None
    assert "c.lua" not in engine.scripts
    c.write_text("function run(b) end\n")
    step_until(world, lambda: outcomes(reloader, c) == ["failed", "reloaded"])
    assert "c.lua" in engine.scripts
    with pytest.raises(ReloadError, match="not a directory"):
        reloader.watch_folder(tmp_path / "nope")


DEBUGGED = {
    ".lua": (
        "--! writes: SHp\nfunction run(b)\n  local k = VALUE\n"
        '  ecs.set_batch(b.entity, "SHp", {v = k})\nend\n'
    ),
    ".py": (
        "#! writes: SHp\ndef run(b, ecs):\n    k = VALUE\n"
        '    ecs.set_batch(b["entity"], "SHp", {"v": k})\n'
    ),
}


@pytest.mark.parametrize("suffix", [".lua", ".py"])
def test_breakpoints_and_the_runtime_survive_a_reload(
    tmp_path: Path,
    world: World,
    engine: ScriptEngine,
    reloader: HotReloader,
    suffix: str,
) -> None:
    from scripting.debugger import Debugger

    f = tmp_path / f"dbg{suffix}"
    start(reloader, f, DEBUGGED[suffix].replace("VALUE", "1"))
    name = f.name
    runtime = engine.scripts[name].runtime
    seen: list[int] = []
    dbg = Debugger(engine, on_stop=lambda fr: seen.append(int(fr.locals()["k"])))
    dbg.set_breakpoint(name, 4)
    world.step()
    assert seen == [1]
    f.write_text(DEBUGGED[suffix].replace("VALUE", "2"))
    step_until(world, lambda: outcomes(reloader, f) == ["reloaded"])
    assert engine.scripts[name].runtime is runtime  # devtools keep their handle
    seen.clear()
    world.step()
    assert seen == [2]  # the breakpoint still fires, in the new version
    dbg.close()


def test_an_emptied_file_never_goes_live(
    tmp_path: Path, world: World, engine: ScriptEngine
) -> None:
    with HotReloader(world, engine, max_delay=0.3) as reloader:
        f = tmp_path / "hp.lua"
        start(reloader, f, lua(1))
        f.write_text("")  # an empty save, or a read between truncate and write
        step_until(world, lambda: outcomes(reloader, f) == ["failed"])
        assert "no longer defines run()" in reloader.records(f)[-1].error
        before = values(world)[0]
        world.step()
        assert values(world)[0] == before + 1  # the old version still runs


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "atomic", "recreate", "same"]),
        st.sampled_from([0.0, 0.01, 0.08]),
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.hypothesis
@settings(max_examples=6, deadline=None)
@given(ops=_OPS)
def test_any_sequence_of_saves_ends_with_the_last_content_running(
    ops: list[tuple[str, float]],
) -> None:
    world = World(seed=0, threads=1)
    world.spawn_batch({SHp: {"v": np.zeros(2, np.int64)}})
    engine = ScriptEngine(world, components=[SHp])
    with (
        tempfile.TemporaryDirectory() as folder,
        HotReloader(world, engine) as reloader,
    ):
        f = Path(folder) / "hp.lua"
        start(reloader, f, lua(1))
        last = 1
        for k, (op, pause) in enumerate(ops, start=2):
            if op == "same":
                f.write_text(lua(last))
            elif op == "atomic":
                tmp = Path(folder) / ".hp.lua.new"
                tmp.write_text(lua(k))
                tmp.replace(f)
            else:
                if op == "recreate":
                    f.unlink()
                f.write_text(lua(k))
            last = k if op != "same" else last
            time.sleep(pause)
        step_until(
            world, lambda: reloader.is_idle() and values(world)[0] // 1000 == last
        )
        assert "failed" not in outcomes(reloader, f)
