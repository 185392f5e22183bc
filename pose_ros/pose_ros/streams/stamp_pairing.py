"""Pair each processed colour frame with the depth frame nearest in stamp.

Why: the 3D keypoints of a colour frame need the depth image taken at the same moment.
ROS's message_filters does this for C++ and apt users, but it is not on PyPI and a
synchroniser that holds colour frames back would also hold back the 2D output. Here the
2D result is published first; its 3D part waits (bounded) for a depth frame:

- an RGB-D driver stamps aligned depth with its colour frame's stamp, so usually the
  exact match is already buffered when the (slow) pose network is done;
- a result is decided as soon as a depth frame at or after its stamp has arrived (no
  later one can be nearer), with the nearest buffered depth within ``tolerance_ns``;
- at most ``max_pending`` results wait; the oldest is then decided with what there is,
  so a depth stream that stops or never starts costs nothing but an empty 3D output;
- depth frames are kept by stamp *window* (the last ``window_ns`` of depth), thinned to at
  most ``keep`` frames where they are densest: a count alone covered 20 ms of a 500 Hz depth
  flood, so no colour frame (one network pass, ~100 ms, behind) ever found its pair.

Stamps are integer nanoseconds (image time, so bags and simulation work). Thread-safe:
depth arrives in a subscription callback while results come from a worker thread.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Generic, List, Optional, Tuple, TypeVar

R = TypeVar("R")
D = TypeVar("D")

JUMP_BACK_NS = 1_000_000_000  # a depth stamp this much older than the newest: the clock restarted
#: How much depth history is kept: longer than the node's worst processing latency (p95 ~150 ms
#: at the defaults, seconds for a CPU pass at 2048 px).
WINDOW_NS = 2_000_000_000


@dataclass
class Pairing(Generic[R, D]):
    """The decision for one result: its depth frame, or None with the reason."""

    result: R
    stamp_ns: int
    depth: Optional[D]
    depth_stamp_ns: int = 0
    reason: str = ""


class StampPairer(Generic[R, D]):
    """Buffers the depth frames of the last ``window_ns`` (at most ``keep``) and pairs results
    with them by stamp."""

    def __init__(self, tolerance_ns: int, keep: int = 30, max_pending: int = 2, window_ns: int = WINDOW_NS) -> None:
        if tolerance_ns < 0 or keep < 2 or max_pending < 0 or window_ns <= 0:
            raise ValueError("need tolerance_ns >= 0, keep >= 2, max_pending >= 0, window_ns > 0")
        self.tolerance_ns = int(tolerance_ns)
        self.keep = int(keep)
        self.window_ns = int(window_ns)
        self.max_pending = int(max_pending)
        self._lock = threading.Lock()
        self._stamps: List[int] = []          # sorted depth stamps
        self._depths: List[D] = []            # the frames, in the same order
        self._pending: List[Tuple[int, R]] = []
        self.depth_received = 0

    def set_tolerance(self, tolerance_ns: int) -> None:
        with self._lock:
            self.tolerance_ns = int(tolerance_ns)

    def clear(self) -> None:
        with self._lock:
            self._stamps, self._depths, self._pending = [], [], []

    def add_depth(self, stamp_ns: int, depth: D) -> List[Pairing[R, D]]:
        """Buffer a depth frame; returns the waiting results it lets us decide."""
        with self._lock:
            self.depth_received += 1
            if self._stamps and stamp_ns < self._stamps[-1] - JUMP_BACK_NS:
                self._stamps, self._depths = [], []  # a looping bag: old depth cannot match
            i = bisect.bisect_right(self._stamps, stamp_ns)
            self._stamps.insert(i, stamp_ns)
            self._depths.insert(i, depth)
            self._forget_old_depth()
            ready = [(s, r) for s, r in self._pending if s <= self._stamps[-1]]
            self._pending = [(s, r) for s, r in self._pending if s > self._stamps[-1]]
            return [self._decide(s, r) for s, r in ready]

    def add_result(self, stamp_ns: int, result: R) -> List[Pairing[R, D]]:
        """Offer a processed colour frame; returns every decision this makes possible
        (this result's when it is decidable now, and older ones pushed out of the queue)."""
        with self._lock:
            out: List[Pairing[R, D]] = []
            exact = self._stamps and self._nearest(stamp_ns)[0] == 0
            if exact or (self._stamps and self._stamps[-1] >= stamp_ns) or self.max_pending == 0:
                out.append(self._decide(stamp_ns, result))
            else:
                self._pending.append((stamp_ns, result))
            while len(self._pending) > self.max_pending:
                s, r = self._pending.pop(0)
                out.append(self._decide(s, r))
            return out

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- internals (called with the lock held) -----------------------------------

    def _forget_old_depth(self) -> None:
        """Drop frames older than the window, then thin the densest stretch down to ``keep``.

        The newest and oldest frames of the window stay, so the time covered stays the window;
        an inner frame goes whose neighbours are closest together (ties: the oldest), which at a
        steady rate spreads the kept frames evenly and keeps the newest stretch dense.
        """
        start = bisect.bisect_left(self._stamps, self._stamps[-1] - self.window_ns)
        if start:
            del self._stamps[:start], self._depths[:start]
        while len(self._stamps) > self.keep:
            if len(self._stamps) < 3:
                del self._stamps[0], self._depths[0]
                continue
            s = self._stamps
            j = min(range(1, len(s) - 1), key=lambda i: s[i + 1] - s[i - 1])
            del self._stamps[j], self._depths[j]

    def _nearest(self, stamp_ns: int) -> Tuple[int, int]:
        """(|stamp difference|, index) of the nearest buffered depth frame."""
        i = bisect.bisect_left(self._stamps, stamp_ns)
        best = min((abs(self._stamps[j] - stamp_ns), j) for j in (i - 1, i) if 0 <= j < len(self._stamps))
        return best

    def _decide(self, stamp_ns: int, result: R) -> Pairing[R, D]:
        if not self._stamps:
            return Pairing(result, stamp_ns, None, reason="no depth image received yet")
        gap, j = self._nearest(stamp_ns)
        if gap > self.tolerance_ns:
            return Pairing(result, stamp_ns, None, depth_stamp_ns=self._stamps[j],
                           reason=f"no depth image within {self.tolerance_ns / 1e6:.0f} ms of the colour "
                           f"image (nearest {gap / 1e6:.0f} ms away)")
        return Pairing(result, stamp_ns, self._depths[j], depth_stamp_ns=self._stamps[j])
