"""Sweeps on a real local Ray instance: rows per run, equality with lone runs,
failures, resume, the CLI wiring, and the ImportError without the extra."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.distributed

ray = pytest.importorskip("ray")

from archetype_ecs.distributed import (  # noqa: E402
    SweepError,
    add_sweep_parser,
    run_sweep_command,
    sweep,
)
from archetype_ecs.distributed._model import load_model  # noqa: E402
from archetype_ecs.runner import ModelError, ParamError, run_model  # noqa: E402


def _alone(model: str, params: dict, seed: int, frames: int) -> tuple[dict, object]:
    module = load_model(model).module
    world = module.build(seed=seed, threads=1, **params)
    for _ in range(frames):
        world.step()
    figures = module.summary(world)
    state = world.to_arrow(module.Position, module.Health)
    world.close()
    # the runner's figures of the same run, as `arrow-ecs run` prints them
    ran = run_model(
        model, frames=frames, seed=seed, threads=1, params=params, progress=False
    )
    assert {k: ran[k] for k in figures} == figures
    return figures, state


def test_grid_gives_one_row_per_run_equal_to_lone_runs(ray_local, contagion, tmp_path):
    grid = {"agents": [60, 120], "speed": [0.5, 1.0]}
    res = sweep(
        contagion,
        grid,
        seeds=3,
        frames=4,
        collect=["summary", "state", "series"],
        components=["Position", "Health"],
        every=2,
        out=tmp_path,
        progress=False,
    )
    assert (res.total, res.ran, res.skipped, res.failures) == (12, 12, 0, [])
    summ = res.summary().sort_by(
        [("agents", "ascending"), ("speed", "ascending"), ("seed", "ascending")]
    )
    assert summ.num_rows == 12
    combos = list(
        zip(
            summ["agents"].to_pylist(),
            summ["speed"].to_pylist(),
            summ["seed"].to_pylist(),
            strict=True,
        )
    )
    assert combos == [
        (a, s, k) for a in (60, 120) for s in (0.5, 1.0) for k in range(3)
    ]
    state = res.table("state")
    series = res.table("series")
    for row in summ.to_pylist():
        params = {"agents": row["agents"], "speed": row["speed"]}
        figures, alone_state = _alone(contagion, params, row["seed"], 4)
        # the summary's own "agents" figure collides with the parameter: prefixed
        assert row["summary.agents"] == figures["agents"] == row["agents"]
        assert (row["sick"], row["x_sum"]) == (figures["sick"], figures["x_sum"])
        mine = state.filter(np.asarray(state["run"].to_pylist()) == row["run"])
        # (Parquet drops the not-null flags; values are compared exactly)
        assert (
            mine.select(alone_state.column_names).to_pydict() == alone_state.to_pydict()
        )
        runs = np.asarray(series["run"].to_pylist()) == row["run"]
        assert sorted(set(series.filter(runs)["frame"].to_pylist())) == [2, 4]
    assert len(list((tmp_path / "runs").glob("*.json"))) == 12


def test_failing_run_is_reported_and_the_rest_complete(ray_local, contagion, tmp_path):
    err = io.StringIO()
    res = sweep(
        contagion,
        {"agents": [50], "fail_seed": [1]},
        seeds=3,
        frames=2,
        out=tmp_path,
        progress=err,
    )
    assert res.ran == 3
    assert len(res.failures) == 1
    assert not res.ok
    f = res.failures[0]
    assert f.seed == 1
    assert f.params == {"agents": 50, "fail_seed": 1}
    assert "RuntimeError" in f.error
    assert "failing seed" in f.traceback
    assert "Traceback" in f.traceback
    assert sorted(res.summary()["seed"].to_pylist()) == [0, 2]
    report = json.loads((tmp_path / "failed" / f"{f.run}.json").read_text())
    assert report["seed"] == 1
    assert "failing seed" in report["traceback"]
    assert "3/3 runs" in err.getvalue()
    # resume retries only the failed run (it fails again, the others are skipped)
    again = sweep(
        contagion,
        {"agents": [50], "fail_seed": [1]},
        seeds=3,
        frames=2,
        out=tmp_path,
        progress=False,
    )
    assert (again.ran, again.skipped, len(again.failures)) == (1, 2, 1)


def test_resume_skips_finished_runs(ray_local, contagion, tmp_path):
    first = sweep(
        contagion, {"agents": [40, 80]}, seeds=1, frames=2, out=tmp_path, progress=False
    )
    assert (first.ran, first.skipped) == (2, 0)
    files = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "summary").iterdir()}
    second = sweep(
        contagion, {"agents": [40, 80]}, seeds=2, frames=2, out=tmp_path, progress=False
    )
    assert (second.total, second.ran, second.skipped) == (4, 2, 2)
    for name, mtime in files.items():
        assert (tmp_path / "summary" / name).stat().st_mtime_ns == mtime
    assert second.summary().num_rows == 4
    third = sweep(
        contagion, {"agents": [40, 80]}, seeds=2, frames=2, out=tmp_path, progress=False
    )
    assert (third.ran, third.skipped) == (0, 4)
    rerun = sweep(
        contagion,
        {"agents": [40, 80]},
        seeds=2,
        frames=2,
        out=tmp_path,
        progress=False,
        resume=False,
    )
    assert (rerun.ran, rerun.skipped) == (4, 0)
    assert rerun.summary().num_rows == 4
    # another frame count is another run
    longer = sweep(
        contagion, {"agents": [40]}, seeds=1, frames=3, out=tmp_path, progress=False
    )
    assert longer.ran == 1


def test_bad_input_is_refused_before_anything_is_written(contagion, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ParamError, match="agentz"):
        sweep(contagion, {"agentz": [1]}, out=out, frames=1, progress=False)
    with pytest.raises(SweepError, match="at least one seed"):
        sweep(contagion, {"agents": [1]}, seeds=0, out=out, frames=1, progress=False)
    with pytest.raises(SweepError, match="collect"):
        sweep(
            contagion, None, collect=["everything"], out=out, frames=1, progress=False
        )
    with pytest.raises(SweepError, match="int, float, str or bool"):
        sweep(contagion, {"agents": [[1, 2]]}, out=out, frames=1, progress=False)
    with pytest.raises(ModelError, match="not found"):
        sweep(str(tmp_path / "nope.py"), None, out=out, frames=1, progress=False)
    assert not out.exists()
    (out / "x").mkdir(parents=True)
    with pytest.raises(SweepError, match="not empty"):
        sweep(contagion, None, out=out, frames=1, progress=False)
    assert [p.name for p in out.iterdir()] == ["x"]


def test_other_model_in_the_same_folder_is_refused(ray_local, contagion, tmp_path):
    sweep(contagion, {"agents": [10]}, frames=1, out=tmp_path, progress=False)
    with pytest.raises(SweepError, match="holds a sweep of model"):
        sweep(
            "archetype_ecs.distributed.flock",
            {"agents": [10]},
            frames=1,
            out=tmp_path,
            progress=False,
        )


def test_cli_wiring(ray_local, contagion, tmp_path):
    parser = argparse.ArgumentParser(prog="arrow-ecs")
    sub = parser.add_subparsers(dest="command", required=True)
    add_sweep_parser(sub)
    args = parser.parse_args(
        [
            "sweep",
            contagion,
            "--param",
            "agents=30,60",
            "--param",
            "speed=0.5",
            "--seeds",
            "2",
            "--frames",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    err = io.StringIO()
    assert args.func(args, err) == 0
    assert "4 runs, 4 ran" in err.getvalue()
    summ = sweep(
        contagion,
        {"agents": [30, 60], "speed": 0.5},
        seeds=2,
        frames=2,
        out=tmp_path,
        progress=False,
    )
    assert summ.skipped == 4  # the CLI typed the values like PARAMS (int, float)
    bad = parser.parse_args(
        [
            "sweep",
            contagion,
            "--param",
            "agents=30",
            "--param",
            "fail_seed=0",
            "--frames",
            "1",
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert run_sweep_command(bad, err) == 1
    assert "FAILED" in err.getvalue()
    assert "failing seed" in err.getvalue()
    with pytest.raises(SweepError, match="name=value"):
        run_sweep_command(
            parser.parse_args(
                ["sweep", contagion, "--param", "agents", "--out", str(tmp_path / "c")]
            ),
            err,
        )


def test_import_error_names_the_extra():
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "try:\n"
        "    import archetype_ecs.distributed\n"
        "except ImportError as e:\n"
        "    print(e)\n"
        "else:\n"
        "    print('imported')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    )
    assert "pip install 'arrow-ecs[distributed]'" in out.stdout
    assert "needs Ray" in out.stdout


def test_arrow_ecs_sweep_command(ray_local, contagion, tmp_path, capsys):
    from archetype_ecs.cli import main

    out = tmp_path / "out"
    argv = ["sweep", contagion, "--param", "agents=30,60", "--seeds", "2", "--frames", "2",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert "4 runs, 4 ran" in capsys.readouterr().err
    assert main(argv) == 0  # resumed: nothing to run
    assert "4 skipped" in capsys.readouterr().err
    assert len(list((out / "summary").glob("*.parquet"))) == 4
