"""The recorder's snapshots: the best frames of a run of unknown length, in bounded memory.

"Best" is the most people, then the highest summed person score; the snapshots are spread
over the run (one per equal part), so a demo's pictures show its beginning, middle and end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import cv2
import numpy as np

SNAPSHOT_COUNT = 3


def shrink(image: np.ndarray, max_width: int) -> np.ndarray:
    """``image`` scaled down (never up) to at most ``max_width`` pixels wide."""
    h, w = image.shape[:2]
    if w <= max_width:
        return image.copy()
    return cv2.resize(image, (max_width, max(1, round(h * max_width / w))), interpolation=cv2.INTER_AREA)


@dataclass
class Snapshot:
    index: int        # video frame index
    people: int
    score: float      # sum of person scores, breaks ties between equal head counts
    image: np.ndarray  # already shrunk

    def key(self) -> Tuple[int, float]:
        return (self.people, self.score)


class SnapshotPicker:
    """Keeps the best frame of each stretch of the run, with bounded memory.

    The run length is unknown in advance, so frames are grouped in buckets of
    ``bucket`` consecutive frames keeping only the best of each; when there are too
    many buckets, neighbours merge and the bucket size doubles. At the end the
    buckets are split into ``count`` equal parts and the best of each part is taken,
    which spreads the snapshots over the whole run.
    """

    def __init__(self, count: int = SNAPSHOT_COUNT, max_buckets: int = 4 * SNAPSHOT_COUNT) -> None:
        self.count = count
        self.max_buckets = max_buckets
        self.bucket = 1
        self._best: Dict[int, Snapshot] = {}

    def offer(self, index: int, people: int, score: float, image_fn) -> None:
        """``image_fn()`` produces the (shrunk) image only when the frame is kept."""
        slot = index // self.bucket
        current = self._best.get(slot)
        if current is not None and current.key() >= (people, score):
            return
        self._best[slot] = Snapshot(index, people, score, image_fn())
        if len(self._best) > self.max_buckets:
            self.bucket *= 2
            merged: Dict[int, Snapshot] = {}
            for c in self._best.values():
                s = c.index // self.bucket
                if s not in merged or c.key() > merged[s].key():
                    merged[s] = c
            self._best = merged

    def pick(self) -> List[Snapshot]:
        """Up to ``count`` frames in run order, the best of each equal part of the run."""
        cands = [self._best[k] for k in sorted(self._best)]
        if len(cands) <= self.count:
            return cands
        parts = np.array_split(np.arange(len(cands)), self.count)
        return [max((cands[i] for i in part), key=Snapshot.key) for part in parts]
