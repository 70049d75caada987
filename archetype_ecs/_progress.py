"""Dependency-free progress reporting for long work: bars with live figures, activities.

:class:`Progress` draws ``[#####.....] 120/300 frames | <figures>`` for work counted in
units (frames, bytes); :func:`activity` reports a single long call (a save, a load)
with its elapsed time. Both write to a stream (stderr by default): on a terminal they
redraw one line in place; otherwise (CI, pipes, files) they print a few plain lines.
Work that ends before ``delay`` seconds prints nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Progress", "activity", "format_bytes"]

_REDRAW_S = 0.1  # at most 10 redraws a second on a terminal


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'`` (binary units, one decimal above bytes)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns


class Progress:
    """Prints ``[#####.....] 120/300 frames (4.1s, eta 6.2s) | <figures>`` to a stream.

    Parameters
    ----------
    total
        Units of work (frames, files, bytes).
    label
        Name of the unit, shown after the counts.
    stream
        Where to draw (default ``sys.stderr``).
    delay
        Seconds of work before anything is drawn (0: draw from the first update).
        A job that finishes sooner prints nothing.
    unit_bytes
        Show the counts as byte sizes (``12.0 MiB/40.0 MiB``).

    Notes
    -----
    On a terminal the bar redraws in place at most 10 times a second; otherwise it
    prints a line every 10 %. Call :meth:`due` first when the figures cost something
    to compute: it says whether :meth:`update` would draw.
    """

    def __init__(
        self,
        total: int,
        label: str = "frames",
        stream: TextIO | None = None,
        *,
        delay: float = 0.0,
        unit_bytes: bool = False,
    ) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.delay = delay
        self.unit_bytes = unit_bytes
        self._last_draw = 0.0
        self._last_decile = -1
        self._drawn = False
        self._open_line = False  # a tty bar is on screen without its newline
        self.start = time.perf_counter()

    def due(self, done: int) -> bool:
        """True when :meth:`update` with ``done`` would draw (compute figures then)."""
        now = time.perf_counter()
        if now - self.start < self.delay and done < self.total:
            return False
        if self.delay and done >= self.total and not self._drawn:
            return now - self.start >= self.delay
        if self.tty:
            return now - self._last_draw >= _REDRAW_S or done >= self.total
        return done * 10 // self.total != self._last_decile

    def update(self, done: int, figures: str = "") -> None:
        """Report ``done`` units finished, with a short text of live figures."""
        if not self.due(done):
            return
        now = time.perf_counter()
        self._drawn = True
        if self.tty:
            self._last_draw = now
            self.stream.write("\r" + self._line(done, figures, now) + "\x1b[K")
            self._open_line = done < self.total
            if not self._open_line:
                self.stream.write("\n")
        else:
            self._last_decile = done * 10 // self.total
            self.stream.write(self._line(done, figures, now) + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """Print a line of text without breaking the bar (it is redrawn next update)."""
        if self._open_line:
            self.stream.write("\r\x1b[K")
            self._open_line = False
            self._last_draw = 0.0
        self.stream.write(text.rstrip("\n") + "\n")
        self.stream.flush()

    def _counts(self, done: int) -> str:
        if self.unit_bytes:
            return f"{format_bytes(done)}/{format_bytes(self.total)}"
        return f"{done}/{self.total}"

    def _line(self, done: int, figures: str, now: float) -> str:
        width = 30
        filled = width * min(done, self.total) // self.total
        bar = "#" * filled + "." * (width - filled)
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        tail = f" | {figures}" if figures else ""
        return (
            f"[{bar}] {self._counts(done)} {self.label} "
            f"({elapsed:5.1f}s, eta {eta:4.1f}s){tail}"
        )


@contextmanager
def activity(
    label: str, stream: TextIO | None = None, *, delay: float = 1.0
) -> Iterator[None]:
    """Report one long call (``saving world to out/``) while it runs.

    Nothing is printed when the block ends within ``delay`` seconds. After that, a
    terminal shows ``label ... 3.5s`` updated twice a second from a helper thread;
    other streams get one ``label ...`` line. When the block ends, ``label: done in
    3.9s`` (or ``failed after``) closes the report.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with activity("saving", out):
    ...     pass
    >>> out.getvalue()  # quick work prints nothing
    ''
    """
    out = stream if stream is not None else sys.stderr
    tty = out.isatty()
    start = time.perf_counter()
    stop = threading.Event()
    shown = threading.Event()

    def report() -> None:
        if stop.wait(delay):
            return
        shown.set()
        while True:
            elapsed = time.perf_counter() - start
            if tty:
                out.write(f"\r{label} ... {elapsed:.1f}s\x1b[K")
            else:
                out.write(f"{label} ...\n")
            out.flush()
            if not tty or stop.wait(0.5):
                return

    thread = threading.Thread(target=report, name="arrow-ecs-activity", daemon=True)
    thread.start()
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        thread.join()
        if shown.is_set():
            elapsed = time.perf_counter() - start
            verdict = "done in" if ok else "failed after"
            line = f"{label}: {verdict} {elapsed:.1f}s"
            out.write(f"\r{line}\x1b[K\n" if tty else f"{line}\n")
            out.flush()
