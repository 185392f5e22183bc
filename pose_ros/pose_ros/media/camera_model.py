"""Camera intrinsics for ``camera_info``: a ROS calibration file, or an approximate pinhole.

Without a calibration file, :func:`approximate_camera_model` builds an ideal pinhole (no
distortion, square pixels, principal point at the image centre) from a horizontal field of
view. It is an *approximation*, good enough for drawing or rough geometry, not for metric
measurements: calibrate the camera for those. Either model follows a resize of the images
(:meth:`CameraModel.scaled`), since ``image_source`` can publish at another size.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Sequence, Tuple

from pose_ros.media.source_kinds import SourceError


@dataclass(frozen=True)
class CameraModel:
    """The fields of ``sensor_msgs/CameraInfo`` that describe the camera (row-major lists)."""

    width: int
    height: int
    k: Tuple[float, ...]
    d: Tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    r: Tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    p: Tuple[float, ...] = field(default=())
    distortion_model: str = "plumb_bob"
    approximate: bool = False

    def scaled(self, width: int, height: int) -> "CameraModel":
        """The same camera after resizing its images to ``width`` x ``height``.

        Scaling is exact for a plain resize: focal lengths and principal point scale with
        the axis, distortion (in normalised coordinates) and rectification are unchanged.
        """
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        k = list(self.k)
        k[0], k[1], k[2] = k[0] * sx, k[1] * sx, k[2] * sx
        k[4], k[5] = k[4] * sy, k[5] * sy
        p = list(self.p)
        p[0], p[1], p[2], p[3] = p[0] * sx, p[1] * sx, p[2] * sx, p[3] * sx
        p[5], p[6], p[7] = p[5] * sy, p[6] * sy, p[7] * sy
        return replace(self, width=width, height=height, k=tuple(k), p=tuple(p))


def approximate_camera_model(width: int, height: int, fov_deg: float) -> CameraModel:
    """Ideal pinhole for a ``fov_deg`` horizontal field of view (approximate, see module doc).

    fx = fy = (width / 2) / tan(fov / 2) (square pixels); the principal point is the image
    centre, (width - 1) / 2, (height - 1) / 2 in OpenCV's pixel-centre convention.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    f = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    k = (f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0)
    p = (f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0)
    return CameraModel(width, height, k=k, p=p, approximate=True)


def _matrix(doc: dict, key: str, rows: int, cols: int, path: str) -> Tuple[float, ...]:
    block = doc.get(key)
    data = block.get("data") if isinstance(block, dict) else block
    if not isinstance(data, Sequence) or isinstance(data, str) or len(data) != rows * cols:
        raise SourceError(f"calibration {path}: '{key}' must hold {rows}x{cols} = {rows * cols} numbers")
    try:
        return tuple(float(v) for v in data)
    except (TypeError, ValueError):
        raise SourceError(f"calibration {path}: '{key}' holds a non-number") from None


def load_camera_model(path: str) -> CameraModel:
    """Read a ROS camera calibration YAML (camera_calibration / camera_info_manager format).

    ``path`` may be a plain path or a ``file://`` URL.
    """
    import yaml  # only needed when a calibration is given

    if path.startswith("file://"):
        path = path[len("file://"):]
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except OSError as exc:
        raise SourceError(f"cannot read calibration {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"calibration {path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise SourceError(f"calibration {path}: expected a mapping with camera_matrix etc.")
    try:
        width, height = int(doc["image_width"]), int(doc["image_height"])
    except (KeyError, TypeError, ValueError):
        raise SourceError(f"calibration {path}: image_width and image_height are required") from None
    k = _matrix(doc, "camera_matrix", 3, 3, path)
    dist = doc.get("distortion_coefficients", {"data": []})
    d_data = dist.get("data", []) if isinstance(dist, dict) else dist
    try:
        d = tuple(float(v) for v in (d_data or []))
    except (TypeError, ValueError):
        raise SourceError(f"calibration {path}: 'distortion_coefficients' holds a non-number") from None
    r = _matrix(doc, "rectification_matrix", 3, 3, path) if "rectification_matrix" in doc \
        else CameraModel.r
    if "projection_matrix" in doc:
        p = _matrix(doc, "projection_matrix", 3, 4, path)
    else:  # monocular default: P = [K | 0]
        p = (k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0)
    model = str(doc.get("distortion_model", "plumb_bob"))
    return CameraModel(width, height, k=k, d=d, r=r, p=p, distortion_model=model)
