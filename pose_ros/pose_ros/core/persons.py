"""The one result type every estimator returns, independent of ROS.

Keypoints are dense: row ``i`` is always keypoint ``i`` of the skeleton, with
score 0 (and x = y = 0) when the part was not found. Coordinates are pixels of the
*source* image, origin top-left, x right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np


@dataclass
class Person:
    """One detected person.

    ``keypoints`` is a float32 array of shape (K, 3): x, y, score.
    ``bbox`` is (x, y, width, height) in pixels, derived from the detected keypoints.
    """

    keypoints: np.ndarray
    score: float
    bbox: Tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    track_id: str = ""

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim != 2 or kp.shape[1] != 3:
            raise ValueError(f"keypoints must have shape (K, 3), got {kp.shape}")
        self.keypoints = kp
        if self.bbox == (0.0, 0.0, 0.0, 0.0):
            self.bbox = bbox_from_keypoints(kp)

    @property
    def num_detected(self) -> int:
        return int(np.count_nonzero(self.keypoints[:, 2] > 0))

    def detected(self, index: int) -> bool:
        return bool(self.keypoints[index, 2] > 0)


def bbox_from_keypoints(keypoints: np.ndarray) -> Tuple[float, float, float, float]:
    """Tight (x, y, w, h) box around the detected keypoints; zeros when none."""
    found = keypoints[keypoints[:, 2] > 0]
    if len(found) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    x0, y0 = found[:, 0].min(), found[:, 1].min()
    x1, y1 = found[:, 0].max(), found[:, 1].max()
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


@dataclass
class PoseResult:
    """What an estimator returns for one image."""

    persons: List[Person] = field(default_factory=list)
    skeleton: str = "coco18"
    image_width: int = 0
    image_height: int = 0
    # Milliseconds spent in each stage (e.g. "preprocess", "forward", "parse"),
    # reported in diagnostics and benchmarks.
    timings_ms: dict = field(default_factory=dict)
