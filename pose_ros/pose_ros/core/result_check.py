"""The check every estimator result passes before anything is published.

Why: an estimator is plugin code, and even the built-in one produced ghost persons with
scores up to 1e28 from near-degenerate inputs (cv2.dnn on a 432x8 network input). The
node runs :func:`check_result` on every result, whichever plugin made it, so a broken
result is counted and reported instead of reaching subscribers.

What a valid result promises (the contract of :class:`~pose_ros.core.persons.PoseResult`):

* ``image_width`` / ``image_height`` are the size of the image it was computed from;
* every person has the skeleton's number of keypoints, all values finite;
* person and keypoint scores lie in [0, 1];
* detected keypoints (score > 0) lie inside the image: ``-0.5 <= x <= width - 0.5`` in
  the pixel-centre convention, with :data:`EDGE_SLACK_PX` more for estimators that use
  the edge convention (x up to ``width``);
* the bounding box is finite with a non-negative size.

Pure numpy, no ROS, so it is unit-tested alone.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from pose_ros.core.persons import PoseResult

#: How far beyond the pixel-centre bounds a keypoint may lie (pixels): covers both the
#: pixel-centre (0 .. w-1) and the pixel-edge (0 .. w) conventions.
EDGE_SLACK_PX = 0.5
#: Rounding tolerance on scores (float32 means of values in [0, 1] may round up).
SCORE_TOLERANCE = 1e-4


class InvalidResult(ValueError):
    """An estimator result breaks the contract; the message says which value."""


def result_problem(result: PoseResult, image_width: int, image_height: int,
                   num_keypoints: Optional[int] = None) -> Optional[str]:
    """Why ``result`` must not be published for a ``image_width`` x ``image_height`` image, or None."""
    if not isinstance(result, PoseResult):
        return f"estimator returned {type(result).__name__}, not a PoseResult"
    if (result.image_width, result.image_height) != (image_width, image_height):
        return (f"result is for a {result.image_width}x{result.image_height} image, "
                f"the input was {image_width}x{image_height}")
    lo_x, hi_x = -0.5 - EDGE_SLACK_PX, image_width - 0.5 + EDGE_SLACK_PX
    lo_y, hi_y = -0.5 - EDGE_SLACK_PX, image_height - 0.5 + EDGE_SLACK_PX
    for i, person in enumerate(result.persons):
        kp = np.asarray(person.keypoints)
        if kp.ndim != 2 or kp.shape[1] != 3:
            return f"person {i}: keypoints of shape {kp.shape}, expected (K, 3)"
        if num_keypoints is not None and kp.shape[0] != num_keypoints:
            return f"person {i}: {kp.shape[0]} keypoints, the skeleton has {num_keypoints}"
        score = float(person.score)
        if not -SCORE_TOLERANCE <= score <= 1.0 + SCORE_TOLERANCE:   # also False for NaN
            return f"person {i}: score {score:g} outside [0, 1]"
        finite = np.isfinite(kp)
        if not finite.all():
            k = int(np.argwhere(~finite)[0][0])
            return f"person {i} keypoint {k}: non-finite value {kp[k].tolist()}"
        s = kp[:, 2]
        bad = (s < -SCORE_TOLERANCE) | (s > 1.0 + SCORE_TOLERANCE)
        if bad.any():
            k = int(np.argmax(bad))
            return f"person {i} keypoint {k}: score {float(s[k]):g} outside [0, 1]"
        x, y = kp[:, 0], kp[:, 1]
        outside = (s > 0) & ((x < lo_x) | (x > hi_x) | (y < lo_y) | (y > hi_y))
        if outside.any():
            k = int(np.argmax(outside))
            return (f"person {i} keypoint {k}: ({float(x[k]):g}, {float(y[k]):g}) is outside the "
                    f"{image_width}x{image_height} image")
        box = np.asarray(person.bbox, dtype=np.float64)
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] < 0 or box[3] < 0:
            return f"person {i}: invalid bbox {tuple(person.bbox)}"
    return None


def check_result(result: PoseResult, image_width: int, image_height: int,
                 num_keypoints: Optional[int] = None) -> PoseResult:
    """Return ``result`` unchanged if valid, else raise :class:`InvalidResult` with the reason."""
    problem = result_problem(result, image_width, image_height, num_keypoints)
    if problem:
        raise InvalidResult(problem)
    return result
