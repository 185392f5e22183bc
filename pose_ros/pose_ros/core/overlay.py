"""Skeleton overlays as vector geometry: what a viewer draws over the camera image.

``image_annotated`` ships a re-encoded 1.3 MB frame per result; the same skeletons as line
segments and points are a few kilobytes, and the viewer draws them over the camera image it
already receives. This module computes that geometry without ROS (``markers_convert`` turns
it into ``visualization_msgs/ImageMarker`` and ``foxglove_msgs/ImageAnnotations``).

Colours are those of :mod:`pose_ros.core.draw` (one per limb, one per keypoint), so the overlay
looks like ``image_annotated``. Only detected geometry is drawn: a limb needs both ends.

Coordinates: keypoints use the pixel-centre convention (pixel ``i`` is centred on ``i``, see
:mod:`pose_ros.core.geometry`); viewers put the origin at the top-left *corner* of the image
(Foxglove documents this for its annotations), so the overlay is shifted by half a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pose_ros.core.draw import keypoint_colors, limb_colors, line_thickness
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import Skeleton

# Pixel-centre keypoints -> viewer coordinates with the origin at the image's top-left corner.
VIEWER_OFFSET_PX = 0.5


@dataclass(frozen=True)
class Overlay:
    """The geometry of one frame's skeletons, in viewer pixel coordinates.

    ``segments`` is (N, 2, 2): N limbs, start and end point, x and y. ``segment_colors``
    is (N, 4) RGBA in 0..1, one per segment. ``joints`` is (M, 2) and ``joint_colors``
    (M, 4). ``line_width`` and ``point_size`` are in pixels, scaled with the image.
    """

    segments: np.ndarray
    segment_colors: np.ndarray
    joints: np.ndarray
    joint_colors: np.ndarray
    line_width: float
    point_size: float

    @property
    def empty(self) -> bool:
        return len(self.segments) == 0 and len(self.joints) == 0


def _rgba(bgr: Sequence[Sequence[int]]) -> np.ndarray:
    """BGR 0..255 colours (draw's palette) -> opaque RGBA 0..1, shape (n, 4)."""
    table = np.asarray(bgr, np.float64).reshape(-1, 3)
    return np.concatenate([table[:, ::-1] / 255.0, np.ones((len(table), 1))], axis=1)


def skeleton_overlay(persons: Sequence[Person], skeleton: Skeleton, width: int, height: int) -> Overlay:
    """Limbs (both ends detected) and detected joints of every person, vectorised per person."""
    limbs = np.asarray(skeleton.limbs, np.intp).reshape(-1, 2)
    limb_rgba = _rgba(limb_colors(skeleton))
    joint_rgba = _rgba(keypoint_colors(skeleton))
    seg_parts, seg_colors, joint_parts, joint_colors = [], [], [], []
    for person in persons:
        kp = person.keypoints
        if kp.shape[0] != skeleton.num_keypoints:
            raise ValueError(f"person has {kp.shape[0]} keypoints, skeleton {skeleton.name} "
                             f"has {skeleton.num_keypoints}")
        found = (kp[:, 2] > 0) & np.isfinite(kp[:, :2]).all(axis=1)
        both = found[limbs[:, 0]] & found[limbs[:, 1]]
        seg_parts.append(kp[limbs[both]][:, :, :2])
        seg_colors.append(limb_rgba[both])
        joint_parts.append(kp[found, :2])
        joint_colors.append(joint_rgba[found])

    def stack(parts: list, shape: tuple) -> np.ndarray:
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros(shape)

    segments = stack(seg_parts, (0, 2, 2)) + VIEWER_OFFSET_PX
    joints = stack(joint_parts, (0, 2)) + VIEWER_OFFSET_PX
    thickness = float(line_thickness((height, width)))
    # The diameter of draw_persons' keypoint discs (radius thickness + 2).
    return Overlay(segments=segments, segment_colors=stack(seg_colors, (0, 4)),
                   joints=joints, joint_colors=stack(joint_colors, (0, 4)),
                   line_width=thickness, point_size=2.0 * (thickness + 2.0))
