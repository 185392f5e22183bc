"""Keypoint smoothing over time with the One Euro filter (Casiez, Roussel, Vogel, CHI 2012).

Why: per-frame pose estimates jitter by a few pixels even when a person stands still,
and a plain low-pass filter that hides the jitter makes fast moves lag. The One Euro
filter is a first-order low-pass whose cutoff rises with the filtered speed: still
points are smoothed hard, fast ones follow closely.

Time comes from the images' stamps (seconds), so the filter behaves the same at 5 and
at 30 fps, in bags and in simulation. Two choices differ from the paper's pseudo-code:

- the smoothing factor is the exact one for a first-order low-pass sampled every ``dt``
  (``1 - exp(-2 pi fc dt)``) instead of ``1 / (1 + tau / dt)``; the two agree for small
  ``dt`` (on a synthetic 300 px walk, 5 and 30 fps stay within 4 px of each other;
  a filter counting frames instead ends 60 px apart);
- the speed that raises the cutoff is the 2D speed of a keypoint divided by the person's
  size (box diagonal, in diagonals per second), so ``beta`` means the same for a person
  near the camera and one far away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from pose_ros.core.persons import Person, bbox_from_keypoints

# Smoothing sizes are measured against at least this many pixels (a one-keypoint person).
MIN_SCALE_PX = 20.0


def smoothing_factor(cutoff_hz: np.ndarray, dt_s: np.ndarray) -> np.ndarray:
    """The weight of a new sample in a first-order low-pass of cutoff ``cutoff_hz``."""
    return 1.0 - np.exp(-2.0 * math.pi * np.asarray(cutoff_hz) * np.asarray(dt_s))


@dataclass
class OneEuroParams:
    """``min_cutoff_hz``: cutoff of a still point (lower = smoother, more lag when it starts
    moving). ``beta``: how fast the cutoff rises with speed, per (box diagonal per second);
    higher = less lag on fast moves. ``d_cutoff_hz``: cutoff of the speed estimate.

    Defaults chosen on synthetic tracks and vtest.avi (bench/bench_3d.py): with 3 px noise
    on a 200 px person at 30 fps a still keypoint keeps 30 % of its jitter and a move of
    2 diagonals/s lags by under 0.09 diagonals; on vtest.avi at 10 fps the jitter drops by
    a third. beta 4 lags half as much but smooths vtest by only 12 %; beta 0.5 smooths it
    by 55 % but lags 0.13 diagonals.
    """

    min_cutoff_hz: float = 0.5
    beta: float = 1.5
    d_cutoff_hz: float = 1.0

    def validate(self) -> None:
        if not self.min_cutoff_hz > 0:
            raise ValueError(f"min_cutoff_hz must be > 0, got {self.min_cutoff_hz}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if not self.d_cutoff_hz > 0:
            raise ValueError(f"d_cutoff_hz must be > 0, got {self.d_cutoff_hz}")


class OneEuroFilter:
    """One Euro filter of N points in D dimensions, each point with its own state.

    A point is filtered only where ``valid``; an invalid sample leaves its state alone.
    A point whose last valid sample is older than ``reset_gap_s``, or a sample whose time
    is not after the previous one, restarts from the new sample (no smoothing towards a
    position that is no longer meaningful).
    """

    def __init__(self, params: OneEuroParams, reset_gap_s: float = 1.0) -> None:
        params.validate()
        self.params = params
        self.reset_gap_s = float(reset_gap_s)
        self._x: Optional[np.ndarray] = None      # (N, D) filtered position
        self._dx: Optional[np.ndarray] = None     # (N, D) filtered velocity
        self._t: Optional[np.ndarray] = None      # (N,) time of the last valid sample, NaN = none

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t_s: float, valid: Optional[np.ndarray] = None,
                 scale: float = 1.0) -> np.ndarray:
        """Filter samples ``x`` (N, D) taken at ``t_s``; returns the filtered (N, D).

        Invalid points come back unchanged. ``scale`` divides the speed before ``beta``.
        """
        x = np.asarray(x, np.float64)
        n = x.shape[0]
        valid = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            self._t = np.where(valid, t_s, np.nan)
            return x.copy()
        dt = t_s - self._t                                               # NaN where never seen
        restart = valid & ~(np.isfinite(dt) & (dt > 0) & (dt <= self.reset_gap_s))
        update = valid & ~restart
        out = x.copy()
        if update.any():
            p = self.params
            d = dt[update][:, None]
            prev, prev_dx = self._x[update], self._dx[update]
            a_d = smoothing_factor(p.d_cutoff_hz, d)
            dx = a_d * (x[update] - prev) / d + (1 - a_d) * prev_dx
            speed = np.linalg.norm(dx, axis=1, keepdims=True) / max(scale, 1e-9)
            a = smoothing_factor(p.min_cutoff_hz + p.beta * speed, d)
            out[update] = a * x[update] + (1 - a) * prev
            self._x[update], self._dx[update] = out[update], dx
        self._x[restart], self._dx[restart] = x[restart], 0.0
        self._t[valid] = t_s
        return out


@dataclass
class _TrackFilter:
    filter: OneEuroFilter
    last_t: float


@dataclass
class KeypointSmoother:
    """One Euro filter per keypoint per tracked person (keyed by ``Person.track_id``).

    A new track id starts a new filter; a keypoint lost for more than ``reset_gap_s``
    restarts from its next detection; a time jump (stamps going back) forgets all
    filters. Persons without a track id pass through unchanged. Tracks unseen for
    ``forget_after_s`` are dropped, so memory stays bounded.
    """

    params: OneEuroParams = field(default_factory=OneEuroParams)
    reset_gap_s: float = 1.0
    forget_after_s: float = 10.0
    _tracks: Dict[str, _TrackFilter] = field(default_factory=dict)
    _last_t: Optional[float] = None

    def reset(self) -> None:
        self._tracks.clear()
        self._last_t = None

    def set_params(self, params: OneEuroParams) -> None:
        """New filter parameters, for new and existing tracks alike (their state is kept)."""
        params.validate()
        self.params = params
        for state in self._tracks.values():
            state.filter.params = params

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    def update(self, persons: List[Person], t_s: float) -> List[Person]:
        """Replace each tracked person's keypoint x, y by the filtered ones, and its box by theirs (in place)."""
        if self._last_t is not None and t_s < self._last_t:
            self.reset()  # a bag looped or the sim clock was reset
        self._last_t = t_s
        for person in persons:
            if not person.track_id:
                continue
            state = self._tracks.get(person.track_id)
            if state is None:
                state = _TrackFilter(OneEuroFilter(self.params, self.reset_gap_s), t_s)
                self._tracks[person.track_id] = state
            kp = person.keypoints
            valid = kp[:, 2] > 0
            scale = max(float(np.hypot(person.bbox[2], person.bbox[3])), MIN_SCALE_PX)
            kp[:, :2] = state.filter(kp[:, :2], t_s, valid, scale).astype(np.float32)
            kp[~valid, :2] = 0.0
            person.bbox = bbox_from_keypoints(kp)  # the box follows the keypoints it is published with
            state.last_t = t_s
        for tid in [k for k, s in self._tracks.items() if t_s - s.last_t > self.forget_after_s]:
            del self._tracks[tid]
        return persons


