"""Running the zoom passes that :mod:`pose_ros.core.zoom` plans, for the OpenPose estimator.

Each crop is cut from the source image, letterboxed to its network size (the crop's scale,
rounded to the shape quantum), run through the same forward function and preprocessing as
the coarse pass, parsed, and its people shifted back to source pixels. The people of all
passes are then merged by :func:`pose_ros.core.merge.merge_passes`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import asdict
from typing import Callable, Hashable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from pose_ros.core import zoom
from pose_ros.core.geometry import LetterboxTransform, apply_letterbox, compute_letterbox
from pose_ros.core.lookout import Lookout, LookoutParams
from pose_ros.core.merge import merge_passes
from pose_ros.core.paf import DecodeParams, as_chw, decode_output
from pose_ros.core.persons import Person
from pose_ros.core.skeletons import Skeleton
from pose_ros.core.zoom import Crop, ZoomParams, ZoomPlan
from pose_ros.estimators.frame_budget import FrameBudget


class ZoomPasses:
    """Runs a :class:`ZoomPlan` on an image with a given forward function and preprocessing."""

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], skeleton: Skeleton, scale: float,
                 mean: Tuple[float, float, float], swap_rb: bool) -> None:
        self._forward = forward
        self._skeleton = skeleton
        self._blob = (scale, mean, swap_rb)

    def run(self, bgr: np.ndarray, crops: Sequence[Crop], params: DecodeParams) -> Tuple[List[Person], list]:
        """People found in ``crops`` (source pixels), and the ``(network width, height,
        forward ms)`` of each pass for the cost model."""
        persons: List[Person] = []
        samples = []
        for crop in crops:
            found, sample = self._one(bgr, crop, params)
            persons.extend(found)
            samples.append(sample)
        return persons, samples

    def _one(self, bgr: np.ndarray, crop: Crop, params: DecodeParams) -> Tuple[List[Person], Tuple[int, float]]:
        patch = np.ascontiguousarray(bgr[crop.y0:crop.y1, crop.x0:crop.x1])
        h, w = patch.shape[:2]
        transform = compute_letterbox(w, h, crop.net_w, crop.net_h)
        boxed = apply_letterbox(patch, transform, pad_value=0)
        scale, mean, swap_rb = self._blob
        blob = cv2.dnn.blobFromImage(boxed, scale, (crop.net_w, crop.net_h), mean, swap_rb, False)
        t0 = time.perf_counter()
        out = self._forward(blob)
        ms = (time.perf_counter() - t0) * 1e3
        # Upscaled crops overshoot: keypoint peaks of 1.08-1.14 were seen on vtest frames
        # (pose_node rejects scores above 1). Heatmaps are confidences: cap them at 1.
        out = np.array(out, copy=True)
        heat = out[:, :self._skeleton.heatmap_channels]
        np.minimum(heat, 1.0, out=heat)
        found = decode_output(out, self._skeleton, params, transform)
        return [shifted(p, crop.x0, crop.y0) for p in found], (crop.net_w, crop.net_h, ms)


def shifted(person: Person, dx: float, dy: float) -> Person:
    """``person`` moved by (dx, dy) pixels (undetected keypoints stay at 0, 0)."""
    kp = person.keypoints.copy()
    found = kp[:, 2] > 0
    kp[found, 0] += dx
    kp[found, 1] += dy
    x, y, w, h = person.bbox
    # the person score also averages PAF alignments, which overshoot 1 as the peaks do
    return Person(keypoints=kp, score=min(person.score, 1.0), bbox=(x + dx, y + dy, w, h),
                  track_id=person.track_id)


class ZoomStage:
    """After the coarse pass: plan crops from its maps and people, run them within what is
    left of the frame budget, and merge all people. Keeps the last plan for ``describe``.

    With a lookout (``lookout`` params, :mod:`pose_ros.core.lookout`), each camera ``stream``
    also follows the small people of its last frames and scans its frame a tile or two at a
    time; ``stream`` None is a still image: no lookout (as on a camera's first frame)."""

    #: Cameras whose lookout is kept (the oldest is forgotten beyond: a node has a few).
    MAX_STREAMS = 16

    def __init__(self, params: ZoomParams, passes: ZoomPasses, skeleton: Skeleton,
                 lookout: Optional[LookoutParams] = None) -> None:
        params.validate()
        if lookout is not None:
            lookout.validate()
        self.params = params
        self.lookout_params = lookout
        self._passes = passes
        self._skeleton = skeleton
        self._lookouts: "OrderedDict[Hashable, Lookout]" = OrderedDict()
        self.last_plan: ZoomPlan = zoom.NO_PLAN
        self.last_lookout: dict = {}

    def _lookout(self, stream: Optional[Hashable]) -> Optional[Lookout]:
        if self.lookout_params is None or stream is None:
            return None
        found = self._lookouts.pop(stream, None) or Lookout(self.lookout_params)
        self._lookouts[stream] = found
        while len(self._lookouts) > self.MAX_STREAMS:
            self._lookouts.popitem(last=False)
        return found

    def apply(self, bgr: np.ndarray, output: np.ndarray, transform: LetterboxTransform, persons: List[Person],
              decode: DecodeParams, frame_budget: FrameBudget, coarse_pixels: int,
              stream: Optional[Hashable] = None) -> List[Person]:
        """``persons`` of the coarse pass (maps ``output``, letterbox ``transform``, network
        pixels of all its passes ``coarse_pixels``) merged with those of the zoom passes."""
        heatmaps = as_chw(output)[:self._skeleton.num_keypoints]
        regions = zoom.evidence_regions(heatmaps, self.params.threshold, transform)
        is_near = [zoom.person_height(p, self._skeleton) * transform.scale >= self.params.near_height
                   for p in persons]
        near = [p for p, n in zip(persons, is_near) if n]
        small = [p for p, n in zip(persons, is_near) if not n]
        near_boxes = [(x, y, x + w, y + h) for x, y, w, h in (p.bbox for p in near)]
        regions = zoom.drop_near(regions, near_boxes)
        lookout = self._lookout(stream)
        limited = frame_budget.enabled
        left = frame_budget.remaining_ms(coarse_pixels) if limited else 0.0

        def fits(crops: Sequence[Crop]) -> bool:
            return not limited or _cost(crops, frame_budget.pass_ms) <= left
        if limited and left <= 0:
            self.last_plan = zoom.ZoomPlan((), 0.0, len(regions), len(regions), 0.0)
        else:
            self.last_plan = zoom.plan_crops(regions, transform.src_w, transform.src_h, transform.scale,
                                             self.params, frame_budget.pass_ms, left if limited else 0.0)
            left -= self.last_plan.predicted_ms
        tiles: List[Crop] = []
        follow: List[Crop] = []
        if lookout is not None:
            # after the evidence crops (the people the coarse pass half saw), one scan tile
            # before the followed people take the rest, so that the scan keeps moving
            lookout.start_frame(transform.src_w, transform.src_h)
            if lookout.scan_due:
                tiles = lookout.tiles(lambda crops: len(crops) == 1 and fits(crops))
                left -= _cost(tiles, frame_budget.pass_ms)
            follow = zoom.merge_crops(lookout.follow(regions), transform.src_w, transform.src_h,
                                      self.lookout_params.scale, frame_budget.pass_ms)
            follow = _within(follow, fits)
            left -= _cost(follow, frame_budget.pass_ms)
            tiles += lookout.tiles(fits)
        zoomed = self._run(bgr, self.last_plan.crops + tuple(follow), decode, frame_budget)
        scanned = self._run(bgr, tuple(tiles), decode, frame_budget)
        zoomed = zoom.outside_boxes(zoomed, near_boxes)
        scanned = zoom.outside_boxes(scanned, near_boxes)
        merged = merge_passes([near, zoomed, scanned, small])
        if lookout is not None:
            near_ids = {id(p) for p in near}
            lookout.remember([p.bbox for p in merged if id(p) not in near_ids])
            self.last_lookout = {"followed": len(follow), "scan_tiles": len(tiles),
                                 "tiles_per_cycle": lookout.tile_count}
        return merged[:decode.max_persons] if decode.max_persons else merged

    def calibration_sizes(self) -> List[Tuple[int, int]]:
        """Network inputs to time at start-up besides the coarse pass's and the typical crops:
        the scan tile, run most frames."""
        tile = self.lookout_params.tile if self.lookout_params is not None else 0
        return [(tile, tile)] if tile else []

    def describe(self) -> dict:
        """The ``zoom`` and ``lookout`` entries of the estimator's describe()."""
        lookout = ({"enabled": True, **asdict(self.lookout_params), "last_frame": self.last_lookout}
                   if self.lookout_params is not None else {"enabled": False})
        return {"zoom": {"enabled": True, **asdict(self.params), "last_frame": self.last_plan.as_dict()},
                "lookout": lookout}

    def _run(self, bgr: np.ndarray, crops: Tuple[Crop, ...], decode: DecodeParams,
             frame_budget: FrameBudget) -> List[Person]:
        if not crops:
            return []
        found, samples = self._passes.run(bgr, crops, decode)
        for width, height, ms in samples:
            frame_budget.observe(width, height, ms)
        return found


def _cost(crops: Sequence[Crop], pass_ms: Callable[[int], float]) -> float:
    return sum(pass_ms(c.pixels) for c in crops)


def _within(crops: Sequence[Crop], fits: Callable[[Sequence[Crop]], bool]) -> List[Crop]:
    """The first ``crops`` (in their order of importance) that ``fits`` the budget together."""
    chosen: List[Crop] = []
    for crop in crops:
        if not fits(chosen + [crop]):
            break
        chosen.append(crop)
    return chosen
