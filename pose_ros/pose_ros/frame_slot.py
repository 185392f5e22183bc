"""A one-frame mailbox between a camera callback and a processing worker.

Why: a pose network runs at a few fps on a CPU while cameras publish at 15-30 fps.
Queueing frames makes the output lag further behind reality with every frame, so
the callback only ever keeps the newest frame; older unprocessed frames are
dropped and counted, and frames whose stamp is older than the last processed one
(out of order, or a replayed bag jumping back) are rejected.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Generic, Optional, TypeVar

T = TypeVar("T")


@dataclass
class SlotCounters:
    received: int = 0
    replaced: int = 0      # overwritten before the worker took them
    stale: int = 0         # stamp older than the last frame taken
    taken: int = 0
    time_jumps: int = 0    # stamps that went back by more than the jump threshold

    @property
    def dropped(self) -> int:
        return self.replaced + self.stale


class LatestFrameSlot(Generic[T]):
    """Thread-safe holder of the newest frame, ordered by a nanosecond stamp.

    A stamp of 0 means "unknown" (some drivers never set it): such frames are never
    judged stale, since no order can be told. A stamp more than ``jump_back_s`` older
    than the newest is a time jump (a looping bag, a reset simulation clock), not a
    late frame: it is accepted, counted in ``time_jumps``, and the order restarts there.
    """

    def __init__(self, jump_back_s: float = 1.0) -> None:
        self._jump_back_ns = int(jump_back_s * 1e9)
        self._cond = threading.Condition()
        self._frame: Optional[T] = None
        self._stamp_ns = 0
        self._last_taken_ns = 0
        self._closed = False
        self.counters = SlotCounters()

    def put(self, frame: T, stamp_ns: int) -> bool:
        """Offer a frame; returns False when it was rejected as stale."""
        with self._cond:
            self.counters.received += 1
            newest = max(self._last_taken_ns, self._stamp_ns if self._frame is not None else 0)
            if stamp_ns and newest and stamp_ns < newest:
                if newest - stamp_ns <= self._jump_back_ns:
                    self.counters.stale += 1
                    return False
                self.counters.time_jumps += 1
                self._last_taken_ns = 0
            if self._frame is not None:
                self.counters.replaced += 1
            self._frame, self._stamp_ns = frame, stamp_ns
            self._cond.notify()
            return True

    def take(self, timeout_s: Optional[float] = None) -> Optional[T]:
        """Wait for a frame and remove it; None on timeout or after close()."""
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait(timeout_s)
            if self._frame is None:
                return None
            frame, self._frame = self._frame, None
            if self._stamp_ns:
                self._last_taken_ns = self._stamp_ns
            self.counters.taken += 1
            return frame

    def clear(self) -> None:
        with self._cond:
            self._frame = None

    def close(self) -> None:
        """Wake any waiting worker so it can exit."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            c = self.counters
            return {"received": c.received, "taken": c.taken, "dropped": c.dropped,
                    "replaced": c.replaced, "stale": c.stale, "time_jumps": c.time_jumps}
