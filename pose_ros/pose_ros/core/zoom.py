"""Zoom passes: where a coarse pass over the whole frame saw small people or weak evidence,
plan crops that run the network again at a finer scale.

Why: the network finds people about 100-300 input pixels tall. At the default 432x368 input a
768x576 pedestrian of 50-130 px becomes 28-73 px and is mostly lost (dev-set AP 0.065); the
whole frame at 1.25x finds them (AP 0.24) but costs 5x the time and loses near people, who
then exceed the network's field of view (basketball/messi AP 0.55 -> 0.10; bf16, measured). Crops around the
evidence of the coarse pass spend the finer scale only where people are, and leave the near
people to the coarse pass (numbers: bench/RESULTS.md, "Accuracy at speed").

Pure planning: boxes in, crops out. Evidence is any keypoint heatmap above a threshold
(found people and peaks the parser could not assemble alike), grown into connected regions;
regions inside a near person's box are dropped; the rest get a margin, are merged where one
pass over the union costs less than two passes, and are cut to a time budget, first by a
lower zoom (everyone a bit less sharp), then by dropping the weakest regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Sequence, Tuple

import cv2
import numpy as np

from pose_ros.core.field_checks import check_fields
from pose_ros.core.geometry import LetterboxTransform, map_to_net
from pose_ros.core.input_size import MIN_INPUT_SIDE
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import Skeleton

#: Crop network inputs are rounded up to multiples of this (a multiple of the stride):
#: OpenVINO prepares kernels once per input shape (the first pass at a new shape cost
#: 2-5x in our measurement), so fewer distinct shapes means fewer slow first passes.
SHAPE_QUANTUM = 32


@dataclass(frozen=True)
class ZoomParams:
    """How the zoom passes are planned (defaults measured on the dev set, see module doc).

    scale           network pixels per source pixel of a crop pass (1.25: vtest AP 0.235
                    against 0.206 at 1.0 and 0.228 at 1.5; f32, no budget)
    min_gain        a crop runs only at a scale at least this many times the coarse pass's;
                    below, the zoom adds little and the budget is better left unused
    near_height     people at least this tall in the coarse network input (pixels) are
                    left to the coarse pass: they are seen well there, worse when zoomed
    threshold       heatmap value that counts as evidence of a person
    margin          a region grows by this share of its longer side on every side, so the
                    crop holds the whole person and some context (0.2: at a 50 ms budget AP
                    0.196 against 0.172 with 0.3, whose larger crops the budget cut)
    min_margin      ... and by at least this many coarse network pixels
    """

    scale: float = 1.25
    min_gain: float = 1.5
    near_height: float = 120.0
    threshold: float = 0.1
    margin: float = 0.2
    min_margin: float = 10.0

    def validate(self) -> None:
        checks = (("scale", 0.0 < self.scale <= 4.0, "must be in (0, 4]"),
                  ("min_gain", self.min_gain >= 1.0, "must be >= 1"),
                  ("near_height", self.near_height > 0, "must be > 0"),
                  ("threshold", 0.0 < self.threshold < 1.0, "must be in (0, 1)"),
                  ("margin", self.margin >= 0, "must be >= 0"),
                  ("min_margin", self.min_margin >= 0, "must be >= 0"))
        check_fields(self, checks)


@dataclass(frozen=True)
class Crop:
    """One zoom pass: source box ``[x0, x1) x [y0, y1)``, run at ``net_w x net_h``."""

    x0: int
    y0: int
    x1: int
    y1: int
    net_w: int
    net_h: int
    priority: float

    @property
    def pixels(self) -> int:
        return self.net_w * self.net_h


@dataclass(frozen=True)
class ZoomPlan:
    """The crops to run, the scale they run at, and what the budget left out."""

    crops: Tuple[Crop, ...]
    scale: float
    regions: int
    dropped: int
    predicted_ms: float

    def as_dict(self) -> dict:
        return {"crops": len(self.crops), "scale": round(self.scale, 3), "regions": self.regions,
                "dropped_regions": self.dropped, "predicted_ms": round(self.predicted_ms, 1)}


NO_PLAN = ZoomPlan((), 0.0, 0, 0, 0.0)


#: Body height per length of a keypoint pair, lower bounds from human proportions (head
#: 1/7-1/8 of the height, shoulders 1/4, neck to hip 1/3), so that a person seen only from
#: the shoulders up (a player from behind) counts by their body, not by their box.
_HEIGHT_PER_PAIR = ((("Neck", "Nose"), 6.0), (("Neck", "Head"), 6.0), (("RShoulder", "LShoulder"), 3.5),
                    (("Neck", "RHip"), 3.0), (("Neck", "LHip"), 3.0), (("Neck", "MidHip"), 3.0))


def person_height(person: Person, skeleton: Skeleton) -> float:
    """Estimated body height in source pixels: the box height, or more where the length
    of a head, shoulder or torso pair says the body is taller (see _HEIGHT_PER_PAIR)."""
    kp = person.keypoints
    height = float(person.bbox[3])
    names = skeleton.keypoint_names
    for (a, b), factor in _HEIGHT_PER_PAIR:
        if a in names and b in names:
            i, j = names.index(a), names.index(b)
            if kp[i, 2] > 0 and kp[j, 2] > 0:
                height = max(height, factor * float(np.hypot(*(kp[i, :2] - kp[j, :2]))))
    return height


def evidence_regions(heatmaps: np.ndarray, threshold: float, transform: LetterboxTransform) -> np.ndarray:
    """Regions of person evidence in source pixels: (n, 5) rows ``x0, y0, x1, y1, peak``.

    ``heatmaps`` are the keypoint maps (K, h, w) of the coarse pass, background excluded.
    Cells above ``threshold`` in any map, dilated by one cell so that the keypoints of one
    small person join up, form 8-connected regions; ``peak`` is the region's highest value.
    Padding cells of the letterbox map outside the image and are clipped away.
    """
    hm = np.asarray(heatmaps, dtype=np.float32)
    if hm.ndim != 3:
        raise ValueError(f"heatmaps must be (K, H, W), got shape {hm.shape}")
    strongest = hm.max(axis=0)
    mask = cv2.dilate((strongest > threshold).astype(np.uint8), np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros((0, 5), np.float32)
    map_h, map_w = strongest.shape
    peaks = np.zeros(count, np.float32)
    np.maximum.at(peaks, labels.ravel(), strongest.ravel())
    x, y, w, h = (stats[1:, i].astype(np.float64) for i in range(4))
    corners = np.stack([np.stack([x - 0.5, y - 0.5], 1), np.stack([x + w - 0.5, y + h - 0.5], 1)], 1)
    src = transform.net_to_source(map_to_net(corners, map_w, map_h, transform.net_w, transform.net_h))
    src[..., 0] = np.clip(src[..., 0], 0, transform.src_w)
    src[..., 1] = np.clip(src[..., 1], 0, transform.src_h)
    boxes = np.concatenate([src[:, 0], src[:, 1], peaks[1:, None]], axis=1).astype(np.float32)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[keep]


def drop_near(regions: np.ndarray, near_boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """Regions not mostly (70 %) inside the box ``x0, y0, x1, y1`` of a near person."""
    if not len(regions) or not len(near_boxes):
        return regions
    r = np.asarray(regions, np.float64)
    n = np.asarray(near_boxes, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(r[:, None, 2], n[None, :, 2]) - np.maximum(r[:, None, 0], n[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(r[:, None, 3], n[None, :, 3]) - np.maximum(r[:, None, 1], n[None, :, 1]), 0, None)
    area = np.maximum((r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1]), 1e-9)
    inside = (ix * iy).max(axis=1) / area
    return regions[inside < 0.7]


def outside_boxes(persons: Sequence[Person], boxes: Sequence[Sequence[float]]) -> List[Person]:
    """The persons of a zoom pass not mostly (half their keypoints or more) inside the box
    ``x0, y0, x1, y1`` of a near person. Near people belong to the coarse pass: a crop that
    reaches into one sees a giant partial body, and its pieces came out as ghosts (one on
    basketball1, next to the player's head)."""
    if not len(boxes):
        return list(persons)
    b = np.asarray(boxes, np.float64).reshape(-1, 1, 4)
    kept = []
    for p in persons:
        pts = p.keypoints[p.keypoints[:, 2] > 0, :2]
        inside = ((pts[None, :, 0] >= b[..., 0]) & (pts[None, :, 0] <= b[..., 2])
                  & (pts[None, :, 1] >= b[..., 1]) & (pts[None, :, 1] <= b[..., 3]))
        if not len(pts) or inside.mean(axis=1).max() < 0.5:
            kept.append(p)
    return kept


def plan_crops(regions: np.ndarray, image_w: int, image_h: int, coarse_scale: float, params: ZoomParams,
               cost_ms: Callable[[int], float], budget_ms: float) -> ZoomPlan:
    """Crops for the evidence ``regions`` (source px, see :func:`evidence_regions`) that fit
    ``budget_ms`` as ``cost_ms(network pixels)`` predicts.

    Tries ``params.scale`` first and lower scales (steps of 15 %) down to
    ``min_gain * coarse_scale`` until every region fits; at the lowest scale the regions
    are taken strongest first while they fit. No regions, or a zoom not finer than the
    coarse pass by ``min_gain``, plan nothing. ``budget_ms`` <= 0 means no budget.
    """
    regions = np.asarray(regions, np.float32).reshape(-1, 5)
    floor = params.min_gain * coarse_scale
    if not len(regions) or params.scale < floor:
        return ZoomPlan((), 0.0, len(regions), len(regions), 0.0)
    order = np.argsort(-regions[:, 4], kind="stable")
    regions = regions[order]
    unlimited = budget_ms <= 0
    scale = params.scale
    while True:
        crops = merge_crops([_crop(r, image_w, image_h, coarse_scale, scale, params) for r in regions],
                       image_w, image_h, scale, cost_ms)
        total = sum(cost_ms(c.pixels) for c in crops)
        if unlimited or total <= budget_ms:
            return ZoomPlan(tuple(crops), scale, len(regions), 0, total)
        lower = scale * 0.85
        if lower < floor:
            break
        scale = lower
    chosen: List[Crop] = []
    taken = 0
    for r in regions:         # strongest first, while they fit
        trial = merge_crops(chosen + [_crop(r, image_w, image_h, coarse_scale, scale, params)],
                       image_w, image_h, scale, cost_ms)
        if sum(cost_ms(c.pixels) for c in trial) <= budget_ms:
            chosen, taken = trial, taken + 1
    return ZoomPlan(tuple(chosen), scale, len(regions), len(regions) - taken,
                    sum(cost_ms(c.pixels) for c in chosen))


def _crop(region: np.ndarray, image_w: int, image_h: int, coarse_scale: float, scale: float,
          params: ZoomParams) -> Crop:
    """The crop around one region: margin added, network size rounded up to the quantum."""
    x0, y0, x1, y1, peak = (float(v) for v in region)
    margin = max(params.margin * max(x1 - x0, y1 - y0), params.min_margin / coarse_scale)
    return fit_box(x0 - margin, y0 - margin, x1 + margin, y1 + margin, image_w, image_h, scale, peak)


def fit_box(x0: float, y0: float, x1: float, y1: float, image_w: int, image_h: int, scale: float,
            priority: float) -> Crop:
    """Clip a box to the image, round its network size up to :data:`SHAPE_QUANTUM`, and
    grow the box (inside the image where it can) to use the rounded size as context."""
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(image_w), x1), min(float(image_h), y1)
    net_w = quantised((x1 - x0) * scale)
    net_h = quantised((y1 - y0) * scale)
    bx0, bx1 = _grow(x0, x1, net_w / scale, image_w)
    by0, by1 = _grow(y0, y1, net_h / scale, image_h)
    return Crop(bx0, by0, bx1, by1, net_w, net_h, priority)


