"""The progress line of ``pose_ros_infer`` and the demo (no tqdm dependency).

On a terminal the line is redrawn in place with ``\\r``, at most ``hz`` times a second;
when the stream is a file or a pipe a plain line is printed every ``log_period_s`` instead,
so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Optional

BAR_WIDTH = 24


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``[######..........]``: the fraction ``done / total`` (at most full)."""
    filled = int(round(min(done / total, 1.0) * width)) if total > 0 else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


class ProgressLine:
    """Shows a line of text on ``stream`` (stderr by default), throttled; :meth:`end` finishes it."""

    def __init__(self, stream: Optional[IO[str]] = None, hz: float = 8.0, log_period_s: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self._period = 1.0 / hz if self.tty else log_period_s
        self._last = -float("inf")
        self.drawn = False

    def due(self) -> bool:
        """Whether a :meth:`show` now would draw (so a caller can skip building the text)."""
        return time.monotonic() - self._last >= self._period

    def show(self, text: str, force: bool = False) -> None:
        if not (force or self.due()):
            return
        self._last = time.monotonic()
        if self.tty:
            self.stream.write("\r" + text + "\033[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.drawn = True

    def end(self) -> None:
        """End a line redrawn in place (a plain log line has ended already)."""
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()


class Progress:
    """Counts finished items of a known (or unknown) total: bar, rate and time left."""

    def __init__(self, total: Optional[int], stream: Optional[IO[str]] = None, hz: float = 8.0,
                 label: str = "frames") -> None:
        self.total = total if total and total > 0 else None
        self.label = label
        self.done = 0
        self._line = ProgressLine(stream, hz)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._line.start, 1e-9)
        fps = self.done / elapsed
        if self.total:
            eta = (self.total - self.done) / fps if fps > 0 else 0.0
            return (f"{bar(self.done, self.total)} {self.done}/{self.total} {self.label} "
                    f"{100 * min(self.done / self.total, 1.0):3.0f}%  {fps:.1f} fps  eta {eta:.0f} s")
        return f"{self.done} {self.label}  {fps:.1f} fps  {elapsed:.0f} s"

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._line.due():
            self._line.show(self.line(), force=True)

    def close(self) -> None:
        """Draw the final state (if anything was shown at all) and end the line."""
        if self._line.tty or self._line.drawn:
            self._line.show(self.line(), force=True)
            self._line.end()
