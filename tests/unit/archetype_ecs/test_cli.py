"""The `arrow-ecs demo` main job runs, reports progress and a summary, and is seeded."""

from __future__ import annotations

import json
import subprocess
import sys

from archetype_ecs.cli import main


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
    assert "12/12 frames" in out.err  # the progress bar


def test_demo_is_deterministic_for_a_seed(capsys) -> None:
    args = ["demo", "--agents", "2000", "--frames", "8", "--seed", "7", "--json"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main([*args[:-1], "--threads", "1", "--json"])
    second = json.loads(capsys.readouterr().out)
    assert first["checksum"] == second["checksum"]
    assert first["spawned"] == second["spawned"]


def test_console_entry_point_runs_the_default_demo() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "archetype_ecs.cli",
            "demo",
            "--agents",
            "1000",
            "--frames",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "== bounce: summary ==" in done.stdout
    assert "agents" in done.stdout
