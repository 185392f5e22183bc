"""Stable person ids across frames, so consumers can follow one person over time.

A deliberately small tracker: each frame, tracks (moved by their recent velocity)
and detections are compared with a cost mixing box overlap and mean keypoint
distance, then paired greedily from the cheapest pair up. OpenPose-style detectors
give good keypoints but jittery boxes, and boxes of people who cross overlap while
their keypoints do not, hence the keypoint term; the box term covers persons that
share few detected keypoints between frames. Ids are "1", "2", ... and never reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from pose_ros.core.persons import Person

# Boxes and keypoint distances are measured against at least this many pixels, so
# a person seen by one or two keypoints (a zero-size box) can still be matched.
MIN_SCALE_PX = 20.0


@dataclass
class _Track:
    track_id: str
    keypoints: np.ndarray      # (K, 3) as last seen
    bbox: np.ndarray           # (4,) x, y, w, h as last seen
    velocity: np.ndarray       # (2,) pixels per clock unit (second, or frame without stamps)
    last_seen: float = 0.0     # tracker clock when last matched
    hits: int = 1              # frames matched, the creating one included


def _boxes_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x, y, w, h -> x0, y0, x1, y1, grown to at least MIN_SCALE_PX per side."""
    w = np.maximum(boxes[:, 2], MIN_SCALE_PX)
    h = np.maximum(boxes[:, 3], MIN_SCALE_PX)
    cx = boxes[:, 0] + boxes[:, 2] / 2
    cy = boxes[:, 1] + boxes[:, 3] / 2
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) IoU between (A, 4) and (B, 4) x, y, w, h boxes (sizes floored at MIN_SCALE_PX)."""
    a, b = _boxes_xyxy(np.asarray(a, np.float64)), _boxes_xyxy(np.asarray(b, np.float64))
    lo = np.maximum(a[:, None, :2], b[None, :, :2])                      # (A, B, 2)
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    iw, ih = np.clip(hi - lo, 0, None).transpose(2, 0, 1)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def keypoint_distance(kps_a: np.ndarray, boxes_a: np.ndarray, kps_b: np.ndarray,
                      boxes_b: np.ndarray) -> np.ndarray:
    """(A, B) mean distance of keypoints detected in both, over the larger box diagonal.

    Clipped to 1; pairs with no keypoint in common get 1 (no evidence they match).
    """
    diff = kps_a[:, None, :, :2] - kps_b[None, :, :, :2]                 # (A, B, K, 2)
    dist = np.sqrt((diff.astype(np.float64) ** 2).sum(-1))                # (A, B, K)
    common = (kps_a[:, None, :, 2] > 0) & (kps_b[None, :, :, 2] > 0)     # (A, B, K)
    count = common.sum(-1)
    mean = np.where(common, dist, 0.0).sum(-1) / np.maximum(count, 1)
    diag_a = np.hypot(boxes_a[:, 2], boxes_a[:, 3])
    diag_b = np.hypot(boxes_b[:, 2], boxes_b[:, 3])
    scale = np.maximum(np.maximum(diag_a[:, None], diag_b[None, :]), MIN_SCALE_PX)
    return np.where(count > 0, np.minimum(mean / scale, 1.0), 1.0)


def match_cost(kps_a: np.ndarray, boxes_a: np.ndarray, kps_b: np.ndarray, boxes_b: np.ndarray,
               iou_weight: float) -> np.ndarray:
    """(A, B) cost in [0, 1]: ``iou_weight * (1 - IoU) + (1 - iou_weight) * keypoint distance``."""
    iou_term = 1.0 - box_iou(boxes_a, boxes_b)
    kp_term = keypoint_distance(kps_a, boxes_a, kps_b, boxes_b)
    return iou_weight * iou_term + (1.0 - iou_weight) * kp_term


def greedy_match(cost: np.ndarray, max_cost: float) -> List[tuple]:
    """(row, col) pairs, cheapest first, each row and column used once, cost < max_cost."""
    rows, cols = np.nonzero(cost < max_cost)
    order = np.argsort(cost[rows, cols], kind="stable")
    used_r, used_c, pairs = set(), set(), []
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


class PersonTracker:
    """Assigns ``Person.track_id`` so the same person keeps the same id across frames.

    ``max_cost`` (in [0, 1]) is the largest cost still accepted as the same person.
    A track unseen for more than ``max_age_s`` seconds of image time (the stamps given
    to :meth:`update`) is dropped, so a person who comes back later gets a new id; the
    same holds at 3 fps and at 30 fps, in bags and in simulation. Without stamps (a
    driver that sets none) the tracker counts frames instead: ``max_age`` frames.
    Call :meth:`update` once per frame, also with an empty list, so that unseen tracks age.

    Defaults (0.8, 10) come from replaying ``make demo``'s vtest.avi detections (193
    processed frames, about 3 fps, small pedestrians whose detections flicker):
    0.7 / 5 gave 68 ids, 33 of them seen once; 0.8 / 10 gives 44 ids, 11 seen once,
    and the crossing tests still hold. ``max_age_s`` 3.3 s is those 10 frames at the
    demo's rate, so the node behaves as before on it.
    """

    def __init__(self, iou_weight: float = 0.5, max_cost: float = 0.8, max_age: int = 10,
                 max_age_s: float = 3.3) -> None:
        if not 0.0 <= iou_weight <= 1.0:
            raise ValueError(f"iou_weight must be in [0, 1], got {iou_weight}")
        if not 0.0 < max_cost <= 1.0:
            raise ValueError(f"max_cost must be in (0, 1], got {max_cost}")
        if max_age < 0:
            raise ValueError(f"max_age must be >= 0, got {max_age}")
        if not max_age_s >= 0:
            raise ValueError(f"max_age_s must be >= 0, got {max_age_s}")
        self.iou_weight = float(iou_weight)
        self.max_cost = float(max_cost)
        self.max_age = int(max_age)
        self.max_age_s = float(max_age_s)
        self._tracks: List[_Track] = []
        self._next_id = 1
        self._now = 0.0           # tracker clock: the last stamp, or the frame count
        self._stamped: Optional[bool] = None

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    def reset(self, restart_ids: bool = False) -> None:
        """Forget all tracks (e.g. after a time jump). Ids keep counting up unless
        ``restart_ids``, so a consumer never sees an old id on a new person."""
        self._tracks = []
        self._stamped = None
        if restart_ids:
            self._next_id = 1

    def update(self, persons: List[Person], stamp_s: Optional[float] = None) -> List[Person]:
        """Set ``track_id`` on every person of this frame; returns the same list.

        ``stamp_s``: the image's stamp in seconds (None: count frames). Switching between
        stamped and unstamped frames, or a stamp older than the last one, restarts the tracks.
        """
        stamped = stamp_s is not None
        if stamped != self._stamped or (stamped and stamp_s < self._now):
            self._tracks = []  # clocks cannot be compared: start over (ids keep counting)
            self._stamped = stamped
            self._now = float(stamp_s) if stamped else 0.0
        else:
            self._now = float(stamp_s) if stamped else self._now + 1.0
        if persons:
            k = {p.keypoints.shape[0] for p in persons}
            if len(k) != 1:
                raise ValueError("all persons of a frame need the same keypoint count, "
                                 f"got {sorted(k)}")
            if self._tracks and self._tracks[0].keypoints.shape[0] not in k:
                self._tracks = []  # the skeleton changed: old tracks cannot be compared

        pairs = self._match(persons) if (persons and self._tracks) else []
        matched_tracks = {t for t, _ in pairs}
        matched_dets = {d for _, d in pairs}

        for t, d in pairs:
            self._refresh(self._tracks[t], persons[d])

        limit = self.max_age_s if stamped else float(self.max_age)
        self._tracks = [tr for i, tr in enumerate(self._tracks)
                        if i in matched_tracks or self._now - tr.last_seen <= limit]

        for d, person in enumerate(persons):
            if d not in matched_dets:
                self._start(person)
        return persons

    # -- internals ---------------------------------------------------------------

    def _match(self, persons: List[Person]) -> List[tuple]:
        steps = np.array([self._now - tr.last_seen for tr in self._tracks], np.float64)
        shift = np.stack([tr.velocity for tr in self._tracks]) * steps[:, None]   # (T, 2)
        t_kps = np.stack([tr.keypoints for tr in self._tracks]).astype(np.float64)
        t_kps[:, :, :2] += shift[:, None, :]
        t_boxes = np.stack([tr.bbox for tr in self._tracks])
        t_boxes[:, :2] += shift
        d_kps = np.stack([p.keypoints for p in persons]).astype(np.float64)
        d_boxes = np.array([p.bbox for p in persons], np.float64).reshape(-1, 4)
        cost = match_cost(t_kps, t_boxes, d_kps, d_boxes, self.iou_weight)
        return greedy_match(cost, self.max_cost)

    def _refresh(self, track: _Track, person: Person) -> None:
        kps = person.keypoints
        common = (track.keypoints[:, 2] > 0) & (kps[:, 2] > 0)
        if common.any():
            moved = (kps[common, :2] - track.keypoints[common, :2]).mean(axis=0)
        else:
            old_c = track.bbox[:2] + track.bbox[2:] / 2
            new = np.asarray(person.bbox, np.float64)
            moved = new[:2] + new[2:] / 2 - old_c
        elapsed = self._now - track.last_seen
        step = moved / elapsed if elapsed > 0 else track.velocity  # a repeated stamp: keep it
        # Smooth the velocity once there is one to smooth; the first estimate is taken as is.
        track.velocity = step if track.hits == 1 else 0.5 * (track.velocity + step)
        track.keypoints = kps.astype(np.float64, copy=True)
        track.bbox = np.asarray(person.bbox, np.float64).copy()
        track.last_seen = self._now
        track.hits += 1
        person.track_id = track.track_id

    def _start(self, person: Person) -> None:
        track = _Track(track_id=str(self._next_id),
                       keypoints=person.keypoints.astype(np.float64, copy=True),
                       bbox=np.asarray(person.bbox, np.float64).copy(),
                       velocity=np.zeros(2), last_seen=self._now)
        self._next_id += 1
        self._tracks.append(track)
        person.track_id = track.track_id
