"""Synthetic OpenPose outputs rendered from known skeletons.

Used by the tests (the truth is known exactly) and by the parsing benchmark
(any number of people, no model needed). Heatmaps are Gaussians around each
visible keypoint (max over people) plus the background channel
``1 - max(keypoint maps)``; a limb's PAF is its unit vector on every cell within
``limb_width`` of the segment, averaged where people overlap, as in the
training targets of Cao et al. 2017.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from pose_ros.core.skeletons import Skeleton

# An upright person facing the camera, in units of body height (y down, x right,
# origin between the feet at the top of the head). The person's right side is on
# the image left. Face parts are drawn a bit larger than life so that face limbs
# stay longer than a cell at small scales.
_TEMPLATE: Dict[str, Tuple[float, float]] = {
    "Head": (0.0, 0.0), "Nose": (0.0, 0.08),
    "REye": (-0.05, 0.04), "LEye": (0.05, 0.04), "REar": (-0.10, 0.07), "LEar": (0.10, 0.07),
    "Neck": (0.0, 0.17), "Chest": (0.0, 0.33),
    "RShoulder": (-0.12, 0.19), "LShoulder": (0.12, 0.19),
    "RElbow": (-0.16, 0.35), "LElbow": (0.16, 0.35),
    "RWrist": (-0.17, 0.50), "LWrist": (0.17, 0.50),
    "MidHip": (0.0, 0.53), "RHip": (-0.08, 0.53), "LHip": (0.08, 0.53),
    "RKnee": (-0.09, 0.75), "LKnee": (0.09, 0.75),
    "RAnkle": (-0.09, 0.95), "LAnkle": (0.09, 0.95),
    "RBigToe": (-0.12, 0.99), "RSmallToe": (-0.15, 0.98), "RHeel": (-0.08, 0.98),
    "LBigToe": (0.12, 0.99), "LSmallToe": (0.15, 0.98), "LHeel": (0.08, 0.98),
}
_WIDTH = 0.36  # template x extent in body heights (arms down)


def template(skeleton: Skeleton) -> np.ndarray:
    """The (K, 2) upright template of ``skeleton`` in body-height units."""
    try:
        return np.array([_TEMPLATE[n] for n in skeleton.keypoint_names], dtype=np.float64)
    except KeyError as e:
        raise ValueError(f"no synthetic template for keypoint {e.args[0]!r}") from None


def render_maps(people: List[np.ndarray], skeleton: Skeleton, map_w: int, map_h: int,
                sigma: float = 1.0, limb_width: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """Render heatmaps and PAFs for ``people``, each a (K, 3) array x, y, visible
    in map coordinates (a keypoint with visible <= 0 is not drawn, nor its limbs).

    Returns heatmaps (K+1, H, W) with the background last (K when the skeleton
    has no background channel) and PAFs (2L, H, W) in the network's channel order,
    both float32.
    """
    n_kp, n_limbs = skeleton.num_keypoints, len(skeleton.limbs)
    ys, xs = np.mgrid[0:map_h, 0:map_w].astype(np.float32)
    heat = np.zeros((skeleton.heatmap_channels, map_h, map_w), dtype=np.float32)
    paf_sum = np.zeros((2 * n_limbs, map_h, map_w), dtype=np.float32)
    paf_cnt = np.zeros((n_limbs, map_h, map_w), dtype=np.float32)
    for person in people:
        kp = np.asarray(person, dtype=np.float32)
        if kp.shape != (n_kp, 3):
            raise ValueError(f"each person must be ({n_kp}, 3), got {kp.shape}")
        vis = np.flatnonzero(kp[:, 2] > 0)
        if len(vis):
            d2 = (xs - kp[vis, 0, None, None]) ** 2 + (ys - kp[vis, 1, None, None]) ** 2
            heat[vis] = np.maximum(heat[vis], np.exp(-d2 / (2.0 * sigma ** 2)))
        for li, ((a, b), (cx, cy)) in enumerate(zip(skeleton.limbs, skeleton.paf_channels)):
            if kp[a, 2] <= 0 or kp[b, 2] <= 0:
                continue
            v = kp[b, :2] - kp[a, :2]
            length = float(np.hypot(v[0], v[1]))
            if length < 1e-6:
                continue
            u = v / length
            px, py = xs - kp[a, 0], ys - kp[a, 1]
            along = np.clip(px * u[0] + py * u[1], 0.0, length)
            # distance from each cell to the segment (a capsule, so short limbs still show)
            dist = np.hypot(px - along * u[0], py - along * u[1])
            mask = dist <= limb_width
            paf_sum[cx][mask] += u[0]
            paf_sum[cy][mask] += u[1]
            paf_cnt[li][mask] += 1.0
    if skeleton.has_background:
        heat[n_kp] = np.clip(1.0 - heat[:n_kp].max(axis=0), 0.0, 1.0)
    pafs = np.zeros_like(paf_sum)
    for li, (cx, cy) in enumerate(skeleton.paf_channels):
        n = np.maximum(paf_cnt[li], 1.0)
        pafs[cx] = paf_sum[cx] / n
        pafs[cy] = paf_sum[cy] / n
    return heat, pafs


def random_people(rng: np.random.Generator, n: int, skeleton: Skeleton, map_w: int, map_h: int,
                  separated: bool = True, height_range: Optional[Tuple[float, float]] = None,
                  arm_swing_deg: float = 60.0, jitter: float = 0.01) -> List[np.ndarray]:
    """``n`` plausible upright people, each (K, 3) x, y, visible=1 in map coords.

    ``separated=True`` gives every person its own cell of a grid over the map
    (so they never overlap and all keypoints stay inside the map); otherwise they
    are placed anywhere, overlapping and possibly partly outside the map
    (keypoints outside are still marked visible: see ``cut_to_map``).
    Arms swing by up to ``arm_swing_deg`` around the shoulders; ``jitter`` moves
    every keypoint by a little (in body heights).
    """
    base = template(skeleton)
    names = skeleton.keypoint_names
    if separated and n > 0:
        # grid cells about half as wide as high, the shape of a standing person
        cols = min(n, max(1, int(round(np.sqrt(n * 2.0 * map_w / map_h)))))
        rows = int(np.ceil(n / cols))
        cell_w, cell_h = map_w / cols, map_h / rows
        max_h = min(cell_h - 2.0, (cell_w - 2.0) / (_WIDTH + 0.1))
        if max_h <= 2.0:
            raise ValueError(f"{n} separated people do not fit a {map_w}x{map_h} map")
        slots = rng.permutation(rows * cols)[:n]
    people = []
    for i in range(n):
        kp = base.copy()
        for side in ("R", "L"):
            _swing_arm(kp, names, side, np.deg2rad(rng.uniform(-arm_swing_deg, arm_swing_deg)))
        kp += rng.normal(0.0, jitter, size=kp.shape)
        if separated:
            lo, hi = height_range or (0.6 * max_h, max_h)
            height = rng.uniform(min(lo, max_h), min(hi, max_h))
            r, c = divmod(int(slots[i]), cols)
            span = kp.max(axis=0) - kp.min(axis=0)
            # a raised arm widens the person: shrink to keep inside the grid cell
            height = min(height, *((np.array([cell_w, cell_h]) - 2.0) / span))
            free = np.array([cell_w, cell_h]) - 2.0 - span * height
            off = (np.array([c * cell_w, r * cell_h]) + 1.0
                   + rng.uniform(0, 1, 2) * np.maximum(free, 0))
            xy = (kp - kp.min(axis=0)) * height + off
        else:
            lo, hi = height_range or (0.3 * map_h, 0.9 * map_h)
            height = rng.uniform(lo, hi)
            centre = rng.uniform([0.0, 0.0], [map_w, map_h])
            xy = (kp - kp.mean(axis=0)) * height + centre
        people.append(np.column_stack([xy, np.ones(len(kp))]).astype(np.float32))
    return people


def _swing_arm(kp: np.ndarray, names: Tuple[str, ...], side: str, angle: float) -> None:
    """Rotate elbow and wrist of one side around its shoulder, in place."""
    if side + "Shoulder" not in names:
        return
    s = kp[names.index(side + "Shoulder")]
    # outward is -x for the right arm (image left), +x for the left arm
    sign = -1.0 if side == "R" else 1.0
    c, si = np.cos(sign * -angle), np.sin(sign * -angle)
    for part in ("Elbow", "Wrist"):
        if side + part in names:
            i = names.index(side + part)
            dx, dy = kp[i] - s
            kp[i] = s + (c * dx - si * dy, si * dx + c * dy)


def cut_to_map(person: np.ndarray, map_w: int, map_h: int) -> np.ndarray:
    """Copy of ``person`` with keypoints outside the map marked not visible,
    the way a network cannot see parts beyond the image border."""
    out = np.array(person, dtype=np.float32, copy=True)
    x, y = out[:, 0], out[:, 1]
    inside = (x >= 0) & (x <= map_w - 1) & (y >= 0) & (y <= map_h - 1)
    out[~inside, 2] = 0.0
    return out
