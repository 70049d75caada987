"""A dependency-free progress bar for long runs (frames), with live figures."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Prints ``[#####.....] 120/300 frames | <figures>`` to a stream.

    On a terminal the bar redraws in place at most 10 times a second; otherwise (CI,
    pipes) it prints a line every 10 %.
    """

    def __init__(
        self, total: int, label: str = "frames", stream: TextIO | None = None
    ) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self._last_draw = 0.0
        self._last_decile = -1
        self.start = time.perf_counter()

    def update(self, done: int, figures: str = "") -> None:
        """Report ``done`` units finished, with a short text of live figures."""
        now = time.perf_counter()
        if self.tty:
            if now - self._last_draw < 0.1 and done < self.total:
                return
            self._last_draw = now
            self.stream.write("\r" + self._line(done, figures, now))
            if done >= self.total:
                self.stream.write("\n")
        else:
            decile = done * 10 // self.total
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(self._line(done, figures, now) + "\n")
        self.stream.flush()

    def _line(self, done: int, figures: str, now: float) -> str:
        width = 30
        filled = width * done // self.total
        bar = "#" * filled + "." * (width - filled)
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        tail = f" | {figures}" if figures else ""
        return (
            f"[{bar}] {done}/{self.total} {self.label} "
            f"({elapsed:5.1f}s, eta {eta:4.1f}s){tail}"
        )