def quantised(side: float) -> int:
    """A network input side for ``side`` pixels: rounded up to :data:`SHAPE_QUANTUM`, at least
    ``MIN_INPUT_SIDE`` (smaller inputs give maps that do not depend on the image)."""
    return max(MIN_INPUT_SIDE, int(np.ceil(side / SHAPE_QUANTUM)) * SHAPE_QUANTUM)


def _grow(lo: float, hi: float, length: float, limit: int) -> Tuple[int, int]:
    """Integer span of about ``length`` around ``[lo, hi)``, shifted inside ``[0, limit)``."""
    length = min(float(limit), length)
    centre = (lo + hi) / 2.0
    start = min(max(0.0, centre - length / 2.0), limit - length)
    a = int(np.floor(start))
    return a, min(limit, max(a + 1, int(np.floor(start + length))))


def merge_crops(crops: List[Crop], image_w: int, image_h: int, scale: float,
           cost_ms: Callable[[int], float]) -> List[Crop]:
    """Join crops pairwise while one pass over the union is predicted cheaper than two
    (each pass pays a fixed overhead, and overlapping crops pay their overlap twice)."""
    crops = list(crops)
    merged = True
    while merged:
        merged = False
        for i in range(len(crops)):
            for j in range(i + 1, len(crops)):
                a, b = crops[i], crops[j]
                union = fit_box(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1),
                                 image_w, image_h, scale, max(a.priority, b.priority))
                if cost_ms(union.pixels) <= cost_ms(a.pixels) + cost_ms(b.pixels):
                    crops[i] = union
                    del crops[j]
                    merged = True
                    break
            if merged:
                break
    return sorted(crops, key=lambda c: -c.priority)