def keypoint_jitter_px(frames: List[Dict[str, np.ndarray]]) -> Dict[str, float]:
    """How much the keypoints of each track jump around, in pixels, over a sequence.

    ``frames`` holds per frame ``{track_id: (K, 3) keypoints}``. Returns ``step_px``: the
    mean frame-to-frame displacement of a keypoint detected in consecutive frames (walking
    adds to it, smoothed or not), and ``accel_px``: the mean size of the second difference
    ``x[t] - 2 x[t-1] + x[t-2]`` over three consecutive detections, which steady motion does
    not add to, so it isolates the jitter. NaN when there is nothing to measure.
    """
    steps: List[np.ndarray] = []
    accels: List[np.ndarray] = []
    for i in range(1, len(frames)):
        for tid, kp in frames[i].items():
            old = frames[i - 1].get(tid)
            if old is None or old.shape != kp.shape:
                continue
            both = (old[:, 2] > 0) & (kp[:, 2] > 0)
            steps.append(np.hypot(*(kp[both, :2] - old[both, :2]).T))
            older = frames[i - 2].get(tid) if i >= 2 else None
            if older is None or older.shape != kp.shape:
                continue
            three = both & (older[:, 2] > 0)
            second = kp[three, :2] - 2 * old[three, :2] + older[three, :2]
            accels.append(np.hypot(*second.T))

    def mean(parts: List[np.ndarray]) -> float:
        joined = np.concatenate(parts) if parts else np.zeros(0)
        return float(joined.mean()) if joined.size else float("nan")
    return {"step_px": mean(steps), "accel_px": mean(accels)}


