"""The ``arrow-ecs`` command line: demo, run and info, their options and their errors.

A few cases run the installed console script in a subprocess (the real entry point,
exit codes, no traceback on stderr); the rest call ``main([...])`` in-process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from archetype_ecs import World
from archetype_ecs.cli import main
from archetype_ecs.demos import bounce

ROOT = Path(__file__).resolve().parents[3]
MY_MODEL = str(ROOT / "examples" / "my_model.py")
SCRIPT = Path(sys.executable).with_name("arrow-ecs")


def console(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


BROKEN = """\
    '''A model whose build fails on line 7.'''
    from archetype_ecs import World


    def build(*, seed=0, threads=None):
        world = World(threads=threads)
        return world.resource(dict)
"""


# ----------------------------------------------------------------------- demo


def test_demo_prints_a_summary_with_the_agreed_figures(capsys) -> None:
    assert (
        main(["demo", "--agents", "3000", "--frames", "12", "--seed", "3", "--json"])
        == 0
    )
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["model"] == "bounce"
    assert summary["agents"] == 3000  # births replace deaths: the population is steady
    assert summary["frames"] == 12
    assert summary["spawned"] == summary["despawned"]
    assert summary["median_frame_ms"] > 0
    assert set(summary["system_mean_ms"]) == {"movement", "aging", "resting", "births"}
    assert summary["slowest_system"] in summary["system_mean_ms"]
    assert summary["move_ns_per_agent"] > 0
    assert "12/12 frames" in out.err  # the progress bar
    assert "entities" in out.err  # with live figures


def test_demo_is_deterministic_for_a_seed(capsys) -> None:
    args = ["demo", "--agents", "2000", "--frames", "8", "--seed", "7", "--json"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main([*args[:-1], "--threads", "1", "--json"])
    second = json.loads(capsys.readouterr().out)
    assert first["checksum"] == second["checksum"]
    assert first["spawned"] == second["spawned"]


def test_demo_by_name_with_params_as_options(capsys) -> None:
    code = main(["demo", "bounce", "--agents", "500", "--frames", "3", "-q"])
    assert code == 0
    out = capsys.readouterr()
    assert out.out.startswith("== bounce: summary ==")
    assert "agents               500" in out.out
    assert out.err == ""  # --quiet: no progress bar


def test_console_entry_point_runs_the_default_demo() -> None:
    done = console("demo", "--agents", "1000", "--frames", "3")
    assert done.returncode == 0, done.stderr
    assert "== bounce: summary ==" in done.stdout
    assert "agents" in done.stdout
    assert "3/3 frames" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "nosuch"], "invalid choice: 'nosuch'"),
        (["demo", "bounce", "--agents", "many"], "argument --agents"),
        (["demo", "--agents", "1.5"], "parameter 'agents' must be int"),
        (["demo", "bounce", "--radius", "3"], "unrecognized arguments: --radius"),
    ],
)
def test_demo_bad_arguments_exit_2(capsys, args, message) -> None:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


# ------------------------------------------------------------------------ run


def test_run_model_file_prints_its_summary(capsys) -> None:
    code = main(["run", MY_MODEL, "--frames", "4", "--param", "agents=800", "--json"])
    assert code == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["model"] == "my_model"
    assert summary["frames"] == 4
    assert summary["params"] == {"agents": 800, "patch": 0.2, "cost": 0.01}
    assert summary["alive"] + summary["starved"] == 800
    assert "4/4 frames" in out.err
    assert "alive" in out.err  # the model's status() in the progress bar


def test_run_by_module_name_and_through_the_examples_symlink(capsys) -> None:
    base = ["--frames", "3", "--seed", "5", "--param", "agents=700", "--json", "-q"]
    assert main(["run", "archetype_ecs.demos.bounce", *base]) == 0
    by_name = json.loads(capsys.readouterr().out)
    assert main(["run", str(ROOT / "examples" / "bounce.py"), *base]) == 0
    by_link = json.loads(capsys.readouterr().out)
    assert by_name["checksum"] == by_link["checksum"]
    assert by_link["source"].endswith("examples/bounce.py")


def test_run_lists_params(capsys) -> None:
    assert main(["run", MY_MODEL, "--params"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("my_model: Foragers:")
    assert "frames (FRAMES)  200" in out
    assert "agents" in out
    assert "10000  (int)" in out
    assert "0.2  (float)" in out


def test_run_outputs_record_trace_save_and_budget(tmp_path, capsys) -> None:
    args = [
        "run",
        str(ROOT / "examples" / "bounce.py"),
        "--frames",
        "6",
        "--seed",
        "4",
        "--threads",
        "1",
        "--param",
        "agents=600",
        "--record",
        str(tmp_path / "rec.parquet"),
        "--record-every",
        "3",
        "--trace",
        str(tmp_path / "trace.json"),
        "--save",
        str(tmp_path / "final"),
        "--budget",
        "1e-6",
        "--json",
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    # --record: Parquet, frame 0 (initial state) then every 3rd frame
    table = pq.read_table(tmp_path / "rec.parquet")
    assert sorted(set(table.column("frame").to_pylist())) == [0, 3, 6]
    assert table.num_rows == 3 * 600
    # --trace: the Chrome trace of frames 2..6
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    frames = {e["name"] for e in events if e.get("cat") == "frame"}
    assert frames == {f"frame {i}" for i in range(2, 7)}
    # --save: loadable, the same agents
    loaded = load_save(tmp_path / "final")
    assert len(loaded) == summary["agents"] == 600
    # --budget: warnings on stderr naming the slowest system, counts in the summary
    assert "arrow-ecs: warning: frame 2 took" in out.err
    assert "slowest: " in out.err
    budget = summary["budget"]
    assert budget["judged_frames"] == budget["over_budget_frames"] == 5
    assert budget["budget_warnings"] == 1  # rate-limited
    assert summary["outputs"] == {
        "record": str(tmp_path / "rec.parquet"),
        "trace": str(tmp_path / "trace.json"),
        "save": str(tmp_path / "final"),
    }


def load_save(path: Path) -> World:
    from archetype_ecs.serialization import load

    return load(path, World(), components=[*bounce.RECORD, bounce.Resting]).world


def test_budget_warning_names_the_slowest_system(tmp_path, capsys) -> None:
    model = tmp_path / "sleepy.py"
    model.write_text(
        textwrap.dedent(
            """\
            import time

            from archetype_ecs import World, system


            @system
            def nap(ctx):
                time.sleep(0.003)


            @system
            def blink(ctx):
                pass


            def build(*, seed=0, threads=None):
                world = World(threads=threads)
                world.add_system(nap, blink)
                return world
            """
        )
    )
    assert main(["run", str(model), "--frames", "3", "--budget", "1", "-q"]) == 0
    out = capsys.readouterr()
    assert "arrow-ecs: warning: frame 2 took" in out.err
    assert "slowest: nap " in out.err
    assert "budget               2 of 2 frames over 1 ms (100%)" in out.out
    assert "worst: frame " in out.out


def test_run_text_summary_lists_every_figure(capsys) -> None:
    assert main(["run", MY_MODEL, "--frames", "2", "-q", "-p", "agents=50"]) == 0
    out = capsys.readouterr().out
    for key in ("source", "frames", "params", "alive", "median_frame_ms", "outputs"):
        assert f"\n  {key} " in out


def test_run_is_deterministic_across_runs_and_thread_counts(capsys) -> None:
    results = []
    for threads in ("1", "2", "1"):
        args = ["run", MY_MODEL, "--frames", "5", "--seed", "9", "--threads", threads]
        assert main([*args, "-p", "agents=1500", "-p", "cost=0.2", "--json", "-q"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    figures = [(r["alive"], r["starved"], r["mean_energy"]) for r in results]
    assert figures[0] == figures[1] == figures[2]
    assert results[0]["starved"] > 0  # the run did something seed-dependent


def test_model_with_an_error_reports_file_and_line_without_traceback(tmp_path) -> None:
    model = tmp_path / "broken.py"
    model.write_text(textwrap.dedent(BROKEN))
    done = console("run", str(model), "--frames", "2")
    assert done.returncode == 1
    assert f"{model}:7: ResourceNotFoundError" in done.stderr
    assert "return world.resource(dict)" in done.stderr
    assert "Traceback" not in done.stderr
    assert "--traceback" in done.stderr
    assert done.stdout == ""


def test_traceback_option_prints_the_full_traceback(tmp_path, capsys) -> None:
    model = tmp_path / "broken.py"
    model.write_text(textwrap.dedent(BROKEN))
    assert main(["run", str(model), "--traceback"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert f"{model}:7: ResourceNotFoundError" in err


def test_model_with_a_syntax_error_reports_file_and_line(tmp_path, capsys) -> None:
    model = tmp_path / "typo.py"
    model.write_text("def build(*, seed=0, threads=None)\n    return None\n")
    assert main(["run", str(model)]) == 1
    err = capsys.readouterr().err
    assert f"{model}:1: SyntaxError" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run"], 2, "the following arguments are required: MODEL"),
        (["run", MY_MODEL, "--frames", "0"], 2, "0 is not a positive integer"),
        (["run", MY_MODEL, "--frames", "ten"], 2, "'ten' is not an integer"),
        (["run", MY_MODEL, "--seed", "x"], 2, "argument --seed: invalid int value"),
        (["run", MY_MODEL, "--threads", "-2"], 2, "-2 is not a positive integer"),
        (["run", MY_MODEL, "--budget", "0"], 2, "0 is not a positive number"),
        (["run", MY_MODEL, "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["nope"], 2, "invalid choice: 'nope'"),
        ([], 2, "the following arguments are required: COMMAND"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(capsys, args, code, message) -> None:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == code
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("agent=5", "unknown parameter 'agent' (did you mean 'agents'?)"),
        ("agents=lots", "parameter 'agents' must be int"),
        ("agents", "is not name=value"),
    ],
)
def test_bad_params_exit_2_listing_the_valid_ones(capsys, param, message) -> None:
    assert main(["run", MY_MODEL, "--param", param]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "valid parameters: agents=10000 (int), patch=0.2 (float)" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trace", "/no/such/dir/t.json"], "the folder of /no/such/dir/t.json"),
        (["--save", MY_MODEL], "exists and is not a directory"),
        (["--record", MY_MODEL], "already exists"),
    ],
)
def test_unusable_output_paths_fail_before_running(capsys, extra, message) -> None:
    assert main(["run", MY_MODEL, "--frames", "2", *extra]) == 1
    out = capsys.readouterr()
    assert message in out.err
    assert "frames" not in out.err.split("error:")[0]  # no progress bar: no run


def test_missing_model_file_exits_1(capsys, tmp_path) -> None:
    assert main(["run", str(tmp_path / "absent.py")]) == 1
    assert "not found" in capsys.readouterr().err


def test_render_writes_a_gif_or_says_what_is_missing(tmp_path, capsys) -> None:
    image_module = pytest.importorskip("PIL.Image")
    gif = tmp_path / "run.gif"
    args = ["run", MY_MODEL, "--frames", "4", "-p", "agents=200", "-q"]
    assert main([*args, "--render", str(gif), "--render-every", "2"]) == 0
    with image_module.open(gif) as image:
        assert image.n_frames >= 1
        assert image.size == (256, 256)
    # a model without render components or RENDER hints: a clear error, no file
    plain = tmp_path / "plain.py"
    plain.write_text(
        "from archetype_ecs import World\n"
        "def build(*, seed=0, threads=None):\n    return World()\n"
    )
    assert main(["run", str(plain), "--render", str(tmp_path / "p.gif")]) == 1
    assert "no entity of model 'plain' carries the Shape" in capsys.readouterr().err
    assert not (tmp_path / "p.gif").exists()


# ----------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["arrow-ecs run examples/my_model.py", "arrow-ecs info", "COMMAND"]),
        (["run"], ["docs/cli.md", "--param NAME=VALUE", "--record PATH"]),
        (["demo"], ["bounce", "arrow-ecs demo NAME --help"]),
        (["demo", "bounce"], ["--agents INT", "(default: 100000)", "--frames N"]),
        (["info"], ["--no-verify", "integrity", "arrow-ecs info saves/final"]),
        (["sweep"], ["--param NAME=V1,V2", "--seeds", "--out OUT", "--address"]),
    ],
)
def test_help_reads_well_with_examples(capsys, args, expected) -> None:
    with pytest.raises(SystemExit) as info:
        main([*args, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out or args in (["demo", "bounce"], ["sweep"])
    for text in expected:
        assert text in out


# ----------------------------------------------------------------------- info


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("save") / "final"
    world = bounce.build(seed=1, threads=1, agents=300)
    for _ in range(3):
        world.step()
    world.save(folder)
    world.close()
    return folder


def test_info_describes_a_save(saved, capsys) -> None:
    assert main(["info", str(saved)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"== save {saved} (snap-000001) ==")
    assert "format      arrow-ecs-save v1, ipc files" in out
    assert "frame       3" in out
    assert "entities    300" in out
    assert "Position, Velocity, Age" in out
    assert "Position v1: x: f32, y: f32" in out
    assert "Resting v1: (tag)" in out
    assert "Churn" in out  # skipped (holds a numpy Generator) or saved
    assert "manifest.json" in out
    assert "integrity   ok (" in out


def test_info_json_agrees_with_the_save(saved, capsys) -> None:
    assert main(["info", str(saved), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entities"] == 300
    assert sum(t["rows"] for t in info["archetypes"]) == 300
    assert info["frame"] == 3
    assert info["components"]["Age"]["fields"] == ["frames: i32", "lifetime: i32"]
    assert info["integrity"]["ok"] is True
    assert info["files"]["manifest.json"] > 0
    assert info["total_bytes"] == sum(info["files"].values())
    assert main(["info", str(saved), "--json", "--no-verify"]) == 0
    assert "integrity" not in json.loads(capsys.readouterr().out)


def test_info_on_a_corrupt_save_fails_clearly(tmp_path, saved, capsys) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    table = next((copy / "snap-000001").glob("table-*.arrow"))
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF
    table.write_bytes(bytes(data))
    assert main(["info", str(copy)]) == 1
    out = capsys.readouterr()
    assert "integrity   FAILED (1 problem(s))" in out.out
    assert f"{table}: content does not match its hash" in out.out
    assert "is damaged: 1 file(s) do not match the manifest" in out.err


def test_info_on_a_tampered_manifest_or_missing_folder(tmp_path, saved, capsys) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    manifest = copy / "snap-000001" / "manifest.json"
    manifest.write_text(
        manifest.read_text().replace('"entities": 300', '"entities": 3')
    )
    assert main(["info", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "manifest.json: missing, or its hash does not match" in err
    assert "Traceback" not in err
    assert main(["info", str(tmp_path / "none")]) == 1
    assert "not a save directory" in capsys.readouterr().err


def test_a_broken_gallery_model_does_not_break_the_others(
    tmp_path, monkeypatch, capsys
) -> None:
    (tmp_path / "broken_gallery_model.py").write_text("import no_such_package\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        __import__("archetype_ecs.demos").demos.DEMOS, "broken", "broken_gallery_model"
    )
    assert main(["demo", "--agents", "50", "--frames", "2", "-q"]) == 0
    assert "== bounce: summary ==" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "broken          (cannot be loaded" in capsys.readouterr().out
    assert main(["demo", "broken"]) == 1
    err = capsys.readouterr().err
    assert "broken_gallery_model.py:1: ModuleNotFoundError" in err


def test_render_without_the_render_extra_says_how_to_install_it(
    tmp_path, monkeypatch, capsys
) -> None:
    # Pillow blocked the way Python blocks a module (sys.modules entry None), and
    # archetype_ecs.render imported afresh: the import fails as without the extra
    monkeypatch.setitem(sys.modules, "PIL", None)
    for name in [m for m in sys.modules if m.startswith("archetype_ecs.render")]:
        monkeypatch.delitem(sys.modules, name)
    gif = tmp_path / "out.gif"
    assert main(["run", MY_MODEL, "--frames", "2", "--render", str(gif)]) == 1
    err = capsys.readouterr().err
    assert "render: --render needs the render extra" in err
    assert "pip install 'arrow-ecs[render]'" in err
    assert "frames" not in err.split("error:")[0]  # stopped before the run
    assert not gif.exists()


def test_interrupt_exits_130_and_keeps_what_was_recorded(tmp_path, capsys) -> None:
    model = tmp_path / "interrupted.py"
    model.write_text(
        textwrap.dedent(
            """\
            from archetype_ecs import World, component, f32, system


            @component
            class Mass:
                kg: f32 = 1.0


            @system
            def ctrl_c(ctx):
                if ctx.time.frame == 3:
                    raise KeyboardInterrupt  # what Ctrl-C raises mid-frame


            def build(*, seed=0, threads=None):
                world = World(threads=threads)
                world.spawn_batch({Mass: None}, n=4)
                world.add_system(ctrl_c)
                return world
            """
        )
    )
    record = tmp_path / "rec.parquet"
    assert main(["run", str(model), "--frames", "10", "--record", str(record)]) == 130
    assert "arrow-ecs: interrupted" in capsys.readouterr().err
    frames = sorted(set(pq.read_table(record).column("frame").to_pylist()))
    assert frames == [0, 1, 2]  # the frames finished before the interrupt
