"""save_load_cold: one load of 10^6 entities in a fresh process, against one raw read.

``python -m benchmarks.save_load_cold`` writes the ``save_load`` world once (a save
folder and the raw IPC file of the same columns), then runs each measurement in its
own new interpreter, alternating the two, ``--trials`` times:

* ``raw_read``: memory-map the raw IPC file and copy every column into owned NumPy
  arrays (the ``save_load`` baseline);
* ``load_ipc``: ``load(folder, World())``: exact, every file hashed and validated.

Imports, Numba's cache and a warm-up load of a tiny save happen before the timed
call, so what is timed is the read itself, as a program that loads one world at
start-up sees it: every page it writes is fresh (the kernel zeroes it on first
touch). In ``save_load`` both are repeated in one process, and the raw read's
column-sized arrays come back warm from the C allocator's free lists while a world's
larger blocks do not; this script removes that difference. Medians are printed, with
the ratio. Info only: the target lives in ``save_load``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import json, sys, time, tempfile
kind, folder, raw_path = sys.argv[1], sys.argv[2], sys.argv[3]
import numpy as np, pyarrow as pa, pyarrow.ipc as ipc
from benchmarks.save_load import _load, SaveLoad
e = _load()
if kind == "load_ipc":
    with tempfile.TemporaryDirectory() as tiny:  # warm up: kernels from the cache
        w = e.ae.World()
        w.spawn_batch({c: None for c in e.classes}, n=10)
        e.save(w, tiny)
        e.load(tiny, e.ae.World(), components=e.classes)
    target = e.ae.World()
    t = time.perf_counter()
    e.load(folder, target, components=e.classes)
    dt = time.perf_counter() - t
else:
    from pathlib import Path
    s = SaveLoad()
    s.out = None
    with tempfile.TemporaryDirectory() as tiny:  # warm up: the same calls, 10 rows
        with pa.memory_map(raw_path, "r") as src:
            small = ipc.open_file(src).read_all().slice(0, 10)
        s.raw_path = Path(tiny) / "tiny.arrow"
        with pa.OSFile(str(s.raw_path), "wb") as sink, ipc.new_file(sink, small.schema) as w:
            w.write_table(small)
        s.time_raw_read(0)
    s.out = None
    s.raw_path = Path(raw_path)
    t = time.perf_counter()
    s.time_raw_read(0)
    dt = time.perf_counter() - t
print(json.dumps({"seconds": dt}))
"""


def _child(kind: str, folder: Path, raw: Path) -> float:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(folder), str(raw)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main(argv: list[str] | None = None) -> None:
    from benchmarks.save_load import SaveLoad

    p = argparse.ArgumentParser(prog="python -m benchmarks.save_load_cold")
    p.add_argument("--n", type=float, default=1e6, help="entities (default 1e6)")
    p.add_argument("--trials", type=int, default=9, help="processes per variant")
    args = p.parse_args(argv)
    n = int(args.n)
    s = SaveLoad()
    s.setup(n)
    try:
        s.setup_load_ipc(n)
        s.setup_raw_read(n)
        times: dict[str, list[float]] = {"raw_read": [], "load_ipc": []}
        for _ in range(args.trials):
            for kind in times:
                times[kind].append(_child(kind, s.save_dir, s.raw_path))
        med = {k: statistics.median(v) for k, v in times.items()}
        for k, v in times.items():
            lo, hi = min(v), max(v)
            print(
                f"{k:9s} median {med[k] * 1e3:7.2f} ms  "
                f"(range {lo * 1e3:.2f}-{hi * 1e3:.2f} ms, {len(v)} processes)"
            )
        print(
            f"load_ipc / raw_read: {med['load_ipc'] / med['raw_read']:.2f}x (N={n:,})"
        )
    finally:
        s.teardown(n)


if __name__ == "__main__":
    main()
