"""Fusing OpenPose output maps from several passes: multi-scale inference and the flip test.

Multi-scale (Cao et al. 2017, and OpenPose's ``scale_number``): run the network on the
image at several sizes, resize every output to one common size, average, then parse once.
Small people get bigger at the larger scales; the average keeps the peaks both agree on.

Flip test: also run the mirrored image and average with its maps mirrored back. Mirroring
makes a left part look like a right one, so the heatmap of each left part comes from the
mirrored pass's right-part channel (and vice versa); a limb's field comes from the mirrored
limb's channels, with the x component negated (x runs the other way).

All of it works on whole output blobs ``(C, H, W)`` (or ``(1, C, H, W)``) in the skeleton's
channel layout (:mod:`pose_ros.core.skeletons`). ROS-free (numpy + OpenCV).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence, Tuple

import cv2
import numpy as np

from pose_ros.core.paf import as_chw
from pose_ros.core.skeletons import Skeleton


def resize_maps(maps: np.ndarray, width: int, height: int) -> np.ndarray:
    """(C, H, W) maps resized to (C, height, width) with bilinear interpolation.

    Both grids cover the same image area, so cell centres map by the pixel-centre
    convention (what ``cv2.resize`` does). OpenCV resizes at most 512 channels at once;
    the channels go through in chunks of that size.
    """
    m = as_chw(maps).astype(np.float32, copy=False)
    c, h, w = m.shape
    if (w, h) == (width, height):
        return m
    hwc = np.ascontiguousarray(m.transpose(1, 2, 0))
    parts = [cv2.resize(hwc[:, :, i:i + 512], (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
             for i in range(0, c, 512)]
    parts = [p[:, :, None] if p.ndim == 2 else p for p in parts]
    return np.ascontiguousarray(np.concatenate(parts, axis=2).transpose(2, 0, 1))


def fuse(maps: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """The mean of several passes' maps, each resized to (C, height, width) first."""
    if not maps:
        raise ValueError("fuse needs at least one set of maps")
    shapes = {as_chw(m).shape[0] for m in maps}
    if len(shapes) != 1:
        raise ValueError(f"maps have different channel counts: {sorted(shapes)}")
    total = np.zeros((shapes.pop(), int(height), int(width)), np.float32)
    for m in maps:
        total += resize_maps(m, width, height)
    return total / np.float32(len(maps))


@lru_cache(maxsize=16)
def flip_permutation(skeleton: Skeleton) -> Tuple[np.ndarray, np.ndarray]:
    """(source channel, sign) for every output channel of a mirrored pass.

    Output channel ``i`` of the mirrored-back maps is ``sign[i] * flipped[source[i]]``
    (after mirroring the columns). Heatmaps of left/right parts swap; the background
    stays; limb ``(a, b)`` reads the limb of the mirrored parts ``(a', b')``, x negated;
    if the skeleton lists that limb as ``(b', a')``, its field points the other way, so
    y is negated and x is not.
    """
    k = skeleton.num_keypoints
    mirror = list(range(k))
    for a, b in skeleton.left_right:
        mirror[a], mirror[b] = b, a
    source = list(range(skeleton.output_channels))
    sign = [1.0] * skeleton.output_channels
    for i in range(k):
        source[i] = mirror[i]
    limbs = {tuple(limb): n for n, limb in enumerate(skeleton.limbs)}
    off = skeleton.paf_offset
    for n, (a, b) in enumerate(skeleton.limbs):
        ma, mb = mirror[a], mirror[b]
        if (ma, mb) in limbs:
            m, sx, sy = limbs[(ma, mb)], -1.0, 1.0
        elif (mb, ma) in limbs:
            m, sx, sy = limbs[(mb, ma)], 1.0, -1.0
        else:
            raise ValueError(f"{skeleton.name}: limb {skeleton.keypoint_names[a]}-{skeleton.keypoint_names[b]} "
                             "has no mirrored limb; the flip test needs a left/right symmetric skeleton")
        cx, cy = skeleton.paf_channels[n]
        mcx, mcy = skeleton.paf_channels[m]
        source[off + cx], sign[off + cx] = off + mcx, sx
        source[off + cy], sign[off + cy] = off + mcy, sy
    return np.array(source, dtype=np.intp), np.array(sign, dtype=np.float32)


def unflip(maps: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Maps of the horizontally mirrored image, brought back to the original image's
    frame and channel meaning (see :func:`flip_permutation`)."""
    m = as_chw(maps)
    if m.shape[0] != skeleton.output_channels:
        raise ValueError(f"skeleton {skeleton.name} expects {skeleton.output_channels} channels, "
                         f"got {m.shape[0]}")
    source, sign = flip_permutation(skeleton)
    return m[source, :, ::-1] * sign[:, None, None]
