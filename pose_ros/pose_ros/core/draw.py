"""Draw detected persons on a BGR image for the debug image topic and demos.

Colours come from the skeleton itself (evenly spaced hues over its limbs and its
keypoints), so every skeleton gets a consistent palette without a colour table
per model. Only what was detected is drawn: a keypoint with score 0 and any limb
with an undetected end are skipped, so the overlay never invents geometry.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from pose_ros.core.persons import Person
from pose_ros.core.skeletons import Skeleton

Color = Tuple[int, int, int]

# Sub-pixel drawing: OpenCV's `shift` treats coordinates as fixed point with this
# many fractional bits, so keypoints are not snapped to whole pixels.
_SHIFT = 4
_ONE = 1 << _SHIFT
# Far-off coordinates are clamped so the fixed-point values fit OpenCV's int32.
_COORD_LIMIT = 1e6


@lru_cache(maxsize=64)
def _palette(n: int) -> Tuple[Color, ...]:
    """``n`` saturated BGR colours with evenly spaced hues (OpenCV hue range 0..179)."""
    if n <= 0:
        return ()
    hues = (np.arange(n) * 180 // n).astype(np.uint8)
    hsv = np.stack([hues, np.full(n, 255, np.uint8), np.full(n, 255, np.uint8)], axis=-1)
    bgr = cv2.cvtColor(hsv[None], cv2.COLOR_HSV2BGR)[0]
    return tuple(tuple(int(c) for c in row) for row in bgr)


def limb_colors(skeleton: Skeleton) -> List[Color]:
    """One BGR colour per limb of ``skeleton``, in limb order."""
    return list(_palette(len(skeleton.limbs)))


def keypoint_colors(skeleton: Skeleton) -> List[Color]:
    """One BGR colour per keypoint of ``skeleton``, in keypoint order."""
    return list(_palette(skeleton.num_keypoints))


def person_color(key: str) -> Color:
    """A stable colour for a track id (golden-ratio hue steps keep neighbours distinct)."""
    k = int(key) if key.isdigit() else zlib.crc32(key.encode("utf-8"))
    hue = int((k * 0.6180339887 % 1.0) * 180) % 180
    hsv = np.array([[[hue, 200, 255]]], np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def line_thickness(shape: Sequence[int]) -> int:
    """Limb thickness for an image of ``shape``: 1 px up to ~360p, then grows with size."""
    return max(1, int(round(min(shape[0], shape[1]) / 240)))


def _check_image(image: np.ndarray, copy: bool) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        desc = (f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray)
                else type(image).__name__)
        raise ValueError(f"draw_persons needs a BGR uint8 image of shape (H, W, 3), got {desc}; "
                         "convert mono images with cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)")
    if not copy and not image.flags.writeable:
        raise ValueError("image is read-only; pass copy=True or a writable array to draw in place")


def _fixed_point(xy: np.ndarray) -> np.ndarray:
    return np.round(np.clip(xy, -_COORD_LIMIT, _COORD_LIMIT) * _ONE).astype(np.int32)


def draw_persons(image: np.ndarray, persons: List[Person], skeleton: Skeleton, *,
                 draw_ids: bool = True, draw_boxes: bool = False, copy: bool = True) -> np.ndarray:
    """Draw limbs, keypoints and optionally boxes and track ids; return the drawn image.

    ``copy=True`` leaves ``image`` untouched and draws on a copy; ``copy=False`` draws
    in place and returns ``image`` itself. Ids are drawn only for persons with a
    non-empty ``track_id``. Keypoints must be in ``image`` pixels.
    """
    _check_image(image, copy)
    out = image.copy() if copy else image
    if not persons:
        return out

    k = skeleton.num_keypoints
    for p in persons:
        if p.keypoints.shape[0] != k:
            raise ValueError(f"person has {p.keypoints.shape[0]} keypoints but skeleton "
                             f"{skeleton.name!r} has {k}")
    kps = np.stack([p.keypoints for p in persons])                      # (P, K, 3)
    visible = (kps[..., 2] > 0) & np.isfinite(kps[..., :2]).all(axis=-1)  # (P, K)
    pts = _fixed_point(np.nan_to_num(kps[..., :2]))                     # (P, K, 2)

    thickness = line_thickness(out.shape)
    radius = (thickness + 2) * _ONE

    # Boxes go underneath so they never hide a limb or keypoint lying on their edge.
    if draw_boxes:
        _draw_boxes(out, persons, visible, thickness)

    # One polylines call per limb draws that limb for every person that has both ends.
    limbs = np.asarray(skeleton.limbs, dtype=np.intp).reshape(-1, 2)
    for (a, b), color in zip(limbs, limb_colors(skeleton)):
        both = visible[:, a] & visible[:, b]
        if both.any():
            segments = np.stack([pts[both, a], pts[both, b]], axis=1)  # (n, 2, 2)
            cv2.polylines(out, segments, False, color, thickness, cv2.LINE_AA, _SHIFT)

    kp_colors = keypoint_colors(skeleton)
    for pi, ki in zip(*np.nonzero(visible)):
        cv2.circle(out, tuple(int(v) for v in pts[pi, ki]), radius, kp_colors[ki], -1,
                   cv2.LINE_AA, _SHIFT)

    if draw_ids:
        _draw_ids(out, persons, visible, thickness)
    return out


def _box_corners(p: Person) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    x, y, w, h = (float(v) for v in p.bbox)
    x0, y0 = (int(v) for v in _fixed_point(np.array([x, y])))
    x1, y1 = (int(v) for v in _fixed_point(np.array([x + w, y + h])))
    return (x0, y0), (x1, y1)


def _draw_boxes(out: np.ndarray, persons: List[Person], visible: np.ndarray,
                thickness: int) -> None:
    for i, p in enumerate(persons):
        if visible[i].any():
            top_left, bottom_right = _box_corners(p)
            cv2.rectangle(out, top_left, bottom_right, person_color(p.track_id or str(i)),
                          thickness, cv2.LINE_AA, _SHIFT)


def _draw_ids(out: np.ndarray, persons: List[Person], visible: np.ndarray, thickness: int) -> None:
    font_scale = 0.4 * thickness + 0.2
    for i, p in enumerate(persons):
        if not (p.track_id and visible[i].any()):
            continue
        (x0, y0), _ = _box_corners(p)
        (_, text_h), _ = cv2.getTextSize(p.track_id, cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                                         thickness)
        # Above the box, or just inside the image when the box touches the top edge.
        org = (x0 >> _SHIFT, max(text_h + thickness, (y0 >> _SHIFT) - 3 * thickness))
        # Dark outline under the coloured text keeps it readable on any background.
        cv2.putText(out, p.track_id, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                    thickness + 2, cv2.LINE_AA)
        cv2.putText(out, p.track_id, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    person_color(p.track_id), thickness, cv2.LINE_AA)
