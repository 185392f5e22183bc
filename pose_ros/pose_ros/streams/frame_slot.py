"""A one-frame mailbox between a camera callback and a processing worker.

Why: a pose network runs at a few fps on a CPU while cameras publish at 15-30 fps.
Queueing frames makes the output lag further behind reality with every frame, so
the callback only ever keeps the newest frame; older unprocessed frames are
dropped and counted, and frames whose stamp is older than the last processed one
(out of order, or a replayed bag jumping back) are rejected.
"""

from __future__ import annotations

import threading
import time
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
    cleared: int = 0       # pending when clear() discarded it (e.g. the node was disabled)
    future: int = 0        # stamped too far ahead of the clock: accepted, but not used for ordering

    @property
    def dropped(self) -> int:
        """Frames received but never taken: received == taken + dropped + (0 or 1 pending)."""
        return self.replaced + self.stale + self.cleared


class LatestFrameSlot(Generic[T]):
    """Thread-safe holder of the newest frame, ordered by a nanosecond stamp.

    A stamp of 0 means "unknown" (some drivers never set it): such frames are never
    judged stale, since no order can be told. A stamp more than ``jump_back_s`` older
    than the newest is a time jump (a looping bag, a reset simulation clock), not a
    late frame: it is accepted, counted in ``time_jumps``, and the order restarts there.

    A stamp more than ``future_tolerance_s`` ahead of the receiver's clock (``now_ns``
    given to :meth:`put`) is accepted and counted in ``future`` but treated like stamp 0:
    one badly stamped frame must not become the reference that makes the next good
    frames look stale.
    """

    def __init__(self, jump_back_s: float = 1.0, future_tolerance_s: float = 0.25,
                 cond: Optional[threading.Condition] = None) -> None:
        """``cond``: a condition shared by several slots, so one worker can wait on all of them
        (:class:`~pose_ros.streams.fair_take.OldestFirst`); by default the slot's own."""
        self._jump_back_ns = int(jump_back_s * 1e9)
        self._future_tolerance_ns = int(future_tolerance_s * 1e9)
        self._cond = cond if cond is not None else threading.Condition()
        self.waiting_since = 0.0   # time.monotonic() when the slot last went from empty to holding a frame
        self._frame: Optional[T] = None
        self._stamp_ns = 0
        self._last_taken_ns = 0
        self._closed = False
        self.counters = SlotCounters()

    def put(self, frame: T, stamp_ns: int, now_ns: int = 0) -> bool:
        """Offer a frame; returns False when it was rejected as stale.

        ``now_ns``: the receiver's clock in the stamps' time base (0 = unknown, e.g. a
        simulated clock that has not started), to recognise stamps from the future.
        """
        with self._cond:
            self.counters.received += 1
            if stamp_ns and now_ns and stamp_ns > now_ns + self._future_tolerance_ns:
                self.counters.future += 1
                stamp_ns = 0
            newest = max(self._last_taken_ns, self._stamp_ns if self._frame is not None else 0)
            if stamp_ns and newest and stamp_ns < newest:
                if newest - stamp_ns <= self._jump_back_ns:
                    self.counters.stale += 1
                    return False
                self.counters.time_jumps += 1
                self._last_taken_ns = 0
            if self._frame is not None:
                self.counters.replaced += 1
            else:
                self.waiting_since = time.monotonic()
            self._frame, self._stamp_ns = frame, stamp_ns
            self._cond.notify_all()   # a shared condition may have other waiters than this slot's worker
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

    def clear(self) -> bool:
        """Discard the pending frame (counted in ``cleared``); True if there was one."""
        with self._cond:
            if self._frame is None:
                return False
            self._frame = None
            self.counters.cleared += 1
            return True

    def close(self) -> None:
        """Wake any waiting worker so it can exit."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> bool:
        """A frame is waiting to be taken."""
        return self._frame is not None

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            c = self.counters
            return {"received": c.received, "taken": c.taken, "dropped": c.dropped,
                    "replaced": c.replaced, "stale": c.stale, "time_jumps": c.time_jumps,
                    "cleared": c.cleared, "future": c.future}