class JitterMeter:
    """Running :func:`keypoint_jitter_px` of the raw and the smoothed keypoints of the same
    tracks, so a running node can report what smoothing does (in its diagnostics).

    Only keypoints detected in the three frames a second difference needs count, the same
    set for raw and smoothed, so the two numbers compare like with like.
    """

    def __init__(self) -> None:
        self._history: Dict[str, List[Tuple[np.ndarray, np.ndarray]]] = {}
        self._sums = {"raw_step": 0.0, "smoothed_step": 0.0, "raw_accel": 0.0, "smoothed_accel": 0.0}
        self._steps = 0
        self._accels = 0

    def forget_tracks(self) -> None:
        """After a time jump or tracker reset: no differences across it (totals are kept)."""
        self._history.clear()

    def add(self, raw: Dict[str, np.ndarray], smoothed: Dict[str, np.ndarray]) -> None:
        """One frame: ``{track_id: (K, 3)}`` before and after smoothing."""
        history = {}
        for tid, kp in raw.items():
            past = self._history.get(tid, [])[-2:]
            cur = (np.asarray(kp, np.float64), np.asarray(smoothed[tid], np.float64))
            if past and past[-1][0].shape == cur[0].shape:
                (r1, s1) = past[-1]
                both = (r1[:, 2] > 0) & (cur[0][:, 2] > 0)
                self._sums["raw_step"] += float(np.hypot(*(cur[0][both, :2] - r1[both, :2]).T).sum())
                self._sums["smoothed_step"] += float(np.hypot(*(cur[1][both, :2] - s1[both, :2]).T).sum())
                self._steps += int(both.sum())
                if len(past) == 2 and past[0][0].shape == cur[0].shape:
                    (r0, s0) = past[0]
                    three = both & (r0[:, 2] > 0)
                    for key, (a, b, c) in (("raw_accel", (r0, r1, cur[0])), ("smoothed_accel", (s0, s1, cur[1]))):
                        second = c[three, :2] - 2 * b[three, :2] + a[three, :2]
                        self._sums[key] += float(np.hypot(*second.T).sum())
                    self._accels += int(three.sum())
            history[tid] = past + [cur]
        self._history = history

    def summary(self) -> Dict[str, float]:
        """Mean pixels: ``raw_accel_px``, ``smoothed_accel_px`` (jitter), ``raw_step_px``,
        ``smoothed_step_px`` (frame-to-frame motion); NaN before there is anything to measure."""
        def mean(key: str, n: int) -> float:
            return self._sums[key] / n if n else float("nan")
        return {"raw_accel_px": mean("raw_accel", self._accels),
                "smoothed_accel_px": mean("smoothed_accel", self._accels),
                "raw_step_px": mean("raw_step", self._steps),
                "smoothed_step_px": mean("smoothed_step", self._steps)}
