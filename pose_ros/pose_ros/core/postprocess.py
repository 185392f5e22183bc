"""What happens to a frame's persons after the network: track ids, then One Euro smoothing.

The node and ``pose_ros_infer`` both run video through one :class:`PersonStream`, so a clip
gives the same ids and the same smoothed keypoints whichever way it is run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from pose_ros.core.persons import Person
from pose_ros.core.smoothing import JitterMeter, KeypointSmoother, OneEuroParams
from pose_ros.core.tracking import PersonTracker


@dataclass(frozen=True)
class StreamParams:
    """The knobs of :class:`PersonStream` (the node's ``tracking``/``smoothing*`` parameters)."""

    tracking: bool = True
    smoothing: bool = True
    track_max_age_s: float = PersonTracker().max_age_s
    one_euro: OneEuroParams = field(default_factory=OneEuroParams)


class PersonStream:
    """Track and smooth the persons of consecutive frames of one camera.

    ``update`` is called from one thread (the worker); ``jitter()`` may be read from another
    (diagnostics), hence the lock around the meter.
    """

    def __init__(self, params: Optional[StreamParams] = None) -> None:
        params = params if params is not None else StreamParams()
        self.params = params
        self._tracker = PersonTracker()
        self._smoother = KeypointSmoother(params.one_euro)
        self._jitter = JitterMeter()  # raw vs smoothed keypoint jitter, for diagnostics and the bench
        self._lock = threading.Lock()

    def set_params(self, params: StreamParams) -> None:
        if params.one_euro != self._smoother.params:
            self._smoother.set_params(params.one_euro)
        self.params = params

    def reset(self) -> None:
        """Forget every track (a new model, or stamps that jumped back: a looped bag)."""
        self._tracker.reset()
        self._smoother.reset()
        with self._lock:
            self._jitter.forget_tracks()

    def update(self, persons: List[Person], stamp_s: Optional[float]) -> List[Person]:
        """Ids from the tracker (in seconds of stamps), then One Euro smoothing per keypoint.

        ``stamp_s`` None (a driver that sets no stamps) tracks by frame count and smooths on
        the processing clock, the best clock there is then.
        """
        if not self.params.tracking:
            return persons
        self._tracker.max_age_s = self.params.track_max_age_s
        persons = self._tracker.update(persons, stamp_s)
        if not self.params.smoothing:
            return persons
        raw = {p.track_id: p.keypoints.copy() for p in persons if p.track_id}
        persons = self._smoother.update(persons, stamp_s if stamp_s is not None else time.monotonic())
        with self._lock:
            self._jitter.add(raw, {p.track_id: p.keypoints for p in persons if p.track_id})
        return persons

    def jitter(self) -> Dict[str, float]:
        with self._lock:
            return self._jitter.summary()
