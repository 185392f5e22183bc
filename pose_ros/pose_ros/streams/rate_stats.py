"""Sliding-window rate and latency statistics for diagnostics and the demo summary.

Kept apart from the node so the numbers users see in /diagnostics are unit-tested.
"""

from __future__ import annotations

import collections
import threading
from typing import Deque, Optional

import numpy as np


class RateMeter:
    """Events per second over the last ``window_s`` seconds (monotonic times in s)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: Deque[float] = collections.deque()
        self._lock = threading.Lock()

    def tick(self, now_s: float) -> None:
        with self._lock:
            self._times.append(now_s)
            self._trim(now_s)

    def rate(self, now_s: float) -> float:
        with self._lock:
            self._trim(now_s)
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now_s: float) -> None:
        while self._times and now_s - self._times[0] > self.window_s:
            self._times.popleft()


class LatencyWindow:
    """The last ``size`` latency samples (ms) and their percentiles."""

    def __init__(self, size: int = 200) -> None:
        self._samples: Deque[float] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._samples.append(float(ms))

    def percentile(self, q: float) -> Optional[float]:
        with self._lock:
            if not self._samples:
                return None
            return float(np.percentile(np.fromiter(self._samples, float), q))

    def __len__(self) -> int:
        return len(self._samples)


class MessageThrottle:
    """Throttle log lines per message text, not per call site.

    Why: rclpy's ``throttle_duration_sec`` is per call site, so a *different* failure
    within the window never reaches the log (8 different reload errors were in
    diagnostics, 1 in the log). Here each new text passes at once and a repeat passes
    again only after ``period_s``. At most ``max_keys`` texts are remembered (oldest
    forgotten first), so messages that vary without end cannot grow memory.
    """

    def __init__(self, period_s: float, max_keys: int = 64) -> None:
        self.period_s = period_s
        self.max_keys = max_keys
        self._last: "collections.OrderedDict[str, float]" = collections.OrderedDict()
        self._lock = threading.Lock()

    def allow(self, message: str, now_s: float) -> bool:
        """True when ``message`` should be logged now (and records that it was)."""
        with self._lock:
            last = self._last.get(message)
            if last is not None and now_s - last < self.period_s:
                return False
            self._last[message] = now_s
            self._last.move_to_end(message)
            while len(self._last) > self.max_keys:
                self._last.popitem(last=False)
            return True
