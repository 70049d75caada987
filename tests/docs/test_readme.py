"""The README's example runs, and its quick start names commands that exist."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_example_runs_and_prints_what_it_says(capsys, tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", README, re.S)
    assert code is not None
    monkeypatch.chdir(tmp_path)
    exec(
        compile(code.group(1), str(ROOT / "README.md"), "exec"),
        {"__name__": "__main__"},
    )
    out = capsys.readouterr().out
    assert "99990 ApplyReport(applied=10, skipped=0, spawned=0)" in out
    assert "Position.x: float not null" in out


def test_quick_start_is_exactly_two_commands_of_the_dev_script():
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", README, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    commands = [c for c in commands if c]
    assert commands == ["./dev demo", "./dev test"]
    dev = ROOT / "dev"
    assert dev.is_file()
    assert os.access(dev, os.X_OK)
