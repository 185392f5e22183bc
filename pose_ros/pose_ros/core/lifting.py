"""Keypoints in 3D from a depth image aligned to the colour image, independent of ROS.

Why: a robot needs to know where a person is (how far, on which side), not only where
they appear in the picture. An RGB-D camera driver publishes depth registered to the
colour image ("aligned depth"), so a keypoint's pixel looks up its depth directly and
the colour camera's intrinsics K back-project it into the colour optical frame
(REP-103: x right, y down, z forward; metres).

Depth conventions follow REP-118: ``16UC1`` in millimetres, ``32FC1`` in metres, and 0
or NaN means "no reading". A keypoint without a trustworthy reading gets score 0 and
position 0, 0, 0: a depth is never made up.

Robustness: each keypoint takes the median of the valid readings in a small window,
because single depth pixels are noisy and keypoints sit on edges (a wrist in front of
the background). Window medians far from the person's median depth (more than
``outlier_m``) are re-taken from only the readings near the person, so a window that
straddles the silhouette picks the person and not the wall behind; a keypoint with no
such reading is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from pose_ros.core.persons import Person

# The colour and the depth image must show the same view: their aspect ratios may differ
# by this much (odd sizes from binning) before the depth image is refused.
ASPECT_TOLERANCE = 0.02
DEPTH_ENCODINGS = {"16UC1": (np.uint16, 0.001), "mono16": (np.uint16, 0.001), "32FC1": (np.float32, 1.0)}


class DepthError(ValueError):
    """A depth image or camera model that cannot be used, with the reason."""


@dataclass
class LiftParams:
    """``window_px``: side of the median window in colour-image pixels (scaled to the
    depth image's resolution). ``outlier_m``: largest distance from the person's median
    depth a keypoint may have. ``min_m``/``max_m``: readings outside are ignored."""

    window_px: int = 7
    outlier_m: float = 1.0
    min_m: float = 0.1
    max_m: float = 20.0

    def validate(self) -> None:
        if self.window_px < 1:
            raise ValueError(f"window_px must be >= 1, got {self.window_px}")
        if not self.outlier_m > 0:
            raise ValueError(f"outlier_m must be > 0, got {self.outlier_m}")
        if not 0 <= self.min_m < self.max_m:
            raise ValueError(f"need 0 <= min_m < max_m, got {self.min_m}, {self.max_m}")


@dataclass
class Person3D:
    """One person's keypoints in the camera optical frame."""

    track_id: str
    score: float
    points: np.ndarray   # (K, 3) float64 metres; 0 where score is 0
    scores: np.ndarray   # (K,) float32: the 2D score where the depth is valid, else 0

    @property
    def num_valid(self) -> int:
        return int(np.count_nonzero(self.scores > 0))


def depth_to_metres(data: bytes, width: int, height: int, step: int, encoding: str,
                    is_bigendian: bool = False) -> np.ndarray:
    """A raw depth buffer -> (H, W) float32 metres with NaN where there is no reading."""
    if encoding not in DEPTH_ENCODINGS:
        raise DepthError(f"depth encoding {encoding!r} not supported; use {', '.join(DEPTH_ENCODINGS)}")
    if width <= 0 or height <= 0:
        raise DepthError(f"empty depth image ({width}x{height})")
    dtype, unit = DEPTH_ENCODINGS[encoding]
    item = np.dtype(dtype).itemsize
    if step < width * item:
        raise DepthError(f"depth step {step} is smaller than width {width} x {item} bytes")
    if height * step > len(data):
        raise DepthError(f"depth buffer has {len(data)} bytes, {height}x{step} needed")
    buf = np.frombuffer(data, np.uint8, count=height * step).reshape(height, step)
    order = ">" if is_bigendian else "<"
    raw = buf[:, :width * item].copy().view(np.dtype(dtype).newbyteorder(order)).reshape(height, width)
    metres = raw.astype(np.float32) * np.float32(unit)
    metres[~(metres > 0)] = np.nan  # 0 and NaN: no reading (REP-118); negative: nonsense
    return metres


def intrinsics_for(k: Sequence[float], info_size: Tuple[int, int], image_size: Tuple[int, int]) -> np.ndarray:
    """The 3x3 K of a camera_info (``info_size`` = its width, height; 0 = unknown) for an
    image of ``image_size``: scaled when the driver publishes the image at another size.

    Refused with the reason: a K that is not finite (a NaN fx once gave ``[nan, -0.47, 2.0]``
    keypoints with score > 0), focal lengths that are not positive, and a camera_info of
    another aspect ratio than the image (it would be stretched by different factors in x
    and y: not the camera of this image, or not rectified to it).
    """
    mat = np.asarray(k, np.float64).reshape(3, 3).copy()
    if not np.isfinite(mat).all():
        raise DepthError(f"camera_info K is not finite: {mat.ravel().tolist()}")
    if not (mat[0, 0] > 0 and mat[1, 1] > 0):
        raise DepthError("camera_info K has no focal length (uncalibrated camera?)")
    iw, ih = info_size
    w, h = image_size
    if iw > 0 and ih > 0 and (iw, ih) != (w, h):
        if abs((iw / ih) / (w / h) - 1.0) > ASPECT_TOLERANCE:
            raise DepthError(f"camera_info is for {iw}x{ih}, another aspect ratio than the image {w}x{h}: "
                             "not this image's camera model")
        sx, sy = w / iw, h / ih
        mat[0, 0] *= sx
        mat[1, 1] *= sy
        mat[0, 2] = (mat[0, 2] + 0.5) * sx - 0.5  # pixel centres, not corners, are scaled
        mat[1, 2] = (mat[1, 2] + 0.5) * sy - 0.5
    return mat


def back_project(uv: np.ndarray, z: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(N, 2) pixels and (N,) depths in metres -> (N, 3) points in the optical frame."""
    uv = np.asarray(uv, np.float64)
    z = np.asarray(z, np.float64)
    x = (uv[:, 0] - k[0, 2]) * z / k[0, 0]
    y = (uv[:, 1] - k[1, 2]) * z / k[1, 1]
    return np.stack([x, y, z], axis=1)


def _row_nanmedian(values: np.ndarray) -> np.ndarray:
    """Median of each row's finite values (NaN for a row without any), without warnings."""
    ordered = np.sort(values, axis=1)                     # NaN sorts last
    count = np.isfinite(ordered).sum(axis=1)
    lo = np.clip((count - 1) // 2, 0, None)
    hi = np.clip(count // 2, 0, values.shape[1] - 1)
    rows = np.arange(values.shape[0])
    med = 0.5 * (ordered[rows, lo] + ordered[rows, hi])
    return np.where(count > 0, med, np.nan)


def window_readings(depth_m: np.ndarray, uv: np.ndarray, color_size: Tuple[int, int],
                    window_px: int) -> np.ndarray:
    """(N, S*S) depth readings around each colour pixel ``uv``, NaN outside the image."""
    dh, dw = depth_m.shape
    cw, ch = color_size
    sx, sy = dw / cw, dh / ch
    half = max(int(round((window_px // 2) * min(sx, sy))), 0) if window_px > 1 else 0
    offsets = np.arange(-half, half + 1)
    ud = np.rint((uv[:, 0] + 0.5) * sx - 0.5).astype(np.int64)
    vd = np.rint((uv[:, 1] + 0.5) * sy - 0.5).astype(np.int64)
    cols = ud[:, None, None] + offsets[None, None, :]     # (N, 1, S)
    rows = vd[:, None, None] + offsets[None, :, None]     # (N, S, 1)
    inside = (cols >= 0) & (cols < dw) & (rows >= 0) & (rows < dh)
    values = depth_m[np.clip(rows, 0, dh - 1), np.clip(cols, 0, dw - 1)]
    return np.where(inside, values, np.nan).reshape(len(uv), -1)


def check_sizes(depth_shape: Tuple[int, int], color_size: Tuple[int, int]) -> None:
    """Refuse a depth image that cannot be aligned to the colour image (other aspect ratio)."""
    dh, dw = depth_shape
    cw, ch = color_size
    if cw <= 0 or ch <= 0:
        raise DepthError(f"empty colour image ({cw}x{ch})")
    if abs((dw / dh) / (cw / ch) - 1.0) > ASPECT_TOLERANCE:
        raise DepthError(f"depth {dw}x{dh} is not aligned to the colour image {cw}x{ch} "
                         "(other aspect ratio); subscribe to the driver's depth aligned to colour")


def no_3d_reason(persons: Sequence[Person], lifted: Sequence[Person3D], depth_m: np.ndarray,
                 params: LiftParams = LiftParams()) -> str:
    """Why a frame with persons gave no 3D keypoint at all, or "" when some came out.

    Without it an all-NaN, negative or out-of-range depth image published an empty
    ``persons_3d`` while the node's status said "ok".
    """
    if not persons or any(p.num_valid for p in lifted):
        return ""
    usable = np.isfinite(depth_m) & (depth_m >= params.min_m) & (depth_m <= params.max_m)
    if not usable.any():
        finite = depth_m[np.isfinite(depth_m)]
        seen = f" (readings {finite.min():.2f}..{finite.max():.2f} m)" if finite.size else ""
        return (f"the depth image has no reading in {params.min_m:g}..{params.max_m:g} m{seen}: "
                "0/NaN everywhere, or out of range")
    return "no detected keypoint has a depth reading near it"


def lift_persons(persons: Sequence[Person], depth_m: np.ndarray, k: np.ndarray,
                 color_size: Tuple[int, int], params: LiftParams = LiftParams()) -> List[Person3D]:
    """Every person's keypoints in 3D (one :class:`Person3D` per person, same order).

    ``depth_m`` is (H, W) metres with NaN for no reading, aligned to the colour image of
    ``color_size`` (width, height) but possibly at another resolution; ``k`` is the
    colour image's 3x3 intrinsics.
    """
    check_sizes(depth_m.shape, color_size)
    if not persons:
        return []
    kps = np.stack([p.keypoints for p in persons]).astype(np.float64)       # (P, K, 3)
    n_p, n_k = kps.shape[:2]
    uv = kps[:, :, :2].reshape(-1, 2)
    cw, ch = color_size
    detected = ((kps[:, :, 2] > 0).reshape(-1) & (uv[:, 0] > -0.5) & (uv[:, 0] < cw - 0.5)
                & (uv[:, 1] > -0.5) & (uv[:, 1] < ch - 0.5))
    readings = window_readings(depth_m, uv, color_size, params.window_px)  # (P*K, S*S)
    readings[(readings < params.min_m) | (readings > params.max_m)] = np.nan
    readings[~detected] = np.nan

    first = _row_nanmedian(readings).reshape(n_p, n_k)                     # window medians
    person_median = _row_nanmedian(first)                                  # (P,)
    near = np.abs(readings - np.repeat(person_median, n_k)[:, None]) <= params.outlier_m
    z = _row_nanmedian(np.where(near, readings, np.nan))                   # NaN: no reading near
    valid = detected & np.isfinite(z)
    points = np.zeros((n_p * n_k, 3))
    if valid.any():
        points[valid] = back_project(uv[valid], z[valid], k)
    # Whatever K or the depth held, nothing non-finite leaves with a score: a point is real or absent.
    valid &= np.isfinite(points).all(axis=1)
    points[~valid] = 0.0
    scores = np.where(valid, kps[:, :, 2].reshape(-1), 0.0).astype(np.float32)
    points, scores = points.reshape(n_p, n_k, 3), scores.reshape(n_p, n_k)
    return [Person3D(track_id=p.track_id, score=float(p.score), points=points[i], scores=scores[i])
            for i, p in enumerate(persons)]
